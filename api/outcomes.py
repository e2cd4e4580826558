"""Read-only Outcome Groups / Outcomes handlers (spec §11), plus the route of the CSV export.

Every route checks, in Canvas's order: authentication (401), the context or object exists
(404), the caller may read outcomes there (403). Reading and managing outcomes are the same
right in this service (`can_manage_outcomes`), so `can_edit` / `can_unlink` are true for
everything in a context the caller may read; only outcomes owned by another context (e.g. an
ancestor account's, linked here) need their own check.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from aiohttp import web

from api import export
from api.auth import authenticate, authorize_context, parse_id
from api.deps import DEPS
from api.errors import resource_not_found, unauthorized
from api.outcome_json import group_url, outcome_group_json, outcome_json, outcome_link_json
from api.pagination import Keyset, bookmarked_response, requested_bookmark, split_page
from api.urls import absolute_url
from shared.db import outcome_lists as lists
from shared.db import outcomes as queries
from shared.db.accounts import Context, User, can_manage_outcomes, load_context
from shared.db.errors import translate_db_errors
from shared.db.outcomes import Outcome, OutcomeGroup
from shared.models import ContextType

routes = web.RouteTableDef()

_CONTEXTS = ("/api/v1/accounts/{account_id}", "/api/v1/courses/{course_id}")

OwnerKey = tuple[ContextType | None, int | None]
# Bookmarks of the lists (api/pagination.py): the sort key of a page's last item.
BY_ID = Keyset(("int8",), (lists.START_ID,))
BY_TITLE = Keyset(("text", "int8"), (lists.START_TITLE, lists.START_ID))


def _wants_full(request: web.Request, param: str) -> bool:
    return request.query.get(param) == "full"


async def _find_group(request: web.Request, context: Context) -> OutcomeGroup:
    """The active group of `context` named in the path; Canvas's generic 404 otherwise."""
    group_id = parse_id(request.match_info["group_id"])
    if group_id is None:
        raise resource_not_found()
    with translate_db_errors():
        group = await queries.get_active_group(request.app[DEPS].pool, context, group_id)
    if group is None:
        raise resource_not_found()
    return group


async def _owner_rights(
    conn: asyncpg.Pool, user: User, viewer: Context, outcomes: Iterable[Outcome]
) -> dict[OwnerKey, bool]:
    """May `user` manage outcomes in each owning context? The viewer's own context is known to be yes."""
    rights: dict[OwnerKey, bool] = {(viewer.type, viewer.id): True}
    for key in {(o.context_type, o.context_id) for o in outcomes} - rights.keys():
        owner_type, owner_id = key
        if owner_type is None or owner_id is None:
            # Global outcomes belong to site admins (Canvas's manage_global_outcomes).
            rights[key] = user.site_admin
            continue
        owner = await load_context(conn, owner_type, owner_id)
        rights[key] = owner is not None and await can_manage_outcomes(conn, user, owner)
    return rights


async def redirect_to_root_group(request: web.Request) -> web.StreamResponse:
    context, _ = await authorize_context(request)
    with translate_db_errors():
        root_id = await queries.ensure_root_group(request.app[DEPS].pool, context)
    path = group_url(OutcomeGroup(root_id, context.type, context.id, context.name, None, None, None))
    # Absolute, as Rails' redirect_to sends it.
    raise web.HTTPFound(str(absolute_url(request, path)))


async def list_groups(request: web.Request) -> web.Response:
    context, _ = await authorize_context(request)
    page = requested_bookmark(request, BY_ID)
    (after_id,) = page.after
    with translate_db_errors():
        rows = await lists.list_groups_page(request.app[DEPS].pool, context, int(after_id), page.limit, page.offset)
    groups, next_key = split_page(page, rows, lambda g: (g.id,))
    return bookmarked_response(request, page, next_key, [outcome_group_json(g, can_edit=True) for g in groups])


async def show_group(request: web.Request) -> web.Response:
    context, _ = await authorize_context(request)
    group = await _find_group(request, context)
    return web.json_response(outcome_group_json(group, can_edit=True))


async def list_subgroups(request: web.Request) -> web.Response:
    context, _ = await authorize_context(request)
    group = await _find_group(request, context)
    page = requested_bookmark(request, BY_TITLE)
    after_title, after_id = page.after
    with translate_db_errors():
        rows = await lists.list_subgroups_page(
            request.app[DEPS].pool, group.id, str(after_title), int(after_id), page.limit, page.offset
        )
    groups, next_key = split_page(page, rows, lambda g: (g.title, g.id))
    body = [outcome_group_json(g, can_edit=True, full=False) for g in groups]
    return bookmarked_response(request, page, next_key, body)


async def list_group_outcomes(request: web.Request) -> web.Response:
    context, user = await authorize_context(request)
    group = await _find_group(request, context)
    page = requested_bookmark(request, BY_TITLE)
    after_title, after_id = page.after
    pool = request.app[DEPS].pool
    with translate_db_errors():
        rows = await lists.list_group_links_page(
            pool, context, group.id, str(after_title), int(after_id), page.limit, page.offset
        )
        links, next_key = split_page(page, rows, lambda link: (link.outcome.title, link.id))
        rights = await _owner_rights(pool, user, context, (link.outcome for link in links))
    full_outcome = _wants_full(request, "outcome_style")
    body = [
        outcome_link_json(
            link,
            can_manage=True,
            full_outcome=full_outcome,
            can_edit_outcome=rights[(link.outcome.context_type, link.outcome.context_id)],
        )
        for link in links
    ]
    return bookmarked_response(request, page, next_key, body)


async def list_context_links(request: web.Request) -> web.Response:
    context, user = await authorize_context(request)
    page = requested_bookmark(request, BY_ID)
    (after_id,) = page.after
    pool = request.app[DEPS].pool
    with translate_db_errors():
        rows = await lists.list_context_links_page(pool, context, int(after_id), page.limit, page.offset)
        links, next_key = split_page(page, rows, lambda link: (link.id,))
        rights = await _owner_rights(pool, user, context, (link.outcome for link in links))
    full_outcome = _wants_full(request, "outcome_style")
    full_group = _wants_full(request, "outcome_group_style")
    body = [
        outcome_link_json(
            link,
            can_manage=True,
            full_outcome=full_outcome,
            full_group=full_group,
            can_edit_outcome=rights[(link.outcome.context_type, link.outcome.context_id)],
        )
        for link in links
    ]
    return bookmarked_response(request, page, next_key, body)


@routes.get("/api/v1/outcomes/{outcome_id}")
async def show_outcome(request: web.Request) -> web.Response:
    """Readable by whoever may manage outcomes in the owning context (global ones: everyone)."""
    user = await authenticate(request)
    outcome_id = parse_id(request.match_info["outcome_id"])
    if outcome_id is None:
        raise resource_not_found()
    pool = request.app[DEPS].pool
    with translate_db_errors():
        owner_key = await queries.get_active_outcome_owner(pool, outcome_id)
        if owner_key is None:
            raise resource_not_found()
        owner_type, owner_id = owner_key
        owner = None
        can_edit = user.site_admin
        if owner_type is not None and owner_id is not None:
            owner = await load_context(pool, owner_type, owner_id)
            if owner is None:
                raise resource_not_found()
            can_edit = await can_manage_outcomes(pool, user, owner)
            if not can_edit:
                raise unauthorized()
        outcome = await queries.get_active_outcome(pool, outcome_id, owner)
    if outcome is None:  # deleted between the two reads
        raise resource_not_found()
    return web.json_response(outcome_json(outcome, can_edit=can_edit))


for _prefix in _CONTEXTS:
    routes.get(f"{_prefix}/root_outcome_group")(redirect_to_root_group)
    routes.get(f"{_prefix}/outcome_groups")(list_groups)
    routes.get(f"{_prefix}/outcome_groups/{{group_id}}")(show_group)
    routes.get(f"{_prefix}/outcome_groups/{{group_id}}/subgroups")(list_subgroups)
    routes.get(f"{_prefix}/outcome_groups/{{group_id}}/outcomes")(list_group_outcomes)
    routes.get(f"{_prefix}/outcome_group_links")(list_context_links)
    routes.get(f"{_prefix}/outcome_export")(export.export_outcomes)
