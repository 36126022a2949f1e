"""API keys: random with a recognisable prefix, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from unifyport.db.database import Database
from unifyport.db.models import ApiKey
from unifyport.db.repositories import ApiKeyRepository
from unifyport.db.types import utcnow
from unifyport.ids import new_id
from unifyport.private_files import write_private

KEY_PREFIX = "upk_"
ADMIN_KEY_FILE = "admin-api-key"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(db: Database, name: str) -> tuple[ApiKey, str]:
    """A new key: the stored row and the plaintext (shown once, never stored)."""
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"), name=name, prefix=token[:10], key_hash=hash_key(token),
        created_at=utcnow(),
    )
    async with db.write() as s:
        ApiKeyRepository(s).add(row)
    return row, token


async def verify_key(db: Database, token: str) -> ApiKey | None:
    """The active key matching ``token``, or ``None``."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = hash_key(token)
    async with db.read() as s:
        row = await ApiKeyRepository(s).by_hash(digest)
    if row is None or row.revoked_at is not None:
        return None
    return row if hmac.compare_digest(row.key_hash, digest) else None


async def revoke_key(db: Database, key_id: str) -> bool:
    async with db.write() as s:
        row = await ApiKeyRepository(s).get(key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
    return True


async def ensure_admin_key(db: Database, data_dir: Path) -> str | None:
    """On first start (no key at all), create the admin key, save it to
    ``<data_dir>/admin-api-key`` (mode 0600) and return it; otherwise ``None``."""
    async with db.read() as s:
        if await ApiKeyRepository(s).all():
            return None
    _row, token = await create_key(db, "admin")
    write_private(data_dir / ADMIN_KEY_FILE, token + "\n")
    return token
