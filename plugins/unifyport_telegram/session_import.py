"""Read an existing session for the ``session`` auth mode: from an URL, a file inside the
import directory, or the string itself; Telethon or Pyrogram, SQLite file or string."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import sqlite3
import struct
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from unifyport.sdk import ErrorKind, Outbound, StepError

from .config import TelegramConfig
from .session_data import SessionData

MAX_SESSION_BYTES = 4 << 20
"""Largest session file accepted (a Telethon file with a big entity cache is a few MB)."""
SQLITE_MAGIC = b"SQLite format 3\x00"
PARSE_SECONDS = 2.0
"""Longest a session file may take to read (a real one takes about a millisecond)."""
_PARSERS = anyio.CapacityLimiter(2)
"""Parses run in worker threads, at most two at a time, never on the event loop."""


def _invalid(reason: str) -> StepError:
    return StepError("invalid_session", reason)


async def _read_reference(ref: str, cfg: TelegramConfig, outbound: Outbound | None) -> bytes:
    scheme = urllib.parse.urlsplit(ref).scheme.lower() if "://" in ref else ""
    if scheme in ("http", "https"):
        if outbound is None:
            raise StepError("url_not_allowed", "downloading sessions is not available here")
        return await outbound.fetch(ref, MAX_SESSION_BYTES)
    if scheme == "file":
        return await anyio.to_thread.run_sync(_read_file, ref, cfg, limiter=_PARSERS)
    if scheme:
        raise StepError("url_not_allowed", f"unsupported URL scheme {scheme!r}")
    return ref.strip().encode()


def _read_file(ref: str, cfg: TelegramConfig) -> bytes:
    if cfg.import_dir is None:
        raise StepError("url_not_allowed",
                        "file:// references are refused (plugins.telegram.import_dir is unset)")
    parts = urllib.parse.urlsplit(ref)
    if parts.netloc not in ("", "localhost"):
        raise StepError("url_not_allowed", "file:// references must be local")
    name = urllib.parse.unquote(parts.path)
    if "\x00" in name:
        raise StepError("url_not_allowed", "the file name holds a NUL byte")
    try:
        path = Path(name).resolve()
        if not path.is_relative_to(cfg.import_dir):
            raise StepError("url_not_allowed", "the file is outside the import directory")
        if not path.is_file():
            raise StepError("download_failed", "no such session file", kind=ErrorKind.INVALID)
        if path.stat().st_size > MAX_SESSION_BYTES:
            raise _invalid(f"the session file is larger than {MAX_SESSION_BYTES} bytes")
        return path.read_bytes()
    except (OSError, RuntimeError) as exc:  # name too long, symlink loop, unreadable
        reason = errno.errorcode.get(getattr(exc, "errno", None) or 0, "unreadable")
        raise StepError("download_failed", f"cannot read the session file ({reason})",
                        kind=ErrorKind.INVALID) from None


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_string(text: str) -> SessionData:
    """A Telethon string session or a Pyrogram session string."""
    try:
        if text.startswith("1"):
            raw = _b64(text[1:])
            if len(raw) == 263:
                dc_id, _ip, _port, key = struct.unpack(">B4sH256s", raw)
            elif len(raw) == 275:
                dc_id, _ip, _port, key = struct.unpack(">B16sH256s", raw)
            else:
                raise _invalid("a Telethon string session has 263 or 275 bytes")
            return SessionData(dc_id=dc_id, auth_key=key)
        raw = _b64(text)
    except (binascii.Error, ValueError):
        raise _invalid("not a Telethon or Pyrogram session string") from None
    if len(raw) == 271:
        dc_id, _api, _test, key, uid, bot = struct.unpack(">BI?256sQ?", raw)
    elif len(raw) == 263:
        dc_id, _test, key, uid, bot = struct.unpack(">B?256sI?", raw)
    else:
        raise _invalid("not a Telethon or Pyrogram session string")
    return SessionData(dc_id=dc_id, auth_key=key, user_id=uid or None, is_bot=bot)


def _table(db: sqlite3.Connection, name: str) -> bool:
    """Whether ``name`` is a real table: views are never read (they compute, tables store)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def _session_row(db: sqlite3.Connection) -> tuple[Any, int | None, bool]:
    """(``(dc_id, auth_key)`` row or None, user id, is bot) from either library's table."""
    if not _table(db, "sessions"):
        raise _invalid("an SQLite file without a Telethon or Pyrogram sessions table")
    cols = {r[1] for r in db.execute("PRAGMA table_info(sessions)")}
    if "takeout_id" in cols:  # Telethon: the own user is the entity with id 0
        row = db.execute("SELECT dc_id, auth_key FROM sessions").fetchone()
        ent = None
        if _table(db, "entities"):
            ent = db.execute("SELECT hash FROM entities WHERE id = 0").fetchone()
        return row, (int(ent[0]) if ent else None), False
    if {"user_id", "is_bot", "auth_key", "dc_id"} <= cols:  # Pyrogram
        r = db.execute("SELECT dc_id, auth_key, user_id, is_bot FROM sessions").fetchone()
        return r, (int(r[2]) if r and r[2] is not None else None), bool(r and r[3])
    raise _invalid("an SQLite file without a Telethon or Pyrogram sessions table")


def _bounded(db: sqlite3.Connection, seconds: float) -> None:
    """Make ``db`` safe for a hostile file: read-only, no triggers or schema functions
    trusted, small values and cache, and every statement interrupted past ``seconds``."""
    deadline = time.monotonic() + seconds
    db.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SESSION_BYTES)
    db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 10_000)
    for pragma in ("query_only = 1", "trusted_schema = 0", "cache_size = -2048",
                   "temp_store = 1", "mmap_size = 0"):
        db.execute(f"PRAGMA {pragma}")


def parse_sqlite(content: bytes, seconds: float = PARSE_SECONDS) -> SessionData:
    """A Telethon (``takeout_id``) or Pyrogram (``user_id``) ``.session`` SQLite file.

    Only the ``sessions`` (and ``entities``) tables' own rows are read, within ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="unifyport-session-") as tmp:
        path = Path(tmp) / "import.session"
        path.write_bytes(content)
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                _bounded(db, seconds)
                row, uid, bot = _session_row(db)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise _invalid("reading the session file took too long") from None
            raise _invalid(f"unreadable SQLite session file: {exc}") from None
        except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
            raise _invalid(f"unreadable SQLite session file: {exc}") from None
    if row is None or not isinstance(row[1], bytes) or len(row[1]) != 256:
        raise _invalid("the session file holds no auth key")
    try:
        return SessionData(dc_id=int(row[0]), auth_key=bytes(row[1]), user_id=uid, is_bot=bot)
    except (ValueError, TypeError, OverflowError):
        raise _invalid("the session file holds no valid data centre") from None


def parse_content(content: bytes) -> SessionData:
    if len(content) > MAX_SESSION_BYTES:
        raise _invalid(f"the session is larger than {MAX_SESSION_BYTES} bytes")
    if content.startswith(SQLITE_MAGIC):
        return parse_sqlite(content)
    try:
        text = content.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _invalid("neither an SQLite session file nor a session string") from None
    if not text or len(text) > 2000:
        raise _invalid("neither an SQLite session file nor a session string")
    return parse_string(text)


async def load_session(ref: str, cfg: TelegramConfig, outbound: Outbound | None,
                       api_id: int) -> SessionData:
    """The session ``ref`` points to or is (raises ``invalid_session`` / URL errors)."""
    if not ref.strip():
        raise StepError("validation_failed", "params.session_url is required")
    content = await _read_reference(ref.strip(), cfg, outbound)
    return await anyio.to_thread.run_sync(parse_content, content, limiter=_PARSERS)
