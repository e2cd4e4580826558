"""Every `see error report N` a client sees has N in the worker's log, on the line with its traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.support.canvas import attachment, expect_json, wait_for_final_state


async def test_a_null_header_cell_reports_n_next_to_its_traceback(
    client: Any, admin_headers: dict[str, str], run_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    data = b"vendor_guid,,object_type,title\no1,x,outcome,One\n"
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=admin_headers)
    created = await expect_json(resp, 200)
    with caplog.at_level(logging.INFO):
        final = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    [[row, message]] = final["processing_errors"]
    match = re.fullmatch(r"An unexpected error has occurred: see error report (\d+)", message)
    assert (final["workflow_state"], row, match is not None) == ("failed", 1, True), final
    report = match.group(1) if match else ""
    lines = [r for r in caplog.records if f"error report {report}:" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    [line] = lines
    # The file's fault: a WARNING, with the traceback of where it was found.
    assert line.levelno == logging.WARNING and line.exc_info is not None
    assert f"import_id={created['id']}: error report {report}: Header cell 2 is null" in line.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
