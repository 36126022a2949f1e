"""Files only the owner may read (mode 0600): the master key, the admin key, the SQLite
database and its WAL and shared-memory files."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600, creating parent directories.

    With ``exclusive`` an existing file is never overwritten (``FileExistsError``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def ensure_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it is missing; narrow it to 0600 if it
    exists with a wider mode (a file created by an older version)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
