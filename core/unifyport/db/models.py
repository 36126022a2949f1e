"""Typed SQLAlchemy models. Secrets live only in ``secrets``, sealed (see ``unifyport.crypto``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from unifyport.db.types import BigIntPK, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """An account on a channel, its auth status and runtime status."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    auth_mode: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(200), default=None)
    """The stable name of an account declared in the configuration (``[[accounts]]``)."""
    status: Mapped[str] = mapped_column(String(32))
    provider_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Non-secret provider fields only; secret ones are sealed in ``secrets``."""
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    runtime_status: Mapped[str] = mapped_column(String(32), default="stopped")
    runtime_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runtime_error: Mapped[str | None] = mapped_column(String(500))
    runtime_desired: Mapped[bool] = mapped_column(default=False)
    """Whether the account should be online (survives restarts until ``runtime/stop``)."""
    runtime_owner: Mapped[str | None] = mapped_column(String(40))
    """The process whose client runs the account (its lease holder)."""
    runtime_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The owner's lease ends then unless renewed; another process may then take over."""
    flow_owner: Mapped[str | None] = mapped_column(String(40))
    """The process that ran the in-progress auth flow's last step (it may hold the flow's
    live state, e.g. a QR login's connected client): later steps are forwarded to it."""
    version: Mapped[int] = mapped_column(default=1)
    """Bumped on every change; a write with a stale version is refused (optimistic lock)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_accounts_created", "created_at", "id"),
        Index("ix_accounts_provider_status", "provider", "status"),
        Index("ix_accounts_key", "key", unique=True),
    )


class ApiKey(Base):
    """An API key, stored as its SHA-256 hash."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, shown in listings to recognise it."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """``None``: an admin key; else the scopes (``read``, ``send``, ``control``) of a key
    limited to :attr:`account_ids` (``unifyport.apikeys.allows``)."""
    account_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)


class ApiKeyVersion(Base):
    """One row (``id`` 1) whose ``version`` database triggers bump on every change to
    ``api_keys`` (migration 0005): what caches of verified keys check (``unifyport.apikeys``)."""

    __tablename__ = "api_key_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class StoredSecret(Base):
    """A sealed secret of an account: ``purpose`` is ``provider_data``, ``session`` or
    ``auth_flow`` (in-progress auth state). ``key_id`` names the master key that sealed it."""

    __tablename__ = "secrets"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The outbox: one row per event, written in the transaction of the change it reports."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_events_account", "account_id", "seq"),
        Index("ix_events_type", "type", "seq"),
    )
