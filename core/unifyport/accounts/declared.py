"""Accounts declared in the configuration (``[[accounts]]``): checked against their
providers' declarations, and reconciled with the stored accounts — at start-up and by
``unifyport accounts apply`` — through the services the API itself uses (create, the
``import`` auth step, ``runtime/start`` and ``runtime/stop``, delete).

An account is found by its ``key``. Accounts with a key the file no longer declares are
left alone unless ``[declared_accounts] prune = true``; accounts created through the API
(without a key) are never touched. A declared account whose credentials are refused ends
``failed`` with its ``last_error`` (as the API leaves it) and is reported; the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from unifyport.accounts.fields import validate_fields
from unifyport.accounts.service import (
    create_account,
    delete_account,
    find_mode,
    get_account,
    load_fields,
    resolve_mode,
    update_fields,
)
from unifyport.auth.declare import AUTHORIZED, PENDING, AuthMode
from unifyport.auth.service import run_step
from unifyport.db.models import Account
from unifyport.errors import ApiError, ConfigError
from unifyport.gateway import Gateway
from unifyport.plugins.registry import Registry
from unifyport.settings import DeclaredAccount, Secret

log = logging.getLogger(__name__)
IMPORT = "import"
CONCURRENCY = 8
"""Declared accounts reconciled at once (each may run an import step at its provider)."""


@dataclass
class Outcome:
    """What reconciling one declared (or undeclared, keyed) account did or would do."""

    key: str
    account_id: str | None = None
    actions: list[str] = field(default_factory=list)
    """Among ``create``, ``update``, ``import``, ``start``, ``stop``, ``delete``."""
    status: str | None = None
    error: dict[str, Any] | None = None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class _Fields:
    provider_data: dict[str, Any]
    params: dict[str, Any]


def _reveal(node: Any) -> Any:
    if isinstance(node, Secret):
        return node.reveal()
    if isinstance(node, Mapping):
        return {k: _reveal(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_reveal(v) for v in node]
    return node


def _fields(mode: AuthMode, declared: DeclaredAccount) -> _Fields:
    """The declared values checked as ``POST /v1/accounts`` checks them (422 otherwise)."""
    return _Fields(
        validate_fields(mode.fields, "provider_data", _reveal(declared.provider_data)),
        validate_fields(mode.fields, "params", _reveal(declared.params), require=False))


def check(accounts: tuple[DeclaredAccount, ...], registry: Registry) -> None:
    """Raise :class:`ConfigError` naming the first declared account whose provider, auth
    mode or fields its provider would refuse (``config check``, ``serve``, ``accounts
    apply``)."""
    for declared in accounts:
        where = f"accounts[{declared.key}]"
        try:
            _provider, mode = find_mode(registry, declared.provider, declared.auth_mode)
            _fields(mode, declared)
        except ApiError as err:
            fields = err.extra.get("fields") or {}
            name, problem = next(iter(fields.items()), (None, err.message))
            allowed = err.extra.get("allowed")
            hint = f" (one of: {', '.join(allowed)})" if allowed else ""
            part = f".{name}" if name else (".provider" if err.code == "unknown_provider"
                                            else ".auth_mode")
            raise ConfigError(f"{where}{part}", f"{problem}{hint}") from None


async def apply(gw: Gateway, accounts: tuple[DeclaredAccount, ...], *, prune: bool,
                dry_run: bool = False) -> list[Outcome]:
    """Bring the stored accounts in line with ``accounts``; with ``dry_run`` only report."""
    async with gw.db.read() as s:
        existing = {row.key: (row.id, row.status) for row in (await s.execute(
            select(Account.key, Account.id, Account.status)
            .where(Account.key.is_not(None)))).all()}
    outcomes = [Outcome(d.key) for d in accounts]
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(declared: DeclaredAccount, out: Outcome) -> None:
        async with limiter:
            found = existing.get(declared.key)
            try:
                account = None if found is None else await get_account(gw, found[0])
                await _reconcile(gw, declared, account, out, dry_run)
            except ApiError as err:  # e.g. deleted or changed meanwhile: reported, others go on
                out.error = {"code": err.code, "message": err.message}
            except IntegrityError:  # another process created the key first
                out.error = {"code": "conflict",
                             "message": "created concurrently elsewhere; apply again"}

    async with anyio.create_task_group() as tg:
        for declared, out in zip(accounts, outcomes, strict=True):
            tg.start_soon(one, declared, out)
    declared_keys = {d.key for d in accounts}
    for key, (account_id, status) in existing.items():
        if key in declared_keys:
            continue
        out = Outcome(key, account_id, status=status)
        outcomes.append(out)
        if not prune:
            out.note = "no longer declared; kept (prune is off)"
            continue
        out.actions.append("delete")
        if not dry_run:
            await delete_account(gw, account_id)
    for out in outcomes:
        _log(out, dry_run)
    return outcomes


async def at_start(gw: Gateway) -> None:
    """``serve``'s reconciliation, in the background once the runtimes have resumed."""
    try:
        outcomes = await apply(gw, gw.settings.accounts,
                               prune=gw.settings.declared_accounts.prune)
    except Exception:
        log.exception("declared accounts: reconciliation failed")
        return
    refused = sum(1 for o in outcomes if o.error)
    log.info("declared accounts reconciled: %d declared, %d changed, %d refused",
             len(gw.settings.accounts), sum(1 for o in outcomes if o.actions), refused)


def _log(out: Outcome, dry_run: bool) -> None:
    done = "would" if dry_run else "did"
    if out.error is not None:
        log.warning("declared account %s (%s): %s refused: %s", out.key, out.account_id,
                    "+".join(out.actions) or "reconcile", out.error["code"])
    elif out.actions:
        log.info("declared account %s (%s): %s %s", out.key, out.account_id, done,
                 "+".join(out.actions))


async def _reconcile(gw: Gateway, declared: DeclaredAccount, account: Account | None,
                     out: Outcome, dry_run: bool) -> None:
    _provider, mode = resolve_mode(gw, declared.provider, declared.auth_mode)
    wanted = _fields(mode, declared)
    if account is None:
        out.actions.append("create")
        if not dry_run:
            account = await create_account(
                gw, declared.provider, declared.auth_mode, wanted.provider_data,
                wanted.params, declared.name, key=declared.key)
    elif (account.provider, account.auth_mode) != (declared.provider, declared.auth_mode):
        out.account_id, out.status = account.id, account.status
        out.error = {"code": "declaration_conflict",
                     "message": f"the account with key {declared.key!r} is a "
                                f"{account.provider}/{account.auth_mode} account; delete it "
                                f"or declare it under a new key"}
        return
    elif await _differs(gw, account, wanted, declared.name):
        out.actions.append("update")
        if not dry_run:
            await update_fields(gw, account, mode, wanted.provider_data, wanted.params,
                                declared.name)
    status = PENDING if account is None else account.status
    desired = account is not None and account.runtime_desired
    out.account_id = account.id if account else None
    out.status = None if account is None else status
    step = mode.step(IMPORT)
    if step is not None and status in step.sources:
        out.actions.append(IMPORT)
        if account is not None and not dry_run:
            try:
                status = (await run_step(gw, account.id, IMPORT, {})).account.status
            except ApiError as err:  # recorded on the account (failed, last_error) by the step
                out.error = {"code": err.code, "message": err.message}
                out.status = (await _stored(gw, account.id)).status
                return
            out.status = status
        else:
            status = AUTHORIZED  # what a successful import would leave
    elif status != AUTHORIZED and step is None:
        out.note = f"auth mode {mode.name!r} needs its login steps through the API"
    if declared.online != desired and (status == AUTHORIZED or not declared.online):
        out.actions.append("start" if declared.online else "stop")
        if account is not None and not dry_run:
            await _set_online(gw, account.id, declared.online)


async def _stored(gw: Gateway, account_id: str) -> Account:
    async with gw.db.read() as s:
        account = await s.get(Account, account_id)
    assert account is not None
    return account


async def _differs(gw: Gateway, account: Account, wanted: _Fields, name: str | None) -> bool:
    """Whether the stored name or fields (sealed ones opened) differ from the declared."""
    if account.name != name:
        return True
    async with gw.db.read() as s:
        provider_data, params = await load_fields(gw, s, account)
    return (provider_data, params) != (wanted.provider_data, wanted.params)


async def _set_online(gw: Gateway, account_id: str, online: bool) -> None:
    """``runtime/start`` / ``runtime/stop`` where a supervisor runs (``serve``); elsewhere
    (``accounts apply``) the stored wish, which the serving process's lease upkeep acts on
    within its renewal period."""
    if gw.runtime is not None:
        if online:
            await gw.runtime.start(account_id)
        else:
            await gw.runtime.stop(account_id)
        return
    where = [Account.id == account_id] + ([Account.status == AUTHORIZED] if online else [])
    async with gw.db.write() as s:
        await s.execute(update(Account).where(*where).values(runtime_desired=online))
