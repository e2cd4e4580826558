"""The references the schema does not enforce with foreign keys (migrations 0005, 0006), checked."""

from __future__ import annotations

import asyncpg

# Each query lists the rows whose reference names nothing.
DANGLING_REFERENCES = {
    "link -> outcome": """
        SELECT l.id FROM learning_outcome_links l
        WHERE NOT EXISTS (SELECT 1 FROM learning_outcomes o WHERE o.id = l.learning_outcome_id)""",
    "link -> group": """
        SELECT l.id FROM learning_outcome_links l
        WHERE NOT EXISTS (SELECT 1 FROM learning_outcome_groups g WHERE g.id = l.associated_group_id)""",
    "outcome -> root account": """
        SELECT o.id FROM learning_outcomes o
        WHERE o.root_account_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = o.root_account_id)""",
    "group -> parent group": """
        SELECT g.id FROM learning_outcome_groups g
        WHERE g.parent_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM learning_outcome_groups p WHERE p.id = g.parent_id)""",
    "group -> root account": """
        SELECT g.id FROM learning_outcome_groups g
        WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = g.root_account_id)""",
}


async def assert_references_intact(conn: asyncpg.Connection) -> None:
    found = {name: [r[0] for r in await conn.fetch(query)] for name, query in DANGLING_REFERENCES.items()}
    dangling = {name: ids for name, ids in found.items() if ids}
    assert not dangling, dangling
