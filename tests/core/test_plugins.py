"""Plugin loading: entry points, duplicates, disabled plugins, and hook documentation."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway import make_settings
from tests.support.testprovider import TestPlugin
from unifyport import hookspecs
from unifyport.errors import ConfigError
from unifyport.plugins.registry import build_registry

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_plugins_load_through_the_entry_point_group(tmp_path: Path) -> None:
    reg = build_registry(make_settings(tmp_path / "d"))
    names = {p.name for p in reg.plugins}
    assert {"telegram", "webhook"} <= names
    assert all(p.distribution == "unifyport" for p in reg.plugins)


def test_each_app_gets_its_own_manager(tmp_path: Path) -> None:
    a = build_registry(make_settings(tmp_path / "a"), (("testprov", TestPlugin()),))
    b = build_registry(make_settings(tmp_path / "b"))
    assert a.pm is not b.pm
    assert "testprov" in a.providers and "testprov" not in b.providers
    assert a.owners["provider:testprov"] == "testprov"


def test_duplicate_provider_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate provider 'testprov'"):
        build_registry(make_settings(tmp_path / "d"),
                       (("one", TestPlugin()), ("two", TestPlugin())))


def test_disabled_plugins_are_not_loaded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "d", '[plugins]\ndisabled = ["webhook", "testprov"]\n')
    reg = build_registry(settings, (("testprov", TestPlugin()),))
    names = {p.name for p in reg.plugins}
    assert "webhook" not in names and "testprov" not in names and "telegram" in names


def test_a_table_for_an_unknown_plugin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_registry(make_settings(tmp_path / "d", "[plugins.nosuch]\nx = 1\n"))
    assert info.value.key == "plugins.nosuch"


def test_plugins_command_lists_versions_and_registrations(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "unifyport.cli.main", "plugins"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["telegram"]["version"] and rows["webhook"]["module"] == "unifyport_webhook.plugin"


def test_every_hookspec_is_documented() -> None:
    doc = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(fn, "unifyport_spec")]
    assert specs, "no hookspecs found"
    missing = [name for name in specs if f"`{name}(" not in doc]
    assert missing == []
