"""Telegram's declared auth modes are what docs/auth-state-machine.md describes."""

from __future__ import annotations

import re
from pathlib import Path

from unifyport.auth.declare import problems
from unifyport_telegram.declaration import AUTH_MODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "auth-state-machine.md"


def documented() -> dict[str, dict[str, tuple[set[str], set[str]]]]:
    tables: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
    for header, body in re.findall(r"^### modes? (.+?)\n(.*?)(?=^#|\Z)", DOC.read_text(),
                                   re.M | re.S):
        rows = re.findall(r"^\| `([a-z/]+)` \| ([a-z_, ]+) \| ([a-z_, ]+) \|$", body, re.M)
        table = {step: ({s.strip() for s in src.split(",")}, {s.strip() for s in dst.split(",")})
                 for step, src, dst in rows}
        for mode in re.findall(r"`([a-z]+)`", header):
            tables[mode] = table
    return tables


def test_documented_tables_are_the_declaration() -> None:
    declared = {mode.name: {s.name: (set(s.sources), set(s.targets)) for s in mode.all_steps}
                for mode in AUTH_MODES}
    assert documented() == declared


def test_declaration_is_sound() -> None:
    assert problems("telegram", AUTH_MODES) == []
