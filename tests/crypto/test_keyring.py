"""Master keys: first-start generation, the key file, UNIFYPORT_MASTER_KEY, add-key."""

from __future__ import annotations

import asyncio
import base64
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.gateway import make_settings
from unifyport.cli.main import main
from unifyport.crypto.box import SecretBox, SecretError
from unifyport.crypto.check import check_keys, verify_stored_secrets
from unifyport.crypto.keyring import (
    KEY_SETTING,
    append_new_key,
    load_keyring,
    make_key,
    merged,
    new_key_line,
    persist_new_key_file,
)
from unifyport.db.database import Database
from unifyport.errors import ConfigError


def key_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def test_first_start_generates_an_owner_only_key_file(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    key_file = data_dir / "master.key"
    assert not key_file.exists()
    asyncio.run(check_keys(settings))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_lines(key_file)) == 1
    assert len(base64.b64decode(key_lines(key_file)[0])) == 32
    ring = load_keyring(settings)
    asyncio.run(check_keys(settings))  # a second start reuses the file
    assert load_keyring(settings).ids == ring.ids
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []


def test_generated_key_is_written_only_after_the_check(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    ring = load_keyring(settings, create=True)
    assert ring.pending_file == data_dir / "master.key"
    assert not ring.pending_file.exists()
    box = SecretBox(ring)
    data_dir.mkdir(parents=True)

    async def check() -> None:
        db = Database(settings.storage.effective_database_url)
        try:
            await verify_stored_secrets(db, box)
        finally:
            await db.dispose()

    asyncio.run(check())
    assert box.keyring.pending_file is None
    assert load_keyring(settings).ids == ring.ids


def test_concurrent_first_starts_agree_on_one_key(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    first = load_keyring(settings, create=True)
    second = load_keyring(settings, create=True)
    assert first.ids != second.ids
    assert persist_new_key_file(first).ids == first.ids
    # The second worker lost the race: it must adopt the file, not keep its own key.
    assert persist_new_key_file(second).ids == first.ids
    assert len(key_lines(data_dir / "master.key")) == 1


def test_several_keys_newest_last(data_dir: Path) -> None:
    lines = [new_key_line() for _ in range(3)]
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text("# comment\n" + "\n".join(lines) + "  # trailing\n")
    ring = load_keyring(make_settings(data_dir))
    assert ring.ids == tuple(make_key(base64.b64decode(ln)).key_id for ln in lines)
    box = SecretBox(ring)
    assert box.sealing_key_id == ring.ids[-1]
    for i in range(3):
        single = SecretBox(type(ring)((ring.keys[i],), "one"))
        assert box.open("fields", "acc_1", single.seal("fields", "acc_1", b"v")) == b"v"


def test_url_safe_base64_is_accepted(data_dir: Path) -> None:
    material = bytes([0xFB] * 32)  # encodes with "+" and "/" in the standard alphabet
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text(base64.urlsafe_b64encode(material).decode() + "\n")
    assert load_keyring(make_settings(data_dir)).newest.material == material


def test_environment_key_overrides_the_file(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text(new_key_line() + "\n")
    env_old, env_new = new_key_line(), new_key_line()
    settings = make_settings(data_dir, env={"UNIFYPORT_MASTER_KEY": f"{env_old},{env_new}"})
    ring = load_keyring(settings, create=True)
    assert ring.ids == tuple(make_key(base64.b64decode(k)).key_id for k in (env_old, env_new))
    assert "UNIFYPORT_MASTER_KEY" in ring.source and ring.pending_file is None


def test_environment_key_means_no_key_file_is_written(data_dir: Path) -> None:
    settings = make_settings(data_dir, env={"UNIFYPORT_MASTER_KEY": new_key_line()})
    asyncio.run(check_keys(settings))
    assert not (data_dir / "master.key").exists()


@pytest.mark.parametrize(("content", "reason"), [
    ("not base64!!\n", "not valid base64"),
    (base64.b64encode(b"short").decode() + "\n", "must be 32 bytes"),
    ("# only a comment\n", "no master key"),
])
def test_bad_key_files_are_refused_naming_the_setting(
        data_dir: Path, content: str, reason: str) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text(content)
    with pytest.raises(ConfigError, match=reason) as err:
        load_keyring(make_settings(data_dir), create=True)
    assert err.value.key == KEY_SETTING


def test_configured_key_file_that_is_missing_is_refused_not_invented(
        data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "mounted" / "key"
    settings = make_settings(data_dir, f'[security]\nmaster_key_file = "{missing}"\n')
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_keyring(settings, create=True)
    assert err.value.key == KEY_SETTING
    assert not missing.exists()


def test_loose_key_file_permissions_are_warned_about(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir.mkdir(parents=True)
    key_file = data_dir / "master.key"
    key_file.write_text(new_key_line() + "\n")
    key_file.chmod(0o644)
    load_keyring(make_settings(data_dir))
    assert "chmod 600" in caplog.text


def test_add_key_appends_a_newest_key_and_keeps_the_mode(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(data_dir)
    asyncio.run(check_keys(settings))
    key_file = data_dir / "master.key"
    before = load_keyring(settings)
    with key_file.open("a") as fh:
        fh.write("# no newline at the end")
    assert main(["secrets", "add-key", "--config", str(settings.config_path)]) == 0
    out = capsys.readouterr().out
    after = load_keyring(settings)
    assert after.ids[:-1] == before.ids and len(after.ids) == 2
    assert after.newest.key_id in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Secrets sealed before the new key still open; new seals use the new key.
    blob = SecretBox(before).seal("session", "acc_1", b"s")
    assert SecretBox(after).open("session", "acc_1", blob) == b"s"
    pinned = SecretBox(replace(before, path=None))  # a keyring not read from a file
    with pytest.raises(SecretError):
        pinned.open("session", "acc_1", SecretBox(after).seal("session", "acc_1", b"s"))


def test_add_key_is_refused_when_the_environment_key_is_in_use(
        data_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(data_dir)
    monkeypatch.setenv("UNIFYPORT_MASTER_KEY", new_key_line())
    assert main(["secrets", "add-key", "--config", str(settings.config_path)]) == 2
    err = capsys.readouterr().err
    assert KEY_SETTING in err and "UNIFYPORT_MASTER_KEY" in err
    assert not (data_dir / "master.key").exists()


def test_a_running_box_picks_up_a_key_added_to_the_file(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    asyncio.run(check_keys(settings))
    running_box = SecretBox(load_keyring(settings))
    old_id = running_box.sealing_key_id
    new = append_new_key(settings)
    rotated = SecretBox(load_keyring(settings)).seal("session", "acc_1", b"re-sealed")
    assert running_box.open("session", "acc_1", rotated) == b"re-sealed"
    assert running_box.keyring.ids == (old_id, new.key_id)
    assert running_box.sealing_key_id == new.key_id


def test_a_reload_never_drops_a_key_the_process_holds(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    asyncio.run(check_keys(settings))
    ring = load_keyring(settings)
    new = append_new_key(settings)
    (data_dir / "master.key").write_text(base64.b64encode(new.material).decode() + "\n")
    reread = load_keyring(settings)
    assert reread.ids == (new.key_id,)
    combined = merged(ring, reread)
    assert combined.ids == (ring.newest.key_id, new.key_id)
    assert combined.newest == new and combined.path == data_dir / "master.key"
