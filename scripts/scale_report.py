"""scale_test.py's verdict: what PostgreSQL, the clients and HAProxy saw, the invariants checked against
it, and the report as JSON and as tables."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import aiohttp
import asyncpg
from harness import percentile, print_columns
from scale_client import Traffic
from scale_load import Load, Submitted, Templates
from tree_check import check_tree

IMPORTS = """
SELECT id, root_account_id, context_id, workflow_state, attempts, created_at, started_at, ended_at
  FROM outcome_imports ORDER BY root_account_id, id
"""
# The service keeps no index on outcomes by context (none of its queries needs one); the checks ask
# for each import's context, so the run's throwaway database gets one before they start.
INDEX_OUTCOMES_BY_CONTEXT = (
    "CREATE INDEX IF NOT EXISTS scale_test_outcomes_by_context ON learning_outcomes (context_type, context_id)"
)
# Fresh statistics after millions of rows were loaded in minutes: stale ones gave full scans.
ANALYZE_TREES = "ANALYZE learning_outcomes, learning_outcome_links, learning_outcome_groups"
WAITING = "SELECT count(*) FROM outcome_imports WHERE root_account_id = $1 AND workflow_state = 'created'"
TREE_CHECKS_AT_ONCE = 4
LB_FIGURES = ("wretr", "wredis", "econ", "eresp", "hrsp_5xx")
BACKLOG_DISTRICT = "Backlog district"


@dataclass
class Phase:
    name: str
    kind: str  # "throughput" | "districts"
    workers: int
    began: float  # time.monotonic()
    ended: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


def wait_figures(seconds: list[float]) -> dict[str, Any] | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return {
        "imports": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000),
        "p95_ms": round(percentile(ordered, 0.95) * 1000),
        "max_ms": round(ordered[-1] * 1000),
    }


async def check_trees(
    pool: asyncpg.Pool, session: aiohttp.ClientSession, load: Load, templates: Templates
) -> dict[int, list[str]]:
    """Each succeeded import's context against its file (bench's check_tree); failed checks by import id."""
    await pool.execute(INDEX_OUTCOMES_BY_CONTEXT)
    await pool.execute(ANALYZE_TREES)
    slots = asyncio.Semaphore(TREE_CHECKS_AT_ONCE)

    async def one(item: Submitted) -> tuple[int, list[str]]:
        assert item.import_id is not None and item.final is not None
        async with slots, pool.acquire() as conn:
            checks = await check_tree(conn, session, item.context_id, templates.described(item.rows), item.final)
        return item.import_id, [
            f"{n}: expected {c['expected']}, got {c['actual']}" for n, c in checks.items() if not c["ok"]
        ]

    done = [i for i in load.submitted if i.final is not None and i.final["workflow_state"] == "succeeded"]
    return dict(await asyncio.gather(*(one(i) for i in done)))


def order_violations(rows: list[asyncpg.Record]) -> list[str]:
    """Within each root account, by id: each import started after the one before it started and ended."""
    found = []
    for before, after in pairwise(rows):
        if before["root_account_id"] != after["root_account_id"]:
            continue
        if None in (before["started_at"], after["started_at"], before["ended_at"]):
            continue  # not started or not finished: counted as stuck elsewhere
        if not (before["started_at"] < after["started_at"] and before["ended_at"] <= after["started_at"]):
            found.append(
                f"root account {after['root_account_id']}: import {after['id']} started at {after['started_at']},"
                f" import {before['id']} ran {before['started_at']} - {before['ended_at']}"
            )
    return found


def analyse(
    rows: list[asyncpg.Record],
    load: Load,
    phases: list[Phase],
    trees: dict[int, list[str]],
    traffic: Traffic,
    restarts: dict[str, Any],
    lb: dict[str, str],
) -> dict[str, Any]:
    by_id = {r["id"]: r for r in rows}
    handed_back = {i for w in restarts.get("workers", []) for i in w["held_imports"]}
    accepted = [i for i in load.submitted if i.import_id is not None]
    accepted_ids = {i.import_id for i in accepted}
    finished = [i for i in accepted if i.final is not None]
    in_db = [by_id[i.import_id] for i in accepted if i.import_id in by_id]
    imports = {
        "accepted": len(accepted),
        "finished": len(finished),
        "succeeded": sum(1 for r in in_db if r["workflow_state"] == "succeeded"),
        "failed": sum(1 for r in in_db if r["workflow_state"] == "failed"),
        "lost": len(accepted) - len(in_db),
        "stuck": sum(1 for r in in_db if r["workflow_state"] in ("created", "importing")),
        "not_accepted_but_in_database": sorted(set(by_id) - accepted_ids),
        "upload_not_answered": len(load.submitted) - len(accepted),
        "trees_exact": sum(1 for problems in trees.values() if not problems),
        "trees_wrong": {str(k): v for k, v in trees.items() if v},
        "rows": sum(i.rows for i in accepted),
        # Held by a worker when it was stopped: its run was handed back and ran again elsewhere.
        "handed_back": len(handed_back),
        "max_attempts": max((r["attempts"] for r in in_db), default=0),
    }
    violations = order_violations(rows)
    report: dict[str, Any] = {
        "imports": imports,
        "order": {"root_accounts": len({r["root_account_id"] for r in rows}), "violations": violations},
        "phases": [],
        "throughput": [],
        "queue_wait": [],
        "restarts": restarts,
        "client": {"during_restarts": {}, "whole_run": traffic.summary()},
        "load_balancer": {k: int(lb.get(k) or 0) for k in LB_FIGURES},
        "load_failures": load.failures,
    }
    if restarts:
        report["client"]["during_restarts"] = traffic.summary(restarts["began"], restarts["ended"])
    for phase in phases:
        items = [i for i in accepted if i.phase == phase.name and i.import_id in by_id]
        report["phases"].append(
            {
                "name": phase.name,
                "workers": phase.workers,
                "seconds": round(phase.ended - phase.began, 1),
                "imports": len(items),
                "rows": sum(i.rows for i in items),
                **phase.notes,
            }
        )
        if phase.kind == "throughput":
            report["throughput"].append(_throughput(phase, items, by_id))
        else:
            report["queue_wait"].append(_waits(phase, items, by_id, handed_back))
    report["failures"] = _failures(report, accepted, finished)
    report["ok"] = not report["failures"]
    return report


def _throughput(phase: Phase, items: list[Submitted], by_id: dict[int, asyncpg.Record]) -> dict[str, Any]:
    """Rows of the phase over the time from its first import's start to its last one's end."""
    records = [by_id[i.import_id] for i in items if i.import_id is not None]
    starts = [r["started_at"] for r in records if r["started_at"] is not None]
    ends = [r["ended_at"] for r in records if r["ended_at"] is not None]
    seconds = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    rows = sum(i.rows for i in items)
    return {
        "workers": phase.workers,
        "imports": len(items),
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else 0,
    }


def _waits(
    phase: Phase, items: list[Submitted], by_id: dict[int, asyncpg.Record], handed_back: set[int]
) -> dict[str, Any]:
    """created_at -> started_at of the phase's imports, but for those a stopped worker handed back (their
    started_at is their last start)."""
    per_district: dict[str, list[float]] = {}
    small: list[float] = []
    backlog: list[float] = []
    not_counted = 0
    for item in items:
        record = by_id[item.import_id] if item.import_id is not None else None
        if record is None or record["started_at"] is None:
            continue
        if item.import_id in handed_back:
            not_counted += 1
            continue
        wait = (record["started_at"] - record["created_at"]).total_seconds()
        per_district.setdefault(item.district.name, []).append(wait)
        (backlog if item.district.name == BACKLOG_DISTRICT else small).append(wait)
    return {
        "phase": phase.name,
        "small_districts": wait_figures(small),
        "backlog_district": wait_figures(backlog),
        "per_district": {name: wait_figures(w) for name, w in sorted(per_district.items())},
        "handed_back_not_counted": not_counted,
    }


def _failures(report: dict[str, Any], accepted: list[Submitted], finished: list[Submitted]) -> list[str]:
    imports = report["imports"]
    failures = []
    if imports["finished"] != imports["accepted"]:
        failures.append(f"{imports['accepted']} imports accepted, {imports['finished']} seen final by their pollers")
    if imports["succeeded"] != imports["accepted"]:
        failures.append(f"{imports['accepted']} imports accepted, {imports['succeeded']} succeeded")
    not_succeeded = [i for i in finished if i.final is not None and i.final["workflow_state"] != "succeeded"]
    for item in not_succeeded[:5]:
        assert item.final is not None
        failures.append(
            f"import {item.import_id}: {item.final['workflow_state']} {item.final['processing_errors'][:2]}"
        )
    for name in ("lost", "stuck", "upload_not_answered"):
        if imports[name]:
            failures.append(f"{imports[name]} imports {name.replace('_', ' ')}")
    if imports["not_accepted_but_in_database"]:
        failures.append(f"imports no client was told of: {imports['not_accepted_but_in_database']}")
    if imports["trees_exact"] != imports["succeeded"]:
        failures.append(f"wrong trees: {imports['trees_wrong']}")
    failures += report["order"]["violations"][:10]
    for kind, figures in report["client"]["whole_run"].items():
        if figures["errors"]:
            failures.append(f"client errors on {kind} requests: {figures['errors']}")
    for process in report["restarts"].get("workers", []) + report["restarts"].get("apis", []):
        if not process["ok"]:
            failures.append(f"restart of {process['process']} went wrong: {process}")
    failures += report["load_failures"][:10]
    return failures


async def backlog_waiting(pool: asyncpg.Pool, root_account_id: int) -> int:
    value: int = await pool.fetchval(WAITING, root_account_id)
    return value


# --- printing -----------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    config, imports = report["config"], report["imports"]
    print(
        f"\n{config['apis']} API processes behind HAProxy, {config['workers']} workers, {config['districts']} districts"
        f" and one with a backlog of {config['backlog']}; {config['cpus']} CPUs, PostgreSQL {config['postgres']};"
        f" load average {config['load_average']['start']} at the start, {config['load_average']['end']} at the end\n"
    )
    print(
        f"imports: {imports['accepted']} accepted, {imports['finished']} finished, {imports['succeeded']} succeeded,"
        f" {imports['failed']} failed, {imports['lost']} lost, {imports['stuck']} stuck,"
        f" {imports['trees_exact']} exact trees ({imports['rows']:,} rows); {imports['handed_back']} handed back by"
        f" a stopped worker and run again (at most {imports['max_attempts']} attempts counted)"
    )
    order = report["order"]
    print(f"order: {len(order['violations'])} violations in {order['root_accounts']} root accounts\n")
    print_columns(
        [("workers", "imports", "rows", "seconds", "rows/s")]
        + [
            (str(t["workers"]), str(t["imports"]), f"{t['rows']:,}", f"{t['seconds']:.1f}", f"{t['rows_per_second']:,}")
            for t in report["throughput"]
        ]
    )
    _print_waits(report["queue_wait"])
    print("\nphases")
    keys = sorted({k for p in report["phases"] for k in p} - {"name", "workers", "seconds", "imports", "rows"})
    print_columns(
        [("phase", "workers", "seconds", "imports", "rows", *keys)]
        + [
            (
                p["name"],
                str(p["workers"]),
                str(p["seconds"]),
                str(p["imports"]),
                f"{p['rows']:,}",
                *(str(p.get(k, "")) for k in keys),
            )
            for p in report["phases"]
        ]
    )
    _print_restarts(report)
    for failure in report["failures"]:
        print(f"FAILED: {failure}")
    print("\nscale test " + ("passed" if report["ok"] else "FAILED"))


def _print_waits(queue_wait: list[dict[str, Any]]) -> None:
    """One row per district, one column per phase: p50 / p95 (imports)."""

    def cell(figures: dict[str, Any] | None) -> str:
        return "-" if figures is None else f"{figures['p50_ms']} / {figures['p95_ms']} ({figures['imports']})"

    print("\nqueue wait (created -> started), p50 / p95 ms (imports a stopped worker held not counted)")
    districts = sorted({d for w in queue_wait for d in w["per_district"]} - {BACKLOG_DISTRICT})
    rows = [("district", *(w["phase"] for w in queue_wait))]
    rows += [(d, *(cell(w["per_district"].get(d)) for w in queue_wait)) for d in districts]
    rows.append(("all small districts", *(cell(w["small_districts"]) for w in queue_wait)))
    rows.append((BACKLOG_DISTRICT, *(cell(w["backlog_district"]) for w in queue_wait)))
    print_columns(rows)


def _print_restarts(report: dict[str, Any]) -> None:
    restarts = report["restarts"]
    if not restarts:
        return
    print(f"\nrolling restarts ({restarts['ended'] - restarts['began']:.0f} s)")
    rows: list[tuple[str, ...]] = [
        ("process", "exit code", "exit s", "held imports", "taken over s", "drained requests", "back in LB s")
    ]
    for w in restarts["workers"]:
        taken = "" if w["taken_over_seconds"] is None else str(w["taken_over_seconds"])
        rows.append(
            (w["process"], str(w["exit_code"]), str(w["exit_seconds"]), str(len(w["held_imports"])), taken, "", "")
        )
    for a in restarts["apis"]:
        rows.append(
            (
                a["process"],
                str(a["exit_code"]),
                str(a["exit_seconds"]),
                "",
                "",
                str(a["requests_drained"]),
                str(a["back_in_lb_seconds"]),
            )
        )
    print_columns(rows)
    print("\nclient requests: tries (answered, retried, errors), during the restarts and in the whole run")
    requests: list[tuple[str, ...]] = [("kind", "during the restarts", "whole run")]
    for kind, whole in report["client"]["whole_run"].items():
        during = report["client"]["during_restarts"].get(kind)
        requests.append((kind, _requests(during), _requests(whole)))
    print_columns(requests)
    for kind, f in report["client"]["whole_run"].items():
        for reason, count in {**f["retried"], **f["errors"]}.items():
            print(f"  {kind}: {count} x {reason}")
    lb = report["load_balancer"]
    print(
        f"HAProxy: {lb['wretr']} retried connections, {lb['wredis']} redispatched, {lb['econ']} connection errors,"
        f" {lb['eresp']} response errors, {lb['hrsp_5xx']} 5xx answers from the APIs"
    )


def _requests(figures: dict[str, Any] | None) -> str:
    if figures is None:
        return "0"
    retried, errors = sum(figures["retried"].values()), sum(figures["errors"].values())
    return f"{figures['tries']} ({figures['ok']}, {retried}, {errors})"
