"""The read path of `make bench`: a client reading the imported district back, as Canvas clients do.

1. Walks every link of the account (`GET .../outcome_group_links?per_page=100`), following the
   `Link` header's `next` URL as canvasapi does, until there is none: pages/s, links/s, and the
   latency of the first, the median and the last page (bookmarked pages: the last should cost
   what the first does). Checks that it read every active link of the account exactly once, in
   link id order, and that the bookmark in each `next` URL is an opaque `page` (never a number).
2. Reads the export (`GET .../outcome_export`) to its end: MB/s, and that it is a CSV whose
   header is the importer's and that holds as many records as the account has active groups
   and outcomes.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
import asyncpg
from harness import percentile, progress
from yarl import URL

PER_PAGE = 100
MB = 1024 * 1024
COUNT_ACTIVE_LINKS = """
SELECT count(*) FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
WHERE l.context_type = 'Account' AND l.context_id = $1 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
"""
COUNT_EXPORTED = """
SELECT (SELECT count(*) FROM learning_outcome_groups
        WHERE context_type = 'Account' AND context_id = $1 AND workflow_state = 'active' AND parent_id IS NOT NULL)
     + (SELECT count(DISTINCT l.learning_outcome_id) FROM learning_outcome_links l
        JOIN learning_outcomes o ON o.id = l.learning_outcome_id
        WHERE l.context_type = 'Account' AND l.context_id = $1 AND l.workflow_state = 'active'
          AND o.workflow_state = 'active')
"""


class ReadError(Exception):
    """A read answered something else than the district."""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def walk_links(session: aiohttp.ClientSession, base_url: str, account_id: int) -> dict[str, Any]:
    """Every link of the account, page by page through the `next` URLs."""
    url: str | None = f"{base_url}/api/v1/accounts/{account_id}/outcome_group_links?per_page={PER_PAGE}"
    latencies: list[float] = []
    pairs: list[tuple[int, int]] = []
    started = time.perf_counter()
    while url is not None:
        page_started = time.perf_counter()
        async with session.get(url) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise ReadError(f"GET {url} answered {resp.status}: {body}")
            following = resp.links.get("next")
        latencies.append(time.perf_counter() - page_started)
        pairs += [(link["outcome_group"]["id"], link["outcome"]["id"]) for link in body]
        url = None if following is None else str(following["url"])
        if url is not None and URL(url).query.get("page", "").isdigit():
            raise ReadError(f"a next link with a page number, not a bookmark: {url}")
        if len(latencies) % 200 == 0:
            progress(f"reads: {len(latencies):,} pages, {len(pairs):,} links")
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "per_page": PER_PAGE,
        "pages": len(latencies),
        "links": len(pairs),
        "distinct_links": len(set(pairs)),
        "seconds": round(seconds, 3),
        "pages_per_second": round(len(latencies) / seconds, 1),
        "links_per_second": round(len(pairs) / seconds),
        "first_page_ms": _ms(latencies[0]),
        "median_page_ms": _ms(statistics.median(latencies)),
        "p95_page_ms": _ms(percentile(ordered, 0.95)),
        "last_page_ms": _ms(latencies[-1]),
    }


async def read_export(session: aiohttp.ClientSession, base_url: str, account_id: int) -> dict[str, Any]:
    """The account's export, read to its end as fast as the client can."""
    url = f"{base_url}/api/v1/accounts/{account_id}/outcome_export"
    size = records = 0
    quoted = False  # inside a quoted field, where a line break is data (RFC 4180)
    head = b""
    started = time.perf_counter()
    async with session.get(url) as resp:
        if resp.status != 200:
            raise ReadError(f"GET {url} answered {resp.status}: {await resp.text()}")
        first_byte = time.perf_counter() - started
        async for chunk in resp.content.iter_chunked(256 * 1024):
            if len(head) < 200:
                head += chunk[:200]
            size += len(chunk)
            parts = chunk.split(b'"')
            records += sum(part.count(b"\n") for part in parts[quoted::2])
            quoted = quoted != (len(parts) % 2 == 0)
    seconds = time.perf_counter() - started
    return {
        "bytes": size,
        "records": records - 1,  # the header is not one
        "header": head.split(b"\r\n", 1)[0].decode(errors="replace"),
        "seconds": round(seconds, 3),
        "first_byte_ms": _ms(first_byte),
        "mb_per_second": round(size / MB / seconds, 1),
    }


async def measure_reads(
    session: aiohttp.ClientSession, base_url: str, conn: asyncpg.Connection, account_id: int
) -> dict[str, Any]:
    """Both reads, with their checks (`checks_passed`); `base_url` is the API's, without a path."""
    progress(f"reads: walking every link of account {account_id}, {PER_PAGE} a page")
    walk = await walk_links(session, base_url, account_id)
    progress(
        f"reads: {walk['pages']:,} pages, {walk['pages_per_second']} pages/s, first {walk['first_page_ms']} ms, "
        f"last {walk['last_page_ms']} ms; reading the export"
    )
    export = await read_export(session, base_url, account_id)
    progress(f"reads: export {export['bytes'] / MB:.1f} MB at {export['mb_per_second']} MB/s")
    links = await conn.fetchval(COUNT_ACTIVE_LINKS, account_id)
    records = await conn.fetchval(COUNT_EXPORTED, account_id)
    checks = {
        # Every active link once: as many as PostgreSQL has, none twice (e.g. across a page boundary).
        "links_walked": {
            "ok": walk["links"] == walk["distinct_links"] == links,
            "expected": links,
            "actual": {"links": walk["links"], "distinct": walk["distinct_links"]},
        },
        "export_records": {"ok": export["records"] == records, "expected": records, "actual": export["records"]},
        "export_header": {
            "ok": export["header"].startswith("vendor_guid,object_type,title,"),
            "expected": "vendor_guid,object_type,title,...",
            "actual": export["header"][:60],
        },
    }
    return {
        "links": walk,
        "export": export,
        "checks_passed": all(c["ok"] for c in checks.values()),
        "checks": checks,
    }


def summarize_reads(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median (the lower one for an even count), min and max over the rounds of the read figures."""
    figures = {
        "pages_per_second": [r["reads"]["links"]["pages_per_second"] for r in rounds],
        "first_page_ms": [r["reads"]["links"]["first_page_ms"] for r in rounds],
        "last_page_ms": [r["reads"]["links"]["last_page_ms"] for r in rounds],
        "export_mb_per_second": [r["reads"]["export"]["mb_per_second"] for r in rounds],
    }
    return {
        name: {"median": statistics.median_low(values), "min": min(values), "max": max(values)}
        for name, values in figures.items()
    }


def print_reads(reads: dict[str, Any], label: str) -> None:
    walk, export = reads["links"], reads["export"]
    print(
        f"{label}links read back: {walk['links']:,} in {walk['pages']:,} pages of {walk['per_page']} "
        f"following Link next, {walk['seconds']} s: {walk['pages_per_second']} pages/s "
        f"({walk['links_per_second']:,} links/s); page latency first {walk['first_page_ms']} ms, "
        f"median {walk['median_page_ms']} ms, p95 {walk['p95_page_ms']} ms, last {walk['last_page_ms']} ms"
    )
    print(
        f"{label}export: {export['bytes'] / MB:.1f} MB ({export['records']:,} records) in {export['seconds']} s: "
        f"{export['mb_per_second']} MB/s, first byte after {export['first_byte_ms']} ms"
    )
    for name, check in reads["checks"].items():
        if not check["ok"]:
            print(f"FAILED reads: {name}: expected {check['expected']}, got {check['actual']}")
