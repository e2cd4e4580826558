"""Build a batch's BatchState with a fixed number of set-based reads, and write it back in bulk.

Reads (each one statement, skipped when it has nothing to look for): the courses named by
course_id cells; the groups (by guid in the batch's contexts, their roots, the parents this
import already wrote, magic ids, the target group and its ancestors); the outcomes (by guid
across the installation, magic ids) with their owners' names and stored friendly descriptions;
every link of those outcomes; then ids for whatever the batch may create. Writes: one COPY
plus one upsert per table, for the objects the batch changed (not those a row left as they
were), and one COPY of the outcomes it saw unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from shared.models import ContextType
from worker import apply_sql
from worker.batch_state import (
    BatchState,
    BatchWrites,
    ContextKey,
    CourseRec,
    GroupRec,
    ImportRun,
    LinkRec,
    OutcomeRec,
    magic_group_id,
    magic_outcome_id,
    ratings_cache_entries,
    ratings_from_json,
)
from worker.outcome_rules import build_outcome_state
from worker.rows import GroupRow, OutcomeRow, RowError
from worker.ruby import to_i

BatchRow = GroupRow | OutcomeRow | RowError
_MAX_ID = 2**63 - 1


async def load_batch_state(
    conn: asyncpg.Connection, run: ImportRun, rows: Sequence[BatchRow], written_contexts: Iterable[ContextKey]
) -> BatchState:
    """Everything `rows` can reference, as it is now in the import's transaction, plus reserved ids.

    Meets the completeness contract of worker/batch_state.py for these rows, given every context
    in which the import has written a group so far (`written_contexts`).
    """
    group_rows = [r for r in rows if isinstance(r, GroupRow)]
    outcome_rows = [r for r in rows if isinstance(r, OutcomeRow)]
    state = BatchState(run.import_id)
    if not group_rows and not outcome_rows:
        return state  # only parse errors: nothing to look up
    await _load_courses(conn, run, state, group_rows)
    contexts: list[ContextKey] = [run.context_key]
    contexts += [(ContextType.course.value, c.id) for c in state.courses.values() if c.in_account]
    await _load_groups(conn, run, state, contexts, group_rows, outcome_rows, written_contexts)
    new_outcomes_bound = await _load_outcomes(conn, run, state, outcome_rows)
    group_ids, outcome_ids = await apply_sql.reserve_ids(
        conn, _new_groups_bound(run, state, contexts, group_rows), new_outcomes_bound
    )
    state.add_free_ids(group_ids, outcome_ids)
    return state


async def write_batch_state(conn: asyncpg.Connection, stage: apply_sql.StagingTables, state: BatchState) -> None:
    """Write everything the batch changed (see write_batch)."""
    await write_batch(conn, stage, state.take_writes())


async def write_batch(conn: asyncpg.Connection, stage: apply_sql.StagingTables, writes: BatchWrites) -> None:
    """Write every changed group, outcome, link and friendly description (groups first: outcomes
    and links name them), and remember the outcomes the batch saw without changing them."""
    await apply_sql.write_groups(conn, stage, writes.new_groups, writes.stored_groups)
    await apply_sql.write_outcomes(conn, stage, writes.new_outcomes, writes.stored_outcomes)
    await apply_sql.mark_seen_outcomes(conn, writes.seen_outcome_ids)
    await apply_sql.write_links(conn, stage, writes.links, writes.links_all_new)
    await apply_sql.write_friendly_descriptions(conn, writes.friendly)


async def _load_courses(conn: asyncpg.Connection, run: ImportRun, state: BatchState, rows: list[GroupRow]) -> None:
    if run.context.type is not ContextType.account:
        return  # course imports reject course_id before any lookup
    # Canvas's Course.find_by(id: cell) casts the cell with Ruby's to_i.
    ids = sorted({i for r in rows if r.course_id is not None and 0 < (i := to_i(r.course_id)) <= _MAX_ID})
    if not ids:
        return
    for rec in await apply_sql.fetch_courses(conn, ids, run.context.id):
        state.courses[rec["id"]] = CourseRec(rec["id"], rec["name"], rec["root_account_id"], rec["in_account"])


async def _load_groups(
    conn: asyncpg.Connection,
    run: ImportRun,
    state: BatchState,
    contexts: list[ContextKey],
    group_rows: list[GroupRow],
    outcome_rows: list[OutcomeRow],
    written_contexts: Iterable[ContextKey],
) -> None:
    parent_guids = {g for r in group_rows for g in r.parent_guids}
    parent_guids.update(g for r in outcome_rows for g in r.parent_guids)
    magic_ids = {i for r in group_rows if (i := magic_group_id(r.vendor_guid))}
    records = await apply_sql.fetch_groups(
        conn,
        contexts,
        {r.vendor_guid for r in group_rows},
        run.import_id,
        parent_guids,
        magic_ids,
        run.target_group_id,
        written_contexts,
    )
    chain = set()
    load_group = state.load_group
    for rec in records:
        (
            group_id,
            context_type,
            context_id,
            root_account_id,
            parent_id,
            vendor_guid,
            title,
            description,
            workflow_state,
            last_import_id,
            in_target_chain,
        ) = rec
        load_group(
            GroupRec(
                group_id,
                (context_type, context_id),
                root_account_id,
                parent_id,
                vendor_guid,
                title,
                description,
                workflow_state,
                last_import_id,
            )
        )
        if in_target_chain:
            chain.add(group_id)
    state.target_chain = frozenset(chain)


async def _load_outcomes(conn: asyncpg.Connection, run: ImportRun, state: BatchState, rows: list[OutcomeRow]) -> int:
    """Load the outcomes the rows name, with their links; return at most how many outcomes the
    rows can create: one per row whose guid is unknown, one per magic-guid row (it may free
    the guid another row then misses)."""
    if not rows:
        return 0
    magic_ids = set()
    plain_guids = []  # of the rows whose guid is not magic, repeats kept
    for row in rows:
        guid = row.vendor_guid
        # magic_outcome_id's own first test, without its call for the guids that are not magic (most).
        magic_id = magic_outcome_id(guid) if "canvas_outcome" in guid else None
        if magic_id is None:
            plain_guids.append(guid)
        elif magic_id:
            magic_ids.add(magic_id)
    guids = set(plain_guids)
    load_outcome = state.load_outcome
    # The hot loop of a re-import (a few hundred thousand records): locals, no keyword arguments,
    # and the ratings' cache looked up here (a miss, or empty ratings, goes through the call).
    ratings_cache = ratings_cache_entries()
    for rec in await apply_sql.fetch_outcomes(conn, guids, magic_ids, run.import_id):
        (
            outcome_id,
            context_type,
            context_id,
            root_account_id,
            owner_name,
            vendor_guid,
            short_description,
            description,
            display_name,
            calculation_method,
            calculation_int,
            ratings,
            mastery_points,
            points_possible,
            workflow_state,
            last_import_id,
            friendly_description,
            friendly_state,
        ) = rec
        outcome = OutcomeRec(
            outcome_id,
            None if context_type is None else (context_type, context_id),
            owner_name,
            root_account_id,
            build_outcome_state(
                vendor_guid,
                short_description,
                description,
                display_name,
                calculation_method,
                calculation_int,
                ratings_cache.get(ratings) or ratings_from_json(ratings),
                mastery_points,
                points_possible,
                workflow_state,
            ),
            last_import_id,
        )
        if friendly_state is not None:
            outcome.friendly = (friendly_description, friendly_state)
        load_outcome(outcome)
    links = await apply_sql.fetch_links(conn, list(state.outcomes), run.context.id, run.links_scoped_to_subtree)
    # load_link written out (once per stored link): load_outcome gave every outcome a dict.
    links_by_outcome = state.links
    for rec in links:
        outcome_id, group_id, context_type, context_id, workflow_state, in_import_subtree = rec
        links_by_outcome[outcome_id][group_id] = LinkRec(
            outcome_id, group_id, (context_type, context_id), workflow_state, in_import_subtree
        )
    return len(rows) - len(plain_guids) + state.count_unknown_outcome_guids(plain_guids)


def _new_groups_bound(run: ImportRun, state: BatchState, contexts: list[ContextKey], rows: list[GroupRow]) -> int:
    """At most how many groups the rows can create: one per row whose guid is unknown in its
    context, one per magic-guid row (it may free the guid another row then misses), one root
    per context that has none."""
    count = sum(1 for context in contexts if context not in state.roots)
    for row in rows:
        context = run.context_key
        course = state.courses.get(to_i(row.course_id)) if row.course_id is not None else None
        if course is not None and course.in_account:
            context = (ContextType.course.value, course.id)
        if magic_group_id(row.vendor_guid) is not None or state.find_group(context, row.vendor_guid) is None:
            count += 1
    return count
