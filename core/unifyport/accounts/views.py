"""The account JSON shape of the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from unifyport.db.models import Account
from unifyport.db.reads import AccountView


def iso(value: datetime | None) -> str | None:
    """RFC 3339 with a ``Z`` suffix."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def account_json(account: Account | AccountView | Row[Any]) -> dict[str, Any]:
    """Everything a client may see; secrets are never in ``provider_data``. ``account`` is a
    model instance, a view or a row of the accounts table (``unifyport.db.reads``)."""
    return {
        "id": account.id,
        "provider": account.provider,
        "auth_mode": account.auth_mode,
        "name": account.name,
        "status": account.status,
        "runtime": runtime_json(account),
        "identity": account.identity,
        "provider_data": account.provider_data,
        "params": account.params,
        "last_error": account.last_error,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }


def runtime_json(account: Account | AccountView | Row[Any]) -> dict[str, Any]:
    return {
        "status": account.runtime_status,
        "since": iso(account.runtime_since),
        "error": account.runtime_error,
    }
