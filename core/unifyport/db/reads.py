"""The API's hot reads as Core statements built once, run by ``Database.query`` on a plain
connection: no ORM session, no identity map, no transaction around the one statement, and on
SQLite no hand-off to the driver's thread.

Two shapes: full rows (every column, JSON decoded, the models' attribute names) for code
that goes on to build model instances, and views for response bodies: the columns the API
shows, as named tuples (read by position: a tenth of a row's attribute lookup), with JSON
columns as stored text wrapped for the encoder to copy (:class:`~unifyport.db.types.RawJSON`).
The JSON views (``account_json``, ``event_json``) read both shapes alike."""

from __future__ import annotations

from collections.abc import Sequence
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

from unifyport.db.models import Account, Event
from unifyport.db.types import RawJSON

ACCOUNTS = Account.__table__
EVENTS = Event.__table__


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
    runtime_since: datetime | None
    runtime_error: str | None
    created_at: datetime
    updated_at: datetime


class EventView(NamedTuple):
    """The columns of an event that ``event_json`` shows, and its ``seq`` (the cursor)."""

    seq: int
    id: str
    type: str
    data: orjson.Fragment | None
    created_at: datetime


@cache
def _select(table: FromClause, fields: tuple[str, ...] | None) -> Select[Any]:
    """Every column, or ``fields`` with JSON ones as stored text (cast: PostgreSQL's driver
    would decode ``json``)."""
    if fields is None:
        return select(table)
    columns = (table.c[name] for name in fields)
    return select(*(type_coerce(cast(c, Text), RawJSON()).label(c.key)
                    if isinstance(c.type, JSON) else c for c in columns))


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
def _account_page_query(provider: bool, status: bool, after: bool, view: bool) -> Select[Any]:
    c = ACCOUNTS.c
    q = _select(ACCOUNTS, AccountView._fields if view else None)
    q = q.order_by(c.created_at.desc(), c.id.desc())
    if provider:
        q = q.where(c.provider == bindparam("provider"))
    if status:
        q = q.where(c.status == bindparam("status"))
    if after:
        at = bindparam("after_at", type_=c.created_at.type)
        q = q.where((c.created_at < at) | ((c.created_at == at) & (c.id < bindparam("after_id"))))
    return q.limit(bindparam("limit"))


def account_page_query(limit: int, cursor: tuple[datetime, str] | None, provider: str | None,
                       status: str | None, view: bool = False
                       ) -> tuple[Select[Any], dict[str, Any]]:
    """Newest first; ``cursor`` is the (created_at, id) of the last item already seen. The
    statement (full rows, or :class:`AccountView` columns) and its parameters."""
    params: dict[str, Any] = {"limit": limit}
    if provider:
        params["provider"] = provider
    if status:
        params["status"] = status
    if cursor:
        params["after_at"], params["after_id"] = cursor
    return _account_page_query(bool(provider), bool(status), bool(cursor), view), params


def account_page(conn: Connection, limit: int, cursor: tuple[datetime, str] | None,
                 provider: str | None = None, status: str | None = None) -> Sequence[Row[Any]]:
    return conn.execute(*account_page_query(limit, cursor, provider, status)).all()


def account_view_page(conn: Connection, limit: int, cursor: tuple[datetime, str] | None,
                      provider: str | None = None, status: str | None = None
                      ) -> list[AccountView]:
    q = account_page_query(limit, cursor, provider, status, view=True)
    return [AccountView._make(r) for r in conn.execute(*q).all()]


@cache
def _event_page_query(type: bool, account_id: bool, since: bool, after: bool, view: bool
                      ) -> Select[Any]:
    c = EVENTS.c
    q = _select(EVENTS, EventView._fields if view else None).order_by(c.seq.desc())
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
                     view: bool = False) -> tuple[Select[Any], dict[str, Any]]:
    """Newest first; ``after_seq`` is the seq of the last item already seen. The statement
    (full rows, or :class:`EventView` columns) and its parameters."""
    params: dict[str, Any] = {"limit": limit}
    if type:
        params["type"] = type
    if account_id:
        params["account_id"] = account_id
    if since is not None:
        params["since"] = since
    if after_seq is not None:
        params["after_seq"] = after_seq
    return _event_page_query(bool(type), bool(account_id), since is not None,
                             after_seq is not None, view), params


def event_view_page(conn: Connection, limit: int, after_seq: int | None,
                    type: str | None = None, account_id: str | None = None,
                    since: datetime | None = None) -> list[EventView]:
    q = event_page_query(limit, after_seq, type, account_id, since, view=True)
    return [EventView._make(r) for r in conn.execute(*q).all()]
