"""Canvas-style per-token throttling: off by default; when on, 403 `Rate Limit Exceeded` and its headers."""

from __future__ import annotations

import asyncio
from typing import Any

from api.app import create_app
from api.throttling import RATE_LIMIT_EXCEEDED
from shared.settings import Settings


async def test_throttling_is_off_by_default(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.get("/api/v1/accounts/1", headers=admin_headers)
    assert resp.status == 200
    assert "X-Rate-Limit-Remaining" not in resp.headers
    assert "X-Request-Cost" not in resp.headers


async def test_a_token_that_overflows_its_bucket_gets_canvas_403(
    aiohttp_client: Any, settings: Settings, admin_headers: dict[str, str]
) -> None:
    # Room for two requests' up-front cost, leaking so slowly that nothing drains during the test.
    throttled = settings.with_(
        rate_limit_high_water_mark=100, rate_limit_up_front_cost=45, rate_limit_outflow_per_second=1
    )
    client = await aiohttp_client(create_app(throttled))
    first = await client.get("/api/v1/accounts/1", headers=admin_headers)
    assert first.status == 200
    cost = float(first.headers["X-Request-Cost"])
    assert 0 <= cost < 5
    assert 0 < float(first.headers["X-Rate-Limit-Remaining"]) <= 100

    responses = await asyncio.gather(*(client.get("/api/v1/accounts/1", headers=admin_headers) for _ in range(6)))
    refused = [r for r in responses if r.status == 403]
    assert refused, [r.status for r in responses]
    for resp in refused:
        assert await resp.text() == RATE_LIMIT_EXCEEDED == "403 Forbidden (Rate Limit Exceeded)\n"
        assert float(resp.headers["X-Rate-Limit-Remaining"]) < 45
    assert all(r.status in (200, 403) for r in responses)

    # Another token has a bucket of its own; requests without a token are not throttled here.
    other = await client.get("/api/v1/accounts/1", headers={"Authorization": "Bearer someone-else"})
    assert other.status == 401
    assert "X-Request-Cost" in other.headers
