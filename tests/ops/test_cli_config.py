"""``--config`` is honoured before or after the sub-command; a missing file is exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_config_in_either_position(tmp_path: Path, before: bool) -> None:
    data = tmp_path / "elsewhere"
    cfg = tmp_path / "my.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n[server]\nport = 9123\n')
    work = tmp_path / "cwd"
    work.mkdir()
    args = (["--config", str(cfg), "config", "check"] if before
            else ["config", "check", "--config", str(cfg)])
    result = cli(work, *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["server"]["port"] == 9123
    keys = cli(work, *(["--config", str(cfg), "keys", "list"] if before
                       else ["keys", "list", "--config", str(cfg)]))
    assert keys.returncode == 0, keys.stderr
    assert "alembic" not in keys.stderr, "libraries are quiet: no migration lines"
    assert (data / "unifyport.db").is_file()
    assert not (work / "data").exists(), "never falls back to ./data"


@pytest.mark.parametrize(("command", "before"), [(["serve"], True), (["keys", "list"], True),
                                                 (["db", "upgrade"], False),
                                                 (["config", "check"], False)])
def test_missing_config_file_is_exit_2(tmp_path: Path, command: list[str], before: bool
                                       ) -> None:
    missing = str(tmp_path / "nope.toml")
    args = ["--config", missing, *command] if before else [*command, "--config", missing]
    result = cli(tmp_path, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "nope.toml" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "data").exists()
    assert "Admin API key" not in result.stdout
