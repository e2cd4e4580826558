"""Outcome import webhooks (README, "Webhooks"), an extension: endpoints a root account's admins
register to be told, by a signed POST, when one of its imports ends; and each endpoint's delivery log.

Who: site admins and the admins of that root account (Canvas's 401, then 404 for an account that
does not exist or is not a root account, then 403). The signing secret is answered once, when it
is made (on create, or on update with `rotate_secret`); afterwards only its first characters.
Every change is recorded in the operations audit log, in the same transaction.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from api.auth import authenticate, find_context, parse_id
from api.deps import DEPS, Deps
from api.errors import ApiError, errors_body, resource_not_found, unauthorized
from api.pagination import (
    Keyset,
    bookmarked_response,
    paginated_response,
    requested_bookmark,
    requested_page,
    split_page,
)
from api.params import Params, invalid, read_params
from shared.db import operations as audit
from shared.db import webhooks as queries
from shared.db.accounts import User
from shared.db.errors import translate_db_errors
from shared.db.provisioning import administers
from shared.errors import WebhookAddressRefused, WebhookUrlRefused
from shared.models import ContextType, canvas_time
from shared.webhooks import EVENTS, check_address, check_url, new_secret, secret_hint, secret_key

routes = web.RouteTableDef()

PREFIX = "/api/v1/accounts/{account_id}/outcome_import_webhooks"
NEWEST_FIRST = Keyset(("int8",), (queries.NEWEST,))
RESOLVE_TIMEOUT_SECONDS = 5


async def _root_account_admin(request: web.Request) -> tuple[int, User]:
    """The root account in the path, which the caller may manage webhooks of."""
    user = await authenticate(request)
    account = await find_context(request, ContextType.account, request.match_info["account_id"])
    if account.id != account.root_account_id:
        raise resource_not_found()
    with translate_db_errors():
        if not await administers(request.app[DEPS].pool, user, (account.id,)):
            raise unauthorized()
    return account.id, user


def _path(webhook: queries.Webhook) -> str:
    return f"/api/v1/accounts/{webhook.root_account_id}/outcome_import_webhooks/{webhook.id}"


def webhook_json(webhook: queries.Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": webhook.id,
        "root_account_id": webhook.root_account_id,
        "url": webhook.url,
        "events": list(webhook.events),
        "active": webhook.active,
        "disabled_reason": webhook.disabled_reason,
        "secret_hint": secret_hint(webhook.secret),
        "created_at": canvas_time(webhook.created_at),
        "updated_at": canvas_time(webhook.updated_at),
        "deliveries_url": f"{_path(webhook)}/deliveries",
    }
    if with_secret:
        body["secret"] = webhook.secret
    return body


def delivery_json(delivery: queries.Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "message_id": delivery.message_id,
        "event_type": delivery.event_type,
        "event_at": canvas_time(delivery.event_at),
        "outcome_import_id": delivery.outcome_import_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": canvas_time(delivery.next_attempt_at) if delivery.state == "pending" else None,
        "last_attempt_at": canvas_time(delivery.last_attempt_at),
        "last_status": delivery.last_status,
        "last_latency_ms": delivery.last_latency_ms,
        "last_error": delivery.last_error,
        "delivered_at": canvas_time(delivery.delivered_at),
        "created_at": canvas_time(delivery.created_at),
        "attempt_log": [
            {
                "attempt": a.attempt,
                "started_at": canvas_time(a.started_at),
                "ended_at": canvas_time(a.ended_at),
                "status": a.status,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in delivery.log
        ],
    }


async def _url(params: Params, deps: Deps, *, required: bool) -> str | None:
    """The URL given, checked as a delivery checks it: a name must not resolve to an address
    deliveries may not reach (one that does not resolve yet is accepted; each delivery checks again)."""
    name = "webhook[url]"
    raw = params.required_string(name) if required else params.string(name)
    if raw is None:
        return None
    allow_private = deps.settings.webhook_allow_private
    try:
        url = check_url(raw, allow_private=allow_private)
        if not allow_private:
            for address in await _addresses(url.raw_host or ""):
                check_address(address, allow_private=False)
    except (WebhookUrlRefused, WebhookAddressRefused) as exc:
        raise invalid(name, str(exc)) from exc
    return raw


async def _addresses(host: str) -> list[str]:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    return [str(info[4][0]) for info in found]


def _events(params: Params, *, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    name = "webhook[events]"
    values = params.raw(name)
    if values is None:
        return default
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise invalid(name, "a list of one or more of " + ", ".join(EVENTS))
    unknown = [v for v in values if v not in EVENTS]
    if unknown:
        raise invalid(name, f"unknown event {unknown[0][:100]!r}; known: " + ", ".join(EVENTS))
    return tuple(e for e in EVENTS if e in values)


def _secret(params: Params) -> str | None:
    name = "webhook[secret]"
    raw = params.string(name)
    if raw is None:
        return None
    try:
        secret_key(raw)
    except ValueError as exc:
        raise invalid(name, str(exc)) from exc
    return raw


def _flag(params: Params, name: str) -> bool | None:
    """A JSON boolean, or `true` / `false` in a form; None if absent."""
    raw = params.raw(name)
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise invalid(name, "true or false")


def _webhook_id(request: web.Request) -> int:
    webhook_id = parse_id(request.match_info["id"])
    if webhook_id is None:
        raise resource_not_found()
    return webhook_id


@routes.post(PREFIX)
async def create_webhook(request: web.Request) -> web.Response:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    root_account_id, user = await _root_account_admin(request)
    deps = request.app[DEPS]
    params = await read_params(request)
    url = await _url(params, deps, required=True)
    assert url is not None
    events = _events(params, default=EVENTS)
    assert events is not None
    secret = _secret(params) or new_secret()
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            webhook = await queries.insert_webhook(conn, root_account_id, url, secret, events, user.id)
            await audit.record_audit(
                conn, user.id, "create_webhook", root_account_id=root_account_id, detail=f"webhook {webhook.id}"
            )
    return web.json_response(webhook_json(webhook, with_secret=True))


@routes.get(PREFIX)
async def list_webhooks(request: web.Request) -> web.Response:
    root_account_id, _ = await _root_account_admin(request)
    page = requested_page(request)
    with translate_db_errors():
        webhooks, total = await queries.list_webhooks(request.app[DEPS].pool, root_account_id, page.limit, page.offset)
    return paginated_response(request, page, total, [webhook_json(w) for w in webhooks])


async def _webhook(request: web.Request, root_account_id: int) -> queries.Webhook:
    with translate_db_errors():
        webhook = await queries.get_webhook(request.app[DEPS].pool, _webhook_id(request), root_account_id)
    if webhook is None:
        raise resource_not_found()
    return webhook


@routes.get(PREFIX + "/{id}")
async def show_webhook(request: web.Request) -> web.Response:
    root_account_id, _ = await _root_account_admin(request)
    return web.json_response(webhook_json(await _webhook(request, root_account_id)))


@routes.put(PREFIX + "/{id}")
async def update_webhook(request: web.Request) -> web.Response:
    """Change the URL, events, active flag or secret; `rotate_secret=true` makes a new secret,
    answered this once. Turning an endpoint on again clears why it was turned off."""
    root_account_id, user = await _root_account_admin(request)
    deps = request.app[DEPS]
    webhook_id = _webhook_id(request)
    params = await read_params(request)
    url = await _url(params, deps, required=False)
    events = _events(params, default=None)
    secret = _secret(params)
    if _flag(params, "rotate_secret"):
        secret = new_secret()
    active = _flag(params, "webhook[active]")
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            webhook = await queries.update_webhook(
                conn, webhook_id, root_account_id, url=url, secret=secret, events=events, active=active
            )
            if webhook is None:
                raise resource_not_found()
            await audit.record_audit(
                conn, user.id, "update_webhook", root_account_id=root_account_id, detail=f"webhook {webhook.id}"
            )
    return web.json_response(webhook_json(webhook, with_secret=secret is not None))


@routes.delete(PREFIX + "/{id}")
async def delete_webhook(request: web.Request) -> web.Response:
    """Remove an endpoint, its pending deliveries and its log; answers the endpoint as it was."""
    root_account_id, user = await _root_account_admin(request)
    deps = request.app[DEPS]
    webhook_id = _webhook_id(request)
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            webhook = await queries.delete_webhook(conn, webhook_id, root_account_id)
            if webhook is None:
                raise resource_not_found()
            await audit.record_audit(
                conn, user.id, "delete_webhook", root_account_id=root_account_id, detail=f"webhook {webhook.id}"
            )
    return web.json_response(webhook_json(webhook))


@routes.get(PREFIX + "/{id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """The endpoint's delivery log, newest first, in bookmarked pages; each delivery with its attempts."""
    root_account_id, _ = await _root_account_admin(request)
    webhook = await _webhook(request, root_account_id)
    page = requested_bookmark(request, NEWEST_FIRST)
    (before_id,) = page.after
    with translate_db_errors():
        rows = await queries.list_deliveries(
            request.app[DEPS].pool, webhook.id, int(before_id), page.limit, page.offset
        )
    deliveries, next_key = split_page(page, rows, lambda d: (d.id,))
    return bookmarked_response(request, page, next_key, [delivery_json(d) for d in deliveries])


def _delivery_id(request: web.Request) -> int:
    delivery_id = parse_id(request.match_info["delivery_id"])
    if delivery_id is None:
        raise resource_not_found()
    return delivery_id


@routes.get(PREFIX + "/{id}/deliveries/{delivery_id}")
async def show_delivery(request: web.Request) -> web.Response:
    root_account_id, _ = await _root_account_admin(request)
    webhook = await _webhook(request, root_account_id)
    with translate_db_errors():
        delivery = await queries.get_delivery(request.app[DEPS].pool, _delivery_id(request), webhook.id)
    if delivery is None:
        raise resource_not_found()
    return web.json_response(delivery_json(delivery))


@routes.post(PREFIX + "/{id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    """Send a failed (or still pending) delivery again now, with its `webhook-id` and body; a
    failed one starts a fresh retry schedule. 409 for one already delivered."""
    root_account_id, user = await _root_account_admin(request)
    deps = request.app[DEPS]
    webhook = await _webhook(request, root_account_id)
    delivery_id = _delivery_id(request)
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            delivery = await queries.redeliver(conn, delivery_id, webhook.id)
            if delivery is None:
                if await queries.get_delivery(conn, delivery_id, webhook.id) is None:
                    raise resource_not_found()
                raise ApiError(409, errors_body("This delivery was delivered already"))
            await audit.record_audit(
                conn,
                user.id,
                "redeliver_webhook",
                root_account_id=root_account_id,
                outcome_import_id=delivery.outcome_import_id,
                detail=f"webhook {webhook.id} delivery {delivery.id}",
            )
        found = await queries.get_delivery(deps.pool, delivery_id, webhook.id)
    assert found is not None
    return web.json_response(delivery_json(found))
