"""``/v1/accounts/{id}/auth/session/<step>``: every provider's declared auth steps.

One route serves every step name a provider declares (``qr/check``, ``login``...); the step,
its input and its allowed statuses come from the account's auth mode. The OpenAPI document
lists each declared step as its own path (``unifyport.http.openapi``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import hide

from unifyport.accounts.views import account_json
from unifyport.auth.service import run_step
from unifyport.http.access import requires
from unifyport.http.body import raw_json
from unifyport.http.context import gateway

bp = Blueprint("auth", __name__, url_prefix="/v1/accounts/<account_id>/auth/session")


@bp.post("/<path:step>")
@hide
@requires("control")
async def step(account_id: str, step: str) -> dict[str, Any]:
    """Run the auth step ``step`` (see docs/auth-state-machine.md)."""
    gw = gateway()
    outcome = await run_step(gw, account_id, step, await raw_json())
    return {"status": outcome.account.status, "account": account_json(outcome.account),
            **outcome.response}
