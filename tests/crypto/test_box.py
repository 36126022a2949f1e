"""SecretBox: AES-256-GCM sealing bound to purpose, row and key id."""

from __future__ import annotations

import os

import pytest

from unifyport.crypto.box import NONCE_BYTES, SecretBox, SecretError, key_id_of
from unifyport.crypto.keyring import Keyring, make_key


def box_of(*materials: bytes) -> SecretBox:
    return SecretBox(Keyring(tuple(make_key(m) for m in materials), "test"))


KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def test_round_trip_of_empty_small_and_large_secrets() -> None:
    box = box_of(KEY_A)
    for plain in (b"", b"api-hash-0123", os.urandom(64 * 1024)):
        blob = box.seal("fields", "acc_1", plain)
        assert plain not in blob or plain == b""
        assert box.open("fields", "acc_1", blob) == plain


def test_stored_form_carries_version_and_key_id() -> None:
    box = box_of(KEY_A)
    blob = box.seal("session", "acc_1", b"x")
    assert blob[0] == 1
    assert key_id_of(blob) == box.keyring.newest.key_id == make_key(KEY_A).key_id
    assert len(blob) == 2 + len(key_id_of(blob)) + NONCE_BYTES + 1 + 16


def test_blob_copied_to_another_account_does_not_open() -> None:
    box = box_of(KEY_A)
    blob = box.seal("session", "acc_victim", b"auth-key-of-victim")
    with pytest.raises(SecretError) as err:
        box.open("session", "acc_attacker", blob)
    message = str(err.value)
    assert "acc_attacker" in message and "another row" in message
    assert "auth-key-of-victim" not in message


def test_blob_used_for_another_purpose_does_not_open() -> None:
    box = box_of(KEY_A)
    blob = box.seal("auth_flow", "acc_1", b"{}")
    with pytest.raises(SecretError):
        box.open("session", "acc_1", blob)


def test_fields_cannot_be_shifted_between_purpose_and_row() -> None:
    # "a|b" + "c" and "a" + "b|c" must not produce the same associated data.
    box = box_of(KEY_A)
    blob = box.seal("a|b", "c", b"x")
    with pytest.raises(SecretError):
        box.open("a", "b|c", blob)


def test_tampering_with_any_byte_fails() -> None:
    box = box_of(KEY_A)
    blob = box.seal("fields", "acc_1", b"secret")
    assert box.open("fields", "acc_1", blob) == b"secret"
    for i in range(len(blob)):
        for flip in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= flip
            with pytest.raises(SecretError):
                box.open("fields", "acc_1", bytes(bad))
    for cut in range(len(blob)):
        with pytest.raises(SecretError):
            box.open("fields", "acc_1", blob[:cut])
    with pytest.raises(SecretError):
        box.open("fields", "acc_1", blob + b"\x00")


def test_relabelled_key_id_does_not_open() -> None:
    box = box_of(KEY_A, KEY_B)
    blob = box.seal("fields", "acc_1", b"secret")
    old_id = make_key(KEY_A).key_id.encode()
    relabelled = blob[:2] + old_id + blob[2 + len(old_id):]
    with pytest.raises(SecretError):
        box.open("fields", "acc_1", relabelled)


def test_unknown_key_id_is_named() -> None:
    blob = box_of(KEY_A).seal("fields", "acc_1", b"secret")
    with pytest.raises(SecretError, match=make_key(KEY_A).key_id):
        box_of(KEY_B).open("fields", "acc_1", blob)


def test_no_nonce_repeats_in_100k_seals() -> None:
    box = box_of(KEY_A)
    start = 2 + len(box.keyring.newest.key_id)
    nonces = {box.seal("fields", "acc_1", b"same")[start:start + NONCE_BYTES]
              for _ in range(100_000)}
    assert len(nonces) == 100_000


def test_newest_key_seals_and_every_key_opens() -> None:
    old, new = box_of(KEY_A), box_of(KEY_A, KEY_B)
    old_blob = old.seal("session", "acc_1", b"old")
    new_blob = new.seal("session", "acc_1", b"new")
    assert key_id_of(new_blob) == make_key(KEY_B).key_id
    assert new.open("session", "acc_1", old_blob) == b"old"
    assert new.open("session", "acc_1", new_blob) == b"new"
    with pytest.raises(SecretError):
        old.open("session", "acc_1", new_blob)
