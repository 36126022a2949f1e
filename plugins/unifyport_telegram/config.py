"""The plugin's ``[plugins.telegram]`` table, validated into a frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifyport.sdk import ConfigError

BACKENDS = ("telethon", "pyrogram")
_TOP_KEYS = {"backend", "import_dir", "server", "timeout", "probe_interval", "ping_interval",
             "heartbeat_rate"}
_SERVER_KEYS = {"dc_id", "address", "public_key_file", "dcs"}
PRODUCTION_DCS: dict[int, tuple[str, int]] = {
    1: ("149.154.175.53", 443), 2: ("149.154.167.51", 443), 3: ("149.154.175.100", 443),
    4: ("149.154.167.91", 443), 5: ("91.108.56.130", 443),
}


@dataclass(frozen=True)
class ServerConfig:
    """Where the Telegram data centres are (Telegram's test servers or the sandbox)."""

    dc_id: int
    dcs: Mapping[int, tuple[str, int]]
    """DC id -> (host, port); always holds ``dc_id``."""
    public_key_pem: bytes | None

    def address(self, dc_id: int) -> tuple[str, int]:
        """The address of ``dc_id`` (the main DC's when it is not listed)."""
        return self.dcs.get(dc_id) or self.dcs[self.dc_id]


LONGEST_HEARTBEAT = 600.0
"""However many clients are online, each sends a heartbeat at least this often (seconds)."""


@dataclass(frozen=True)
class TelegramConfig:
    backend: str = "telethon"
    import_dir: Path | None = None
    server: ServerConfig | None = None
    """``None``: the libraries' built-in production data centres."""
    timeout: float = 20.0
    """Upper bound for one call into a client library, in seconds."""
    probe_interval: float = 60.0
    """Longest time between liveness probes of an online client (``updates.getState``:
    finds revoked sessions)."""
    ping_interval: float = 60.0
    """Longest silence of an online client's connection: the runtime's heartbeat sends one
    request every ``min(probe_interval, ping_interval)`` seconds, the probe when it is due,
    else a ``ping`` (the libraries' own pings are off)."""

    heartbeat_rate: float = 20.0
    """The most heartbeat requests a second that the online clients of one process send
    together: with more than ``heartbeat_rate * heartbeat`` of them online, each client's
    heartbeat comes every ``online / heartbeat_rate`` seconds instead (at most every
    :data:`LONGEST_HEARTBEAT`)."""

    @property
    def heartbeat(self) -> float:
        """Seconds between an online client's heartbeat requests, as configured."""
        return min(self.probe_interval, self.ping_interval)

    def tick(self, online: int) -> float:
        """Seconds between an online client's heartbeat requests while ``online`` clients
        run in this process: the configured heartbeat, stretched to keep to
        ``heartbeat_rate``."""
        return max(self.heartbeat, min(LONGEST_HEARTBEAT, online / self.heartbeat_rate))

    @property
    def longest_tick(self) -> float:
        """The longest a tick can be, however many clients are online."""
        return max(self.heartbeat, LONGEST_HEARTBEAT)

    def probe_due(self, since: float, tick: float) -> bool:
        """Whether this heartbeat, ``since`` seconds of ticks after the last probe, is the
        probe: when waiting one more ``tick`` would pass ``probe_interval``."""
        return since + tick > self.probe_interval

    def dc_address(self, dc_id: int) -> tuple[str, int]:
        """Where data centre ``dc_id`` listens (configured, else Telegram's production DCs)."""
        if self.server is not None:
            return self.server.address(dc_id)
        return PRODUCTION_DCS.get(dc_id, PRODUCTION_DCS[2])

    @property
    def main_dc(self) -> int:
        return self.server.dc_id if self.server is not None else 2


def _address(key: str, value: Any) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(key, "must be HOST:PORT")
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(key, "must be HOST:PORT with a port in 1..65535")
    return host, int(port)


def _dc_id(key: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ConfigError(key, "must be a data-centre id (1..1000)")
    return value


def _pkcs1(pem: bytes) -> bytes:
    """The key as PKCS#1 PEM (what Telethon reads), from PKCS#1 or SubjectPublicKeyInfo."""
    # Imported here: the CLI imports this module on every run, most without a server key.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA key")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def _server(table: Any) -> ServerConfig:
    base = "plugins.telegram.server"
    if not isinstance(table, Mapping):
        raise ConfigError(base, "must be a table")
    for key in table:
        if key not in _SERVER_KEYS:
            raise ConfigError(f"{base}.{key}", f"unknown key (allowed: {sorted(_SERVER_KEYS)})")
    dc_id = _dc_id(f"{base}.dc_id", table.get("dc_id", 2))
    if "address" not in table:
        raise ConfigError(f"{base}.address", "required (HOST:PORT of the main data centre)")
    dcs: dict[int, tuple[str, int]] = {dc_id: _address(f"{base}.address", table["address"])}
    extra = table.get("dcs", {})
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{base}.dcs", 'must be a table such as { "1" = "127.0.0.1:4431" }')
    for raw_id, addr in extra.items():
        other = _dc_id(f"{base}.dcs.{raw_id}", raw_id)
        dcs.setdefault(other, _address(f"{base}.dcs.{raw_id}", addr))
    pem: bytes | None = None
    key_file = table.get("public_key_file")
    if key_file is not None:
        if not isinstance(key_file, str) or not key_file:
            raise ConfigError(f"{base}.public_key_file", "must be a path")
        try:
            pem = _pkcs1(Path(key_file).read_bytes())
        except OSError as exc:
            raise ConfigError(f"{base}.public_key_file", f"cannot read: {exc}") from None
        except ValueError:
            raise ConfigError(f"{base}.public_key_file", "not a PEM RSA public key") from None
    return ServerConfig(dc_id=dc_id, dcs=dcs, public_key_pem=pem)


def parse_config(table: Mapping[str, Any]) -> TelegramConfig:
    """Validate ``[plugins.telegram]``; raises :class:`ConfigError` naming the key."""
    for key in table:
        if key not in _TOP_KEYS:
            raise ConfigError(f"plugins.telegram.{key}",
                              f"unknown key (allowed: {sorted(_TOP_KEYS)})")
    backend = table.get("backend", "telethon")
    if backend not in BACKENDS:
        raise ConfigError("plugins.telegram.backend", f"must be one of {list(BACKENDS)}")
    import_dir: Path | None = None
    raw_dir = table.get("import_dir", "")
    if not isinstance(raw_dir, str):
        raise ConfigError("plugins.telegram.import_dir", "must be a path")
    if raw_dir:
        import_dir = Path(raw_dir).resolve()
        if not import_dir.is_dir():
            raise ConfigError("plugins.telegram.import_dir", f"not a directory: {raw_dir}")
    timeout = table.get("timeout", 20.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError("plugins.telegram.timeout", "must be a number of seconds in (0, 300]")
    probe = table.get("probe_interval", 60.0)
    if isinstance(probe, bool) or not isinstance(probe, int | float) or not 0 < probe <= 3600:
        raise ConfigError("plugins.telegram.probe_interval",
                          "must be a number of seconds in (0, 3600]")
    ping = table.get("ping_interval", 60.0)
    if isinstance(ping, bool) or not isinstance(ping, int | float) or not 1 <= ping <= 600:
        raise ConfigError("plugins.telegram.ping_interval",
                          "must be a number of seconds in [1, 600]")
    rate = table.get("heartbeat_rate", 20.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 10000:
        raise ConfigError("plugins.telegram.heartbeat_rate",
                          "must be a number of requests a second in (0, 10000]")
    server = _server(table["server"]) if "server" in table else None
    return TelegramConfig(backend=backend, import_dir=import_dir, server=server,
                          timeout=float(timeout), probe_interval=float(probe),
                          ping_interval=float(ping), heartbeat_rate=float(rate))
