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


def module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``TYPE_CHECKING`` imports included)."""
    paths: dict[str, Path] = {}
    for base in (CORE.parent, PLUGINS):
        for p in sources(base):
            parts = list(p.relative_to(base).with_suffix("").parts)
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for name, p in paths.items():
        package = name.split(".") if p.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                found |= {module, *(f"{module}.{a.name}" for a in node.names)}
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert cycles(module_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_plugins_import_only_the_sdk() -> None:
    """A plugin's view of the core is ``unifyport.sdk`` (and ``unifyport`` itself); the
    Telegram sandbox is a separate test server and imports no core module."""
    offenders = {}
    for p in sources(PLUGINS):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        used = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module and n.module.startswith("unifyport.")}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names if a.name.startswith("unifyport.")}
        if used - {"unifyport.sdk"}:
            offenders[str(p.relative_to(ROOT))] = sorted(used)
    assert offenders == {}
