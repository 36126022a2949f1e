"""``/v1/accounts``: create, list, read, delete."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_querystring, document_request, document_response, tag

from unifyport.accounts import service
from unifyport.accounts.views import AccountOut, account_json
from unifyport.http.body import json_body, query
from unifyport.http.context import gateway
from unifyport.http.schemas import AccountList, CreateAccount, ListAccountsQuery

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


@bp.post("")
@tag(["accounts"])
@document_request(CreateAccount)
@document_response(AccountOut, 201)
async def create() -> tuple[dict[str, Any], int]:
    """Create an account; its fields are validated against the provider's auth mode."""
    body = await json_body(CreateAccount)
    account = await service.create_account(
        gateway(), body.provider, body.auth_mode, body.provider_data, body.params, body.name
    )
    return account_json(account), 201


@bp.get("")
@tag(["accounts"])
@document_querystring(ListAccountsQuery)
@document_response(AccountList)
async def list_() -> dict[str, Any]:
    """Accounts, newest first, with cursor pagination."""
    q = query(ListAccountsQuery)
    rows, nxt = await service.account_views(gateway(), q.limit, q.cursor, q.provider, q.status)
    return {"data": [account_json(a) for a in rows], "next_cursor": nxt}


@bp.get("/<account_id>")
@tag(["accounts"])
@document_response(AccountOut)
async def get(account_id: str) -> dict[str, Any]:
    """One account."""
    return account_json(await service.account_view(gateway(), account_id))


@bp.delete("/<account_id>")
@tag(["accounts"])
async def delete(account_id: str) -> tuple[str, int]:
    """Stop the runtime, log out at the provider when possible, delete stored secrets."""
    await service.delete_account(gateway(), account_id)
    return "", 204
