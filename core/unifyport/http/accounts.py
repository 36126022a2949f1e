"""``/v1/accounts``: create, list, read, delete."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_querystring, document_request, document_response, tag
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts import service
from unifyport.accounts.views import AccountOut, account_json
from unifyport.db.models import Account
from unifyport.http.access import access, requires
from unifyport.http.body import json_body, query
from unifyport.http.context import gateway
from unifyport.http.schemas import AccountCreated, AccountList, CreateAccount, ListAccountsQuery
from unifyport.webhooks import service as webhooks

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


@bp.post("")
@tag(["accounts"])
@requires("admin")
@document_request(CreateAccount)
@document_response(AccountCreated, 201)
async def create() -> tuple[dict[str, Any], int]:
    """Create an account; its fields are validated against the provider's auth mode. With
    `webhook: {url, events?}`, also an endpoint limited to it (deleted with it)."""
    body = await json_body(CreateAccount)
    gw = gateway()
    hook = body.webhook
    made: dict[str, Any] = {}
    sink = webhooks.sink_name(gw) if hook is not None else ""

    async def with_webhook(s: AsyncSession, account: Account) -> None:
        assert hook is not None
        row, secret = await webhooks.create_endpoint(gw, s, sink, webhooks.NewEndpoint(
            hook.url, hook.events, [account.id]), owner=account.id)
        await s.flush()
        made["webhook"] = webhooks.endpoint_json(gw, row, None, secret)

    account = await service.create_account(
        gw, body.provider, body.auth_mode, body.provider_data, body.params, body.name,
        with_webhook if hook is not None else None,
    )
    if made:
        await webhooks.changed(gw)
    return {**account_json(account), **made}, 201


@bp.get("")
@tag(["accounts"])
@requires("read")
@document_querystring(ListAccountsQuery)
@document_response(AccountList)
async def list_() -> dict[str, Any]:
    """Accounts, newest first, with cursor pagination."""
    q = query(ListAccountsQuery)
    rows, nxt = await service.account_views(gateway(), q.limit, q.cursor, q.provider, q.status,
                                            access().accounts)
    return {"data": [account_json(a) for a in rows], "next_cursor": nxt}


@bp.get("/<account_id>")
@tag(["accounts"])
@requires("read")
@document_response(AccountOut)
async def get(account_id: str) -> dict[str, Any]:
    """One account."""
    return account_json(await service.account_view(gateway(), account_id))


@bp.delete("/<account_id>")
@tag(["accounts"])
@requires("admin")
async def delete(account_id: str) -> tuple[str, int]:
    """Stop the runtime, log out at the provider when possible, delete stored secrets."""
    await service.delete_account(gateway(), account_id)
    return "", 204
