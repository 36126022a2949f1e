"""Benchmark of secret sealing and key rotation (for the record, not a timed test).

Prints seals/s and opens/s of a 256-byte secret, and secrets re-sealed per second by
``rotate_secrets`` on a SQLite file (or ``--database-url``) holding ``--secrets`` rows.

    PYTHONPATH=.:plugins:core .venv/bin/python bench/crypto.py [--secrets 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import Keyring, make_key
from unifyport.crypto.rotate import rotate_secrets
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.models import Account, StoredSecret
from unifyport.db.types import utcnow


def box_with(*keys: bytes) -> SecretBox:
    return SecretBox(Keyring(tuple(make_key(k) for k in keys), "bench"))


def seal_open(n: int = 200_000) -> None:
    box, plain = box_with(os.urandom(32)), os.urandom(256)
    t = time.perf_counter()
    blobs = [box.seal("session", f"acc_{i % 100}", plain) for i in range(n)]
    sealed = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for i, blob in enumerate(blobs):
        box.open("session", f"acc_{i % 100}", blob)
    opened = n / (time.perf_counter() - t)
    print(f"seal 256 B: {sealed:,.0f}/s   open 256 B: {opened:,.0f}/s")


async def rotation(url: str, count: int, batch: int) -> None:
    old, new = os.urandom(32), os.urandom(32)
    db = Database(url)
    await upgrade(db)
    box = box_with(old)
    now = utcnow()
    async with db.write() as s:
        for i in range(count // 3):
            acc = f"acc_{i:08d}"
            s.add(Account(id=acc, provider="x", auth_mode="code", status="authorized",
                          provider_data={}, params={}, runtime_status="stopped",
                          runtime_desired=False, version=1, created_at=now, updated_at=now))
        await s.flush()
        for i in range(count // 3):
            acc = f"acc_{i:08d}"
            for purpose in ("fields", "session", "auth_flow"):
                blob = box.seal(purpose, acc, os.urandom(256))
                s.add(StoredSecret(account_id=acc, purpose=purpose, key_id=box.sealing_key_id,
                                   blob=blob, updated_at=now))
    t = time.perf_counter()
    report = await rotate_secrets(db, box_with(old, new), batch_size=batch)
    took = time.perf_counter() - t
    await db.dispose()
    print(f"rotate {report.rotated:,} secrets ({db.dialect}, batch {batch}): {took:.2f} s, "
          f"{report.rotated / took:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=30_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    seal_open()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(rotation(url, args.secrets, args.batch_size))


if __name__ == "__main__":
    main()
