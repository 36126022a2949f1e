"""Small pieces of the sandbox tested on their own."""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest

from unifyport_telegram.sandbox import srp
from unifyport_telegram.sandbox.connection import msg_id_problem
from unifyport_telegram.sandbox.crypto import (
    MsgIdGenerator,
    auth_key_id,
    decrypt_message,
    encrypt_message,
)
from unifyport_telegram.sandbox.rpc import error_code, method_name
from unifyport_telegram.sandbox.transport import strip_padding


def test_server_msg_ids_are_odd_increasing_and_typed():
    gen = MsgIdGenerator()
    ids = [gen.next(response=i % 2 == 0) for i in range(1000)]
    assert ids == sorted(set(ids))
    assert all(m % 4 == (1 if i % 2 == 0 else 3) for i, m in enumerate(ids))
    assert abs((ids[-1] >> 32) - time.time()) < 5


def test_client_msg_id_checks():
    now = int(time.time() * 2**32) & ~3
    assert msg_id_problem(now) == 0
    assert msg_id_problem(now + 1) == 18
    assert msg_id_problem(now - (400 << 32)) == 16
    assert msg_id_problem(now + (60 << 32)) == 17


def test_encrypted_message_round_trip_uses_the_right_halves_of_the_key():
    from telethon.tl import types

    key = os.urandom(256)
    body = bytes(types.Pong(msg_id=5, ping_id=6))
    plain = struct.pack("<qqqii", 1, 2, 3, 4, len(body)) + body
    packet = encrypt_message(key, auth_key_id(key), plain)  # server -> client (x = 8)
    assert len(packet[24:]) % 16 == 0 and 12 <= len(packet) - 24 - len(plain) <= 1024
    assert decrypt_message(key, packet) is None  # client -> server uses x = 0
    from pyrogram.crypto import mtproto

    message = mtproto.unpack(
        __import__("io").BytesIO(packet), struct.pack("<q", 2), key, packet[:8]
    )  # Kurigram accepts it: msg_key, padding and length checks
    assert message.msg_id == 3 and message.body.ping_id == 6


def test_padding_is_stripped_from_both_kinds_of_packets():
    plain = b"\x00" * 8 + b"\x01" * 8 + struct.pack("<i", 4) + b"abcd"
    assert strip_padding(plain + b"xyz") == plain
    encrypted = b"\x07" * 24 + b"\x02" * 32
    assert strip_padding(encrypted + b"12345") == encrypted


def test_error_codes_and_method_names():
    from telethon.tl import functions

    assert error_code("FLOOD_WAIT_30") == 420
    assert error_code("PHONE_MIGRATE_1") == 303
    assert error_code("SESSION_REVOKED") == 401
    assert error_code("AUTH_KEY_DUPLICATED") == 406
    assert error_code("PHONE_CODE_INVALID") == 400
    assert method_name(functions.auth.SendCodeRequest("1", 1, "h", None)) == "auth.sendCode"
    assert method_name(functions.PingRequest(1)) == "ping"


@pytest.mark.parametrize("password", ["hunter2", "ünïcødé pass"])
def test_srp_accepts_telethon_proof_and_rejects_a_wrong_one(password):
    from telethon import password as tpw
    from telethon.tl import types

    from unifyport_telegram.sandbox.crypto import DH_G, DH_PRIME_BYTES

    salt1, salt2, v = srp.make_verifier(password)
    challenge = srp.new_challenge(1, salt1, salt2, v)
    algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1, salt2, DH_G, DH_PRIME_BYTES
    )
    request = types.account.Password(
        new_algo=algo, new_secure_algo=None, secure_random=b"", has_password=True,
        current_algo=algo, srp_B=challenge.B_bytes, srp_id=challenge.srp_id,
    )  # fmt: skip
    good = tpw.compute_check(request, password)
    bad = tpw.compute_check(request, password + "!")
    assert srp.check(challenge, good.A, good.M1)
    assert not srp.check(challenge, bad.A, bad.M1)


async def test_state_survives_reload(tmp_path):
    from unifyport_telegram.sandbox.state import Store

    store = Store(tmp_path)
    user = store.create_user("+1 555 0100", "A")
    key = store.add_key(os.urandom(256), 2, 42)
    key.user_id = user.id
    store.deliver(
        user.id, text="x", out=False, peer_type="user", peer_id=user.id, from_id=user.id, uid=1
    )
    store.save()
    again = Store(tmp_path)
    assert again.user_by_phone("15550100").id == user.id
    assert again.keys[key.key_id].user_id == user.id and again.keys[key.key_id].salt == 42
    assert [m.text for m in again.boxes[user.id]] == ["x"] and again.pts[user.id] == 2
    await asyncio.sleep(0)


def test_box_since_pts_with_limit(tmp_path):
    from unifyport_telegram.sandbox.state import Store

    store = Store(tmp_path)
    user = store.create_user("+1 555 0101", "B")
    for uid in range(1, 6):
        store.deliver(user.id, text=str(uid), out=False, peer_type="user", peer_id=user.id,
                      from_id=user.id, uid=uid)
    assert [m.pts for m in store.since(user.id, 0)] == [2, 3, 4, 5, 6]
    assert [m.pts for m in store.since(user.id, 3, limit=2)] == [4, 5]
    assert store.since(user.id, 6) == [] and store.since(12345, 0) == []
