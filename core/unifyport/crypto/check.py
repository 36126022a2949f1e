"""Start-up check: every stored secret must open with a configured master key.

It only reads the database (SQLite through a read-only connection, which can neither write
nor checkpoint the WAL), so a refused start leaves the database byte for byte as it was. On a
first start it writes the generated key file, once it knows the database holds no secrets."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from unifyport.crypto.box import SecretBox, SecretError
from unifyport.crypto.keyring import KEY_SETTING, load_keyring, persist_new_key_file
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.errors import ConfigError
from unifyport.settings import Settings


async def verify_stored_secrets(db: Database, box: SecretBox) -> None:
    """Raise :class:`ConfigError` (naming ``security.master_key_file``) when a stored secret
    names a key id that is not configured, or a configured key cannot open a secret it sealed.

    When the keyring is a key generated for a first start, the key file is written only if
    no secret is stored (a lost key file is reported, not silently replaced); ``box`` then
    uses the keys read back from that file (another worker may have written it first)."""
    keyring = box.keyring
    async with _read_only(db) as conn:
        counts = await secret_counts(conn) if conn is not None else {}
        if keyring.pending_file is not None:
            if counts:
                raise ConfigError(KEY_SETTING, f"key file {keyring.pending_file} does not exist, "
                                  f"but {sum(counts.values())} stored secret(s) were sealed with "
                                  f"master key id(s) {', '.join(sorted(counts))}; restore the "
                                  "key file (a new key cannot open them)")
            box.keyring = persist_new_key_file(keyring)
            return
        unknown = sorted(set(counts) - set(keyring.ids))
        if unknown:
            missing = sum(counts[k] for k in unknown)
            raise ConfigError(KEY_SETTING, f"{missing} stored secret(s) were sealed with master "
                              f"key id(s) {', '.join(unknown)}, which {keyring.source} does not "
                              f"hold (it holds {', '.join(keyring.ids)}); configure the key "
                              "that sealed them")
        for key_id in sorted(counts):
            assert conn is not None
            purpose, account_id, blob = (await conn.execute(
                select(StoredSecret.purpose, StoredSecret.account_id, StoredSecret.blob)
                .where(StoredSecret.key_id == key_id).limit(1)
            )).one()
            try:
                box.open(purpose, account_id, blob)
            except SecretError as exc:
                raise ConfigError(KEY_SETTING, f"master key {key_id} from {keyring.source} "
                                  f"cannot open a stored secret: {exc}") from None


@asynccontextmanager
async def _read_only(db: Database) -> AsyncIterator[AsyncConnection | None]:
    """A connection that cannot change the database; ``None`` when no SQLite file exists."""
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            yield conn
        return
    url = _sqlite_read_only_url(db.url)
    if url is None:
        yield None
        return
    engine = create_async_engine(url, connect_args={"timeout": 30})
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


def _sqlite_read_only_url(url: str) -> str | None:
    """A ``mode=ro`` URI for the SQLite file of ``url``; ``None`` when there is no file."""
    path = make_url(url).database
    if not path or path == ":memory:" or not os.path.exists(path):
        return None
    return f"sqlite+aiosqlite:///file:{quote(os.path.abspath(path))}?mode=ro&uri=true"


async def secret_counts(conn: AsyncConnection) -> dict[str, int]:
    """Stored secrets per key id (empty when the table does not exist yet)."""
    if not await conn.run_sync(lambda c: inspect(c).has_table("secrets")):
        return {}
    rows = (await conn.execute(
        select(StoredSecret.key_id, func.count()).group_by(StoredSecret.key_id)
    )).all()
    return {str(k): int(n) for k, n in rows}


async def check_keys(settings: Settings) -> None:
    """The start-up check on its own database handle, for ``serve`` to run before the server
    starts (so a refusal is one line, not a lifespan traceback)."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.storage.effective_database_url)
    try:
        await verify_stored_secrets(db, SecretBox(load_keyring(settings, create=True)))
    finally:
        await db.dispose()
