"""Request and response models of ``/v1/webhooks`` and ``/v1/keys``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from unifyport.events.sinks import valid_pattern


def _pattern(value: str) -> str:
    if not valid_pattern(value):
        raise ValueError("must be '*', an event type, or a prefix like 'message.*'")
    return value


Pattern = Annotated[str, Field(max_length=64), AfterValidator(_pattern)]
AccountId = Annotated[str, Field(min_length=1, max_length=40)]
Events = Annotated[list[Pattern], Field(min_length=1, max_length=50)]
Accounts = Annotated[list[AccountId], Field(min_length=1, max_length=100)]
Headers = Annotated[dict[Annotated[str, Field(max_length=100)],
                         Annotated[str, Field(max_length=1000)]], Field(max_length=20)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountWebhook(_Strict):
    """``webhook`` of ``POST /v1/accounts``: an endpoint limited to the new account."""

    url: str = Field(max_length=2000)
    events: Events = Field(default_factory=lambda: ["*"])


class CreateWebhook(_Strict):
    url: str = Field(max_length=2000, description="http(s) URL allowed by the outbound policy.")
    events: Events = Field(default_factory=lambda: ["*"],
                           description="Event-type patterns: `*`, `message.received`, "
                                       "`message.*`.")
    account_ids: Accounts | None = Field(
        default=None, description="Only these accounts' events; required for a scoped key.")
    description: str | None = Field(default=None, max_length=500)
    headers: Headers | None = Field(default=None, description="Sent with every delivery.")
    secret: str | None = Field(default=None, max_length=200,
                               description="`whsec_…`; generated when absent.")


class UpdateWebhook(_Strict):
    url: str | None = Field(default=None, max_length=2000)
    events: Events | None = None
    account_ids: Accounts | None = None
    description: str | None = Field(default=None, max_length=500)
    headers: Headers | None = None


class RotateSecret(_Strict):
    grace_period: int | None = Field(
        default=None, ge=0, le=7 * 86400,
        description="Seconds the old secret keeps signing (default `webhooks.rotation_grace`).")
    secret: str | None = Field(default=None, max_length=200)


class Recover(_Strict):
    since: str = Field(description="RFC 3339 time with a timezone.")


class WebhookOut(BaseModel):
    id: str
    source: Literal["api", "config"]
    url: str | None
    description: str | None
    events: list[str]
    account_ids: list[str] | None
    headers: list[str] = Field(description="Names of the custom headers (values not shown).")
    enabled: bool
    disabled_reason: str | None
    disabled_at: str | None
    failing_since: str | None
    pending: int
    failed: int
    succeeded: int
    created_at: str | None
    updated_at: str | None


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="The signing secret, shown only in this response.")


class WebhookList(BaseModel):
    data: list[WebhookOut]


class WebhookDeleted(BaseModel):
    id: str
    deleted: bool
    dropped_deliveries: int = Field(description="Pending deliveries dropped with it.")


class WebhookTest(BaseModel):
    event_id: str


class Recovered(BaseModel):
    endpoint: str
    since: str | None
    requeued: int


class CreateKey(_Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Literal["read", "send", "control", "admin"]] = Field(
        min_length=1, max_length=4,
        description="`[\"admin\"]` for an admin key, else some of read, send, control.")
    account_ids: Accounts | None = Field(default=None,
                                         description="Required for a scoped key.")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    kind: Literal["admin", "scoped"]
    scopes: list[str]
    account_ids: list[str] | None
    created_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key, shown only in this response.")


class KeyList(BaseModel):
    data: list[KeyOut]
