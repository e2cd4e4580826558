"""`make bench` cannot rot: a small run of scripts/bench.py must import, re-import and prove its tree,
then read it back (every link through the `Link` next URLs, and the export).

It runs as `make bench` does, in a subprocess starting its own API and worker processes, against
DATABASE_URL / REDIS_URL when set (a fresh database and an empty Redis database of their servers),
else against embedded services of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"
ROWS = 2000
# Start-up of two processes (plus embedded services without DATABASE_URL) dominates; the imports take seconds.
RUN_TIMEOUT_SECONDS = 150


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 10)
def test_bench_script_imports_three_files_and_its_checks_pass(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", str(ROWS), "--json", "--timeout", "60",
         "--status-load", "1", "--rounds", "2", "--work-dir", str(tmp_path)],
        env=dict(os.environ), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["rows"] == ROWS
    assert report["copy_baseline"]["rows_per_second"] > 0
    # The server's own bulk load (CSV bytes to COPY FROM STDIN) is the baseline the targets refer to.
    assert report["server_copy"]["rows_per_second"] > 0
    assert report["server_copy"]["client_cpu_seconds"] >= 0
    assert [i["name"] for i in report["imports"]] == ["fresh", "same file again", "10% changed"]
    # The floor: the fresh import's rows COPYed back into a freshly migrated schema, every row of them.
    floor = report["floor"]
    tables = floor["table_rows"]
    assert list(tables) == [
        "learning_outcome_groups", "learning_outcomes", "learning_outcome_links", "outcome_friendly_descriptions"
    ]  # fmt: skip
    file = report["file"]
    # The groups add one root group; the links are the file's, every one written by the fresh import.
    assert (tables["learning_outcome_groups"], tables["learning_outcomes"]) == (file["groups"] + 1, file["outcomes"])
    assert tables["learning_outcome_links"] == file["links"]
    assert floor["rows_per_second"] > 0 and floor["ratio_to_server_copy"] > 0
    for outcome_import in report["imports"]:
        failed = {name: c for name, c in outcome_import["checks"].items() if not c["ok"]}
        assert failed == {}, (outcome_import["name"], failed)
        assert outcome_import["rows_per_second"] > 0
        assert outcome_import["ratio_to_server_copy"] > 0 and outcome_import["ratio_to_copy"] > 0
        ratio_to_floor = round(outcome_import["rows_per_second"] / floor["rows_per_second"], 4)
        assert outcome_import["ratio_to_floor"] == ratio_to_floor
        assert outcome_import["cpu_us_per_row"]["worker"] > 0
        assert outcome_import["peak_rss_mb"]["api"] > 0 and outcome_import["peak_rss_mb"]["worker"] > 0
    assert report["imports"][2]["checks"]["changed_rows"]["actual"]["titles"] > 0
    load = report["imports"][0]["status_load"]
    assert load["requests"] > 0 and load["errors"] == 0
    # Two rounds, each measured in full; the summary spans both.
    assert len(report["rounds"]) == 2
    assert report["rounds"][0]["imports"] == report["imports"]
    assert report["rounds"][1]["imports"][0]["status_load"] is None  # the load runs in the first round only
    for measured in report["rounds"]:
        assert all(i["checks_passed"] for i in measured["imports"])
    assert report["reads"] == report["rounds"][0]["reads"]
    for measured in report["rounds"]:
        reads = measured["reads"]
        assert reads["checks_passed"] is True, reads["checks"]
        walk, export = reads["links"], reads["export"]
        assert walk["links"] == walk["distinct_links"] == reads["checks"]["links_walked"]["expected"] > ROWS / 2
        assert walk["per_page"] == 100 and walk["pages"] == -(-walk["links"] // 100)
        assert walk["pages_per_second"] > 0 and walk["first_page_ms"] > 0 and walk["last_page_ms"] > 0
        assert export["records"] == reads["checks"]["export_records"]["expected"] == ROWS
        assert export["bytes"] > 0 and export["mb_per_second"] > 0
    summary = report["summary"]
    assert summary["rounds"] == 2
    assert list(summary["reads"]) == ["pages_per_second", "first_page_ms", "last_page_ms", "export_mb_per_second"]
    assert list(summary["imports"]) == ["fresh", "same file again", "10% changed"]
    for index, figures in enumerate(summary["imports"].values()):
        measured = sorted(r["imports"][index]["rows_per_second"] for r in report["rounds"])
        assert figures["rows_per_second"] == {"median": measured[0], "min": measured[0], "max": measured[1]}
        worker_cpu = sorted(r["imports"][index]["cpu_us_per_row"]["worker"] for r in report["rounds"])
        assert figures["worker_cpu_us_per_row"] == {"median": worker_cpu[0], "min": worker_cpu[0], "max": worker_cpu[1]}
        assert set(figures["ratio_to_server_copy"]) == set(figures["ratio_to_floor"]) == {"median", "min", "max"}
    assert summary["server_copy_rows_per_second"]["min"] > 0
    floors = sorted(r["floor"]["rows_per_second"] for r in report["rounds"])
    assert summary["floor_rows_per_second"] == {"median": floors[0], "min": floors[0], "max": floors[1]}
