"""Request and response models: they validate input and describe the API in ``/openapi.json``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from unifyport.accounts.views import AccountOut
from unifyport.http.webhook_schemas import AccountWebhook, WebhookWithSecret
from unifyport.messages import AttachmentKind, ChatSummary, Message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAccount(_Strict):
    provider: str = Field(description="Provider name, e.g. `telegram`.")
    auth_mode: str = Field(description="Auth mode of the provider, e.g. `code`, `qrcode`.")
    provider_data: dict[str, Any] = Field(default_factory=dict,
                                          description="Fields the auth mode declares.")
    params: dict[str, Any] = Field(default_factory=dict, description="Mode parameters.")
    name: str | None = Field(default=None, max_length=200)
    webhook: AccountWebhook | None = Field(
        default=None, description="A webhook endpoint limited to this account, created with "
                                  "it (its secret is in the answer, once) and deleted with it.")


class AccountCreated(AccountOut):
    webhook: WebhookWithSecret | None = Field(
        default=None, description="The endpoint made from `webhook`, with its secret.")


_Id = Annotated[str, Field(min_length=1, max_length=256)] | Annotated[
    int, Field(ge=-(2**63), le=2**63 - 1)]


class AttachmentUrl(_Strict):
    url: str = Field(min_length=1, max_length=4096,
                     description="Fetched through the outbound-URL policy, within "
                                 "`messaging.upload_max_bytes`.")
    kind: AttachmentKind | None = Field(
        default=None, description="Default: from the MIME type (`file` unless image, video "
                                  "or audio).")
    file_name: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=255,
                                  pattern=r"^[\w.+-]+/[\w.+-]+$")
    caption: str | None = Field(default=None, max_length=4096)


class SendMessage(_Strict):
    chat_id: _Id = Field(description="The channel's chat id.")
    text: str = Field(default="", max_length=65536,
                      description="At most the provider's `text_limit` characters; the "
                                  "caption when there are attachments (required without).")
    reply_to_id: _Id | None = None
    attachments: list[AttachmentUrl] = Field(
        default_factory=list, max_length=100,
        description="Files to fetch and send (capability `media`); a multipart body "
                    "uploads them instead.")


class SendResponse(Message):
    """The message as sent (also the `message` of the `message.sent` event)."""


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


class AccountList(BaseModel):
    data: list[AccountOut]
    next_cursor: str | None


class External(BaseModel):
    url: str = Field(description="The page the user must open to go on.")


class AuthResponse(BaseModel):
    """The answer of every auth step; a step may add the fields it declares (`exposes`)."""

    status: str
    account: AccountOut
    external: External | None = Field(
        default=None, description="Present when the user must open a URL (`External`).")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class PageQuery(_Strict):
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=512)


class ChatList(BaseModel):
    data: list[ChatSummary]
    next_cursor: str | None


class MessageList(BaseModel):
    data: list[Message]
    next_cursor: str | None


class EditMessage(_Strict):
    text: str = Field(min_length=1, max_length=65536)


class ReactionBody(_Strict):
    emoji: str = Field(min_length=1, max_length=64)


class ReadBody(_Strict):
    message_id: _Id
