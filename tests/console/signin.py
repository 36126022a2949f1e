"""Signing a Quart test client in to the console, as a browser does (form + cookies)."""

from __future__ import annotations

import re
from typing import Any

from quart.typing import TestClientProtocol

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:2000]
    return match.group(1)


async def sign_in(client: TestClientProtocol, key: str) -> tuple[Any, str]:
    """Sign in; returns the sign-in answer and the session's CSRF token (from a page)."""
    page = await client.get("/console/sign-in")
    token = csrf_of(await page.get_data(as_text=True))
    answer = await client.post("/console/sign-in", form={"csrf_token": token, "api_key": key})
    accounts = await client.get("/console/accounts")
    return answer, csrf_of(await accounts.get_data(as_text=True))
