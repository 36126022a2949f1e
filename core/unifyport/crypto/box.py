"""Seal and open secrets with AES-256-GCM.

Stored form: ``0x01 | len(key_id) | key_id | nonce(12) | ciphertext+tag``. The associated data
binds each ciphertext to its purpose, its row and its key id, so a blob copied to another row
or relabelled with another key id does not open. Per-purpose keys come from HKDF-SHA256.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from unifyport.crypto.keyring import Keyring, MasterKey

VERSION = 1
NONCE_BYTES = 12


class SecretError(Exception):
    """A sealed secret cannot be opened (wrong row, unknown key, tampered or corrupt)."""


@lru_cache(maxsize=256)
def _purpose_key(key: MasterKey, purpose: str) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"unifyport/v1/" + purpose.encode()
    )
    return AESGCM(hkdf.derive(key.material))


def _aad(purpose: str, row_id: str, key_id: str) -> bytes:
    return f"unifyport/v{VERSION}|{purpose}|{row_id}|{key_id}".encode()


def key_id_of(blob: bytes) -> str:
    """The id of the master key that sealed ``blob``."""
    if len(blob) < 2 or blob[0] != VERSION:
        raise SecretError("unknown sealed-secret format")
    n = blob[1]
    return blob[2 : 2 + n].decode("ascii", errors="replace")


class SecretBox:
    """Seals with the newest master key; opens with whichever key sealed the blob."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, purpose: str, row_id: str, plaintext: bytes) -> bytes:
        key = self.keyring.newest
        nonce = os.urandom(NONCE_BYTES)
        kid = key.key_id.encode("ascii")
        ct = _purpose_key(key, purpose).encrypt(nonce, plaintext, _aad(purpose, row_id, key.key_id))
        return bytes([VERSION, len(kid)]) + kid + nonce + ct

    def open(self, purpose: str, row_id: str, blob: bytes) -> bytes:
        key_id = key_id_of(blob)
        key = self.keyring.get(key_id)
        if key is None:
            raise SecretError(f"sealed with master key {key_id!r}, which is not configured")
        start = 2 + blob[1]
        nonce, ct = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
        try:
            return _purpose_key(key, purpose).decrypt(nonce, ct, _aad(purpose, row_id, key_id))
        except InvalidTag:
            raise SecretError(
                f"secret {purpose!r} of {row_id!r} does not open: wrong row, wrong key or tampered"
            ) from None
