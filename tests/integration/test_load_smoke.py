"""The load-test script in a small size, so it cannot rot: `outcome-imports run --workers 2` under
concurrent uploads and status polling, every import checked through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_load_script_small_run_has_no_errors() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "scripts/load_test.py",
            "--uploads",
            "8",
            "--accounts",
            "4",
            "--pollers",
            "16",
            "--rows",
            "150",
            "--time-limit",
            "120",
            "--json",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["errors"] == []
    assert report["status_requests"] > 0
