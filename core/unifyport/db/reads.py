"""The API's hot reads as Core statements built once, run by ``Database.run`` on a plain
connection: no ORM session, no identity map, and on SQLite no hand-off to the driver's
thread. Rows carry the models' attribute names, so the JSON views read them as they read
model instances. With ``raw`` the JSON columns come back as stored text for the response
body to copy (:class:`~unifyport.db.types.RawJSON`); otherwise decoded, as the models have
them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Connection, FromClause, Row, Select, bindparam, select, type_coerce

from unifyport.db.models import Account, Event
from unifyport.db.types import RawJSON

ACCOUNTS = Account.__table__
EVENTS = Event.__table__


@cache
def _select(table: FromClause, raw: bool) -> Select[Any]:
    if not raw:
        return select(table)
    return select(*(type_coerce(c, RawJSON()).label(c.key) if isinstance(c.type, JSON) else c
                    for c in table.c))


@cache
def _account_query(raw: bool) -> Select[Any]:
    return _select(ACCOUNTS, raw).where(ACCOUNTS.c.id == bindparam("id"))


def account(conn: Connection, account_id: str, *, raw: bool = False) -> Row[Any] | None:
    return conn.execute(_account_query(raw), {"id": account_id}).first()


@cache
def account_page_query(provider: bool, status: bool, after: bool, raw: bool) -> Select[Any]:
    """Newest first; parameters ``limit`` and, as flagged, ``provider``, ``status``,
    ``after_at``/``after_id`` (the (created_at, id) of the last item already seen)."""
    c = ACCOUNTS.c
    q = _select(ACCOUNTS, raw).order_by(c.created_at.desc(), c.id.desc())
    if provider:
        q = q.where(c.provider == bindparam("provider"))
    if status:
        q = q.where(c.status == bindparam("status"))
    if after:
        at = bindparam("after_at", type_=c.created_at.type)
        q = q.where((c.created_at < at) | ((c.created_at == at) & (c.id < bindparam("after_id"))))
    return q.limit(bindparam("limit"))


def account_page_params(limit: int, cursor: tuple[datetime, str] | None,
                        provider: str | None, status: str | None, raw: bool = False
                        ) -> tuple[Select[Any], dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    if provider:
        params["provider"] = provider
    if status:
        params["status"] = status
    if cursor:
        params["after_at"], params["after_id"] = cursor
    return account_page_query(bool(provider), bool(status), bool(cursor), raw), params


def account_page(conn: Connection, limit: int, cursor: tuple[datetime, str] | None,
                 provider: str | None = None, status: str | None = None, *, raw: bool = False
                 ) -> Sequence[Row[Any]]:
    q, params = account_page_params(limit, cursor, provider, status, raw)
    return conn.execute(q, params).all()


@cache
def event_page_query(type: bool, account_id: bool, since: bool, after: bool, raw: bool
                     ) -> Select[Any]:
    """Newest first; parameters ``limit`` and, as flagged, ``type``, ``account_id``,
    ``since``, ``after_seq`` (the seq of the last item already seen)."""
    c = EVENTS.c
    q = _select(EVENTS, raw).order_by(c.seq.desc())
    if type:
        q = q.where(c.type == bindparam("type"))
    if account_id:
        q = q.where(c.account_id == bindparam("account_id"))
    if since:
        q = q.where(c.created_at >= bindparam("since", type_=c.created_at.type))
    if after:
        q = q.where(c.seq < bindparam("after_seq"))
    return q.limit(bindparam("limit"))


def event_page_params(limit: int, after_seq: int | None, type: str | None,
                      account_id: str | None, since: datetime | None, raw: bool = False
                      ) -> tuple[Select[Any], dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    if type:
        params["type"] = type
    if account_id:
        params["account_id"] = account_id
    if since is not None:
        params["since"] = since
    if after_seq is not None:
        params["after_seq"] = after_seq
    return event_page_query(bool(type), bool(account_id), since is not None,
                            after_seq is not None, raw), params


def event_page(conn: Connection, limit: int, after_seq: int | None, type: str | None = None,
               account_id: str | None = None, since: datetime | None = None, *,
               raw: bool = False) -> Sequence[Row[Any]]:
    q, params = event_page_params(limit, after_seq, type, account_id, since, raw)
    return conn.execute(q, params).all()
