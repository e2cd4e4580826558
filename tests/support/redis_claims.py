"""One Redis database each for the users of a shared Redis server: test sessions, `make bench`
and the load test.

Queue names and status keys are fixed, so two of them in one database would take each other's
jobs. A claim is a key in database 0, set only if absent and expiring (a killed run's claim
lapses); the claimed database is emptied when it is taken and when it is released.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis

CLAIM_KEY = "outcome-imports:test-session-redis-db:{db}"
CLAIM_SECONDS = 3 * 3600
CLAIMABLE = range(1, 16)  # database 0 holds the claims (and is what a dev server uses by default)


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def claim_redis_db(server_url: str, owner: str) -> int:
    """A database of the server at `server_url` for `owner` alone, emptied."""
    with redis.Redis.from_url(with_redis_db(server_url, 0)) as claims:
        for db in CLAIMABLE:
            if claims.set(CLAIM_KEY.format(db=db), owner, nx=True, ex=CLAIM_SECONDS):
                _flush(server_url, db)
                return db
    raise RuntimeError(f"every Redis database {CLAIMABLE.start}-{CLAIMABLE.stop - 1} is claimed")


def release_redis_db(server_url: str, db: int) -> None:
    """Empty the database and give it back."""
    _flush(server_url, db)
    with redis.Redis.from_url(with_redis_db(server_url, 0)) as claims:
        claims.delete(CLAIM_KEY.format(db=db))


def _flush(server_url: str, db: int) -> None:
    with redis.Redis.from_url(with_redis_db(server_url, db)) as database:
        database.flushdb()
