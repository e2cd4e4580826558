"""The scale test in a small size, so it cannot rot: scripts/scale_test.py with 2 API processes behind
HAProxy, 2 workers, 3 districts and a backlog of 10 (twice), each process restarted once; its JSON report must
show every invariant held (the database's too, by `outcome-imports check`) and every count exact.

It runs as a user runs it, in a subprocess starting its own processes and SeaweedFS, against
DATABASE_URL / REDIS_URL when set (a fresh database and a claimed Redis database), else embedded ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scale_test.py"
DISTRICTS = 3
IMPORTS_PER_DISTRICT = 2
BACKLOG = 10
THROUGHPUT_ROWS = 200
# About 30 s on the 2-core machine; start-up of the processes and SeaweedFS is most of it.
RUN_TIMEOUT_SECONDS = 150


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 10)
def test_scale_script_small_run_keeps_every_invariant(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("no haproxy (apt-get install -y haproxy); .ci/run installs it")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--apis", "2", "--workers", "2", "--throughput-workers", "1,2",
         "--districts", str(DISTRICTS), "--imports-per-district", str(IMPORTS_PER_DISTRICT),
         "--backlog", str(BACKLOG), "--sizes", "100,200", "--backlog-sizes", "100",
         "--throughput-rows", str(THROUGHPUT_ROWS), "--poll-interval", "0.2", "--time-limit", "120",
         "--json", "--work-dir", str(tmp_path)],
        env=dict(os.environ), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = {"ok": False, "failures": ["no JSON report"]}
    assert result.returncode == 0, f"failures: {report['failures']}\n{result.stderr[-8000:]}"
    assert (report["ok"], report["failures"]) == (True, [])

    imports = report["imports"]
    accepted = imports["accepted"]
    assert imports["finished"] == imports["succeeded"] == imports["trees_exact"] == accepted
    assert (imports["failed"], imports["lost"], imports["stuck"], imports["upload_not_answered"]) == (0, 0, 0, 0)
    assert imports["not_accepted_but_in_database"] == [] and imports["trees_wrong"] == {}
    assert report["order"] == {"root_accounts": DISTRICTS + 1, "violations": []}
    # `outcome-imports check` on the database at the end: every invariant held.
    assert (report["integrity"]["ok"], report["integrity"]["violations"]) == (True, [])

    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases) == ["1 worker", "2 workers", "no backlog", "backlog", "restarts"]
    assert phases["1 worker"]["imports"] == phases["2 workers"]["imports"] == DISTRICTS
    assert phases["no backlog"]["imports"] == DISTRICTS * IMPORTS_PER_DISTRICT
    assert phases["backlog"]["imports"] == DISTRICTS * IMPORTS_PER_DISTRICT + BACKLOG
    assert phases["restarts"]["imports"] >= DISTRICTS * IMPORTS_PER_DISTRICT + BACKLOG
    assert sum(p["imports"] for p in phases.values()) == accepted
    rows = DISTRICTS * THROUGHPUT_ROWS
    assert [(t["workers"], t["rows"]) for t in report["throughput"]] == [(1, rows), (2, rows)]
    assert all(t["rows_per_second"] > 0 for t in report["throughput"])

    waits = {w["phase"]: w for w in report["queue_wait"]}
    assert list(waits) == ["no backlog", "backlog", "restarts"]
    assert waits["no backlog"]["backlog_district"] is None
    assert waits["backlog"]["backlog_district"]["imports"] == BACKLOG
    held = sum(len(r["held_imports"]) for r in report["restarts"]["workers"])
    assert waits["restarts"]["backlog_district"]["imports"] >= BACKLOG - held
    for w in waits.values():
        assert w["small_districts"]["imports"] > 0 and w["small_districts"]["p95_ms"] >= w["small_districts"]["p50_ms"]

    restarts = report["restarts"]
    assert [r["process"] for r in restarts["workers"]] == ["worker-1", "worker-2"]
    assert [r["process"] for r in restarts["apis"]] == ["api-1", "api-2"]
    assert all(r["ok"] and r["exit_code"] == 0 for r in restarts["workers"] + restarts["apis"])
    for kind, figures in report["client"]["whole_run"].items():
        assert figures["errors"] == {}, kind
        assert figures["ok"] + sum(figures["retried"].values()) == figures["tries"], kind
    during = report["client"]["during_restarts"]
    assert during["upload"]["ok"] > 0 and during["status"]["ok"] > 0
