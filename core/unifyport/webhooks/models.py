"""The ``webhook_endpoints`` table: an endpoint created through the API. Its signing secrets
and custom headers are one sealed blob (purpose ``webhook_endpoint``, bound to the id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from unifyport.db.models import Base
from unifyport.db.types import UTCDateTime, utcnow


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    """``whe_…``; also the endpoint's target name in ``delivery_targets``."""
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    account_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """Only these accounts' events (``None``: every account's)."""
    owner_account_id: Mapped[str | None] = mapped_column(String(40))
    """The account created with it (``POST /v1/accounts`` with ``webhook``): deleted with it."""
    key_id: Mapped[str] = mapped_column(String(32))
    """The master key that sealed :attr:`sealed`."""
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_webhook_endpoints_owner", "owner_account_id"),)
