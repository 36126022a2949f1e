"""Request and response models: they validate input and describe the API in ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAccount(_Strict):
    provider: str = Field(description="Provider name, e.g. `telegram`.")
    auth_mode: str = Field(description="Auth mode of the provider, e.g. `code`, `qrcode`.")
    provider_data: dict[str, Any] = Field(default_factory=dict,
                                          description="Fields the auth mode declares.")
    params: dict[str, Any] = Field(default_factory=dict, description="Mode parameters.")
    name: str | None = Field(default=None, max_length=200)


class CodeBody(_Strict):
    code: str = Field(min_length=1, max_length=32)


class PasswordBody(_Strict):
    password: str = Field(min_length=1, max_length=1024)


class ImportBody(_Strict):
    params: dict[str, Any] = Field(description="`session_url` and other import parameters.")


class SendMessage(_Strict):
    chat_id: str | int
    text: str = Field(min_length=1, max_length=4096)
    reply_to_id: str | int | None = None


class ListAccountsQuery(_Strict):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None
    provider: str | None = None
    status: str | None = None


class ListEventsQuery(_Strict):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None
    type: str | None = None
    account_id: str | None = None
    since: str | None = Field(default=None, description="RFC 3339 time.")


class Runtime(BaseModel):
    status: str
    since: str | None
    error: str | None


class AccountOut(BaseModel):
    id: str
    provider: str
    auth_mode: str
    name: str | None
    status: str
    runtime: Runtime
    identity: dict[str, Any] | None
    provider_data: dict[str, Any]
    params: dict[str, Any]
    last_error: dict[str, Any] | None
    created_at: str
    updated_at: str


class AccountList(BaseModel):
    data: list[AccountOut]
    next_cursor: str | None


class AuthResponse(BaseModel):
    status: str
    account: AccountOut
    qr: dict[str, Any] | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
