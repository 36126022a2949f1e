"""Load settings from a TOML file plus ``UNIFYPORT_<SECTION>__<KEY>`` environment overrides."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from unifyport.errors import ConfigError
from unifyport.settings import (
    DeclaredAccount,
    DeclaredAccountsSettings,
    IPNetwork,
    LoggingSettings,
    MessagingSettings,
    PluginsSettings,
    RetentionSettings,
    RuntimeSettings,
    Secret,
    SecuritySettings,
    ServerSettings,
    Settings,
    StorageSettings,
    WebhookSettings,
)

DEFAULT_CONFIG = Path("unifyport.toml")
ENV_PREFIX = "UNIFYPORT_"
MASTER_KEY_ENV = "UNIFYPORT_MASTER_KEY"

_CORE_KEYS: dict[str, dict[str, str]] = {
    "server": {"host": "str", "port": "port", "loop_watchdog_ms": "ms"},
    "storage": {"data_dir": "str", "database_url": "str"},
    "security": {"master_key_file": "str", "outbound_allow_cidrs": "cidrs"},
    "logging": {"level": "level", "format": "format", "libraries": "level"},
    "retention": {"events": "keep", "delivered": "keep", "failed": "keep", "attempts": "keep",
                  "interval": "duration", "batch_size": "batch"},
    "webhooks": {"rotation_grace": "duration"},
    "messaging": {"upload_max_bytes": "bytes", "download_max_bytes": "bytes",
                  "max_attachments": "batch"},
    "runtime": {"start_rate": "rate"},
    "declared_accounts": {"prune": "bool"},
}
_CHOICES = {"level": ("debug", "info", "warning", "error"), "format": ("text", "json")}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOREVER = "forever"


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (``path``, else ``./unifyport.toml`` when present) and the environment.

    Raises :class:`ConfigError` naming the key for unknown keys and bad values.
    """
    env = os.environ if environ is None else environ
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("--config", f"file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"invalid TOML in {path}: {exc}") from None
    _apply_env(raw, env)
    raw = _resolve_secrets(raw, "", env)
    return _build(raw, env, path)


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(name, "empty key segment in environment variable")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts), "cannot override a value with a table")
            node = child
        node[parts[-1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    """TOML literal when it parses as one (numbers, booleans, arrays), else the plain string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _resolve_secrets(node: Any, key: str, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) in ({"env"}, {"file"}):
            return _secret_ref(node, key, env)
        return {k: _resolve_secrets(v, f"{key}.{k}" if key else k, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_secrets(v, f"{key}[{i}]", env) for i, v in enumerate(node)]
    return node


def _secret_ref(ref: dict[str, Any], key: str, env: Mapping[str, str]) -> Secret:
    if "env" in ref:
        name = ref["env"]
        if not isinstance(name, str) or name not in env:
            raise ConfigError(key, f"environment variable {name!r} is not set")
        return Secret(env[name], f"env:{name}")
    file_name = ref["file"]
    if not isinstance(file_name, str):
        raise ConfigError(key, "file reference must be a string path")
    try:
        return Secret(Path(file_name).read_text(encoding="utf-8").strip(), f"file:{file_name}")
    except OSError as exc:
        raise ConfigError(key, f"cannot read secret file {file_name!r}: {exc.strerror}") from None


def _build(raw: dict[str, Any], env: Mapping[str, str], path: Path | None) -> Settings:
    for section in raw:
        if section not in (*_CORE_KEYS, "plugins", "accounts"):
            raise ConfigError(section, "unknown configuration section")
    sections: dict[str, dict[str, Any]] = {}
    for section, keys in _CORE_KEYS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(section, "must be a table")
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(f"{section}.{key}", "unknown configuration key")
            values[key] = _coerce(f"{section}.{key}", keys[key], value)
        sections[section] = values
    storage = sections["storage"]
    if "data_dir" in storage:
        storage["data_dir"] = Path(storage["data_dir"])
    master = env.get(MASTER_KEY_ENV)
    return Settings(
        server=ServerSettings(**sections["server"]),
        storage=StorageSettings(**storage),
        security=SecuritySettings(
            **sections["security"],
            master_key=Secret(master, f"env:{MASTER_KEY_ENV}") if master else None,
        ),
        logging=LoggingSettings(**sections["logging"]),
        retention=RetentionSettings(**sections["retention"]),
        webhooks=WebhookSettings(**sections["webhooks"]),
        messaging=MessagingSettings(**sections["messaging"]),
        plugins=_plugins(raw.get("plugins", {})),
        runtime=RuntimeSettings(**sections["runtime"]),
        accounts=_accounts(raw.get("accounts", [])),
        declared_accounts=DeclaredAccountsSettings(**sections["declared_accounts"]),
        config_path=path,
    )


def _coerce(key: str, kind: str, value: Any) -> Any:
    if kind in _CHOICES:
        if not isinstance(value, str) or value.lower() not in _CHOICES[kind]:
            raise ConfigError(key, f"must be one of {', '.join(_CHOICES[kind])}")
        return value.lower()
    if kind == "keep" and value == FOREVER:
        return None
    if kind in ("keep", "duration"):
        return _duration(key, value, kind)
    if kind == "batch":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise ConfigError(key, "must be an integer between 1 and 100000")
        return value
    if kind == "bytes":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 40:
            raise ConfigError(key, "must be a number of bytes between 1 and 2**40")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, "must be true or false")
        return value
    if kind == "rate":
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0.1 <= value <= 10_000:
            raise ConfigError(key, "must be a number between 0.1 and 10000")
        return float(value)
    if kind == "str":
        if isinstance(value, Secret):
            return value.reveal()
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {type(value).__name__}")
        return value
    if kind == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise ConfigError(key, "must be an integer port between 0 and 65535")
        return value
    if kind == "ms":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60_000:
            raise ConfigError(key, "must be an integer number of milliseconds (0-60000)")
        return value
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ConfigError(key, "must be a list of CIDR strings")
    nets: list[IPNetwork] = []
    for item in value:
        try:
            nets.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ConfigError(key, f"not a CIDR network: {item!r}") from None
    return tuple(nets)


def _duration(key: str, value: Any, kind: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"15m"``, ``"90s"`` (at least a minute: nothing this bounds
    should happen more often); ``"forever"`` too where ``kind`` is ``keep``."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    seconds = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    if seconds < 60:
        also = f' or "{FOREVER}"' if kind == "keep" else ""
        raise ConfigError(key, f'must be a duration of at least a minute such as "30d", '
                          f'"12h" or "15m"{also}')
    return timedelta(seconds=seconds)


def _plugins(table: Any) -> PluginsSettings:
    if not isinstance(table, dict):
        raise ConfigError("plugins", "must be a table")
    disabled = table.get("disabled", [])
    if isinstance(disabled, str):
        disabled = [d.strip() for d in disabled.split(",") if d.strip()]
    if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
        raise ConfigError("plugins.disabled", "must be a list of plugin names")
    tables: dict[str, Mapping[str, Any]] = {}
    for name, value in table.items():
        if name == "disabled":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"plugins.{name}", "must be a table")
        tables[name] = MappingProxyType(value)
    return PluginsSettings(disabled=tuple(disabled), tables=MappingProxyType(tables))


_ACCOUNT_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_ACCOUNT_FIELDS = ("key", "provider", "auth_mode", "name", "provider_data", "params", "online")


def _accounts(tables: Any) -> tuple[DeclaredAccount, ...]:
    """The ``[[accounts]]`` tables; their fields are checked against the providers'
    declarations later (``unifyport.accounts.declared.check``), once plugins are loaded."""
    if not isinstance(tables, list):
        raise ConfigError("accounts", "must be an array of tables ([[accounts]])")
    out: list[DeclaredAccount] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        where = f"accounts[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(where, "must be a table")
        for name in table:
            if name not in _ACCOUNT_FIELDS:
                raise ConfigError(f"{where}.{name}", "unknown account field")
        key = table.get("key")
        if not isinstance(key, str) or not _ACCOUNT_KEY.fullmatch(key):
            raise ConfigError(f"{where}.key", "required: 1-200 letters, digits, '.', '_', "
                              "':' or '-'")
        if key in seen:
            raise ConfigError(f"{where}.key", f"duplicate account key {key!r}")
        seen.add(key)
        for name in ("provider", "auth_mode"):
            if not isinstance(table.get(name), str) or not table[name]:
                raise ConfigError(f"{where}.{name}", "required: a string")
        label = table.get("name")
        if label is not None and not isinstance(label, str):
            raise ConfigError(f"{where}.name", "must be a string")
        for part in ("provider_data", "params"):
            if not isinstance(table.get(part, {}), dict):
                raise ConfigError(f"{where}.{part}", "must be a table")
        online = table.get("online", False)
        if not isinstance(online, bool):
            raise ConfigError(f"{where}.online", "must be true or false")
        out.append(DeclaredAccount(
            key=key, provider=table["provider"], auth_mode=table["auth_mode"], name=label,
            provider_data=MappingProxyType(dict(table.get("provider_data", {}))),
            params=MappingProxyType(dict(table.get("params", {}))), online=online))
    return tuple(out)


def effective_values(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets masked (for ``config check``)."""
    return {
        "server": {"host": settings.server.host, "port": settings.server.port,
                   "loop_watchdog_ms": settings.server.loop_watchdog_ms},
        "storage": {
            "data_dir": str(settings.storage.data_dir),
            "database_url": _mask_url(settings.storage.effective_database_url),
        },
        "security": {
            "master_key_file": str(settings.security.key_file_path(settings.storage.data_dir)),
            "master_key": settings.security.master_key.masked()
            if settings.security.master_key
            else None,
            "outbound_allow_cidrs": [str(n) for n in settings.security.outbound_allow_cidrs],
        },
        "logging": dataclasses.asdict(settings.logging),
        "retention": {k: _keep(v) for k, v in dataclasses.asdict(settings.retention).items()},
        "webhooks": {k: _keep(v) for k, v in dataclasses.asdict(settings.webhooks).items()},
        "messaging": dataclasses.asdict(settings.messaging),
        "runtime": dataclasses.asdict(settings.runtime),
        "declared_accounts": dataclasses.asdict(settings.declared_accounts),
        "accounts": [{"key": a.key, "provider": a.provider, "auth_mode": a.auth_mode,
                      "name": a.name, "provider_data": _mask(a.provider_data),
                      "params": _mask(a.params), "online": a.online}
                     for a in settings.accounts],
        "plugins": {
            "disabled": list(settings.plugins.disabled),
            **{name: _mask(t) for name, t in settings.plugins.tables.items()},
        },
    }


def _keep(value: Any) -> Any:
    """A retention value as written in the file (``"30d"``, ``"forever"``)."""
    if value is None:
        return FOREVER
    if not isinstance(value, timedelta):
        return value
    seconds = int(value.total_seconds())
    unit = next(u for u in ("d", "h", "m", "s") if seconds % _UNITS[u] == 0)
    return f"{seconds // _UNITS[unit]}{unit}"


_SECRET_NAME = re.compile(r"(^|_)(secret|password|token|api_hash|private_key|session_url)$",
                          re.IGNORECASE)
"""Keys whose literal values ``config check`` masks too (``secret = "whsec_..."``)."""


def _mask(node: Any, key: str = "") -> Any:
    if isinstance(node, Secret):
        return node.masked()
    if isinstance(node, Mapping):
        return {k: _mask(v, str(k)) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_mask(v, key) for v in node]
    if isinstance(node, str) and node and (
        _SECRET_NAME.search(key) or node.startswith(("whsec_", "whsk_"))
    ):
        return "*** (literal)"
    return node


def _mask_url(url: str) -> str:
    """Hide a password embedded in a database URL."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def to_json(settings: Settings) -> str:
    """``effective_values`` as indented JSON."""
    return json.dumps(effective_values(settings), indent=2, sort_keys=False)
