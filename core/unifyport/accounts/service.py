"""Create, read, list and delete accounts; every change writes its event in the same transaction."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from unifyport.accounts.fields import split_secret, validate_fields
from unifyport.auth.declare import PENDING, AuthMode
from unifyport.db import reads
from unifyport.db.models import Account
from unifyport.db.reads import AccountView
from unifyport.db.repositories import (
    AccountRepository,
    Cursor,
    EventRepository,
    SecretRepository,
    StaleAccount,
)
from unifyport.db.types import utcnow
from unifyport.errors import ApiError, not_found
from unifyport.events.sinks import iso
from unifyport.gateway import FIELDS, SESSION, Gateway
from unifyport.ids import new_id
from unifyport.plugins.registry import Registry
from unifyport.providers import Provider
from unifyport.query_values import time_cursor
from unifyport.webhooks import service as webhooks

log = logging.getLogger(__name__)
T = TypeVar("T")
LOGOUT_TIMEOUT = 15.0


def resolve_mode(gw: Gateway, provider_name: str, mode_name: str) -> tuple[Provider, AuthMode]:
    """The provider and auth mode, or 422 listing the allowed values."""
    return find_mode(gw.registry, provider_name, mode_name)


def find_mode(registry: Registry, provider_name: str, mode_name: str
              ) -> tuple[Provider, AuthMode]:
    """:func:`resolve_mode` in ``registry`` (before any gateway exists: ``config check``)."""
    provider = registry.provider(provider_name)
    if provider is None:
        raise ApiError(422, "unknown_provider", f"unknown provider {provider_name!r}",
                       allowed=sorted(registry.providers))
    for mode in provider.auth_modes:
        if mode.name == mode_name:
            return provider, mode
    raise ApiError(422, "unsupported_auth_mode",
                   f"provider {provider_name!r} has no auth mode {mode_name!r}",
                   allowed=[m.name for m in provider.auth_modes])


async def create_account(
    gw: Gateway,
    provider_name: str,
    auth_mode: str,
    provider_data: Mapping[str, Any],
    params: Mapping[str, Any],
    name: str | None,
    also: Callable[[AsyncSession, Account], Awaitable[None]] | None = None,
    *,
    key: str | None = None,
) -> Account:
    """Create the account; ``also`` adds to the same transaction (its webhook endpoint)."""
    _provider, mode = resolve_mode(gw, provider_name, auth_mode)
    data = validate_fields(mode.fields, "provider_data", provider_data)
    prm = validate_fields(mode.fields, "params", params, require=False)
    public_data, secret_data = split_secret(mode.fields, "provider_data", data)
    public_params, secret_params = split_secret(mode.fields, "params", prm)
    now = utcnow()
    account = Account(
        id=new_id("acc"), provider=provider_name, auth_mode=auth_mode, name=name, key=key,
        status=PENDING, provider_data=public_data, params=public_params,
        identity=None, last_error=None, runtime_status="stopped", runtime_desired=False,
        version=1, created_at=now, updated_at=now,
    )
    async with gw.db.write() as s:
        AccountRepository(s).add(account)
        await s.flush()
        if secret_data or secret_params:
            await SecretRepository(s, gw.box).put_json(
                account.id, FIELDS, {"provider_data": secret_data, "params": secret_params}
            )
        emit(s, "account.created", account.id, {"provider": provider_name})
        if also is not None:
            await also(s, account)
    return account


async def update_fields(gw: Gateway, account: Account, mode: AuthMode,
                        provider_data: Mapping[str, Any], params: Mapping[str, Any],
                        name: str | None) -> None:
    """Replace the account's name and (validated) fields, sealing the secret ones, with the
    optimistic version check; emits ``account.updated``. The session of an authorized
    account is kept: new credentials are used at its next login."""
    public_data, secret_data = split_secret(mode.fields, "provider_data", provider_data)
    public_params, secret_params = split_secret(mode.fields, "params", params)
    async with gw.locks.hold(account.id):
        expected = account.version
        async with gw.db.write() as s:
            account.name, account.provider_data, account.params = name, public_data, \
                public_params
            secrets = SecretRepository(s, gw.box)
            if secret_data or secret_params:
                await secrets.put_json(account.id, FIELDS, {"provider_data": secret_data,
                                                            "params": secret_params})
            else:
                await secrets.delete(account.id, FIELDS)
            try:
                await AccountRepository(s).save(account, expected)
            except StaleAccount:
                raise ApiError(409, "conflict", "the account changed concurrently; retry"
                               ) from None
            emit(s, "account.updated", account.id, {"provider": account.provider})


def emit(s: AsyncSession, type: str, account_id: str, data: Mapping[str, Any]) -> None:
    """Add an event about ``account_id`` to the transaction of ``s``."""
    EventRepository(s).add(type, account_id, {"account_id": account_id, **data})


async def account_view(gw: Gateway, account_id: str) -> AccountView:
    """What ``account_json`` shows of the account, read on a plain connection; 404."""
    view = await reads.fetch_account_view(gw.db, account_id)
    if view is None:
        raise not_found("account")
    return view


async def get_account(gw: Gateway, account_id: str) -> Account:
    """The account as a model instance, for callers that change and save it."""
    row = await reads.fetch_account(gw.db, account_id)
    if row is None:
        raise not_found("account")
    return _detached(row)


_NEW_ACCOUNT = inspect(Account).class_manager.new_instance


def _detached(row: Row[Any] | Mapping[str, Any]) -> Account:
    """A model instance from a row, detached, as a closed session leaves what it loaded:
    the values put in place as loaded ones (a fourth of the constructor's time, which
    records each column as a change: ~18 us an account; a QR poll builds two)."""
    account: Account = _NEW_ACCOUNT()
    account.__dict__.update(row._asdict() if isinstance(row, Row) else row)
    make_transient_to_detached(account)
    return account


async def get_account_sealed(gw: Gateway, account_id: str, purposes: tuple[str, ...]
                             ) -> tuple[Account, list[bytes | None]]:
    """The account (as :func:`get_account`) and its sealed secrets of ``purposes``, still
    sealed (``None`` where it has none; see :func:`open_json`), read in one statement."""
    found = await reads.fetch_account_sealed(gw.db, account_id, purposes)
    if found is None:
        raise not_found("account")
    row, blobs = found
    return _detached(row), blobs


def open_json(gw: Gateway, account_id: str, purpose: str, blob: bytes | None
              ) -> dict[str, Any]:
    """A sealed JSON secret read by :func:`get_account_sealed`, opened (``{}`` for none), as
    ``SecretRepository.get_json`` returns it."""
    return {} if blob is None else dict(json.loads(gw.box.open(purpose, account_id, blob)))


async def load_fields(
    gw: Gateway, s: AsyncSession, account: Account
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(provider_data, params) with their sealed secret parts opened."""
    return merged_fields(account, await SecretRepository(s, gw.box).get_json(account.id, FIELDS))


def merged_fields(account: Account, sealed: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(provider_data, params): the account's public parts with the opened ``sealed`` ones."""
    return (
        {**account.provider_data, **sealed.get("provider_data", {})},
        {**account.params, **sealed.get("params", {})},
    )


def _paged(rows: Sequence[T], limit: int) -> tuple[Sequence[T], str | None]:
    """The first ``limit`` of ``limit + 1`` rows and the cursor after them, if more."""
    if len(rows) <= limit:
        return rows, None
    last: Any = rows[limit - 1]
    return rows[:limit], Cursor.encode(iso(last.created_at), last.id)


async def account_views(
    gw: Gateway, limit: int, cursor: str | None, provider: str | None, status: str | None,
    ids: Collection[str] | None = None,
) -> tuple[Sequence[AccountView], str | None]:
    """A page of what ``account_json`` shows, newest first, and the cursor of the next page
    (``None`` at the end), read on a plain connection; only ``ids`` when given."""
    after = None if not cursor else time_cursor(cursor)
    views = await reads.fetch_account_view_page(gw.db, limit + 1, after, provider, status, ids)
    return _paged(views, limit)


async def list_accounts(
    gw: Gateway, limit: int, cursor: str | None, provider: str | None, status: str | None
) -> tuple[Sequence[Account], str | None]:
    """A page as model instances, newest first, and the cursor of the next page."""
    after = None if not cursor else time_cursor(cursor)
    rows = await gw.db.query(
        lambda conn: reads.account_page(conn, limit + 1, after, provider, status))
    page, nxt = _paged(rows, limit)
    return [_detached(r) for r in page], nxt


async def delete_account(gw: Gateway, account_id: str) -> None:
    """Stop the runtime, log out at the provider (best effort), delete row and secrets."""
    async with gw.locks.hold(account_id):
        account = await get_account(gw, account_id)
        if gw.runtime is not None:
            await gw.runtime.stop(account_id, persist=False)
        provider = gw.registry.provider(account.provider)
        if provider is not None:  # a login under way holds a live client: close it now
            await provider.discard(account_id)
        async with gw.db.read() as s:
            session = await SecretRepository(s, gw.box).get(account_id, SESSION)
            provider_data, _params = await load_fields(gw, s, account)
        if provider is not None and session is not None:
            try:
                await asyncio.wait_for(
                    provider.logout(account_id, provider_data, session,
                                    outbound=gw.outbound), LOGOUT_TIMEOUT
                )
            except Exception as exc:  # logging out is best effort; deletion goes on
                log.warning("logout of %s at %s failed: %s", account_id, account.provider,
                            type(exc).__name__)
        async with gw.db.write() as s:
            await AccountRepository(s).delete(account_id)
            emit(s, "account.deleted", account_id, {"provider": account.provider})
            endpoints = await webhooks.delete_owned(gw, s, account_id)
        webhooks.forget(gw, endpoints)
