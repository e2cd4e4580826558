"""Settings: one frozen value, built once from the environment by each entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from shared.errors import ConfigurationError
from shared.mail import SmtpServer, mail_from_problem
from shared.webhooks import DEFAULT_RETRY_SCHEDULE, retry_delays

_PREFIX = "OUTCOME_IMPORTS_"
# Settings where 0 means "off".
_ZERO_ALLOWED = frozenset(
    {"rate_limit_high_water_mark", "auth_cache_seconds", "metrics_cache_seconds", "upload_retention_days"}
)

_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    storage_url: str  # s3://bucket/prefix, or file:///abs/path for a single machine
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    max_upload_bytes: int = 500 * 1024**2
    bootstrap_token: str | None = None
    # Records per database batch; progress is published after each batch (spec §3.4). Canvas's
    # batches are 1000 records. Ours are larger because every batch costs a few fixed statements
    # and COPYs on both sides: 5000 cut the CPU of a fresh import by ~15% (README, Benchmark).
    # Progress then moves in fewer steps, each a value Canvas shows at the same record.
    batch_size: int = 5000
    # How long Redis keeps an import's status view after its last write.
    status_ttl_seconds: int = 24 * 3600
    # Cap on errors stored for one import: a file of a million bad rows must not store a million messages.
    max_stored_errors: int = 10_000
    # Bounds on one file (README, "Limits"): records (the header counts), cells per record, bytes per record.
    max_records: int = 2_000_000
    max_columns: int = 1_000
    max_record_bytes: int = 4 * 1024**2
    job_timeout_seconds: int = 6 * 3600
    job_max_tries: int = 5
    # A worker refreshes the heartbeat of the import it holds this often; an import whose heartbeat is
    # older than stale_after is considered abandoned (its worker died) and re-queued by the reaper.
    heartbeat_seconds: int = 5
    stale_after_seconds: int = 60
    reconcile_every_seconds: int = 10
    log_level: str = "INFO"
    # Canvas-style per-token throttling (shared/throttle.py): off while the high-water mark is 0.
    rate_limit_high_water_mark: int = 0
    rate_limit_outflow_per_second: int = 10
    rate_limit_up_front_cost: int = 50
    # How long an API process remembers a token's user and its permissions (0: not at all).
    auth_cache_seconds: int = 5
    # `GET /metrics` answers only with `Authorization: Bearer <this>`; unset, the route is a 404.
    metrics_token: str | None = None
    # How long an API process reuses the fleet-wide figures it read for /metrics (0: every scrape
    # reads them), so that many scrapers cost PostgreSQL and Redis no more than one.
    metrics_cache_seconds: int = 2
    # The base of every absolute URL the API sends (302 Location, Link headers), e.g.
    # https://imports.example.edu; unset: the address the client's connection reached. Never the
    # Host header, which the client chooses (api/urls.py).
    public_url: str | None = None
    # Stored uploads are deleted this many days after their import ended (0: kept forever); the
    # import's record, status and errors stay. A retry needs the file, so it is refused after.
    upload_retention_days: int = 30
    # On SIGTERM an API process stops listening, then lets the requests in flight (uploads too)
    # finish for at most this long before closing them (api/serving.py). Keep it below the
    # orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds).
    shutdown_drain_seconds: int = 25
    # Slow clients (api/serving.py): a connection must deliver a whole request head within this
    # long of opening or of its previous answer (an idle keep-alive connection is closed after it
    # too); a request body that sends nothing for this long is a 408; beyond this many open
    # connections, an API process answers new ones 503 and closes them.
    header_timeout_seconds: int = 30
    body_timeout_seconds: int = 60
    max_connections: int = 1000
    # How long a dashboard sign-in lasts (it also ends with the token it was opened with).
    dashboard_session_seconds: int = 8 * 3600
    # Waits an API request may meet, each ending in a 503 with Retry-After rather than a hang:
    # a free connection of the API's pool, one statement of the API (never the worker's import
    # transaction), one Redis command (socket timeout), one storage operation (a local file
    # operation, or one S3 request: connect and each read).
    db_acquire_timeout_seconds: int = 5
    db_statement_timeout_seconds: int = 30
    redis_timeout_seconds: int = 5
    storage_timeout_seconds: int = 30
    # CSV exports one API process streams at once (each on a database connection of its own, outside
    # the pool, so that slow readers never take connections from other requests); beyond, a 503.
    # An export whose client does not take its next 64 KiB within export_write_timeout_seconds is cut off.
    max_concurrent_exports: int = 4
    export_write_timeout_seconds: int = 60
    # Webhooks (README, "Webhooks"): the whole time one delivery attempt may take (connecting, at
    # most 5 s of it, included); the waits before each retry, in seconds (after the last, the
    # delivery has failed); how often each worker looks for due deliveries; how many days ended
    # deliveries stay in the log; and whether deliveries may reach private, loopback, link-local
    # and other special-purpose addresses (never in production: it opens the internal network).
    webhook_timeout_seconds: int = 15
    webhook_retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    webhook_poll_seconds: int = 1
    webhook_log_retention_days: int = 30
    webhook_allow_private: bool = False
    # Email to the user who started an import, when it ends (worker/mailer.py). Unset smtp_url: no
    # email is queued or sent. mail_from is required with it. An email the server did not take
    # is tried again after email_retry_seconds, then twice as long each time (at most an hour), up
    # to email_max_attempts tries in all; smtp_timeout_seconds bounds each exchange with the server.
    # Each worker looks for emails to send every email_poll_seconds.
    smtp_url: str | None = None
    mail_from: str | None = None
    email_max_attempts: int = 10
    email_retry_seconds: float = 30.0
    email_poll_seconds: float = 2.0
    smtp_timeout_seconds: float = 30.0
    # `case_package_url` (api/case_packages.py): the hosts fetched from, comma-separated (`*.example.org`
    # for a domain's hosts, `*` for any; unset: no fetches); whether private, loopback and
    # link-local addresses and plain http are allowed too (tests, private networks: never on a
    # shared installation); the time limit of one fetch.
    case_fetch_hosts: str | None = None
    case_fetch_allow_private: bool = False
    case_fetch_timeout_seconds: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Read every setting; raise ConfigurationError listing every problem at once."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        required = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "storage_url": "STORAGE_URL"}
        for name, var in required.items():
            if overrides.get(name):
                values[name] = overrides[name]
            elif env.get(var):
                values[name] = env[var]
            else:
                problems.append(f"{var} is required")
        for field in fields(cls):
            if field.name in required:
                continue
            if field.name in overrides:
                values[field.name] = overrides[field.name]
                continue
            var = _PREFIX + field.name.upper()
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            if field.type == "bool":
                if raw.strip().lower() not in _BOOLEANS:
                    problems.append(f"{var} must be true or false, got {raw!r}")
                    continue
                values[field.name] = _BOOLEANS[raw.strip().lower()]
            elif field.type == "int":
                try:
                    number = int(raw)
                except ValueError:
                    problems.append(f"{var} must be an integer, got {raw!r}")
                    continue
                if number < 0 or (number == 0 and field.name not in _ZERO_ALLOWED):
                    problems.append(f"{var} must be positive, got {number}")
                    continue
                values[field.name] = number
            elif field.type == "float":
                try:
                    decimal = float(raw)
                except ValueError:
                    problems.append(f"{var} must be a number, got {raw!r}")
                    continue
                if not 0 < decimal < float("inf"):
                    problems.append(f"{var} must be positive, got {raw}")
                    continue
                values[field.name] = decimal
            else:
                values[field.name] = raw
        storage_url = values.get("storage_url", "")
        if storage_url and not storage_url.startswith(("file://", "s3://")):
            problems.append(f"STORAGE_URL must start with file:// or s3://, got {storage_url!r}")
        for name in ("database_url",):
            url = values.get(name, "")
            if url and not url.startswith(("postgres://", "postgresql://")):
                problems.append(f"DATABASE_URL must be a postgresql:// URL, got {_redact(url)!r}")
        url = values.get("redis_url", "")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            problems.append(f"REDIS_URL must be a redis:// URL, got {_redact(url)!r}")
        public_url = values.get("public_url")
        if public_url is not None:
            if not public_url.startswith(("http://", "https://")) or any(c in public_url for c in "?# "):
                problems.append(f"OUTCOME_IMPORTS_PUBLIC_URL must be an http(s):// URL, got {public_url!r}")
            else:
                values["public_url"] = public_url.rstrip("/")
        problems.extend(_mail_problems(values))
        try:
            retry_delays(values.get("webhook_retry_schedule", DEFAULT_RETRY_SCHEDULE))
        except ValueError:
            problems.append("OUTCOME_IMPORTS_WEBHOOK_RETRY_SCHEDULE must be seconds separated by commas (5,300,1800)")
        if values.get("log_level", "INFO").upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append("OUTCOME_IMPORTS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if problems:
            raise ConfigurationError("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _mail_problems(values: dict[str, Any]) -> list[str]:
    smtp_url, mail_from = values.get("smtp_url"), values.get("mail_from")
    problems = []
    if smtp_url is not None:
        try:
            SmtpServer.from_url(smtp_url)
        except ValueError as exc:
            problems.append(f"OUTCOME_IMPORTS_SMTP_URL {exc}, got {_redact(smtp_url)!r}")
        if mail_from is None:
            problems.append("OUTCOME_IMPORTS_MAIL_FROM is required with OUTCOME_IMPORTS_SMTP_URL")
    if mail_from is not None and (problem := mail_from_problem(mail_from)) is not None:
        problems.append(f"OUTCOME_IMPORTS_MAIL_FROM {problem}")
    return problems


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message or a log."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
