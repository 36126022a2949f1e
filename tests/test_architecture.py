"""The layout's rules, checked on the source: who may import what, and module size."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "unifyport"
PLUGINS = ROOT / "plugins"
MAX_LINES = 400


def imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(path.parents[len(path.relative_to(ROOT).parts) - 2]).parts[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(package if node.level else (node.module or "").split(".")[0])
    return names


def sources(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def test_core_never_imports_a_plugin_or_a_client_library() -> None:
    plugins = {p.name for p in PLUGINS.iterdir() if p.is_dir() and p.name.startswith("unifyport_")}
    offenders = {str(p.relative_to(ROOT)): sorted(imports(p) & (plugins | {"telethon", "pyrogram"}))
                 for p in sources(CORE)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_plugins_never_import_quart() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in sources(PLUGINS)
                 if {"quart", "quart_schema", "werkzeug", "hypercorn"} & imports(p)]
    assert offenders == []


def test_only_telegram_backends_and_sandbox_import_the_client_libraries() -> None:
    tg = PLUGINS / "unifyport_telegram"
    allowed = {tg / "backends", tg / "sandbox"}
    offenders = [str(p.relative_to(ROOT)) for p in sources(PLUGINS)
                 if {"telethon", "pyrogram"} & imports(p)
                 and not any(a in p.parents for a in allowed)]
    assert offenders == []


def test_no_module_is_past_the_size_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources(CORE) + sources(PLUGINS)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES * 1.1}
    assert long == {}
