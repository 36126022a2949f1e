"""Delivery tables: targets of sinks, one delivery per (target, event), and every attempt."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from unifyport.db.models import Base, Event
from unifyport.db.types import BigIntPK, UTCDateTime, utcnow

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"


class DeliveryTarget(Base):
    """A destination of a sink (a webhook endpoint): its patterns, state and fan-out cursor."""

    __tablename__ = "delivery_targets"

    sink: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    account_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """Only events of these accounts (``None``: every event)."""
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Start of the current run of failed attempts; cleared by a success."""
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    """Every event with ``seq <= cursor_seq`` has been fanned out to this target."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event to one target: pending until a 2xx (succeeded) or the schedule ends (failed)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Start of the successful attempt (number ``attempts``). It is kept here rather than as
    a :class:`DeliveryAttempt` row: one write fewer for almost every delivery. A replay moves
    it to the attempt rows."""
    succeeded_status_code: Mapped[int | None] = mapped_column()
    succeeded_duration_ms: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # Leads with the event: it also finds an event's deliveries (no index of its own).
        UniqueConstraint("event_seq", "sink", "target", name="uq_deliveries_event_target"),
        Index("ix_deliveries_due", "sink", "target", "status", "next_attempt_at"),
        # Room on each page: a claim then updates its row in place (no index inserts).
        {"postgresql_with": {"fillfactor": 50}},
    )


class DeliveryAttempt(Base):
    """One try of a delivery: when, how long, the response status or the error (a
    delivery's current success is on its row: :attr:`Delivery.succeeded_at`)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("deliveries.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column()
    succeeded: Mapped[bool] = mapped_column()
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "id"),)


# Core table handles for the queue's prebuilt statements (fanout.py, leases.py).
EVENTS = cast(Table, Event.__table__)
DELIVERIES = cast(Table, Delivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
TARGETS = cast(Table, DeliveryTarget.__table__)
