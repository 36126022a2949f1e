"""Create, change, rotate, test and delete stored webhook endpoints; every change to an
endpoint and to its delivery target is one transaction.

An endpoint is a target of the sink that declares ``stored_endpoints`` (the webhook
plugin), named by the endpoint's id. It receives events committed after its creation."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.models import Account, Event
from unifyport.db.repositories import EventRepository
from unifyport.db.types import utcnow
from unifyport.delivery.admin import DUE_AT_ONCE, drop_target
from unifyport.delivery.models import PENDING, Delivery, DeliveryTarget
from unifyport.errors import ApiError, not_found
from unifyport.events.sinks import Target, TargetState, iso, target_state_json
from unifyport.gateway import Gateway
from unifyport.ids import new_id
from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.policy import OutboundPolicy
from unifyport.webhooks.directory import stored_endpoint_sink
from unifyport.webhooks.models import WebhookEndpoint
from unifyport.webhooks.sealing import EndpointSecrets, new_secret, secret_bytes

if TYPE_CHECKING:
    from unifyport.delivery.engine import DeliveryEngine

TEST_EVENT = "webhook.test"
MAX_GRACE = 7 * 86400
"""Longest grace period of a rotated-out secret (seconds)."""
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
RESERVED_HEADERS = frozenset({
    "content-type", "content-length", "host", "user-agent", "connection",
    "transfer-encoding", "webhook-id", "webhook-timestamp", "webhook-signature"})
MAX_HEADERS = 20


def sink_name(gw: Gateway) -> str:
    """The sink delivering stored endpoints; 503 when no plugin provides one."""
    name = stored_endpoint_sink(gw.registry.sinks)
    if name is None:
        raise ApiError(503, "webhooks_unavailable",
                       "no event sink delivers webhook endpoints (is the webhook plugin "
                       "disabled?)")
    return name


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", "invalid request", fields={field: message})


def check_url(gw: Gateway, url: str) -> None:
    """The outbound-URL policy (422 ``url_not_allowed``); checked again at each delivery."""
    try:
        OutboundPolicy.from_settings(gw.settings).check_url(url)
    except OutboundRefused as exc:
        raise ApiError(422, "url_not_allowed", str(exc), fields={"url": str(exc)}) from None


def check_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if len(headers) > MAX_HEADERS:
        raise invalid("headers", f"at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise invalid(f"headers.{name}", "not a header name that may be set")
        if len(value) > 1000 or any(c in value for c in "\r\n\0"):
            raise invalid(f"headers.{name}", "at most 1000 characters, no line breaks")
    return tuple(headers.items())


async def check_accounts(s: AsyncSession, ids: Collection[str]) -> None:
    """404 unless every account exists (the caller made sure the key sees them)."""
    found = set(await s.scalars(select(Account.id).where(Account.id.in_(list(ids)))))
    missing = sorted(set(ids) - found)
    if missing:
        raise not_found(f"account {missing[0]}")


async def visible_endpoints(s: AsyncSession, accounts: frozenset[str] | None
                            ) -> set[str] | None:
    """Stored endpoints a key limited to ``accounts`` sees (``None``: every target): those
    limited to some of its accounts and no other."""
    if accounts is None:
        return None
    rows = await s.execute(select(WebhookEndpoint.id, WebhookEndpoint.account_ids))
    return {r.id for r in rows if r.account_ids and set(r.account_ids) <= accounts}


@dataclass(frozen=True)
class NewEndpoint:
    url: str
    events: Sequence[str] = ("*",)
    account_ids: Sequence[str] | None = None
    description: str | None = None
    headers: Mapping[str, str] | None = None
    secret: str | None = None


async def create_endpoint(gw: Gateway, s: AsyncSession, sink: str, new: NewEndpoint,
                          owner: str | None = None) -> tuple[WebhookEndpoint, str]:
    """Add the endpoint and its target to the transaction of ``s``; (row, its secret)."""
    check_url(gw, new.url)
    secret = new.secret or new_secret()
    if secret_bytes(secret) is None:
        raise invalid("secret", "must be 'whsec_' and the base64 of 24 to 64 bytes")
    endpoint_id, now = new_id("whe"), utcnow()
    sealed = EndpointSecrets(((secret, None),), check_headers(new.headers or {}))
    key_id, blob = sealed.seal(gw.box, endpoint_id)
    accounts = None if new.account_ids is None else list(dict.fromkeys(new.account_ids))
    row = WebhookEndpoint(id=endpoint_id, url=new.url, description=new.description,
                          events=list(new.events), account_ids=accounts,
                          owner_account_id=owner, key_id=key_id, sealed=blob,
                          created_at=now, updated_at=now)
    s.add(row)
    newest = await s.scalar(select(func.max(Event.seq)))
    s.add(DeliveryTarget(sink=sink, name=endpoint_id, patterns=list(new.events),
                         account_ids=accounts, enabled=True, cursor_seq=newest or 0,
                         created_at=now))
    return row, secret


async def update_endpoint(gw: Gateway, s: AsyncSession, sink: str, row: WebhookEndpoint,
                          changes: Mapping[str, Any]) -> None:
    """Apply ``changes`` (``url``, ``events``, ``account_ids``, ``description``,
    ``headers``). A new URL restarts the target's failure clock."""
    target: dict[str, Any] = {}
    if "url" in changes and changes["url"] != row.url:
        check_url(gw, changes["url"])
        row.url = changes["url"]
        target["failing_since"] = None
    if "events" in changes:
        row.events = target["patterns"] = list(changes["events"])
    if "account_ids" in changes:
        ids = changes["account_ids"]
        row.account_ids = target["account_ids"] = None if ids is None else list(
            dict.fromkeys(ids))
    if "description" in changes:
        row.description = changes["description"]
    if "headers" in changes:
        sealed = EndpointSecrets.open(gw.box, row.id, row.sealed)
        sealed = EndpointSecrets(sealed.secrets, check_headers(changes["headers"] or {}))
        row.key_id, row.sealed = sealed.seal(gw.box, row.id)
    row.updated_at = utcnow()
    if target:
        await s.execute(update(DeliveryTarget).where(
            DeliveryTarget.sink == sink, DeliveryTarget.name == row.id).values(**target))


async def rotate_secret(gw: Gateway, row: WebhookEndpoint, grace: float,
                        secret: str | None = None) -> str:
    """A new current secret; the old one signs alongside for ``grace`` seconds."""
    new = secret or new_secret()
    if secret_bytes(new) is None:
        raise invalid("secret", "must be 'whsec_' and the base64 of 24 to 64 bytes")
    sealed = EndpointSecrets.open(gw.box, row.id, row.sealed).rotated(new, time.time(), grace)
    row.key_id, row.sealed = sealed.seal(gw.box, row.id)
    row.updated_at = utcnow()
    return new


async def delete_endpoint(s: AsyncSession, sink: str, row: WebhookEndpoint) -> int:
    """Delete the endpoint, its target and deliveries; how many pending ones were dropped."""
    dropped = await drop_target(s, sink, row.id)
    await s.delete(row)
    return dropped


async def delete_owned(gw: Gateway, s: AsyncSession, account_id: str) -> list[str]:
    """Delete the endpoints created with account ``account_id``; their ids."""
    rows = list(await s.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.owner_account_id == account_id)))
    sink = stored_endpoint_sink(gw.registry.sinks)
    for row in rows:
        if sink is not None:
            await drop_target(s, sink, row.id)
        await s.delete(row)
    return [r.id for r in rows]


def _engine(gw: Gateway) -> DeliveryEngine | None:
    sink = stored_endpoint_sink(gw.registry.sinks)
    return gw.sink_engines.get(sink) if sink is not None else None


async def changed(gw: Gateway) -> None:
    """After a committed change: this process's engine sees it before the caller answers
    (the directory is re-read now, not at the engine's next refresh), so every delivery
    made after the answer uses it."""
    engine = _engine(gw)
    if engine is not None:
        if engine.directory is not None:
            await engine.directory.refresh()
        engine.wake()


def forget(gw: Gateway, endpoint_ids: Sequence[str]) -> None:
    """Stop deliveries in flight to deleted endpoints in this process at once (the others
    notice within a second)."""
    engine = _engine(gw)
    if engine is not None:
        for endpoint_id in endpoint_ids:
            engine.forget(endpoint_id)


async def send_test(s: AsyncSession, sink: str, target: str) -> str:
    """A ``webhook.test`` event for ``target`` alone (never fanned out); its id."""
    ev = EventRepository(s).append(TEST_EVENT, None, {"endpoint_id": target,
                                                     "message": "a test event"})
    await s.flush()
    now = utcnow()
    s.add(Delivery(sink=sink, target=target, event_seq=ev.seq, event_id=ev.id, status=PENDING,
                   attempts=0, next_attempt_at=DUE_AT_ONCE, created_at=now, updated_at=now))
    return ev.id


def endpoint_json(gw: Gateway, row: WebhookEndpoint, state: TargetState | None,
                  secret: str | None = None) -> dict[str, Any]:
    """The API view; ``secret`` only when it was just made (creation, rotation)."""
    sealed = EndpointSecrets.open(gw.box, row.id, row.sealed)
    out = {
        "id": row.id, "source": "api", "url": row.url, "description": row.description,
        "events": list(row.events), "account_ids": row.account_ids,
        "headers": sorted(name for name, _ in sealed.headers),
        **target_state_json(state),
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }
    return {**out, "secret": secret} if secret is not None else out


def config_json(target: Target, state: TargetState | None) -> dict[str, Any]:
    """An endpoint of the configuration file (read-only through the API)."""
    return {
        "id": target.name, "source": "config", "url": target.url,
        "description": None, "events": list(target.patterns),
        "account_ids": None if target.account_ids is None else list(target.account_ids),
        "headers": [], **target_state_json(state), "created_at": None, "updated_at": None,
    }
