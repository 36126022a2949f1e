"""Small repositories over an ``AsyncSession``; callers own the transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.crypto.box import SecretBox, key_id_of
from unifyport.db import reads
from unifyport.db.models import Account, ApiKey, Event, StoredSecret
from unifyport.db.types import utcnow
from unifyport.ids import new_id

EVENT_ROWS = "unifyport.event_rows"
"""Session info: the rows of the events a collecting transaction added (``EventRepository``)."""
_EVENTS = cast(Table, Event.__table__)
NEW_EVENTS = "unifyport.new_events"
"""Session info: the transaction wrote events (``delivery.notify`` calls its subscribers after
the commit)."""
COMMITTING_EVENTS = "unifyport.pending_events"
"""Session info: (type, data) of the events the transaction wrote, counted by the metrics
after the commit."""
SEALED_ROWS = "unifyport.sealed_rows"
"""Session info: the blobs a collecting transaction's writes put, by (account, purpose)."""
_SECRETS = cast(Table, StoredSecret.__table__)
_UPDATE_SECRET = (update(_SECRETS)
                  .where(_SECRETS.c.account_id == bindparam("a"),
                         _SECRETS.c.purpose == bindparam("p"))
                  .values(blob=bindparam("blob"), key_id=bindparam("kid"),
                          updated_at=bindparam("at")))


def collect(s: AsyncSession) -> None:
    """From now on the events added (``EventRepository.add``) and the secrets put
    (``SecretRepository.put``) in this transaction are collected as plain rows and stored by
    :func:`store_collected`: a group commit's writes (thousands of inbound messages, a few
    hundred saved sessions) cost a few statements and no model instance each, and no round
    trip to the database while the batch's writes run."""
    s.info[EVENT_ROWS] = []
    s.info[SEALED_ROWS] = {}


async def store_collected(s: AsyncSession) -> None:
    """Store what was collected since :func:`collect`: the events in the order they were
    added (one executemany), the secrets as updates of their rows or new rows."""
    events: list[dict[str, Any]] = s.info.pop(EVENT_ROWS, [])
    secrets: dict[tuple[str, str], bytes] = s.info.pop(SEALED_ROWS, {})
    if events:
        await s.execute(insert(_EVENTS), events)  # Core: no ORM bulk path
        s.info[NEW_EVENTS] = True  # the commit's notice to local sinks
        s.info.setdefault(COMMITTING_EVENTS, []).extend((e["type"], e["data"]) for e in events)
    if not secrets:
        return
    stored: set[tuple[str, str]] = set()
    for purpose in {p for _, p in secrets}:
        ids = [a for a, p in secrets if p == purpose]
        stored.update((a, purpose) for a in (await s.execute(
            select(_SECRETS.c.account_id).where(_SECRETS.c.purpose == purpose,
                                                _SECRETS.c.account_id.in_(ids)))).scalars())
    now = utcnow()
    rows = [{"a": a, "p": p, "blob": blob, "kid": key_id_of(blob), "at": now}
            for (a, p), blob in secrets.items()]
    if old := [r for r in rows if (r["a"], r["p"]) in stored]:
        await s.execute(_UPDATE_SECRET, old)
    if new := [r for r in rows if (r["a"], r["p"]) not in stored]:
        await s.execute(insert(_SECRETS), [
            {"account_id": r["a"], "purpose": r["p"], "blob": r["blob"], "key_id": r["kid"],
             "updated_at": r["at"]} for r in new])


class StaleAccount(Exception):
    """The account changed since it was read (another request or worker got there first)."""


class Cursor:
    """Opaque pagination cursors: base64 of a JSON list."""

    @staticmethod
    def encode(*values: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str) -> list[Any]:
        """Raises ``ValueError`` for a cursor this server did not make."""
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list):
            raise ValueError("bad cursor")
        return values


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, account_id: str) -> Account | None:
        return await self.s.get(Account, account_id)

    def add(self, account: Account) -> None:
        self.s.add(account)

    async def save(self, account: Account, expected_version: int) -> None:
        """Persist changes made to ``account`` if nobody else changed it since
        ``expected_version``; raises :class:`StaleAccount` otherwise."""
        values = {
            c.key: getattr(account, c.key)
            for c in Account.__table__.columns
            if c.key not in ("id", "version", "created_at")
        }
        values["updated_at"] = utcnow()
        result = await self.s.execute(
            update(Account)
            .where(Account.id == account.id, Account.version == expected_version)
            .values(**values, version=expected_version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleAccount(account.id)
        account.version = expected_version + 1
        account.updated_at = values["updated_at"]

    async def delete(self, account_id: str) -> None:
        await self.s.execute(delete(StoredSecret).where(StoredSecret.account_id == account_id))
        await self.s.execute(delete(Account).where(Account.id == account_id))

    async def page(
        self,
        limit: int,
        cursor: tuple[datetime, str] | None,
        provider: str | None = None,
        status: str | None = None,
    ) -> Sequence[Account]:
        """Newest first; ``cursor`` is the (created_at, id) of the last item already seen."""
        q, params = reads.account_page_query(limit, cursor, provider, status)
        return (await self.s.scalars(select(Account).from_statement(q), params)).all()


class SecretRepository:
    """Sealed secrets of accounts, opened and sealed with the app's :class:`SecretBox`."""

    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.s = session
        self.box = box

    async def get(self, account_id: str, purpose: str) -> bytes | None:
        row = await self.s.get(StoredSecret, (account_id, purpose))
        return None if row is None else self.box.open(purpose, account_id, row.blob)

    async def get_json(self, account_id: str, purpose: str) -> dict[str, Any]:
        raw = await self.get(account_id, purpose)
        return {} if raw is None else dict(json.loads(raw))

    async def put(self, account_id: str, purpose: str, plaintext: bytes) -> None:
        """Seal and store; in a transaction that collects its rows (:func:`collect`) the
        blob is stored at its end, with the others (the last one put for a key wins)."""
        blob = self.box.seal(purpose, account_id, plaintext)
        collected: dict[tuple[str, str], bytes] | None = self.s.info.get(SEALED_ROWS)
        if collected is not None:
            collected[(account_id, purpose)] = blob
            return
        row = await self.s.get(StoredSecret, (account_id, purpose))
        if row is None:
            self.s.add(
                StoredSecret(
                    account_id=account_id,
                    purpose=purpose,
                    key_id=key_id_of(blob),
                    blob=blob,
                    updated_at=utcnow(),
                )
            )
        else:
            row.blob, row.key_id, row.updated_at = blob, key_id_of(blob), utcnow()

    async def put_json(self, account_id: str, purpose: str, value: dict[str, Any]) -> None:
        await self.put(account_id, purpose, json.dumps(value, separators=(",", ":")).encode())

    async def delete(self, account_id: str, purpose: str) -> None:
        await self.s.execute(
            delete(StoredSecret).where(
                StoredSecret.account_id == account_id, StoredSecret.purpose == purpose
            )
        )


class EventRepository:
    """The events outbox."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def append(self, type: str, account_id: str | None, data: dict[str, Any]) -> Event:
        """Add an event to the current transaction; it is stored only if that commits."""
        ev = Event(id=new_id("evt"), type=type, account_id=account_id, data=data,
                   created_at=utcnow())
        self.s.add(ev)
        return ev

    def add(self, type: str, account_id: str | None, data: dict[str, Any]) -> None:
        """:meth:`append`, but in a transaction that collects its rows (:func:`collect`) as
        a row of the one INSERT that stores them at its end (no model instance)."""
        rows: list[dict[str, Any]] | None = self.s.info.get(EVENT_ROWS)
        if rows is None:
            self.append(type, account_id, data)
        else:
            rows.append({"id": new_id("evt"), "type": type, "account_id": account_id,
                         "data": data, "created_at": utcnow()})

    async def get(self, event_id: str) -> Event | None:
        return (await self.s.scalars(select(Event).where(Event.id == event_id))).first()

    async def page(
        self,
        limit: int,
        after_seq: int | None,
        type: str | None = None,
        account_id: str | None = None,
        since: datetime | None = None,
    ) -> Sequence[Event]:
        """Newest first; ``after_seq`` is the seq of the last item already seen."""
        q, params = reads.event_page_query(limit, after_seq, type, account_id, since)
        return (await self.s.scalars(select(Event).from_statement(q), params)).all()


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def add(self, key: ApiKey) -> None:
        self.s.add(key)

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        return (await self.s.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash))).first()

    async def all(self) -> Sequence[ApiKey]:
        return (await self.s.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()

    async def get(self, key_id: str) -> ApiKey | None:
        return await self.s.get(ApiKey, key_id)

