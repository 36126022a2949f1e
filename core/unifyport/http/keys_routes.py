"""``/v1/keys``: API keys (admin keys only). A key is shown once, when it is created."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from unifyport.apikeys import ADMIN, create_key, grant_problem, revoke_key
from unifyport.db.models import ApiKey
from unifyport.db.repositories import ApiKeyRepository
from unifyport.errors import ApiError, not_found
from unifyport.events.sinks import iso
from unifyport.http.access import requires
from unifyport.http.body import json_body
from unifyport.http.context import gateway
from unifyport.http.webhook_schemas import CreateKey, KeyCreated, KeyList
from unifyport.webhooks.service import check_accounts

bp = Blueprint("keys", __name__, url_prefix="/v1/keys")
TAGS = ["keys"]


def key_json(row: ApiKey) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix,
            "kind": ADMIN if row.scopes is None else "scoped",
            "scopes": [ADMIN] if row.scopes is None else list(row.scopes),
            "account_ids": row.account_ids, "created_at": iso(row.created_at),
            "revoked_at": iso(row.revoked_at)}


@bp.post("")
@tag(TAGS)
@requires("admin")
@document_request(CreateKey)
@document_response(KeyCreated, 201)
async def create() -> tuple[dict[str, Any], int]:
    """Create a key: `scopes: ["admin"]`, or some of read, send, control with the
    `account_ids` it is limited to. The key is in this answer only."""
    body = await json_body(CreateKey)
    scopes = None if ADMIN in body.scopes else body.scopes
    problem = "'admin' is a scope of its own" if scopes is None and set(body.scopes) != {
        ADMIN} else grant_problem(scopes, body.account_ids)
    if problem is not None:
        raise ApiError(422, "validation_failed", "invalid request", fields={"scopes": problem})
    gw = gateway()
    if body.account_ids:
        async with gw.db.read() as s:
            await check_accounts(s, body.account_ids)
    row, token = await create_key(gw.db, body.name, scopes, body.account_ids)
    return {**key_json(row), "key": token}, 201


@bp.get("")
@tag(TAGS)
@requires("admin")
@document_response(KeyList)
async def list_() -> dict[str, Any]:
    """Every key (never the key itself: its first characters are `prefix`)."""
    async with gateway().db.read() as s:
        rows = await ApiKeyRepository(s).all()
    return {"data": [key_json(r) for r in rows]}


@bp.delete("/<key_id>")
@tag(TAGS)
@requires("admin")
async def delete(key_id: str) -> tuple[str, int]:
    """Revoke a key: it stops working on every server within a second."""
    if not await revoke_key(gateway().db, key_id):
        raise not_found("API key")
    return "", 204
