"""Configuration: TOML plus environment, secret references, strict keys, ``config check``."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from unifyport.config import load_settings
from unifyport.errors import ConfigError
from unifyport.settings import Secret


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "unifyport.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8300)
    assert s.storage.data_dir == Path("data")
    assert s.storage.effective_database_url == (
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 'unifyport.db'}")
    assert s.security.key_file_path(s.storage.data_dir) == Path("data/master.key")
    assert s.plugins.disabled == ()


def test_local_file_is_used_when_present(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[server]\nport = 9000\n")
    assert load_settings(None, environ={}).server.port == 9000


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 9000\n[plugins.telegram]\nbackend = "telethon"\n')
    s = load_settings(path, environ={
        "UNIFYPORT_SERVER__PORT": "9100",
        "UNIFYPORT_SERVER__HOST": "::1",
        "UNIFYPORT_SECURITY__OUTBOUND_ALLOW_CIDRS": '["127.0.0.0/8", "::1/128"]',
        "UNIFYPORT_PLUGINS__TELEGRAM__BACKEND": "pyrogram",
        "UNIFYPORT_PLUGINS__TELEGRAM__SERVER__DC_ID": "2",
        "UNIFYPORT_PLUGINS__DISABLED": "webhook",
        "UNIFYPORT_WEBHOOK_SECRET": "not a config key (no double underscore)",
    })
    assert (s.server.host, s.server.port) == ("::1", 9100)
    assert s.security.outbound_allow_cidrs == (ipaddress.ip_network("127.0.0.0/8"),
                                               ipaddress.ip_network("::1/128"))
    assert s.plugin_table("telegram")["backend"] == "pyrogram"
    assert s.plugin_table("telegram")["server"] == {"dc_id": 2}
    assert s.plugins.disabled == ("webhook",)


def test_secret_references(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("from-file\n")
    path = write(tmp_path, f'[plugins.webhook]\na = {{ env = "MY_SECRET" }}\n'
                 f'b = {{ file = "{tmp_path / "secret.txt"}" }}\n')
    s = load_settings(path, environ={"MY_SECRET": "from-env"})
    a, b = s.plugin_table("webhook")["a"], s.plugin_table("webhook")["b"]
    assert isinstance(a, Secret) and a.reveal() == "from-env"
    assert isinstance(b, Secret) and b.reveal() == "from-file"
    assert "from-env" not in repr(a) and str(a) == "***"


def test_master_key_from_environment(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), environ={"UNIFYPORT_MASTER_KEY": "abc"})
    assert s.security.master_key is not None and s.security.master_key.reveal() == "abc"


@pytest.mark.parametrize(("text", "env", "key"), [
    ("[server]\nprot = 1\n", {}, "server.prot"),
    ("[sever]\nport = 1\n", {}, "sever"),
    ("[server]\nport = 99999\n", {}, "server.port"),
    ("[server]\nport = \"x\"\n", {}, "server.port"),
    ("[security]\noutbound_allow_cidrs = [\"nope\"]\n", {}, "security.outbound_allow_cidrs"),
    ("[plugins]\ndisabled = 3\n", {}, "plugins.disabled"),
    ("[plugins]\ntelegram = 3\n", {}, "plugins.telegram"),
    ("[plugins.webhook]\nsecret = { env = \"MISSING\" }\n", {}, "plugins.webhook.secret"),
    ("", {"UNIFYPORT_STORAGE__NOPE": "1"}, "storage.nope"),
    ("[server\n", {}, "--config"),
])
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                         key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ=env)
    assert info.value.key == key


def unifyport(*args: str, cwd: Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_cli_config_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    write(tmp_path, "[server]\nprot = 1\n")
    result = unifyport("config", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "unifyport: configuration error: server.prot: unknown configuration key")
    result = unifyport("config", "check", "--config", "missing.toml", cwd=tmp_path)
    assert result.returncode == 2 and "missing.toml" in result.stderr


def test_config_check_prints_effective_values_with_secrets_masked(tmp_path: Path) -> None:
    import json
    import os

    write(tmp_path, '[storage]\ndatabase_url = "postgresql+asyncpg://u:pw@db/x"\n')
    env = {**os.environ, "UNIFYPORT_MASTER_KEY": "very-secret-key",
           "UNIFYPORT_SERVER__PORT": "8411"}
    result = unifyport("config", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["server"]["port"] == 8411
    assert values["storage"]["database_url"] == "postgresql+asyncpg://u:***@db/x"
    assert values["security"]["master_key"] == "*** (env:UNIFYPORT_MASTER_KEY)"
    assert "very-secret-key" not in result.stdout and "pw@" not in result.stdout


def test_example_configuration_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unifyport.plugins.registry import build_registry

    monkeypatch.chdir(tmp_path)
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    secret = "whsec_" + "A" * 32
    settings = load_settings(example, environ={"UNIFYPORT_WEBHOOK_SECRET": secret})
    registry = build_registry(settings)
    assert {"telegram"} <= set(registry.providers) and {"webhook"} <= set(registry.sinks)
    assert settings.plugin_table("telegram")["backend"] == "telethon"
