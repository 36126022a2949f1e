"""Master keys: loaded from ``UNIFYPORT_MASTER_KEY`` or the key file, generated on first start.

A key file holds one base64 key (32 bytes) per line, the newest last; ``#`` starts a comment.
A key's id is derived from the key itself, so ids cannot be mixed up between deployments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from unifyport.errors import ConfigError
from unifyport.private_files import write_private
from unifyport.settings import Settings

KEY_BYTES = 32


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
    """All configured master keys; the newest (last) seals, every one opens."""

    keys: tuple[MasterKey, ...]

    @property
    def newest(self) -> MasterKey:
        return self.keys[-1]

    def get(self, key_id: str) -> MasterKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self.keys)


def parse_keys(text: str, source: str) -> Keyring:
    """Parse base64 keys, one per line or comma-separated, newest last."""
    keys: list[MasterKey] = []
    for raw in text.replace(",", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            material = base64.b64decode(line, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(source, "master key is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise ConfigError(source, f"master key must be {KEY_BYTES} bytes, got {len(material)}")
        keys.append(make_key(material))
    if not keys:
        raise ConfigError(source, "no master key found")
    return Keyring(tuple(keys))


def new_key_line() -> str:
    """A freshly generated key as a key-file line."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring:
    """The configured keyring. With ``create``, a missing key file is generated (mode 0600)."""
    if settings.security.master_key is not None:
        return parse_keys(settings.security.master_key.reveal(), "UNIFYPORT_MASTER_KEY")
    path = settings.security.key_file_path(settings.storage.data_dir)
    if not path.exists():
        if not create:
            raise ConfigError("security.master_key_file", f"key file {path} does not exist")
        write_new_key_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            "security.master_key_file", f"cannot read {path}: {exc.strerror}"
        ) from None
    return parse_keys(text, "security.master_key_file")


def write_new_key_file(path: Path) -> None:
    """Create ``path`` with one new key, readable by the owner only; never overwrite."""
    write_private(
        path,
        "# UnifyPort master keys: newest last. Keep a backup; losing it loses secrets.\n"
        + new_key_line() + "\n",
        exclusive=True,
    )
