"""``[plugins.webhook]``: endpoints and the retry policy, validated with errors naming the key."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unifyport.sdk import (
    DEFAULT_RETRY_SCHEDULE,
    ConfigError,
    OutboundPolicy,
    OutboundRefused,
    Secret,
    Settings,
    valid_pattern,
)

PREFIX = "plugins.webhook"
DEFAULT_SCHEDULE = DEFAULT_RETRY_SCHEDULE
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TOP_KEYS = {"endpoints", "retry_schedule", "retry_jitter", "disable_after"}
_ENDPOINT_KEYS = {"name", "url", "secret", "events", "timeout", "max_concurrency"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    keys: tuple[bytes, ...] = field(repr=False)
    """Decoded signing keys; every one signs each delivery (rotation). Never in ``repr``."""
    events: tuple[str, ...]
    timeout: float
    max_concurrency: int


@dataclass(frozen=True)
class WebhookConfig:
    endpoints: tuple[Endpoint, ...] = ()
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    """Delay before each attempt (the first is the initial one); seconds."""
    retry_jitter: float = 0.2
    """Each retry delay is multiplied by a random factor in ``[1 - j, 1 + j]``."""
    disable_after: float = 5 * 86400.0
    """An endpoint failing continuously this long (seconds) is disabled."""


def load_config(settings: Settings) -> WebhookConfig:
    table = settings.plugin_table("webhook")
    _no_unknown(table, _TOP_KEYS, PREFIX)
    schedule = table.get("retry_schedule", list(DEFAULT_SCHEDULE))
    if not isinstance(schedule, list) or not schedule:
        raise ConfigError(f"{PREFIX}.retry_schedule", "must be a non-empty list of durations")
    jitter = table.get("retry_jitter", 0.2)
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
        raise ConfigError(f"{PREFIX}.retry_jitter", "must be a number from 0 to below 1")
    endpoints = table.get("endpoints", [])
    if not isinstance(endpoints, list):
        raise ConfigError(f"{PREFIX}.endpoints", "must be an array of tables")
    policy = OutboundPolicy.from_settings(settings)
    parsed = tuple(_endpoint(e, f"{PREFIX}.endpoints[{i}]", policy)
                   for i, e in enumerate(endpoints))
    names = [e.name for e in parsed]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{PREFIX}.endpoints[{i}].name", f"duplicate endpoint {name!r}")
    return WebhookConfig(
        endpoints=parsed,
        retry_schedule=tuple(duration(v, f"{PREFIX}.retry_schedule[{i}]")
                             for i, v in enumerate(schedule)),
        retry_jitter=float(jitter),
        disable_after=duration(table.get("disable_after", "5d"), f"{PREFIX}.disable_after"),
    )


def duration(value: Any, key: str) -> float:
    """Seconds from a number or a string such as ``"500ms"``, ``"5s"``, ``"5m"``, ``"2h"``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ConfigError(key, "must be a duration: seconds or a string like '5s', '5m', '2h', '1d'")


def _endpoint(raw: Any, key: str, policy: OutboundPolicy) -> Endpoint:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table")
    _no_unknown(raw, _ENDPOINT_KEYS, key)
    for required in ("name", "url", "secret"):
        if required not in raw:
            raise ConfigError(f"{key}.{required}", "is required")
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{key}.name", "must be 1-64 of a-z, 0-9, '_' and '-'")
    url = raw["url"]
    if not isinstance(url, str):
        raise ConfigError(f"{key}.url", "must be a string")
    try:
        policy.check_url(url)
    except OutboundRefused as exc:
        raise ConfigError(f"{key}.url", str(exc)) from None
    if isinstance(raw["secret"], list):
        if not raw["secret"]:
            raise ConfigError(f"{key}.secret", "needs at least one secret")
        keys = tuple(_key(s, f"{key}.secret[{i}]") for i, s in enumerate(raw["secret"]))
    else:
        keys = (_key(raw["secret"], f"{key}.secret"),)
    events = raw.get("events", ["*"])
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not events:
        raise ConfigError(f"{key}.events", "must be a non-empty list of event patterns")
    for i, pattern in enumerate(events):
        if not isinstance(pattern, str) or not valid_pattern(pattern):
            raise ConfigError(f"{key}.events[{i}]",
                              "must be '*', an event type, or a prefix like 'message.*'")
    timeout = duration(raw.get("timeout", 15), f"{key}.timeout")
    if not 0 < timeout <= 300:
        raise ConfigError(f"{key}.timeout", "must be more than 0 and at most 300 seconds")
    conc = raw.get("max_concurrency", 20)
    if isinstance(conc, bool) or not isinstance(conc, int) or not 1 <= conc <= 1000:
        raise ConfigError(f"{key}.max_concurrency", "must be an integer from 1 to 1000")
    return Endpoint(name, url, keys, tuple(events), timeout, conc)


def _key(value: Any, key: str) -> bytes:
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str) or not text.startswith("whsec_"):
        raise ConfigError(key, "must be a 'whsec_…' secret (literal, {env=…} or {file=…})")
    try:
        raw = base64.b64decode(text[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(key, "is not valid base64 after 'whsec_'") from None
    if not 24 <= len(raw) <= 64:
        raise ConfigError(key, "must encode 24 to 64 random bytes")
    return raw


def _no_unknown(table: Mapping[str, Any], known: set[str], key: str) -> None:
    for name in table:
        if name not in known:
            raise ConfigError(f"{key}.{name}", "unknown configuration key")
