"""Start-up check: every stored secret must open with a configured master key.

It only reads, so a refused start changes nothing on disk."""

from __future__ import annotations

from sqlalchemy import inspect, select

from unifyport.crypto.box import SecretBox, SecretError
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.errors import ConfigError

KEY_SETTING = "security.master_key_file"


async def verify_stored_secrets(db: Database, box: SecretBox) -> None:
    """Raise :class:`ConfigError` when a secret names an unknown key id, or a configured key
    cannot open a secret it supposedly sealed."""
    async with db.engine.connect() as conn:
        has_table = await conn.run_sync(lambda c: inspect(c).has_table("secrets"))
    if not has_table:
        return
    async with db.read() as s:
        key_ids = (await s.scalars(select(StoredSecret.key_id).distinct())).all()
        unknown = sorted(set(key_ids) - set(box.keyring.ids))
        if unknown:
            raise ConfigError(KEY_SETTING, f"stored secrets were sealed with master key id(s) "
                              f"{', '.join(unknown)}, which are not configured")
        for key_id in key_ids:
            row = (await s.scalars(
                select(StoredSecret).where(StoredSecret.key_id == key_id).limit(1)
            )).one()
            try:
                box.open(row.purpose, row.account_id, row.blob)
            except SecretError:
                raise ConfigError(KEY_SETTING, f"master key {key_id} cannot decrypt stored "
                                  "secrets (wrong key material?)") from None
