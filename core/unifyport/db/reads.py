"""The API's hot reads as Core statements built once: no ORM session, no identity map, no
transaction around the one statement, and on SQLite no hand-off to the driver's thread. The
``fetch_*`` functions run them by the driver itself (``Database.rows``, compiled once per
dialect: ``unifyport.db.direct``); the functions taking a ``Connection`` run the same
statements through SQLAlchemy (``Database.query``, ``Database.run``). A filter added to a
``*_query`` builder reaches both (with an expanding ``IN`` list, ``rows`` hands the
statement to SQLAlchemy).

Two shapes: full rows (every column, JSON decoded, the models' attribute names) for code
that goes on to build model instances, and views for response bodies: the columns the API
shows, as named tuples (read by position: a tenth of a row's attribute lookup), with JSON
columns as stored text wrapped for the encoder to copy (:class:`~unifyport.db.types.RawJSON`).
The JSON views (``account_json``, ``event_json``) read both shapes alike."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    FromClause,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    select,
    type_coerce,
)

from unifyport.db.database import Database
from unifyport.db.models import Account, Event, StoredSecret
from unifyport.db.types import RawJSON, UTCDateTime, utc_text

ACCOUNTS = Account.__table__
EVENTS = Event.__table__
SECRETS = StoredSecret.__table__
_ACCOUNT_KEYS = tuple(c.key for c in ACCOUNTS.columns)


class AccountView(NamedTuple):
    """The columns of an account that ``account_json`` shows."""

    id: str
    provider: str
    auth_mode: str
    name: str | None
    key: str | None
    status: str
    provider_data: orjson.Fragment | None
    params: orjson.Fragment | None
    identity: orjson.Fragment | None
    last_error: orjson.Fragment | None
    runtime_status: str
    runtime_since: str | None
    runtime_error: str | None
    created_at: str
    updated_at: str


class EventView(NamedTuple):
    """The columns of an event that ``event_json`` shows, and its ``seq`` (the cursor)."""

    seq: int
    id: str
    type: str
    data: orjson.Fragment | None
    created_at: str


@cache
def _select(table: FromClause, fields: tuple[str, ...] | None) -> Select[Any]:
    """Every column, or ``fields`` with JSON ones as stored text (cast: PostgreSQL's driver
    would decode ``json``) and times as their RFC 3339 text (:func:`utc_text`)."""
    if fields is None:
        return select(table)
    columns = (table.c[name] for name in fields)
    return select(*(type_coerce(cast(c, Text), RawJSON()).label(c.key)
                    if isinstance(c.type, JSON) else
                    utc_text(c).label(c.key) if isinstance(c.type, UTCDateTime) else c
                    for c in columns))


def account(conn: Connection, account_id: str) -> Row[Any] | None:
    return conn.execute(_account_query(False), {"id": account_id}).first()


def account_view(conn: Connection, account_id: str) -> AccountView | None:
    row = conn.execute(_account_query(True), {"id": account_id}).first()
    return None if row is None else AccountView._make(row)


@cache
def _account_query(view: bool) -> Select[Any]:
    fields = AccountView._fields if view else None
    return _select(ACCOUNTS, fields).where(ACCOUNTS.c.id == bindparam("id"))


@cache
def _account_page_query(provider: bool, status: bool, after: bool, view: bool,
                        ids: bool = False) -> Select[Any]:
    c = ACCOUNTS.c
    q = _select(ACCOUNTS, AccountView._fields if view else None)
    q = q.order_by(c.created_at.desc(), c.id.desc())
    if ids:
        q = q.where(c.id.in_(bindparam("ids", expanding=True)))
    if provider:
        q = q.where(c.provider == bindparam("provider"))
    if status:
        q = q.where(c.status == bindparam("status"))
    if after:
        at = bindparam("after_at", type_=c.created_at.type)
        q = q.where((c.created_at < at) | ((c.created_at == at) & (c.id < bindparam("after_id"))))
    return q.limit(bindparam("limit"))


def account_page_query(limit: int, cursor: tuple[datetime, str] | None, provider: str | None,
                       status: str | None, view: bool = False,
                       ids: Collection[str] | None = None
                       ) -> tuple[Select[Any], dict[str, Any]]:
    """Newest first; ``cursor`` is the (created_at, id) of the last item already seen;
    ``ids`` limits the page to these accounts (a scoped API key's). The statement (full
    rows, or :class:`AccountView` columns) and its parameters."""
    params: dict[str, Any] = {"limit": limit}
    if ids is not None:
        params["ids"] = sorted(ids)
    if provider:
        params["provider"] = provider
    if status:
        params["status"] = status
    if cursor:
        params["after_at"], params["after_id"] = cursor
    return _account_page_query(bool(provider), bool(status), bool(cursor), view,
                               ids is not None), params


def account_page(conn: Connection, limit: int, cursor: tuple[datetime, str] | None,
                 provider: str | None = None, status: str | None = None) -> Sequence[Row[Any]]:
    return conn.execute(*account_page_query(limit, cursor, provider, status)).all()


def account_view_page(conn: Connection, limit: int, cursor: tuple[datetime, str] | None,
                      provider: str | None = None, status: str | None = None,
                      ids: Collection[str] | None = None) -> list[AccountView]:
    q = account_page_query(limit, cursor, provider, status, view=True, ids=ids)
    return [AccountView._make(r) for r in conn.execute(*q).all()]


@cache
def _event_page_query(type: bool, account_id: bool, since: bool, after: bool, view: bool,
                      accounts: bool = False) -> Select[Any]:
    c = EVENTS.c
    q = _select(EVENTS, EventView._fields if view else None).order_by(c.seq.desc())
    if accounts:
        q = q.where(c.account_id.in_(bindparam("accounts", expanding=True)))
    if type:
        q = q.where(c.type == bindparam("type"))
    if account_id:
        q = q.where(c.account_id == bindparam("account_id"))
    if since:
        q = q.where(c.created_at >= bindparam("since", type_=c.created_at.type))
    if after:
        q = q.where(c.seq < bindparam("after_seq"))
    return q.limit(bindparam("limit"))


def event_page_query(limit: int, after_seq: int | None, type: str | None,
                     account_id: str | None, since: datetime | None,
                     view: bool = False, accounts: Collection[str] | None = None
                     ) -> tuple[Select[Any], dict[str, Any]]:
    """Newest first; ``after_seq`` is the seq of the last item already seen; ``accounts``
    limits the page to these accounts' events (a scoped API key's). The statement (full
    rows, or :class:`EventView` columns) and its parameters."""
    params: dict[str, Any] = {"limit": limit}
    if accounts is not None:
        params["accounts"] = sorted(accounts)
    if type:
        params["type"] = type
    if account_id:
        params["account_id"] = account_id
    if since is not None:
        params["since"] = since
    if after_seq is not None:
        params["after_seq"] = after_seq
    return _event_page_query(bool(type), bool(account_id), since is not None,
                             after_seq is not None, view, accounts is not None), params


def event_view_page(conn: Connection, limit: int, after_seq: int | None,
                    type: str | None = None, account_id: str | None = None,
                    since: datetime | None = None,
                    accounts: Collection[str] | None = None) -> list[EventView]:
    q = event_page_query(limit, after_seq, type, account_id, since, view=True,
                         accounts=accounts)
    return [EventView._make(r) for r in conn.execute(*q).all()]


@cache
def _account_sealed_query(purposes: tuple[str, ...]) -> Select[Any]:
    """The account's full row and the sealed blob of each of ``purposes`` (NULL if none)."""
    q = select(ACCOUNTS)
    joined: FromClause = ACCOUNTS
    for purpose in purposes:
        sealed = SECRETS.alias(f"sealed_{purpose}")
        joined = joined.outerjoin(sealed, (sealed.c.account_id == ACCOUNTS.c.id)
                                  & (sealed.c.purpose == purpose))
        q = q.add_columns(sealed.c.blob.label(f"sealed_{purpose}"))
    return q.select_from(joined).where(ACCOUNTS.c.id == bindparam("id"))


# --- the same reads run by the driver directly (``Database.rows``), for the API's hot path ---

async def fetch_account(db: Database, account_id: str) -> dict[str, Any] | None:
    """The account's full row as a dict of the model's attribute names, or ``None``."""
    found = await db.rows(_account_query(False), {"id": account_id})
    return None if not found else dict(zip(_ACCOUNT_KEYS, found[0], strict=True))


async def fetch_account_view(db: Database, account_id: str) -> AccountView | None:
    found = await db.rows(_account_query(True), {"id": account_id})
    return None if not found else AccountView._make(found[0])


async def fetch_account_view_page(db: Database, limit: int, cursor: tuple[datetime, str] | None,
                                  provider: str | None = None, status: str | None = None,
                                  ids: Collection[str] | None = None) -> list[AccountView]:
    q, params = account_page_query(limit, cursor, provider, status, view=True, ids=ids)
    return [AccountView._make(r) for r in await db.rows(q, params)]


async def fetch_event_view_page(db: Database, limit: int, after_seq: int | None,
                                type: str | None = None, account_id: str | None = None,
                                since: datetime | None = None,
                                accounts: Collection[str] | None = None) -> list[EventView]:
    q, params = event_page_query(limit, after_seq, type, account_id, since, view=True,
                                 accounts=accounts)
    return [EventView._make(r) for r in await db.rows(q, params)]


async def fetch_account_sealed(db: Database, account_id: str, purposes: tuple[str, ...]
                               ) -> tuple[dict[str, Any], list[bytes | None]] | None:
    """The account's full row (as :func:`fetch_account`) and its sealed secrets of
    ``purposes`` (``None`` where it has none), in one statement: one snapshot."""
    found = await db.rows(_account_sealed_query(purposes), {"id": account_id})
    if not found:
        return None
    n = len(_ACCOUNT_KEYS)
    return dict(zip(_ACCOUNT_KEYS, found[0][:n], strict=True)), list(found[0][n:])
