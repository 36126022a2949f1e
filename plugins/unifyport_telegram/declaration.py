"""The Telegram provider's auth modes, steps and the statuses they introduce, as data.

``docs/auth-state-machine.md`` and ``docs/telegram.md`` describe exactly this table.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from unifyport.sdk import AUTHORIZED, RESTARTABLE, AuthMode, FieldSpec, Step

from .config import BACKENDS

AWAITING_CODE = "awaiting_code"
AWAITING_PASSWORD = "awaiting_password"  # noqa: S105 - a status name
AWAITING_QR_SCAN = "awaiting_qr_scan"
QR_EXPIRED = "qr_expired"
E164 = r"\+[1-9][0-9]{6,14}"


class CodeSent(BaseModel):
    code_type: str = Field(description="How Telegram sent the code: `app`, `sms`, `call`...")


class QrCode(BaseModel):
    url: str = Field(description="The `tg://login?token=…` URL the phone scans.")
    expires_at: str = Field(description="RFC 3339 time the token expires (~30 s).")
    svg: str = Field(description="The QR code of `url` as an SVG document.")


class QrNotice(BaseModel):
    code: str
    message: str


class QrShown(BaseModel):
    qr: QrCode | None = Field(default=None, description="While awaiting the scan.")
    error: QrNotice | None = Field(
        default=None, description="With status `qr_expired`: `qr_expired`, call qr/start.")


_API_ID = FieldSpec("api_id", "integer", minimum=1, maximum=2**31 - 1,
                    description="Telegram App ID from my.telegram.org.")
_API_HASH = FieldSpec("api_hash", secret=True, pattern=r"[0-9A-Za-z]{8,64}", max_length=64,
                      description="Telegram App Hash from my.telegram.org.")
_BACKEND = FieldSpec("backend", required=False, pattern="|".join(BACKENDS), max_length=16,
                     description="Client library for this account: telethon or pyrogram "
                                 "(default: [plugins.telegram] backend).")
_COMMON = (_API_ID, _API_HASH, _BACKEND)

PASSWORD = Step(
    "password", frozenset({AWAITING_PASSWORD}), frozenset({AUTHORIZED}),
    fields=(FieldSpec("password", secret=True, strip=True, max_length=1024,
                      description="The account's two-step verification password."),),
    description="Submit the 2FA password.")
IMPORT = Step("import", RESTARTABLE, frozenset({AUTHORIZED}), params=True,
              description="Log in with what the account (or the body's `params`) carries.")

AUTH_MODES: tuple[AuthMode, ...] = (
    AuthMode(
        "code", "Verification code sent by Telegram (SMS or in-app), then 2FA if enabled.",
        (*_COMMON, FieldSpec("phone", pattern=E164, max_length=16,
                             description="E.164 phone number of the account.")),
        (
            Step("start", RESTARTABLE, frozenset({AWAITING_CODE}), exposes=CodeSent,
                 description="Ask Telegram to send the login code."),
            Step("code", frozenset({AWAITING_CODE}), frozenset({AUTHORIZED, AWAITING_PASSWORD}),
                 fields=(FieldSpec("code", strip=True, max_length=32,
                                   description="The code Telegram sent."),),
                 description="Submit the code; with 2FA the flow goes on to `password`."),
            PASSWORD,
        ),
        statuses=(AWAITING_CODE, AWAITING_PASSWORD),
    ),
    AuthMode(
        "qrcode", "QR code scanned in the Telegram app, then 2FA if enabled.", _COMMON,
        (
            Step("qr/start", RESTARTABLE | {AWAITING_QR_SCAN, QR_EXPIRED},
                 frozenset({AWAITING_QR_SCAN, AWAITING_PASSWORD}), exposes=QrShown,
                 description="Show a (new) QR code; `awaiting_password` when a scan of the "
                             "previous one already arrived and the account has 2FA."),
            Step("qr/check", frozenset({AWAITING_QR_SCAN, QR_EXPIRED}),
                 frozenset({AWAITING_QR_SCAN, QR_EXPIRED, AWAITING_PASSWORD, AUTHORIZED}),
                 exposes=QrShown, description="Poll for the scan (about once a second)."),
            PASSWORD,
        ),
        statuses=(AWAITING_QR_SCAN, QR_EXPIRED, AWAITING_PASSWORD),
    ),
    AuthMode(
        "session", "Import an existing Telethon or Pyrogram session (file or string).",
        (*_COMMON, FieldSpec("session_url", secret=True, location="params", max_length=65536,
                             description="https:// URL, file:// path inside the import "
                                         "directory, or the session string itself.")),
        (IMPORT,),
    ),
    AuthMode(
        "bot", "Log a bot in with its token (the import step).",
        (*_COMMON, FieldSpec("bot_token", secret=True, pattern=r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}",
                             max_length=256, description="Bot token from @BotFather.")),
        (IMPORT,),
    ),
)
