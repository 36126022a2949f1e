"""SQLite serves one process: ``serve`` on a SQLite database holds an exclusive lock on a
file next to it for as long as it runs, and a second ``serve`` on the same database refuses
to start, naming the holder.

The lock is an ``flock`` on ``<database file>.serve-lock`` (the kernel drops it when the
process ends, however it ends); the file's text says who holds it (pid, host, start time).
PostgreSQL takes no lock: several servers share it by design (runtime leases, forwarding).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from unifyport.settings import Settings


class InstanceLocked(Exception):
    """Another server runs on this SQLite database."""


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for PostgreSQL or an in-memory one)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def hold_instance_lock(settings: Settings) -> int | None:
    """Take the SQLite database's serve lock for the life of this process; the returned
    descriptor must stay open. Raises :class:`InstanceLocked` with one line naming the
    holder when another server has it."""
    database = sqlite_file(settings.storage.effective_database_url)
    if database is None:
        return None
    path = database.with_name(database.name + ".serve-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
        os.close(fd)
        raise InstanceLocked(
            f"the SQLite database {database} is in use by another server ({holder}); "
            f"SQLite serves one process: stop it first, or use PostgreSQL for several"
        ) from None
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(),
              0)
    return fd
