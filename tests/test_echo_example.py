"""The template plugin in ``examples/echo_channel``: installed with pip into a fresh virtual
environment (beside this one's packages), listed by ``unifyport plugins``, and passing the
conformance kit as its own pytest run — a channel written without touching ``core/``."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "echo_channel"


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


def test_echo_example_installs_lists_and_passes_the_kit(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path).returncode == 0
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    tmp_path).stdout.strip())
    # this environment's packages (UnifyPort itself included, with its own .pth files)
    (site / "unifyport-dev.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    install = run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                   "--no-index", "-e", str(EXAMPLE)], tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = run([str(python), "-m", "unifyport.cli.main", "plugins"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in map(json.loads, listed.stdout.splitlines())}
    assert plugins["echo"]["distribution"] == "unifyport-echo"
    assert plugins["echo"]["registers"] == ["provider:echo"]
    kit = run([str(python), "-m", "pytest", "-p", "unifyport.testing", "-q",
               "-p", "no:cacheprovider", str(EXAMPLE / "tests")], tmp_path)
    assert kit.returncode == 0, kit.stdout[-3000:] + kit.stderr[-2000:]
    assert "11 passed" in kit.stdout, kit.stdout[-2000:]
