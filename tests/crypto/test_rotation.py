"""Key rotation on SQLite and PostgreSQL: end to end through the CLI, interrupted, resumed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.crypto.flows import Snapshot, Stored, cli, open_all, populate, store_secrets, with_db
from tests.support.gateway import make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import load_keyring, new_key_line
from unifyport.crypto.rotate import count_by_key_id, rotate_secrets
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.settings import Settings


def server_starts_and_opens_everything(settings: Settings, stored: Stored,
                                       snapshot: Snapshot) -> None:
    """Start the app (start-up check included), open every secret, finish a stored flow."""

    async def go() -> None:
        async with running(settings, (("testprov", TestPlugin()),)) as api:
            assert await open_all(api.gateway.db, api.gateway.box) == snapshot
            acc = stored.pending[0]
            status, body = await api.post(f"/v1/accounts/{acc}/auth/session/code",
                                          {"code": "12345"})
            assert status == 200 and body["status"] == "authorized", body

    asyncio.run(go())


def key_file_of(settings: Settings) -> Path:
    return settings.security.key_file_path(settings.storage.data_dir)


def test_rotation_end_to_end_via_the_cli(database_url: str, data_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(data_dir, database_url=database_url)
    stored, snapshot = populate(settings)
    total = len(snapshot)
    assert total == 10
    key_file = key_file_of(settings)
    old_id = load_keyring(settings).newest.key_id

    new_line = new_key_line()  # step 1: add a key line at the end (it becomes the newest)
    with key_file.open("a") as fh:
        fh.write(new_line + "\n")
    new_id = load_keyring(settings).newest.key_id
    assert new_id != old_id

    rc, (report,) = cli(capsys, settings, "secrets", "rotate", "--batch-size", "3")
    assert rc == 0
    assert report == {"rotated": total, "already_current": 0, "failed": 0, "remaining": 0,
                      "key_id": new_id, "by_key": {new_id: total}, "webhook_endpoints": 0}
    rc, (again,) = cli(capsys, settings, "secrets", "rotate")
    assert rc == 0 and again["rotated"] == 0 and again["already_current"] == total

    rc, status = cli(capsys, settings, "secrets", "status")  # step 3: verify
    assert rc == 0
    assert {s["key_id"]: s["secrets"] for s in status} == {old_id: 0, new_id: total}

    key_file.write_text(new_line + "\n")  # step 4: remove the old key
    assert load_keyring(settings).ids == (new_id,)
    assert with_db(settings, open_all) == snapshot
    server_starts_and_opens_everything(settings, stored, snapshot)


def test_interrupted_rotation_resumes_and_completes(database_url: str, data_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(data_dir, database_url=database_url)
    stored, snapshot = populate(settings)
    total = len(snapshot)
    old_id = load_keyring(settings).newest.key_id
    rc, (added,) = cli(capsys, settings, "secrets", "add-key")
    assert rc == 0
    new_id = added["added"]

    async def one_batch(db: Database, box: SecretBox) -> Any:
        return await rotate_secrets(db, box, batch_size=4, max_batches=1)

    partial = with_db(settings, one_batch)  # "killed" after its first committed batch
    assert (partial.rotated, partial.remaining) == (4, total - 4)
    assert with_db(settings, lambda db, _box: count_by_key_id(db)) == {
        old_id: total - 4, new_id: 4}
    assert with_db(settings, open_all) == snapshot  # mixed keys: everything still opens
    server_starts_and_opens_everything(settings, stored, snapshot)  # and the server runs
    snapshot = with_db(settings, open_all)  # the flow finished above changed secrets
    before = with_db(settings, lambda db, _box: count_by_key_id(db))
    assert before[old_id] > 0

    rc, (report,) = cli(capsys, settings, "secrets", "rotate", "--batch-size", "2")
    assert rc == 0
    assert report == {"rotated": before[old_id], "already_current": before[new_id],
                      "failed": 0, "remaining": 0, "key_id": new_id,
                      "by_key": {new_id: len(snapshot)}, "webhook_endpoints": 0}

    key_file = key_file_of(settings)
    lines = [ln for ln in key_file.read_text().splitlines() if ln and not ln.startswith("#")]
    key_file.write_text(lines[-1] + "\n")
    assert with_db(settings, open_all) == snapshot


def test_a_secret_that_does_not_open_is_reported_and_left_alone(
        database_url: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(data_dir, database_url=database_url)
    _stored, snapshot = populate(settings)
    (acc, purpose), _ = sorted(snapshot.items())[-1]
    old_id = load_keyring(settings).newest.key_id

    async def corrupt(db: Database, box: SecretBox) -> None:
        blob = box.seal(purpose, "acc_someone_else", b"moved")
        async with db.write() as s:
            await s.execute(update(StoredSecret).where(
                StoredSecret.account_id == acc, StoredSecret.purpose == purpose
            ).values(blob=blob))

    with_db(settings, corrupt)
    assert cli(capsys, settings, "secrets", "add-key")[0] == 0

    async def rotate(db: Database, box: SecretBox) -> Any:
        return await rotate_secrets(db, box, batch_size=3)

    report = with_db(settings, rotate)
    assert (report.failed, report.remaining) == (1, 1)
    assert report.rotated == len(snapshot) - 1
    assert report.by_key == {old_id: 1, report.key_id: len(snapshot) - 1}


async def test_a_running_server_opens_secrets_rotated_under_its_feet(
        database_url: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """add-key and rotate while a server runs: it re-reads the key file when it meets the
    new key id, so its stored flows keep working without a restart."""
    settings = make_settings(data_dir, database_url=database_url)
    stored = Stored()
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        await store_secrets(api, stored, accounts=1)
        old_id = api.gateway.box.sealing_key_id
        rc, (added,) = await asyncio.to_thread(cli, capsys, settings, "secrets", "add-key")
        assert rc == 0
        rc, (report,) = await asyncio.to_thread(cli, capsys, settings, "secrets", "rotate")
        assert rc == 0 and report["remaining"] == 0 and report["rotated"] > 0
        status, body = await api.post(f"/v1/accounts/{stored.pending[0]}/auth/session/code",
                                      {"code": "12345"})
        assert status == 200 and body["status"] == "authorized", body
        assert api.gateway.box.keyring.ids == (old_id, added["added"])
        assert api.gateway.box.sealing_key_id == added["added"]
        counts = await count_by_key_id(api.gateway.db)
        assert counts == {added["added"]: sum(counts.values())}
