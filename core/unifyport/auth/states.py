"""Status changes of an account: the one function every change of auth status goes through.

The statuses themselves are declared (``unifyport.auth.declare``): four belong to the core,
the in-progress ones to each auth mode. A step's change and the supervisor's ``logged_out``
both call :func:`transition` inside their write transaction and save the account through
``AccountRepository.save`` (its version check refuses a stale write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.service import emit
from unifyport.db.models import Account


def transition(s: AsyncSession, account: Account, to: str,
               error: Mapping[str, Any] | None = None) -> None:
    """Move ``account`` to ``to`` (in memory; the caller saves it in the same transaction)
    and write one ``account.auth.state_changed``; nothing when the status stays."""
    frm = account.status
    if frm == to:
        return
    account.status = to
    data: dict[str, Any] = {"from": frm, "to": to}
    if error is not None:
        data["error"] = dict(error)
    emit(s, "account.auth.state_changed", account.id, data)
