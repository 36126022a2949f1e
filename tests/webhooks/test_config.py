"""``[plugins.webhook]`` validation: every bad value is refused naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway import make_settings
from tests.webhooks.support import new_secret
from unifyport.errors import ConfigError
from unifyport.plugins.registry import build_registry
from unifyport_webhook.config import DEFAULT_SCHEDULE
from unifyport_webhook.sink import WebhookSink

GOOD = new_secret()


def _registry(tmp_path: Path, toml: str, env: dict[str, str] | None = None) -> WebhookSink:
    reg = build_registry(make_settings(tmp_path / "data", toml, env))
    sink = reg.sinks["webhook"]
    assert isinstance(sink, WebhookSink)
    return sink


def _endpoint(**fields: str) -> str:
    base = {"name": '"main"', "url": '"https://hooks.example.com/x"', "secret": f'"{GOOD}"'}
    base.update(fields)
    return "[[plugins.webhook.endpoints]]\n" + "".join(
        f"{k} = {v}\n" for k, v in base.items() if v != "")


@pytest.mark.parametrize(("fields", "key"), [
    ({"url": '"ftp://example.com/"'}, "plugins.webhook.endpoints[0].url"),
    ({"url": '"http://10.0.0.5/hook"'}, "plugins.webhook.endpoints[0].url"),
    ({"url": '"http://[::ffff:127.0.0.1]/hook"'}, "plugins.webhook.endpoints[0].url"),
    ({"url": ""}, "plugins.webhook.endpoints[0].url"),
    ({"secret": '"not-a-secret"'}, "plugins.webhook.endpoints[0].secret"),
    ({"secret": '"whsec_c2hvcnQ="'}, "plugins.webhook.endpoints[0].secret"),
    ({"secret": f'["{GOOD}", "whsec_!!"]'}, "plugins.webhook.endpoints[0].secret[1]"),
    ({"secret": "[]"}, "plugins.webhook.endpoints[0].secret"),
    ({"name": '"Bad Name"'}, "plugins.webhook.endpoints[0].name"),
    ({"events": '["message..x"]'}, "plugins.webhook.endpoints[0].events[0]"),
    ({"timeout": '"soon"'}, "plugins.webhook.endpoints[0].timeout"),
    ({"max_concurrency": "0"}, "plugins.webhook.endpoints[0].max_concurrency"),
    ({"colour": '"blue"'}, "plugins.webhook.endpoints[0].colour"),
])
def test_bad_endpoint_values_name_the_key(tmp_path: Path, fields: dict[str, str],
                                          key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _registry(tmp_path, _endpoint(**fields))
    assert err.value.key == key


@pytest.mark.parametrize(("toml", "key"), [
    ("[plugins.webhook]\nretry_schedule = []\n", "plugins.webhook.retry_schedule"),
    ('[plugins.webhook]\nretry_schedule = [0, "5x"]\n', "plugins.webhook.retry_schedule[1]"),
    ("[plugins.webhook]\nretry_jitter = 1.5\n", "plugins.webhook.retry_jitter"),
    ('[plugins.webhook]\ndisable_after = "never"\n', "plugins.webhook.disable_after"),
    ("[plugins.webhook]\nretries = 3\n", "plugins.webhook.retries"),
])
def test_bad_policy_values_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _registry(tmp_path, toml + _endpoint())
    assert err.value.key == key


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _registry(tmp_path, _endpoint() + _endpoint())
    assert err.value.key == "plugins.webhook.endpoints[1].name"


def test_defaults_env_secret_and_rotation(tmp_path: Path) -> None:
    second = new_secret()
    toml = _endpoint(secret='[{ env = "HOOK_SECRET" }, "' + second + '"]', events='"message.*"',
                     timeout='"2s"', max_concurrency="7")
    sink = _registry(tmp_path, toml, {"HOOK_SECRET": GOOD})
    [ep] = sink.endpoints.values()
    assert len(ep.keys) == 2
    assert ep.events == ("message.*",) and ep.timeout == 2.0 and ep.max_concurrency == 7
    assert sink.config.retry_schedule == DEFAULT_SCHEDULE
    assert sink.config.retry_schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert sink.config.disable_after == 5 * 86400
    shown = repr(sink.config)
    assert "whsec" not in shown and repr(ep.keys[0]) not in shown and "keys" not in shown


def test_default_endpoint_values(tmp_path: Path) -> None:
    sink = _registry(tmp_path, _endpoint())
    [ep] = sink.endpoints.values()
    assert (ep.events, ep.timeout, ep.max_concurrency) == (("*",), 15.0, 20)


def test_no_endpoints_still_registers_the_sink(tmp_path: Path) -> None:
    """Without configured endpoints the sink is registered all the same: it delivers the
    endpoints stored through the API (it declares ``stored_endpoints``)."""
    reg = build_registry(make_settings(tmp_path / "data", ""))
    sink = reg.sinks["webhook"]
    assert sink.targets() == [] and getattr(sink, "stored_endpoints", False) is True
