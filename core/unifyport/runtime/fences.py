"""What fences a client's write (``RuntimeSupervisor.may_write``): the account's owner and
whether it should be online, read in the write's transaction with the row locked. The
clients' writes share transactions (``db/group.py``); :func:`lock` reads the rows of a whole
batch in one statement first, and :func:`row` then answers from them."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.models import Account

FENCES = "unifyport.runtime.fences"
"""Session info: account id -> its :class:`Fence`, None if deleted."""


class Fence(NamedTuple):
    runtime_owner: str | None
    runtime_desired: bool


async def lock(s: AsyncSession, account_ids: list[str]) -> None:
    """Read (and lock, in id order, on PostgreSQL) the fence rows of ``account_ids``."""
    rows = (await s.execute(
        select(Account.id, Account.runtime_owner, Account.runtime_desired)
        .where(Account.id.in_(account_ids)).order_by(Account.id).with_for_update())).all()
    found: dict[str, Fence | None] = dict.fromkeys(account_ids)
    found.update((r.id, Fence(r.runtime_owner, r.runtime_desired)) for r in rows)
    s.info[FENCES] = found


async def row(s: AsyncSession, account_id: str) -> Fence | None:
    """The account's fence; None if it was deleted."""
    known: dict[str, Fence | None] | None = s.info.get(FENCES)
    if known is not None and account_id in known:
        return known[account_id]
    r = (await s.execute(select(Account.runtime_owner, Account.runtime_desired)
                         .where(Account.id == account_id).with_for_update())).first()
    return None if r is None else Fence(r.runtime_owner, r.runtime_desired)
