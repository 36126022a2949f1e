"""Backend-neutral Telegram errors: each library's exceptions are translated into these once,
inside the backend; flows and the runtime only ever see :class:`TelegramError`."""

from __future__ import annotations

import re

from unifyport.providers import StepError

#: Telegram RPC error name -> (stable code, HTTP status).
RPC_CODES: dict[str, tuple[str, int]] = {
    "PHONE_CODE_INVALID": ("invalid_code", 400),
    "PHONE_CODE_EMPTY": ("invalid_code", 400),
    "PHONE_CODE_EXPIRED": ("code_expired", 400),
    "PHONE_NUMBER_INVALID": ("phone_invalid", 400),
    "PHONE_NUMBER_UNOCCUPIED": ("phone_invalid", 400),
    "PHONE_NUMBER_BANNED": ("phone_banned", 403),
    "PHONE_NUMBER_FLOOD": ("flood_wait", 429),
    "PHONE_PASSWORD_FLOOD": ("flood_wait", 429),
    "PASSWORD_HASH_INVALID": ("invalid_password", 400),
    "SESSION_PASSWORD_NEEDED": ("password_needed", 401),
    "AUTH_TOKEN_EXPIRED": ("qr_expired", 400),
    "AUTH_TOKEN_INVALID": ("qr_expired", 400),
    "AUTH_TOKEN_ALREADY_ACCEPTED": ("qr_expired", 400),
    "AUTH_KEY_UNREGISTERED": ("auth_key_unregistered", 401),
    "SESSION_REVOKED": ("session_revoked", 401),
    "SESSION_EXPIRED": ("session_revoked", 401),
    "USER_DEACTIVATED": ("session_revoked", 401),
    "USER_DEACTIVATED_BAN": ("session_revoked", 401),
    "AUTH_KEY_DUPLICATED": ("auth_key_duplicated", 406),
    "ACCESS_TOKEN_INVALID": ("invalid_bot_token", 400),
    "ACCESS_TOKEN_EXPIRED": ("invalid_bot_token", 400),
    "PEER_ID_INVALID": ("chat_not_found", 404),
    "CHAT_ID_INVALID": ("chat_not_found", 404),
    "USER_ID_INVALID": ("chat_not_found", 404),
    "INPUT_USER_DEACTIVATED": ("chat_not_found", 404),
    "MESSAGE_EMPTY": ("invalid_request", 400),
    "MESSAGE_TOO_LONG": ("invalid_request", 400),
    "API_ID_INVALID": ("invalid_api_id", 400),
    "API_ID_PUBLISHED_FLOOD": ("invalid_api_id", 400),
}

#: Codes meaning the account's session is dead (the runtime logs the account out).
REVOKED = frozenset(
    {"auth_key_unregistered", "session_revoked", "auth_key_duplicated", "auth_key_unknown"}
)
_FLOOD = re.compile(r"^(?:FLOOD_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT)_(\d+)$")


class TelegramError(Exception):
    """A failed Telegram call with a stable ``code`` (``invalid_code``, ``flood_wait``...)."""

    def __init__(self, code: str, message: str = "", *, http_status: int = 400,
                 retry_after: int | None = None, rpc: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.http_status = http_status
        self.retry_after = retry_after
        self.rpc = rpc

    @property
    def revoked(self) -> bool:
        """Whether this error says the session is dead."""
        return self.code in REVOKED

    def to_step_error(self, *, fail: bool = False) -> StepError:
        return StepError(self.code, self.message, http_status=self.http_status, fail=fail,
                         retry_after=self.retry_after)


def from_rpc(name: str, seconds: int | None = None) -> TelegramError:
    """The error for a Telegram RPC error ``name`` (``FLOOD_WAIT_30``, ``PHONE_CODE_INVALID``)."""
    name = (name or "").upper()
    match = _FLOOD.match(name)
    if match or (seconds is not None and "FLOOD" in name):
        wait = int(match.group(1)) if match else int(seconds or 0)
        return TelegramError("flood_wait", f"Telegram asks to wait {wait} s ({name})",
                             http_status=429, retry_after=max(wait, 1), rpc=name)
    code, status = RPC_CODES.get(name, ("provider_unavailable", 502))
    if name in ("PHONE_NUMBER_FLOOD", "PHONE_PASSWORD_FLOOD"):
        return TelegramError(code, f"Telegram refuses more attempts for now ({name})",
                             http_status=status, retry_after=3600, rpc=name)
    return TelegramError(code, f"Telegram error {name}" if name else "Telegram error",
                         http_status=status, rpc=name)


def unavailable(what: str) -> TelegramError:
    """Telegram (or the configured server) could not be reached in time."""
    return TelegramError("provider_unavailable", what, http_status=503)


def auth_key_unknown() -> TelegramError:
    """The server answered the transport error -404: it does not know the auth key."""
    return TelegramError("auth_key_unknown", "the server does not know this auth key",
                         http_status=401)


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
