#!/usr/bin/env python3
"""UnifyPort developer entry point (standard library only).

    python3 dev.py serve [args...]   set up .venv, then run `unifyport serve`
    python3 dev.py test [args...]    set up .venv, then ruff, mypy (core, plugins) and pytest

Set-up creates ``.venv`` when missing and (re)installs the project with all
extras whenever ``pyproject.toml`` changed since the last install, so later
runs start straight away. ``test`` also makes sure a PostgreSQL server can be
started by the test suite (installing Debian's package when running as root).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".unifyport-install-stamp"
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin/initdb"
TEST_DB_ENV = "UNIFYPORT_TEST_DATABASE_URL"

USAGE = """usage:
  python3 dev.py demo [--port N]
  python3 dev.py serve [unifyport serve args...]
  python3 dev.py test [pytest args...]"""


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command from the repo root without stdin and return its exit code."""
    return subprocess.call(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)  # noqa: S603 (fixed commands)


def ensure_venv() -> None:
    """Create .venv if needed and install the project when pyproject.toml changed."""
    python = BIN / "python"
    if not python.exists():
        say("creating virtualenv .venv")
        if run([sys.executable, "-m", "venv", str(VENV)]) != 0:
            sys.exit(
                "dev.py: could not create .venv; install Python's venv module "
                "(on Debian/Ubuntu: apt-get install python3-venv) and retry"
            )
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    say('installing the project into .venv (pip install -e ".[all,test]")')
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    quiet = ["--quiet", "--progress-bar", "off"]
    if run([*pip, "install", *quiet, "-e", ".[all,test]"]) != 0:
        sys.exit("dev.py: installing the project into .venv failed (see above)")
    STAMP.write_text(digest + "\n")
    say("install done")


def postgres_available() -> bool:
    return bool(glob.glob(PG_BIN_GLOB))


def ensure_postgres() -> None:
    """Make sure the test suite can start a PostgreSQL server (or use the user's)."""
    if os.environ.get(TEST_DB_ENV):
        say(f"tests use the PostgreSQL server from {TEST_DB_ENV}")
        return
    if postgres_available():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("PostgreSQL server binaries missing; installing Debian's postgresql package")
        if apt_install(["postgresql"]) and postgres_available():
            say("PostgreSQL installed")
            return
        say("installing PostgreSQL failed (see above)")
    say(
        "PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) "
        "were not found. Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) "
        f"or set {TEST_DB_ENV}=postgresql+asyncpg://user:password@host:port/dbname "
        "pointing at a server where that user may create databases. "
        "Tests that need PostgreSQL will fail until then."
    )


def apt_install(packages: list[str]) -> bool:
    """``apt-get install`` (as root, non-interactive); whether it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-q", "-o", "Dpkg::Use-Pty=0"]
    return (run([*apt, "update"], env=env) == 0
            and run([*apt, "install", "-y", "--no-install-recommends", *packages], env=env) == 0)


BROWSER = {"chromium": "chromium", "chromedriver": "chromium-driver"}
"""The headless browser the console tests drive (command: Debian package)."""


def browser_available() -> bool:
    return all(shutil.which(command) for command in BROWSER)


def ensure_browser() -> None:
    """Make sure the console's browser tests find Chromium and its driver (never a
    browser download: the system's packages)."""
    if browser_available():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("Chromium or its driver missing; installing Debian's chromium and chromium-driver")
        if apt_install(list(BROWSER.values())) and browser_available():
            say("Chromium installed")
            return
        say("installing Chromium failed (see above)")
    say(
        "Chromium and chromedriver were not found on PATH. Install them (Debian/Ubuntu: "
        "apt-get install chromium chromium-driver). The console's browser tests "
        "(tests/console) will fail until then."
    )


def cmd_serve(args: list[str], command: str = "serve") -> None:
    ensure_venv()
    exe = BIN / "unifyport"
    say(f"starting unifyport {command}")
    os.chdir(ROOT)
    os.execv(str(exe), [str(exe), command, *args])  # noqa: S606 (no shell wanted)


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    ensure_postgres()
    ensure_browser()
    steps = [
        ("ruff check .", [str(BIN / "ruff"), "check", "."]),
        ("mypy core plugins", [str(BIN / "mypy"), "core", "plugins"]),
        ("pytest", [str(BIN / "python"), "-m", "pytest", *args]),
    ]
    for name, cmd in steps:
        say(f"running {name}" + (" " + " ".join(args) if name == "pytest" and args else ""))
        code = run(cmd)
        if code != 0:
            say(f"{name} failed (exit {code})")
            return code
    say("all checks passed")
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may run on an older python3)
        print("dev.py: UnifyPort needs Python 3.11 or newer", file=sys.stderr)
        return 2
    if not argv or argv[0] not in ("demo", "serve", "test"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in ("demo", "serve"):
        cmd_serve(argv[1:], argv[0])
        return 0  # not reached: execv replaced the process
    return cmd_test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
