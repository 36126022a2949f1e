"""Tables of the runtime's multi-process side: the live server processes (workers) and the
calls one process forwards to the process that runs an account's client."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from unifyport.db.models import Base
from unifyport.db.types import UTCDateTime, utcnow


class Worker(Base):
    """A ``serve`` process, seen alive at ``seen_at`` (renewed every lease renewal)."""

    __tablename__ = "runtime_workers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leases: Mapped[str | None] = mapped_column(String(16))
    """``process``: while this row is live the process holds every account it owns (one
    lease per process). ``None``: a process older than that (migration 0009), whose
    accounts are held by each one's ``runtime_lease_until``."""


class RuntimeCall(Base):
    """A runtime call (``operation`` with sealed JSON ``args``) for the process ``owner``,
    made by ``caller``; the owner claims it, runs it and stores the sealed ``result``."""

    __tablename__ = "runtime_calls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))
    caller: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(64))
    args: Mapped[bytes] = mapped_column(LargeBinary)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_runtime_calls_owner", "owner", "claimed_at"),)
