"""The check that stands in for the foreign keys migrations 0005 and 0006 dropped can fail."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.integrity import DANGLING_REFERENCES, assert_references_intact


async def test_an_empty_installation_has_no_dangling_references(db: asyncpg.Connection) -> None:
    await assert_references_intact(db)


@pytest.mark.parametrize(
    ("orphan", "reported"),
    [
        (
            "INSERT INTO learning_outcome_links (learning_outcome_id, associated_group_id, context_type, context_id)"
            " VALUES (987654, 876543, 'Account', 1)",
            {"link -> outcome", "link -> group"},
        ),
        (
            "INSERT INTO learning_outcomes (context_type, context_id, root_account_id, short_description)"
            " VALUES ('Account', 1, 424242, 'orphan')",
            {"outcome -> root account"},
        ),
        (
            "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)"
            " VALUES ('Account', 1, 424242, 919191, 'orphan')",
            {"group -> parent group", "group -> root account"},
        ),
    ],
    ids=["link", "outcome", "group"],
)
async def test_each_dangling_reference_is_reported(db: asyncpg.Connection, orphan: str, reported: set[str]) -> None:
    await db.execute(orphan)
    with pytest.raises(AssertionError) as raised:
        await assert_references_intact(db)
    assert {name for name in DANGLING_REFERENCES if name in str(raised.value)} == reported
