"""API keys: random with a recognisable prefix, shown once, stored as SHA-256.

Verified keys are cached per process (per :class:`Database`), keyed by the token's hash,
with unknown tokens remembered too. The cache is trusted for :data:`KEY_CACHE_SECONDS` after
the process last read the key-set version (``api_key_version``, bumped by database triggers
on any change to ``api_keys``); past that, the next request reads the version again (one
request at a time; a single-row read) and drops the cache if it moved. So a key revoked or
deleted by any process, or by hand, stops working everywhere within that bound, and at once
in the process that revoked it. The cache holds which key a token is, never data.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, bindparam, select

from unifyport.db.database import Database
from unifyport.db.models import ApiKey, ApiKeyVersion
from unifyport.db.repositories import ApiKeyRepository
from unifyport.db.types import utcnow
from unifyport.ids import new_id
from unifyport.private_files import write_private

KEY_PREFIX = "upk_"
ADMIN_KEY_FILE = "admin-api-key"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(db: Database, name: str, scopes: Sequence[str] | None = None,
                     account_ids: Sequence[str] | None = None) -> tuple[ApiKey, str]:
    """A new key: the stored row and the plaintext (shown once, never stored). Without
    ``scopes`` an admin key; with them, a key limited to ``account_ids`` (see
    :func:`grant_problem`, which the caller checks first)."""
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"), name=name, prefix=token[:10], key_hash=hash_key(token),
        created_at=utcnow(),
        scopes=None if scopes is None else sorted(set(scopes)),
        account_ids=None if scopes is None or account_ids is None
        else list(dict.fromkeys(account_ids)),
    )
    async with db.write() as s:
        ApiKeyRepository(s).add(row)
    return row, token


SCOPES = ("read", "send", "control")
"""What an account-scoped key may be granted. ``read``: accounts, chats, messages, events,
webhook endpoints; ``send``: send, react, mark read; ``control``: auth steps, runtime
start/stop, webhook endpoint changes and redeliveries. An admin key may do everything,
including what needs ``admin`` (accounts, keys, metrics)."""
ADMIN = "admin"
MAX_KEY_ACCOUNTS = 100


def grant_problem(scopes: Sequence[str] | None, account_ids: Sequence[str] | None
                  ) -> str | None:
    """Why a key cannot be made with these scopes and accounts (``None``: it can). An admin
    key has no scopes and no accounts; a scoped key has known scopes and 1-100 accounts."""
    if scopes is None:
        return None if account_ids is None else "an admin key is not limited to accounts"
    if not scopes or any(scope not in SCOPES for scope in scopes):
        return f"scopes must be a non-empty list of {', '.join(SCOPES)} (or only 'admin')"
    if not account_ids or len(account_ids) > MAX_KEY_ACCOUNTS:
        return f"a scoped key needs 1 to {MAX_KEY_ACCOUNTS} account_ids"
    return None


def allows(key: ApiKey, scope: str) -> bool:
    """Whether ``key`` holds ``scope`` (an admin key holds every scope, ``admin`` too)."""
    return key.scopes is None or scope in key.scopes


KEY_CACHE_SECONDS = 1.0
"""How long a process trusts its cached keys without reading the key-set version: the bound
on how late a revocation (or deletion) made elsewhere takes effect here."""
KEY_CACHE_ENTRIES = 10_000
"""The cache is emptied when it reaches this many tokens (unknown ones included)."""

_KEYS = ApiKey.__table__
_VERSION = select(ApiKeyVersion.version).where(ApiKeyVersion.id == 1)
_LOOKUP = (select(ApiKeyVersion.version, *_KEYS.columns)
           .select_from(ApiKeyVersion.__table__.outerjoin(
               _KEYS, _KEYS.c.key_hash == bindparam("digest")))
           .where(ApiKeyVersion.id == 1))
"""The version and the key in one statement: one snapshot on every database."""


class _KeyCache:
    def __init__(self) -> None:
        self.version = -1
        self.checked = -math.inf
        """``time.monotonic()`` at the start of the newest read that saw ``version``."""
        self.floor = -math.inf
        """Reads started before this are too old to fill the cache (a local revocation)."""
        self.keys: dict[str, ApiKey | None] = {}
        self.lock = asyncio.Lock()

    def adopt(self, version: int, started: float) -> bool:
        """Take note of ``version`` read by a statement started at ``started``; ``False``
        when the read is older than what the cache knows (its result must not be kept).
        Any other version than the cache's drops the cache, a lower one too (a restored
        database)."""
        if started < self.floor:
            return False
        if version != self.version:
            if started < self.checked:
                return False
            self.keys.clear()
            self.version = version
        self.checked = max(self.checked, started)
        return True

    def invalidate(self) -> None:
        self.keys.clear()
        self.checked = -math.inf
        self.floor = time.monotonic()


_caches: weakref.WeakKeyDictionary[Database, _KeyCache] = weakref.WeakKeyDictionary()


def _cache(db: Database) -> _KeyCache:
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = _KeyCache()
    return cache


def _read_version(conn: Connection) -> int:
    return int(conn.execute(_VERSION).scalar_one())


def _lookup(digest: str, conn: Connection) -> tuple[int, ApiKey | None]:
    row = conn.execute(_LOOKUP, {"digest": digest}).one()
    if row.id is None:
        return int(row.version), None
    return int(row.version), ApiKey(**{c.key: getattr(row, c.key) for c in _KEYS.columns})


async def verify_key(db: Database, token: str) -> ApiKey | None:
    """The active key matching ``token``, or ``None``. The row returned may be shared with
    other requests: read it, never change it."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = hash_key(token)
    cache = _cache(db)
    if time.monotonic() - cache.checked > KEY_CACHE_SECONDS:
        async with cache.lock:  # one version read however many requests find it stale
            if time.monotonic() - cache.checked > KEY_CACHE_SECONDS:
                started = time.monotonic()
                cache.adopt(await db.query(_read_version), started)
    try:
        return cache.keys[digest]
    except KeyError:
        pass
    started = time.monotonic()
    version, row = await db.query(lambda conn: _lookup(digest, conn))
    key = row if row is not None and row.revoked_at is None and hmac.compare_digest(
        row.key_hash, digest) else None
    if cache.adopt(version, started):
        if len(cache.keys) >= KEY_CACHE_ENTRIES:
            cache.keys.clear()
        cache.keys[digest] = key
    return key


async def revoke_key(db: Database, key_id: str) -> bool:
    async with db.write() as s:
        row = await ApiKeyRepository(s).get(key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
    _cache(db).invalidate()
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
