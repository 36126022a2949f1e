"""Backend-neutral Telegram errors: each library's exceptions are translated into these once,
inside the backend; flows and the runtime only ever see :class:`TelegramError`."""

from __future__ import annotations

import re

from unifyport.sdk import ErrorKind, StepError

#: Telegram RPC error name -> stable code.
RPC_CODES: dict[str, str] = {
    "PHONE_CODE_INVALID": "invalid_code",
    "PHONE_CODE_EMPTY": "invalid_code",
    "PHONE_CODE_EXPIRED": "code_expired",
    "PHONE_NUMBER_INVALID": "phone_invalid",
    "PHONE_NUMBER_UNOCCUPIED": "phone_invalid",
    "PHONE_NUMBER_BANNED": "phone_banned",
    "PHONE_NUMBER_FLOOD": "flood_wait",
    "PHONE_PASSWORD_FLOOD": "flood_wait",
    "PASSWORD_HASH_INVALID": "invalid_password",
    "SESSION_PASSWORD_NEEDED": "password_needed",
    "AUTH_TOKEN_EXPIRED": "qr_expired",
    "AUTH_TOKEN_INVALID": "qr_expired",
    "AUTH_TOKEN_ALREADY_ACCEPTED": "qr_expired",
    "AUTH_KEY_UNREGISTERED": "auth_key_unregistered",
    "SESSION_REVOKED": "session_revoked",
    "SESSION_EXPIRED": "session_revoked",
    "USER_DEACTIVATED": "session_revoked",
    "USER_DEACTIVATED_BAN": "session_revoked",
    "AUTH_KEY_DUPLICATED": "auth_key_duplicated",
    "ACCESS_TOKEN_INVALID": "invalid_bot_token",
    "ACCESS_TOKEN_EXPIRED": "invalid_bot_token",
    "PEER_ID_INVALID": "chat_not_found",
    "CHAT_ID_INVALID": "chat_not_found",
    "USER_ID_INVALID": "chat_not_found",
    "INPUT_USER_DEACTIVATED": "chat_not_found",
    "MESSAGE_EMPTY": "invalid_request",
    "MESSAGE_TOO_LONG": "invalid_request",
    "MESSAGE_ID_INVALID": "message_not_found",
    "MESSAGE_NOT_MODIFIED": "message_not_modified",
    "MESSAGE_AUTHOR_REQUIRED": "not_author",
    "MESSAGE_EDIT_TIME_EXPIRED": "not_author",
    "MESSAGE_DELETE_FORBIDDEN": "not_author",
    "CHAT_WRITE_FORBIDDEN": "forbidden",
    "REACTION_INVALID": "invalid_reaction",
    "REACTION_EMPTY": "invalid_reaction",
    "MEDIA_CAPTION_TOO_LONG": "message_too_long",
    "PHOTO_INVALID_DIMENSIONS": "invalid_media",
    "MEDIA_INVALID": "invalid_media",
    "FILE_REFERENCE_EXPIRED": "provider_unavailable",
    "API_ID_INVALID": "invalid_api_id",
    "API_ID_PUBLISHED_FLOOD": "invalid_api_id",
}
#: The kind of the Telegram codes whose kind is not the core's default for them
#: (``docs/telegram.md`` lists the HTTP status each one answers).
KINDS: dict[str, ErrorKind] = {
    "phone_banned": ErrorKind.FORBIDDEN,
    "password_needed": ErrorKind.UNAUTHENTICATED,
    "auth_key_unregistered": ErrorKind.UNAUTHENTICATED,
    "auth_key_duplicated": ErrorKind.UNAUTHENTICATED,
    "auth_key_unknown": ErrorKind.UNAUTHENTICATED,
    "message_not_modified": ErrorKind.CONFLICT,
    "not_author": ErrorKind.FORBIDDEN,
    "forbidden": ErrorKind.FORBIDDEN,
    "invalid_media": ErrorKind.UNPROCESSABLE,
}

#: Codes meaning the account's session is dead (the runtime logs the account out).
REVOKED = frozenset(
    {"auth_key_unregistered", "session_revoked", "auth_key_duplicated", "auth_key_unknown"}
)
_FLOOD = re.compile(r"^(?:FLOOD_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT)_(\d+)$")


class TelegramError(Exception):
    """A failed Telegram call with a stable ``code`` (``invalid_code``, ``flood_wait``...)."""

    def __init__(self, code: str, message: str = "", *, kind: ErrorKind | None = None,
                 retry_after: int | None = None, rpc: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.kind = kind or KINDS.get(code)
        self.retry_after = retry_after
        self.rpc = rpc

    @property
    def revoked(self) -> bool:
        """Whether this error says the session is dead."""
        return self.code in REVOKED

    def to_step_error(self, *, fail: bool = False) -> StepError:
        return StepError(self.code, self.message, kind=self.kind, fail=fail,
                         retry_after=self.retry_after)


def from_rpc(name: str, seconds: int | None = None) -> TelegramError:
    """The error for a Telegram RPC error ``name`` (``FLOOD_WAIT_30``, ``PHONE_CODE_INVALID``)."""
    name = (name or "").upper()
    match = _FLOOD.match(name)
    if match or (seconds is not None and "FLOOD" in name):
        wait = int(match.group(1)) if match else int(seconds or 0)
        return TelegramError("flood_wait", f"Telegram asks to wait {wait} s ({name})",
                             retry_after=max(wait, 1), rpc=name)
    code = RPC_CODES.get(name)
    if code is None:  # an answer this plugin does not know: Telegram refused, not unreachable
        return TelegramError("provider_unavailable",
                             f"Telegram error {name}" if name else "Telegram error",
                             kind=ErrorKind.UPSTREAM, rpc=name)
    if name in ("PHONE_NUMBER_FLOOD", "PHONE_PASSWORD_FLOOD"):
        return TelegramError(code, f"Telegram refuses more attempts for now ({name})",
                             retry_after=3600, rpc=name)
    return TelegramError(code, f"Telegram error {name}", rpc=name)


def unavailable(what: str) -> TelegramError:
    """Telegram (or the configured server) could not be reached in time."""
    return TelegramError("provider_unavailable", what, kind=ErrorKind.UNAVAILABLE)


def auth_key_unknown() -> TelegramError:
    """The server answered the transport error -404: it does not know the auth key."""
    return TelegramError("auth_key_unknown", "the server does not know this auth key")


def from_failure(exc: BaseException) -> TelegramError:
    """What a failed call that is no Telegram answer becomes: a timeout, a lost connection
    or a library fault (each backend translates the library's answers first)."""
    if isinstance(exc, TelegramError):
        return exc
    if isinstance(exc, TimeoutError):
        return unavailable("Telegram did not answer in time")
    if isinstance(exc, ConnectionError | OSError):
        return unavailable(f"cannot reach Telegram: {exc}")
    return unavailable(f"Telegram client error: {type(exc).__name__}: {exc}")
