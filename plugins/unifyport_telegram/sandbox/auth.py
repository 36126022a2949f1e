"""Login handlers: phone code, 2FA (SRP), QR login tokens, bot tokens, log out."""

from __future__ import annotations

import os
import secrets
import time

from telethon.tl import functions, types

from .rpc import Call, HandlerTable, RpcFail
from .srp import check as check_srp
from .srp import new_challenge
from .state import LoginCode, QrToken, User, digits
from .views import user as tl_user
from .views import when

CODE_LENGTH = 5
HANDLERS = HandlerTable()


def _algo(user: User) -> types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow:
    from .crypto import DH_G, DH_PRIME_BYTES

    return types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=bytes.fromhex(user.srp_salt1) if user.srp_salt1 else os.urandom(32),
        salt2=bytes.fromhex(user.srp_salt2) if user.srp_salt2 else os.urandom(16),
        g=DH_G,
        p=DH_PRIME_BYTES,
    )


def complete_login(c: Call, user: User) -> types.auth.Authorization:
    """Bind the calling key to ``user`` (or ask for the 2FA password)."""
    if user.has_password:
        c.sandbox.pending_2fa[c.key.key_id] = user.id
        raise RpcFail(401, "SESSION_PASSWORD_NEEDED")
    c.sandbox.bind_key(c.key, user.id)
    return types.auth.Authorization(user=tl_user(user, user.id))


def _sent_code(code: LoginCode, sms: bool) -> types.auth.SentCode:
    kind = types.auth.SentCodeTypeSms if sms else types.auth.SentCodeTypeApp
    return types.auth.SentCode(
        type=kind(length=CODE_LENGTH),
        phone_code_hash=code.hash,
        next_type=types.auth.CodeTypeSms(),
        timeout=60,
    )


@HANDLERS.handles(functions.auth.SendCodeRequest)
def send_code(c: Call) -> types.auth.SentCode:
    """Issue a login code, visible through ``GET /codes/{phone}``."""
    user = c.sandbox.store.user_by_phone(c.request.phone_number)
    if user is None or user.bot:
        raise RpcFail(400, "PHONE_NUMBER_INVALID")
    if user.dc_id != c.dc_id:
        raise RpcFail(303, f"PHONE_MIGRATE_{user.dc_id}")
    code = c.sandbox.issue_code(user.phone)
    return _sent_code(code, sms=False)


def _current_code(c: Call) -> LoginCode:
    """The code last sent to the request's phone under its ``phone_code_hash``."""
    code = c.sandbox.codes.get(digits(c.request.phone_number))
    if code is None or code.hash != c.request.phone_code_hash:
        raise RpcFail(400, "PHONE_CODE_EXPIRED")
    return code


@HANDLERS.handles(functions.auth.ResendCodeRequest)
def resend_code(c: Call) -> types.auth.SentCode:
    """Issue a new code for the same ``phone_code_hash``."""
    old = _current_code(c)
    return _sent_code(c.sandbox.issue_code(old.phone, old.hash), sms=True)


@HANDLERS.handles(functions.auth.CancelCodeRequest)
def cancel_code(c: Call) -> bool:
    """Forget a code."""
    c.sandbox.codes.pop(digits(c.request.phone_number), None)
    return True


@HANDLERS.handles(functions.auth.SignInRequest)
def sign_in(c: Call) -> types.auth.Authorization:
    """Check a login code."""
    code = _current_code(c)
    if time.time() > code.expires:
        raise RpcFail(400, "PHONE_CODE_EXPIRED")
    if not c.request.phone_code:
        raise RpcFail(400, "PHONE_CODE_EMPTY")
    if not secrets.compare_digest(c.request.phone_code, code.code):
        raise RpcFail(400, "PHONE_CODE_INVALID")
    del c.sandbox.codes[code.phone]
    user = c.sandbox.store.user_by_phone(code.phone)
    if user is None:
        raise RpcFail(400, "PHONE_NUMBER_UNOCCUPIED")
    return complete_login(c, user)


@HANDLERS.handles(functions.account.GetPasswordRequest)
def get_password(c: Call) -> types.account.Password:
    """SRP parameters of the account waiting for its password (or the logged-in one)."""
    uid = c.sandbox.pending_2fa.get(c.key.key_id) or c.key.user_id
    if uid is None:
        raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
    user = c.sandbox.store.users[uid]
    common = {
        "new_algo": _algo(user),
        "new_secure_algo": types.SecurePasswordKdfAlgoPBKDF2HMACSHA512iter100000(os.urandom(8)),
        "secure_random": os.urandom(32),
    }
    if not user.has_password:
        return types.account.Password(has_password=False, **common)
    ch = new_challenge(
        user.id,
        bytes.fromhex(user.srp_salt1),
        bytes.fromhex(user.srp_salt2),
        int(user.srp_verifier, 16),
    )
    c.sandbox.srp_challenges[ch.srp_id] = ch
    return types.account.Password(
        has_password=True,
        current_algo=_algo(user),
        srp_B=ch.B_bytes,
        srp_id=ch.srp_id,
        hint=user.password_hint or None,
        **common,
    )


@HANDLERS.handles(functions.auth.CheckPasswordRequest)
def check_password(c: Call) -> types.auth.Authorization:
    """Verify the SRP proof (A, M1) server side."""
    pw = c.request.password
    if not isinstance(pw, types.InputCheckPasswordSRP):
        raise RpcFail(400, "PASSWORD_HASH_INVALID")
    ch = c.sandbox.srp_challenges.pop(pw.srp_id, None)
    if ch is None:
        raise RpcFail(400, "SRP_ID_INVALID")
    uid = c.sandbox.pending_2fa.get(c.key.key_id) or c.key.user_id
    if uid != ch.user_id:
        raise RpcFail(400, "SRP_ID_INVALID")
    if not check_srp(ch, pw.A, pw.M1):
        raise RpcFail(400, "PASSWORD_HASH_INVALID")
    c.sandbox.pending_2fa.pop(c.key.key_id, None)
    user = c.sandbox.store.users[uid]
    c.sandbox.bind_key(c.key, user.id)
    return types.auth.Authorization(user=tl_user(user, user.id))


def _finish_qr(c: Call, tok: QrToken) -> types.auth.TypeLoginToken:
    assert tok.accepted_user is not None
    user = c.sandbox.store.users[tok.accepted_user]
    if user.dc_id != c.dc_id:
        return types.auth.LoginTokenMigrateTo(dc_id=user.dc_id, token=tok.token)
    c.sandbox.drop_qr(tok)
    return types.auth.LoginTokenSuccess(authorization=complete_login(c, user))


@HANDLERS.handles(functions.auth.ExportLoginTokenRequest)
def export_login_token(c: Call) -> types.auth.TypeLoginToken:
    """A new QR token, or the outcome once one was accepted."""
    tok = c.sandbox.qr_by_key.get(c.key.key_id)
    if tok is not None and tok.accepted_user is not None and time.time() <= tok.expires:
        return _finish_qr(c, tok)
    tok = c.sandbox.new_qr(c.key.key_id, c.dc_id)
    return types.auth.LoginToken(expires=when(tok.expires), token=tok.token)


@HANDLERS.handles(functions.auth.ImportLoginTokenRequest)
def import_login_token(c: Call) -> types.auth.TypeLoginToken:
    """Complete a QR login on the user's DC (the cross-DC path)."""
    tok = c.sandbox.qr_tokens.get(c.request.token)
    if tok is None or time.time() > tok.expires:
        raise RpcFail(400, "AUTH_TOKEN_EXPIRED")
    if tok.accepted_user is None:
        raise RpcFail(400, "AUTH_TOKEN_INVALID")
    return _finish_qr(c, tok)


@HANDLERS.handles(functions.auth.ImportBotAuthorizationRequest)
def import_bot_authorization(c: Call) -> types.auth.Authorization:
    """Log a bot in with its token."""
    token = c.request.bot_auth_token
    bot = next((u for u in c.sandbox.store.users.values() if u.bot and u.bot_token == token), None)
    if bot is None:
        raise RpcFail(400, "ACCESS_TOKEN_INVALID")
    if bot.dc_id != c.dc_id:
        raise RpcFail(303, f"USER_MIGRATE_{bot.dc_id}")
    c.sandbox.bind_key(c.key, bot.id)
    return types.auth.Authorization(user=tl_user(bot, bot.id))


@HANDLERS.handles(functions.auth.LogOutRequest)
def log_out(c: Call) -> types.auth.LoggedOut:
    """Unbind the key from its user."""
    c.user()
    c.sandbox.unbind_key(c.key, revoked=False)
    return types.auth.LoggedOut()
