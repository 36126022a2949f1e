"""Seal and open secrets with AES-256-GCM.

Stored form: ``0x01 | len(key_id) | key_id | nonce(12) | ciphertext+tag(16)``. The associated
data binds each ciphertext to its purpose, its row and its key id (length-prefixed, so no two
triples encode alike): a blob copied to another row, used for another purpose or relabelled
with another key id does not open. Per-purpose keys come from HKDF-SHA256 over the master key.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from unifyport.crypto.keyring import Keyring, MasterKey, merged, read_key_file
from unifyport.errors import ConfigError

log = logging.getLogger(__name__)

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16


class SecretError(Exception):
    """A sealed secret cannot be opened (wrong row, unknown key, tampered or corrupt)."""


@lru_cache(maxsize=256)
def _purpose_key(key: MasterKey, purpose: str) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"unifyport/v1/" + purpose.encode()
    )
    return AESGCM(hkdf.derive(key.material))


def _aad(purpose: str, row_id: str, key_id: str) -> bytes:
    out = bytearray(b"unifyport-sealed\x00" + bytes([VERSION]))
    for part in (purpose, row_id, key_id):
        raw = part.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _split(blob: bytes) -> tuple[str, bytes, bytes]:
    """(key id, nonce, ciphertext+tag) of a stored form; :class:`SecretError` if malformed."""
    if len(blob) < 2 or blob[0] != VERSION:
        raise SecretError("not a sealed secret of a known format version")
    start = 2 + blob[1]
    if blob[1] == 0 or len(blob) < start + NONCE_BYTES + TAG_BYTES:
        raise SecretError("sealed secret is truncated or corrupt")
    try:
        key_id = blob[2:start].decode("ascii")
    except UnicodeDecodeError:
        raise SecretError("sealed secret has a corrupt key id") from None
    return key_id, blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]


def key_id_of(blob: bytes) -> str:
    """The id of the master key that sealed ``blob``."""
    return _split(blob)[0]


RELOAD_INTERVAL = 5.0
"""Seconds between re-reads of the key file when a blob names a key not loaded yet."""


class SecretBox:
    """Seals with the newest master key; opens with whichever configured key sealed the blob.

    ``keyring`` may be replaced (the start-up check swaps in the persisted key file). When a
    blob names a key this process does not hold, the key file is read again (at most every
    :data:`RELOAD_INTERVAL` seconds), so servers pick up a key added for a rotation; keys are
    only ever added this way, never dropped."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._last_reload = -RELOAD_INTERVAL

    @property
    def sealing_key_id(self) -> str:
        """The id of the key new seals use (store it next to the blob)."""
        return self.keyring.newest.key_id

    def reload(self) -> bool:
        """Re-read the key file (rate-limited); whether the keyring changed."""
        path, now = self.keyring.path, time.monotonic()
        if path is None or now - self._last_reload < RELOAD_INTERVAL:
            return False
        self._last_reload = now
        try:
            reread = read_key_file(path)
        except ConfigError as exc:
            log.warning("re-reading the master key file failed: %s", exc)
            return False
        updated = merged(self.keyring, reread)
        if updated.ids == self.keyring.ids:
            return False
        log.info("master keys reloaded from %s: %s (newest %s)", path, ", ".join(updated.ids),
                 updated.newest.key_id)
        self.keyring = updated
        return True

    def seal(self, purpose: str, row_id: str, plaintext: bytes) -> bytes:
        key = self.keyring.newest
        nonce = os.urandom(NONCE_BYTES)
        kid = key.key_id.encode("ascii")
        ct = _purpose_key(key, purpose).encrypt(nonce, plaintext, _aad(purpose, row_id, key.key_id))
        return bytes([VERSION, len(kid)]) + kid + nonce + ct

    def open(self, purpose: str, row_id: str, blob: bytes) -> bytes:
        key_id, nonce, ct = _split(blob)
        key = self.keyring.get(key_id)
        if key is None and self.reload():
            key = self.keyring.get(key_id)
        if key is None:
            raise SecretError(
                f"secret {purpose!r} of {row_id!r} was sealed with master key {key_id!r}, "
                "which is not configured"
            )
        try:
            return _purpose_key(key, purpose).decrypt(nonce, ct, _aad(purpose, row_id, key_id))
        except InvalidTag:
            raise SecretError(
                f"secret {purpose!r} of {row_id!r} does not open: it was sealed for another "
                "row or purpose, or it was altered"
            ) from None
