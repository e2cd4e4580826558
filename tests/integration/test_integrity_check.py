"""The check that stands in for the foreign keys migrations 0005 and 0006 dropped can fail."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.integrity import assert_references_intact


async def test_an_empty_installation_has_no_dangling_references(db: asyncpg.Connection) -> None:
    await assert_references_intact(db)


async def test_a_link_to_a_missing_outcome_and_group_is_reported(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO learning_outcome_links (learning_outcome_id, associated_group_id, context_type, context_id)"
        " VALUES (987654, 876543, 'Account', 1)"
    )
    with pytest.raises(AssertionError, match="link -> outcome") as raised:
        await assert_references_intact(db)
    assert "link -> group" in str(raised.value)


async def test_an_outcome_of_a_missing_root_account_is_reported(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO learning_outcomes (context_type, context_id, root_account_id, short_description)"
        " VALUES ('Account', 1, 424242, 'orphan')"
    )
    with pytest.raises(AssertionError, match="outcome -> root account"):
        await assert_references_intact(db)


async def test_a_group_under_a_missing_parent_and_root_account_is_reported(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)"
        " VALUES ('Account', 1, 424242, 919191, 'orphan')"
    )
    with pytest.raises(AssertionError, match="group -> parent group") as raised:
        await assert_references_intact(db)
    assert "group -> root account" in str(raised.value)
