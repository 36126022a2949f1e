"""``[plugins.telegram]`` validation (errors name the key) and ``unifyport sandbox telegram``."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.gateway import make_settings
from unifyport.errors import ConfigError
from unifyport.http.app import create_app
from unifyport_telegram.config import TelegramConfig, parse_config


@pytest.mark.parametrize(("table", "key"), [
    ({"backend": "tdlib"}, "plugins.telegram.backend"),
    ({"import_dir": "/no/such/dir"}, "plugins.telegram.import_dir"),
    ({"timeout": 0}, "plugins.telegram.timeout"),
    ({"ping_interval": 0.5}, "plugins.telegram.ping_interval"),
    ({"ping_interval": True}, "plugins.telegram.ping_interval"),
    ({"heartbeat_rate": 0}, "plugins.telegram.heartbeat_rate"),
    ({"heartbeat_rate": "fast"}, "plugins.telegram.heartbeat_rate"),
    ({"colour": "blue"}, "plugins.telegram.colour"),
    ({"server": {"dc_id": 2}}, "plugins.telegram.server.address"),
    ({"server": {"address": "nohost"}}, "plugins.telegram.server.address"),
    ({"server": {"address": "127.0.0.1:99999"}}, "plugins.telegram.server.address"),
    ({"server": {"address": "127.0.0.1:1", "dc_id": 0}}, "plugins.telegram.server.dc_id"),
    ({"server": {"address": "127.0.0.1:1", "public_key_file": "/nope.pem"}},
     "plugins.telegram.server.public_key_file"),
    ({"server": {"address": "127.0.0.1:1", "dcs": {"x": "127.0.0.1:2"}}},
     "plugins.telegram.server.dcs.x"),
    ({"server": {"address": "127.0.0.1:1", "public_key_file": __file__}},
     "plugins.telegram.server.public_key_file"),
])
def test_bad_values_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(table)
    assert info.value.key == key


def test_valid_table(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = tmp_path / "public.pem"  # SubjectPublicKeyInfo: stored as PKCS#1 for Telethon
    pem.write_bytes(key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    cfg = parse_config({"backend": "pyrogram", "import_dir": str(tmp_path), "server": {
        "dc_id": 2, "address": "127.0.0.1:4430", "public_key_file": str(pem),
        "dcs": {"1": "127.0.0.1:4431"}}})
    assert cfg.backend == "pyrogram" and cfg.import_dir == tmp_path.resolve()
    assert cfg.dc_address(1) == ("127.0.0.1", 4431)
    assert cfg.dc_address(2) == ("127.0.0.1", 4430)
    assert cfg.dc_address(5) == ("127.0.0.1", 4430)
    assert parse_config({}).dc_address(4) == ("149.154.167.91", 443)
    assert cfg.server is not None and cfg.server.public_key_pem is not None
    assert cfg.server.public_key_pem.startswith(b"-----BEGIN RSA PUBLIC KEY-----")


def test_bad_table_stops_the_app(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", '[plugins.telegram]\nbackend = "nope"\n')
    with pytest.raises(ConfigError) as info:
        create_app(settings)
    assert info.value.key == "plugins.telegram.backend"


def test_sandbox_command_prints_its_addresses(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "unifyport.cli.main", "sandbox", "telegram",
         "--state-dir", str(tmp_path / "sb")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the sandbox printed nothing within 30 s"
        line = json.loads(proc.stdout.readline())
        assert line["mtproto"].startswith("127.0.0.1:") and line["dc_id"] == 2
        assert Path(line["public_key_file"]).is_file()
        assert line["control"].startswith("http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0



def test_cli_start_loads_no_client_library() -> None:
    # Every CLI run imports the plugin and builds the sandbox command's parser.
    code = """
import sys
from unifyport.cli.main import main
try:
    main(["sandbox", "telegram", "--help"])
except SystemExit:
    pass
print("loaded:", sorted({"telethon", "pyrogram", "segno", "unifyport_telegram"} & set(sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.splitlines()[-1] == "loaded: ['unifyport_telegram']", out


@pytest.mark.parametrize(("table", "heartbeat", "probe_every"), [
    ({}, 60, 1),  # the defaults: every heartbeat is a probe
    ({"probe_interval": 3600, "ping_interval": 60}, 60, 60),
    ({"probe_interval": 90, "ping_interval": 60}, 60, 1),  # never less often than asked
    ({"probe_interval": 0.3}, 0.3, 1),
])
def test_heartbeat_schedule(table: dict[str, float], heartbeat: float, probe_every: int) -> None:
    cfg = parse_config(table)
    assert (cfg.tick(1), _probe_every(cfg, 1)) == (heartbeat, probe_every)


def _probe_every(cfg: TelegramConfig, online: int) -> int:
    """Ticks from one probe to the next, as the runtime's heartbeat sends them."""
    tick = since = cfg.tick(online)
    for n in range(1, 10000):
        if cfg.probe_due(since, tick):
            return n
        since += tick
    raise AssertionError("no probe in 10,000 ticks")


@pytest.mark.parametrize(("table", "online", "tick", "probe_every"), [
    ({}, 1200, 60, 1),  # 20 requests a second: the defaults' rate holds up to 1,200 clients
    ({}, 5000, 250, 1),  # stretched: 5,000 / 20 a second
    ({}, 20000, 600, 1),  # never longer than LONGEST_HEARTBEAT
    ({"probe_interval": 3600, "ping_interval": 60}, 5000, 250, 14),  # probes stay hourly
    ({"heartbeat_rate": 1000}, 5000, 60, 1),
    ({"probe_interval": 3600, "ping_interval": 600, "heartbeat_rate": 0.001}, 5, 600, 6),
])
def test_heartbeat_rate_stretches_the_tick(table: dict[str, float], online: int, tick: float,
                                           probe_every: int) -> None:
    """Past ``heartbeat_rate * heartbeat`` online clients, each one's tick grows so that
    together they keep to ``heartbeat_rate`` requests a second."""
    cfg = parse_config(table)
    assert (cfg.tick(online), _probe_every(cfg, online)) == (tick, probe_every)
    assert online / cfg.tick(online) <= max(cfg.heartbeat_rate, online / cfg.longest_tick)
