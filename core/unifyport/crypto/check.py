"""Start-up check: every stored secret must open with a configured master key.

It only reads the database, so a refused start changes nothing on disk. On a first start it
also writes the generated key file, once it knows the database holds no secrets."""

from __future__ import annotations

from sqlalchemy import select

from unifyport.crypto.box import SecretBox, SecretError
from unifyport.crypto.keyring import KEY_SETTING, load_keyring, persist_new_key_file
from unifyport.crypto.rotate import count_by_key_id
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
    counts = await count_by_key_id(db)
    if keyring.pending_file is not None:
        if counts:
            raise ConfigError(KEY_SETTING, f"key file {keyring.pending_file} does not exist, but "
                              f"{sum(counts.values())} stored secret(s) were sealed with master "
                              f"key id(s) {', '.join(sorted(counts))}; restore the key file (a "
                              "new key cannot open them)")
        box.keyring = persist_new_key_file(keyring)
        return
    unknown = sorted(set(counts) - set(keyring.ids))
    if unknown:
        missing = sum(counts[k] for k in unknown)
        raise ConfigError(KEY_SETTING, f"{missing} stored secret(s) were sealed with master key "
                          f"id(s) {', '.join(unknown)}, which {keyring.source} does not hold "
                          f"(it holds {', '.join(keyring.ids)}); configure the key that sealed "
                          "them")
    async with db.read() as s:
        for key_id in sorted(counts):
            row = (await s.scalars(
                select(StoredSecret).where(StoredSecret.key_id == key_id).limit(1)
            )).one()
            try:
                box.open(row.purpose, row.account_id, row.blob)
            except SecretError as exc:
                raise ConfigError(KEY_SETTING, f"master key {key_id} from {keyring.source} "
                                  f"cannot open a stored secret: {exc}") from None


async def check_keys(settings: Settings) -> None:
    """The start-up check on its own database handle, for ``serve`` to run before the server
    starts (so a refusal is one line, not a lifespan traceback)."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.storage.effective_database_url)
    try:
        await verify_stored_secrets(db, SecretBox(load_keyring(settings, create=True)))
    finally:
        await db.dispose()
