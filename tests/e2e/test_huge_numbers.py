"""A number longer than Python converts (4,300 digits) is a row error like any other out-of-range
value, never an unexpected error: Ruby reads and prints integers of any length."""

from __future__ import annotations

from typing import Any

from tests.support.canvas import attachment, expect_json, wait_for_final_state


async def test_a_calculation_int_of_5000_digits_is_a_row_error(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    digits = "7" * 5000
    csv = f"vendor_guid,object_type,title,calculation_method,calculation_int\no1,outcome,One,n_mastery,{digits}\n"
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports", data=attachment(csv.encode()), headers=admin_headers
    )
    created = await expect_json(resp, 200)
    final = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == (
        "succeeded",
        [
            [
                2,
                f"Calculation int '{digits}' is not a valid value for this calculation method."
                " The value must be between '1' and '10'",
            ]
        ],
    )


async def test_a_course_id_of_5000_digits_is_a_course_not_found(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    digits = "8" * 5000
    csv = f"vendor_guid,object_type,title,course_id\ng1,group,One,{digits}\n"
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports", data=attachment(csv.encode()), headers=admin_headers
    )
    created = await expect_json(resp, 200)
    final = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == (
        "succeeded",
        [[2, f"Course with canvas id {digits} not found"]],
    )
