"""Identifiers: ``<prefix>_`` + the 128-bit number (48-bit milliseconds, 80 random bits) in
26 Crockford base-32 digits, so that ids sort by their time."""

from __future__ import annotations

import pytest

from unifyport import ids


def digits(value: int) -> str:
    out = ""
    for _ in range(26):
        value, rem = divmod(value, 32)
        out = ids._ALPHABET[rem] + out
    return out


@pytest.mark.parametrize(("ms", "rand"), [(0, 0), (1, 1), ((1 << 48) - 1, (1 << 80) - 1),
                                          (1_764_561_600_000, 0x0123456789ABCDEF0123),
                                          (1 << 47, 1 << 79)])
def test_an_id_is_its_number_in_base_32(monkeypatch: pytest.MonkeyPatch, ms: int,
                                        rand: int) -> None:
    monkeypatch.setattr(ids.time, "time", lambda: ms / 1000)
    monkeypatch.setattr(ids.secrets, "randbits", lambda bits: rand)
    assert ids.new_id("evt") == f"evt_{digits((ms << 80) | rand)}"


def test_ids_sort_by_their_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for ms in (1_000, 2_000, 33_000, 1 << 40, (1 << 47) + 5_000):  # apart: floats round
        monkeypatch.setattr(ids.time, "time", lambda ms=ms: ms / 1000)
        made.append(ids.new_id("acc"))
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(i) == 30 and set(i[4:]) <= set(ids._ALPHABET) for i in made)
