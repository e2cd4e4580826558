"""Invariants of a live database that its schema does not enforce, checked (`outcome-imports check`).

Groups, outcomes and links carry no foreign keys since the bulk-load migrations (0005, 0006):
nothing deletes them (deletion is workflow_state = 'deleted') and the importer writes only ids it
read or reserved in its transaction, so their references cannot dangle unless a bug makes them.
These checks find such bugs: dangling references, trees that cross contexts, active links to
deleted things, more than one root group per context, imports left `importing` with no worker
alive to finish them, and the per-state import counts (kept by a trigger) drifting from the
imports. The fault and scale tests and the conformance suite run them after they import.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.settings import Settings

# How many of the offending items a report names (it counts them all).
SAMPLE_SIZE = 10


def default_stale_after_seconds() -> float:
    """Settings.stale_after_seconds's default: how long the reaper waits, unless configured."""
    default = Settings.__dataclass_fields__["stale_after_seconds"].default
    assert isinstance(default, int)
    return float(default)


@dataclass(frozen=True)
class Invariant:
    name: str
    description: str  # what a violation is, in the plural ("links naming an outcome that does not exist")
    query: str  # one text column, `item`: one row per violation, naming it (usually an id)
    takes_stale_after: bool = False  # the query's $1 is stale-after, in seconds


def _context_exists(alias: str) -> str:
    # Composed only of this module's constants, never of input.
    return f"""(
        ({alias}.context_type = 'Account' AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = {alias}.context_id))
        OR ({alias}.context_type = 'Course' AND EXISTS (SELECT 1 FROM courses c WHERE c.id = {alias}.context_id)))"""


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "link -> outcome",
        "links naming an outcome that does not exist",
        """SELECT l.id::text FROM learning_outcome_links l
           WHERE NOT EXISTS (SELECT 1 FROM learning_outcomes o WHERE o.id = l.learning_outcome_id)""",
    ),
    Invariant(
        "link -> group",
        "links naming a group that does not exist",
        """SELECT l.id::text FROM learning_outcome_links l
           WHERE NOT EXISTS (SELECT 1 FROM learning_outcome_groups g WHERE g.id = l.associated_group_id)""",
    ),
    Invariant(
        "active link -> deleted outcome",
        "active links to a deleted outcome",
        """SELECT l.id::text FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
           WHERE l.workflow_state = 'active' AND o.workflow_state = 'deleted'""",
    ),
    Invariant(
        "active link -> deleted group",
        "active links in a deleted group",
        """SELECT l.id::text FROM learning_outcome_links l
           JOIN learning_outcome_groups g ON g.id = l.associated_group_id
           WHERE l.workflow_state = 'active' AND g.workflow_state = 'deleted'""",
    ),
    Invariant(
        "link context",
        "links whose context is not their group's",
        """SELECT l.id::text FROM learning_outcome_links l
           JOIN learning_outcome_groups g ON g.id = l.associated_group_id
           WHERE (l.context_type, l.context_id) <> (g.context_type, g.context_id)""",
    ),
    Invariant(
        "link title",
        "links whose copy of their outcome's title (by which a group's outcomes are listed) is not its title",
        """SELECT l.id::text FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
           WHERE l.outcome_title IS DISTINCT FROM o.short_description""",
    ),
    Invariant(
        "outcome -> root account",
        "outcomes naming a root account that does not exist",
        """SELECT o.id::text FROM learning_outcomes o
           WHERE o.root_account_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = o.root_account_id)""",
    ),
    Invariant(
        "outcome -> context",
        "outcomes owned by an account or course that does not exist",
        f"""SELECT o.id::text FROM learning_outcomes o
            WHERE o.context_type IS NOT NULL AND NOT {_context_exists("o")}""",
    ),
    Invariant(
        "group -> parent group",
        "groups naming a parent group that does not exist",
        """SELECT g.id::text FROM learning_outcome_groups g
           WHERE g.parent_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM learning_outcome_groups p WHERE p.id = g.parent_id)""",
    ),
    Invariant(
        "group -> root account",
        "groups naming a root account that does not exist",
        """SELECT g.id::text FROM learning_outcome_groups g
           WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = g.root_account_id)""",
    ),
    Invariant(
        "group -> context",
        "groups of an account or course that does not exist",
        f"SELECT g.id::text FROM learning_outcome_groups g WHERE NOT {_context_exists('g')}",
    ),
    Invariant(
        "group parent context",
        "groups whose parent group is in another context",
        """SELECT g.id::text FROM learning_outcome_groups g JOIN learning_outcome_groups p ON p.id = g.parent_id
           WHERE (g.context_type, g.context_id) <> (p.context_type, p.context_id)""",
    ),
    Invariant(
        "active group -> deleted parent",
        "active groups whose parent group is deleted",
        """SELECT g.id::text FROM learning_outcome_groups g JOIN learning_outcome_groups p ON p.id = g.parent_id
           WHERE g.workflow_state = 'active' AND p.workflow_state = 'deleted'""",
    ),
    Invariant(
        "one root group",
        "contexts with more than one active root group",
        """SELECT context_type || ' ' || context_id FROM learning_outcome_groups
           WHERE parent_id IS NULL AND workflow_state = 'active'
           GROUP BY context_type, context_id HAVING count(*) > 1""",
    ),
    Invariant(
        "import -> context",
        "imports into an account or course that does not exist",
        f"SELECT i.id::text FROM outcome_imports i WHERE NOT {_context_exists('i')}",
    ),
    Invariant(
        "import -> target group",
        "imports whose target group does not exist",
        """SELECT i.id::text FROM outcome_imports i
           WHERE i.learning_outcome_group_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM learning_outcome_groups g WHERE g.id = i.learning_outcome_group_id)""",
    ),
    Invariant(
        "stuck import",
        "imports `importing` with no live worker, silent for longer than stale-after",
        # $1: stale-after, seconds. The reaper re-runs such an import within stale-after plus a
        # reconcile period; one still here has no reaper either (no live worker at all).
        """SELECT i.id::text FROM outcome_imports i LEFT JOIN workers w ON w.id = i.worker_id
           WHERE i.workflow_state = 'importing'
             AND coalesce(i.heartbeat_at, i.started_at, i.updated_at) < now() - make_interval(secs => $1)
             AND (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.heartbeat_at < now() - make_interval(secs => $1))""",
        takes_stale_after=True,
    ),
    Invariant(
        "state counts",
        "root accounts and states whose count in outcome_import_state_counts is not the number of imports",
        """SELECT format('root account %s, %s: %s counted, %s imports', root_account_id, workflow_state,
                         coalesce(c.imports, 0), coalesce(r.imports, 0))
           FROM outcome_import_state_counts c
           FULL JOIN (SELECT root_account_id, workflow_state, count(*) AS imports FROM outcome_imports GROUP BY 1, 2) r
               USING (root_account_id, workflow_state)
           WHERE coalesce(c.imports, 0) <> coalesce(r.imports, 0)""",
    ),
)


def _counted(query: str) -> str:
    # Composed only of this module's constants, never of input.
    return (
        f"SELECT count(*) AS found, (array_agg(item ORDER BY length(item), item))[1:{SAMPLE_SIZE}] AS sample"
        f" FROM ({query}) AS violations (item)"
    )


@dataclass(frozen=True)
class Violation:
    invariant: Invariant
    found: int
    sample: list[str]  # at most SAMPLE_SIZE of the items found, smallest ids first


async def check_integrity(conn: asyncpg.Connection, *, stale_after_seconds: float) -> list[Violation]:
    """Run every invariant in one read-only snapshot (REPEATABLE READ, so counts and the rows they
    count agree on a live database); return those that found anything, in INVARIANTS order.

    Writes nothing and takes no lock beyond what reads take. Raises asyncpg errors as they come
    (e.g. UndefinedTableError on a database that was never migrated).
    """
    violations = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for invariant in INVARIANTS:
            args = [float(stale_after_seconds)] if invariant.takes_stale_after else []
            row = await conn.fetchrow(_counted(invariant.query), *args)
            if row["found"]:
                violations.append(Violation(invariant, row["found"], list(row["sample"])))
    return violations


def describe(violation: Violation) -> str:
    """One line: the invariant, how many violate it, and the first of them."""
    more = ", ..." if violation.found > len(violation.sample) else ""
    return (
        f"{violation.invariant.name}: {violation.found} {violation.invariant.description}: "
        f"{', '.join(violation.sample)}{more}"
    )


def as_json(violation: Violation) -> dict[str, object]:
    return {
        "name": violation.invariant.name,
        "description": violation.invariant.description,
        "found": violation.found,
        "sample": violation.sample,
    }
