"""Who may see and steer the operations views, and how much of them.

A site admin sees every root account and may use the controls. An admin of a root account sees
that root account only, and may not use the controls. Anyone else gets Canvas's 403. The caller
is known as on every route (api/auth.py): by an API token, or by the session cookie of a signed-in
browser (api/sessions.py, which also checks the CSRF token of state-changing requests).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.auth import authenticate
from api.deps import DEPS
from api.errors import unauthorized
from shared.db.accounts import User
from shared.db.errors import translate_db_errors
from shared.db.operations import Roots, administered_root_accounts


@dataclass(frozen=True, slots=True)
class Operator:
    user: User
    roots: Roots  # the root accounts in view; None: all of them

    @property
    def may_control(self) -> bool:
        return self.roots is None

    def sees(self, root_account_id: int) -> bool:
        return self.roots is None or root_account_id in self.roots


async def operator(request: web.Request) -> Operator:
    """The caller as an operator; raises Canvas's 401 or 403."""
    user = await authenticate(request)
    if user.site_admin:
        return Operator(user, None)
    with translate_db_errors():
        roots = await administered_root_accounts(request.app[DEPS].pool, user.id)
    if not roots:
        raise unauthorized()
    return Operator(user, tuple(roots))


async def controller(request: web.Request) -> Operator:
    """An operator who may use the controls (a site admin); raises Canvas's 401 or 403."""
    found = await operator(request)
    if not found.may_control:
        raise unauthorized()
    return found
