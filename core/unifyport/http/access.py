"""What the API key of a request may do: the scope each route needs, and the accounts it sees.

Every route declares its scope once, with :func:`requires` (read by the authentication hook
and by the OpenAPI document, as ``x-scope``); a route that declares none needs an admin key.
Routes with an ``<account_id>`` path parameter answer 404 for an account the key is not
limited to, exactly as for an account that does not exist. Lists filter themselves with
:func:`access` (``Access.accounts``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from quart import Request, current_app, g

from unifyport.apikeys import ADMIN, allows
from unifyport.db.models import ApiKey
from unifyport.errors import ApiError, not_found

Scope = Literal["read", "send", "control", "admin"]
F = TypeVar("F", bound=Callable[..., object])
ATTRIBUTE = "unifyport_scope"


def requires(scope: Scope) -> Callable[[F], F]:
    """Declare the scope a route needs (``admin`` when a route declares none)."""

    def mark(view: F) -> F:
        setattr(view, ATTRIBUTE, scope)
        return view

    return mark


def scope_of(view: object) -> str:
    """The scope ``view`` declares, ``admin`` when none."""
    return str(getattr(view, ATTRIBUTE, ADMIN))


@dataclass(frozen=True)
class Access:
    key: ApiKey

    @property
    def admin(self) -> bool:
        return self.key.scopes is None

    @property
    def accounts(self) -> frozenset[str] | None:
        """The accounts the key is limited to; ``None``: every account (an admin key)."""
        ids = self.key.account_ids
        return None if self.key.scopes is None or ids is None else frozenset(ids)

    def sees(self, account_id: str | None) -> bool:
        accounts = self.accounts
        return accounts is None or account_id in accounts

    def sees_all(self, account_ids: list[str] | None) -> bool:
        """Whether every account of ``account_ids`` is the key's (``None``: every account,
        which only an admin key sees)."""
        accounts = self.accounts
        if accounts is None:
            return True
        return account_ids is not None and bool(account_ids) and set(account_ids) <= accounts


def access() -> Access:
    """The access of the current request's key."""
    found: Access = g.unifyport_access
    return found


def authorize(key: ApiKey, req: Request) -> None:
    """Remember the request's key; 404 for a foreign account, 403 for a missing scope."""
    granted = g.unifyport_access = Access(key)
    account_id = (req.view_args or {}).get("account_id")
    if account_id is not None and not granted.sees(str(account_id)):
        raise not_found("account")
    view = current_app.view_functions.get(req.endpoint or "")
    scope = scope_of(view)
    if view is not None and not allows(key, scope):
        raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope",
                       scope=scope)
