"""Master keys: loaded from ``UNIFYPORT_MASTER_KEY`` or the key file, generated on first start.

A key file holds one base64 key (32 bytes) per line, the newest last; ``#`` starts a comment.
``UNIFYPORT_MASTER_KEY`` holds the same keys separated by commas (newest last). A key's id is
derived from the key itself, so ids cannot be mixed up between deployments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from unifyport.errors import ConfigError
from unifyport.settings import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_SETTING = "security.master_key_file"
ENV_NAME = "UNIFYPORT_MASTER_KEY"
FILE_HEADER = (
    "# UnifyPort master keys, one base64 key per line, newest last. The newest seals, all open.\n"
    "# Keep a backup apart from database backups: losing every key loses every stored secret.\n"
)


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    material: bytes = field(repr=False)


def key_id_for(material: bytes) -> str:
    """The id of a key: the first 12 hex digits of SHA-256 over a label and the key."""
    return hashlib.sha256(b"unifyport-master-key-id\x00" + material).hexdigest()[:12]


def make_key(material: bytes) -> MasterKey:
    return MasterKey(key_id_for(material), material)


@dataclass(frozen=True)
class Keyring:
    """All configured master keys; the newest (last) seals, every one opens.

    ``source`` says where the keys came from (for messages). ``pending_file`` is set when the
    key was generated in memory for a first start and is not written yet: the start-up check
    writes it only once it knows the database holds no secrets (see ``check.py``)."""

    keys: tuple[MasterKey, ...]
    source: str = ""
    pending_file: Path | None = None
    path: Path | None = None
    """The key file the keys were read from (``None`` for ``UNIFYPORT_MASTER_KEY``)."""

    @property
    def newest(self) -> MasterKey:
        return self.keys[-1]

    def get(self, key_id: str) -> MasterKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self.keys)


def parse_keys(text: str, source: str) -> Keyring:
    """Parse base64 keys (standard or URL-safe alphabet), one per line or comma-separated,
    newest last. A key listed twice keeps its last position."""
    keys: list[MasterKey] = []
    entries = ",".join(raw.split("#", 1)[0] for raw in text.splitlines()).split(",")
    for lineno, raw in enumerate(entries, 1):
        line = raw.strip()
        if not line:
            continue
        try:
            material = base64.b64decode(line.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(KEY_SETTING, f"{source}: key {lineno} is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise ConfigError(KEY_SETTING, f"{source}: key {lineno} must be {KEY_BYTES} bytes, "
                              f"got {len(material)}")
        key = make_key(material)
        keys = [k for k in keys if k.key_id != key.key_id] + [key]
    if not keys:
        raise ConfigError(KEY_SETTING, f"{source}: no master key found")
    return Keyring(tuple(keys), source)


def new_key_line() -> str:
    """A freshly generated key as a key-file line."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_file_source(path: Path) -> str:
    return f"key file {path}"


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring:
    """The configured keyring: ``UNIFYPORT_MASTER_KEY``, else the key file.

    With ``create``, a missing *default* key file (``<data_dir>/master.key``) yields a new key
    held in memory (``pending_file``); it is written by the start-up check. A configured
    ``security.master_key_file`` that does not exist is refused, never invented.
    """
    if settings.security.master_key is not None:
        return parse_keys(settings.security.master_key.reveal(), ENV_NAME)
    path = settings.security.key_file_path(settings.storage.data_dir)
    if not path.exists():
        if not create or settings.security.master_key_file:
            raise ConfigError(KEY_SETTING, f"key file {path} does not exist")
        return Keyring((make_key(secrets.token_bytes(KEY_BYTES)),), key_file_source(path),
                       pending_file=path)
    return read_key_file(path)


def read_key_file(path: Path) -> Keyring:
    """Parse the key file; warn when others may read it."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise ConfigError(KEY_SETTING, f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        log.warning("master key file %s has mode %o; it should be readable by its owner only "
                    "(chmod 600)", path, mode)
    return replace(parse_keys(text, key_file_source(path)), path=path)


def merged(current: Keyring, reread: Keyring) -> Keyring:
    """``reread``'s keys (its newest seals), keeping keys of ``current`` it no longer lists
    (a running server never loses a key it had; a restart applies removals)."""
    kept = tuple(k for k in current.keys if reread.get(k.key_id) is None)
    return replace(reread, keys=kept + reread.keys)


def persist_new_key_file(keyring: Keyring) -> Keyring:
    """Write a pending keyring's key to its file (mode 0600), atomically and never over an
    existing file. If another worker wrote the file first, its keys are returned instead."""
    path = keyring.pending_file
    if path is None:
        return keyring
    path.parent.mkdir(parents=True, exist_ok=True)
    line = base64.b64encode(keyring.newest.material).decode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(FILE_HEADER + line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails rather than replace an existing file
        except FileExistsError:
            return read_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    log.info("generated master key %s in %s", keyring.newest.key_id, path)
    return Keyring(keyring.keys, key_file_source(path), path=path)


def append_new_key(settings: Settings) -> MasterKey:
    """Generate a key and append it to the key file (it becomes the newest). The file must
    exist; with ``UNIFYPORT_MASTER_KEY`` set the file is not in use and this is refused."""
    if settings.security.master_key is not None:
        raise ConfigError(KEY_SETTING, f"{ENV_NAME} is set and overrides the key file; append "
                          "a new key to it (comma-separated, newest last) instead")
    path = settings.security.key_file_path(settings.storage.data_dir)
    current = read_key_file(path) if path.exists() else None
    if current is None:
        raise ConfigError(KEY_SETTING, f"key file {path} does not exist")
    line = new_key_line()
    key = make_key(base64.b64decode(line))
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        needs_newline = fh.tell() > 0 and (fh.seek(-1, os.SEEK_END), fh.read(1))[1] != b"\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if needs_newline else "") + line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
