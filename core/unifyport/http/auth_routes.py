"""``/v1/accounts/{id}/auth/session/<step>``: every provider's declared auth steps.

One route serves every step name a provider declares (``qr/check``, ``login``...); the step,
its input and its allowed statuses come from the account's auth mode. The OpenAPI document
lists each declared step as its own path (``unifyport.http.openapi``). A step runs in the
process that ran the flow's previous step while it lives (``runtime/operations.py``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import hide

from unifyport.http.access import requires
from unifyport.http.body import raw_json
from unifyport.http.context import gateway
from unifyport.runtime.operations import auth_step

bp = Blueprint("auth", __name__, url_prefix="/v1/accounts/<account_id>/auth/session")


@bp.post("/<path:step>")
@hide
@requires("control")
async def step(account_id: str, step: str) -> dict[str, Any]:
    """Run the auth step ``step`` (see docs/auth-state-machine.md)."""
    return dict(await auth_step(gateway(), account_id, step, await raw_json()))
