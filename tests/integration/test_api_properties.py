"""The whole API against its OpenAPI document, with Schemathesis: the document is the contract.

Schemathesis reads `/api/v1/openapi.json` from the running service, generates valid and invalid
requests for every operation, and runs all its checks on the answers: no server error, every
status and header documented, every body matching its schema, invalid data rejected, valid data
accepted. Once as a site admin (who may do everything) and once as a user with no rights (who
gets Canvas's 403s). A bounded number of examples per operation keeps the run within CI's
budget; the seed is fixed in CI (CI=true) so a failure there reproduces, and random locally so
that each run explores a little more (it is printed, to reproduce a failure).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from api.app import create_app
from api.serving import BoundedSite, server_options
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN

HOST = "127.0.0.1"
CI_SEED = 20261205
EXAMPLES_PER_OPERATION = 10
RUN_TIMEOUT_SECONDS = 240
CONFIG = Path(__file__).parent.parent / "schemathesis.toml"


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """The API served as `python -m api` serves it (Schemathesis runs in another process), /metrics on."""
    settings = settings.with_(metrics_token=ADMIN_TOKEN)
    runner = web.AppRunner(create_app(settings), handle_signals=False, **server_options(settings))
    await runner.setup()
    site = BoundedSite(runner, HOST, 0, settings.max_connections)
    await site.start()
    yield f"http://{HOST}:{site.port}"
    await runner.cleanup()


async def _token_without_rights(base_url: str) -> str:
    """A user of the default account with a token, and no admin role or enrollment anywhere."""
    import aiohttp

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(base_url) as http:
        user = await (
            await http.post("/api/v1/accounts/1/users", json={"pseudonym": {"unique_id": "nobody"}}, headers=headers)
        ).json()
        token = await (
            await http.post(f"/api/v1/users/{user['id']}/tokens", json={"token": {"purpose": "st"}}, headers=headers)
        ).json()
    return str(token["visible_token"])


def _seed() -> int:
    """CI's fixed seed; locally a random one, or SCHEMATHESIS_SEED to replay a failure."""
    if os.environ.get("SCHEMATHESIS_SEED"):
        return int(os.environ["SCHEMATHESIS_SEED"])
    return CI_SEED if os.environ.get("CI") == "true" else random.randrange(2**31)


async def _schemathesis(base_url: str, token: str, report: Path, seed: int) -> tuple[int, str]:
    st = Path(sys.executable).parent / "st"
    process = await asyncio.create_subprocess_exec(
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(seed),
        "--header",
        f"Authorization: Bearer {token}",
        # One worker: CPython 3.11's parser is not safe to use from several threads at once, and
        # Hypothesis parses the source of its filters (SystemError: AST constructor recursion depth mismatch).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # Schemathesis keeps a cache of past crashes (.schemathesis/) in its working directory, to
        # replay them first: each run starts clean, away from the repository.
        cwd=report.parent,
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.timeout(2 * RUN_TIMEOUT_SECONDS + 60)
@pytest.mark.parametrize("caller", ["site_admin", "no_rights"])
async def test_the_api_keeps_its_openapi_contract(base_url: str, tmp_path: Path, caller: str) -> None:
    token = ADMIN_TOKEN if caller == "site_admin" else await _token_without_rights(base_url)
    seed = _seed()
    code, output = await _schemathesis(base_url, token, tmp_path / "events.ndjson", seed)
    assert code == 0, f"seed {seed} (replay: SCHEMATHESIS_SEED={seed}):\n{output[-20000:]}"
