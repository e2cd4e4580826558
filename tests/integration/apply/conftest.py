"""The `inst` fixture: accounts A, A1 (under A), B and courses in them, as direct INSERTs."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db.accounts import Context, load_context
from shared.models import ContextType
from tests.integration.apply.support import Installation


@pytest.fixture
async def inst(db: asyncpg.Connection) -> Installation:
    async def account(name: str, parent: int | None = None) -> int:
        value: int = await db.fetchval(
            "INSERT INTO accounts (name, parent_account_id, root_account_id) VALUES ($1, $2, $3) RETURNING id",
            name,
            parent,
            parent,
        )
        return value

    async def course(name: str, account_id: int, root_id: int) -> int:
        value: int = await db.fetchval(
            "INSERT INTO courses (name, account_id, root_account_id) VALUES ($1, $2, $3) RETURNING id",
            name,
            account_id,
            root_id,
        )
        return value

    a = await account("Account A")
    a1 = await account("Account A1", a)
    b = await account("Account B")
    c1 = await course("Course C1", a, a)
    c_a1 = await course("Course in A1", a1, a)
    c_b = await course("Course in B", b, b)

    async def ctx(type_: ContextType, id_: int) -> Context:
        loaded = await load_context(db, type_, id_)
        assert loaded is not None
        return loaded

    return Installation(
        db,
        await ctx(ContextType.account, a),
        await ctx(ContextType.account, a1),
        await ctx(ContextType.account, b),
        await ctx(ContextType.course, c1),
        await ctx(ContextType.course, c_a1),
        await ctx(ContextType.course, c_b),
    )
