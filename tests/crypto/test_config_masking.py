"""``unifyport config check`` shows where secrets come from, never the secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unifyport.cli.main import main

ENV_SECRET = "whsec_hIxuGA4a8FoIYS/CHbxm47d87yIm3a1XoeNjdTlvmG0="
FILE_SECRET = "whsec_ma1lqVrAyo3QAog8Sd3Fqn9yIkrFJ7jEHHaqIhCqoPI="
LITERAL_SECRET = "whsec_zd9Lz4UZfUC9C0873lpQ2DJ+wTbDI/R7DtzJCwl1LNg="


def test_config_check_masks_secrets_in_plugin_tables(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hook.secret").write_text(FILE_SECRET + "\n")
    config = tmp_path / "unifyport.toml"
    config.write_text(f"""
[storage]
data_dir = "{tmp_path / 'data'}"

[[plugins.webhook.endpoints]]
name = "env"
url = "https://example.com/a"
secret = {{ env = "UP_TEST_HOOK_SECRET" }}

[[plugins.webhook.endpoints]]
name = "file"
url = "https://example.com/b"
secret = {{ file = "{tmp_path / 'hook.secret'}" }}

[[plugins.webhook.endpoints]]
name = "literal"
url = "https://example.com/c"
secret = "{LITERAL_SECRET}"
""")
    monkeypatch.setenv("UP_TEST_HOOK_SECRET", ENV_SECRET)
    monkeypatch.setenv("UNIFYPORT_MASTER_KEY", "bWFzdGVyLWtleS1ub3QtdG8tYmUtc2hvd24tYW55d2hlcmU=")
    assert main(["config", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    values = json.loads(out)
    endpoints = values["plugins"]["webhook"]["endpoints"]
    assert [e["secret"] for e in endpoints] == [
        "*** (env:UP_TEST_HOOK_SECRET)", f"*** (file:{tmp_path / 'hook.secret'})",
        "*** (literal)"]
    assert endpoints[0]["url"] == "https://example.com/a"  # non-secrets are shown
    assert values["security"]["master_key"] == "*** (env:UNIFYPORT_MASTER_KEY)"
    for secret in (ENV_SECRET, FILE_SECRET, LITERAL_SECRET, "bWFzdGVyLWtleS1ub3Qt"):
        assert secret not in out
    assert not (tmp_path / "data").exists()  # config check touches nothing
