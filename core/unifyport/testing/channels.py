"""The channel conformance suite: what every channel plugin must do, through the HTTP API.

Subclass :class:`ChannelConformance` in a module whose name pytest collects, set ``provider``
(its name) and implement :meth:`ChannelConformance.plugin` and
:meth:`ChannelConformance.peer`. The peer (:class:`ChannelPeer`) drives the far side: it
knows how to log an account in step by step, make a message arrive, see what was sent, and
revoke a session. Parts that need a capability the provider does not declare
(``Provider.capabilities``) skip with the reason, like SQLAlchemy's dialect requirements.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from unifyport.auth.declare import AUTHORIZED, problems
from unifyport.plugins.manager import ENTRY_POINT_GROUP
from unifyport.plugins.registry import build_registry
from unifyport.providers import MESSAGING_CAPABILITIES
from unifyport.settings import Settings
from unifyport.testing.gateway import Api, make_settings, running

MESSAGING_PROBES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "chats": ("GET", "/chats", None),
    "history": ("GET", "/chats/1/messages", None),
    "media": ("POST", "/messages", {"chat_id": "1", "attachments": [{"url": "https://x/y"}]}),
    "download": ("GET", "/chats/1/messages/1/attachments/0", None),
    "edit": ("PATCH", "/chats/1/messages/1", {"text": "x"}),
    "delete": ("DELETE", "/chats/1/messages/1", None),
    "react": ("POST", "/chats/1/messages/1/reactions", {"emoji": "x"}),
    "read": ("POST", "/chats/1/read", {"message_id": "1"}),
}
"""One request per messaging capability (method, path under the account, body)."""
StepCall = Callable[[str, dict[str, Any] | None], Awaitable[dict[str, Any]]]
"""``await step(name, body)``: call an auth step, assert 200, return the response body."""
WAIT = 20.0


class ChannelPeer(abc.ABC):
    """The far side of the channel, as the kit needs it."""

    @abc.abstractmethod
    async def account_body(self, mode: str) -> dict[str, Any]:
        """The ``POST /v1/accounts`` body for a new account in ``mode`` (a fresh identity)."""

    @abc.abstractmethod
    async def login(self, mode: str, account: dict[str, Any], step: StepCall) -> None:
        """Drive the login of ``account`` to ``authorized`` with ``step`` (doing at the far
        side what a person would: read the code, scan the QR...)."""

    def wrong_input(self, mode: str) -> list[tuple[str, dict[str, Any]]]:
        """(step, body) pairs of wrong input that must answer 4xx with a stable code while
        the account is ``pending``; by default none besides the kit's own checks."""
        return []

    async def send_inbound(self, account: dict[str, Any], text: str) -> None:
        """Make a message with ``text`` arrive at the account (capability ``receive``)."""
        raise NotImplementedError

    async def chat_for_send(self, account: dict[str, Any]) -> str:
        """A chat id the account may send to (capability ``send``)."""
        raise NotImplementedError

    async def saw_sent(self, account: dict[str, Any], chat_id: str, text: str) -> bool:
        """Whether the far side received ``text`` in ``chat_id`` (capability ``send``)."""
        raise NotImplementedError

    async def revoke(self, account: dict[str, Any]) -> None:
        """End the account's session at the far side (capability ``revocation``)."""
        raise NotImplementedError

    async def session_ended(self, account: dict[str, Any]) -> bool:
        """Whether the session was logged out at the far side (capability ``logout``)."""
        raise NotImplementedError


def requires(capability: str) -> pytest.MarkDecorator:
    return pytest.mark.unifyport_requires(capability)


class ChannelConformance(abc.ABC):
    """Base class of a plugin's conformance tests (not collected itself)."""

    provider: str
    """The provider name under test."""
    toml: str = ""
    """Extra configuration (``[plugins.<name>]`` tables...) for the gateway under test."""

    @abc.abstractmethod
    def plugin(self) -> object:
        """A fresh plugin object (its ``register_providers`` registers the provider); called
        again on every (re)start of the gateway."""

    @abc.abstractmethod
    def peer(self) -> ChannelPeer:
        """The peer harness; one per test."""

    # -- harness ------------------------------------------------------------------------
    @pytest.fixture
    def unifyport_setup(self) -> None:
        """Override (same name) to prepare the far side before each test — start a local
        server, set ``self.toml`` to point the plugin at it — with any fixtures you need."""
        return None

    @pytest.fixture(autouse=True)
    def _capabilities(self, request: pytest.FixtureRequest, tmp_path: Path,
                      unifyport_setup: None) -> None:
        self._data_dir = tmp_path / "data"
        self._peer = self.peer()
        self._provider = build_registry(self._settings(), self._extra()).providers[self.provider]
        """The provider's declaration, read once per test (its gateways get fresh objects)."""
        marker = request.node.get_closest_marker("unifyport_requires")
        if marker is not None and marker.args[0] not in self._provider.capabilities:
            pytest.skip(f"provider {self.provider!r} does not declare {marker.args[0]!r}")

    def _settings(self) -> Settings:
        """Every installed plugin disabled: the one under test is added as an extra plugin
        (a fresh object per start), so it runs the same installed or not."""
        installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        disabled = "[plugins]\ndisabled = [" + ", ".join(f'"{n}"' for n in installed) + "]\n"
        return make_settings(self._data_dir, disabled + self.toml)

    def _extra(self) -> tuple[tuple[str, object], ...]:
        return ((f"conformance_{self.provider}", self.plugin()),)

    @asynccontextmanager
    async def gateway(self) -> AsyncIterator[Api]:
        async with running(self._settings(), self._extra()) as api:
            yield api

    @staticmethod
    def _stepper(api: Api, account_id: str, called: list[str],
                 between: Callable[[], Awaitable[Api]] | None = None) -> StepCall:
        state = {"api": api}

        async def step(name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            if called and between is not None:
                state["api"] = await between()
            code, out = await state["api"].post(
                f"/v1/accounts/{account_id}/auth/session/{name}", body)
            assert code == 200, (name, code, out)
            called.append(name)
            return dict(out)

        return step

    async def _new(self, api: Api, mode: str) -> dict[str, Any]:
        code, account = await api.post("/v1/accounts", await self._peer.account_body(mode))
        assert code == 201, account
        return dict(account)

    async def _authorized(self, api: Api, mode: str) -> dict[str, Any]:
        account = await self._new(api, mode)
        called: list[str] = []
        await self._peer.login(mode, account, self._stepper(api, account["id"], called))
        _, account = await api.get(f"/v1/accounts/{account['id']}")
        assert account["status"] == AUTHORIZED, account
        return dict(account)

    @staticmethod
    async def _until(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
        """``await probe()`` every 0.05 s until it answers something, for ``WAIT`` seconds."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = await probe()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{what}: not within {WAIT} s")

    async def _event(self, api: Api, account_id: str, type: str,
                     match: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            _, page = await api.get(f"/v1/events?account_id={account_id}&type={type}&limit=50")
            return next((dict(e["data"]) for e in page["data"] if match(e["data"])), None)
        found: dict[str, Any] = await self._until(probe, f"a {type} event for {account_id}")
        return found

    async def _online(self, api: Api, account_id: str) -> None:
        code, body = await api.post(f"/v1/accounts/{account_id}/runtime/start")
        assert code == 200, body

        async def running() -> bool:
            _, runtime = await api.get(f"/v1/accounts/{account_id}/runtime")
            return bool(runtime["status"] == "running")
        await self._until(running, f"the runtime of {account_id} running")

    # -- the contract -----------------------------------------------------------------
    def test_declaration_is_sound(self) -> None:
        provider = self._provider
        assert problems(provider.name, provider.auth_modes) == []
        assert provider.description and provider.text_limit > 0

    @pytest.mark.asyncio
    async def test_openapi_documents_every_step(self) -> None:
        async with self.gateway() as api:
            response = await api.client.get("/openapi.json")
            paths = (await response.get_json())["paths"]
        for mode in self._provider.auth_modes:
            for step in mode.all_steps:
                op = paths[f"/v1/accounts/{{account_id}}/auth/session/{step.name}"]["post"]
                assert "requestBody" in op and {200, 409, 422} <= {int(c) for c in op["responses"]}

    @pytest.mark.asyncio
    async def test_every_declared_step_logs_in(self) -> None:
        declared = {s.name for m in self._provider.auth_modes for s in m.steps}
        called: list[str] = []
        async with self.gateway() as api:
            for mode in self._provider.auth_modes:
                account = await self._new(api, mode.name)
                await self._peer.login(mode.name, account,
                                       self._stepper(api, account["id"], called))
                _, account = await api.get(f"/v1/accounts/{account['id']}")
                assert account["status"] == AUTHORIZED, (mode.name, account)
                assert account["identity"] and account["identity"]["id"]
                _, events = await api.get(f"/v1/events?account_id={account['id']}&limit=200")
                assert "account.authorized" in {e["type"] for e in events["data"]}
        assert declared <= set(called), f"steps the peer never called: {declared - set(called)}"

    @pytest.mark.asyncio
    async def test_wrong_input_is_a_stable_error(self) -> None:
        async with self.gateway() as api:
            for mode in self._provider.auth_modes:
                account = await self._new(api, mode.name)
                base = f"/v1/accounts/{account['id']}/auth/session/"
                for step in mode.steps:
                    code, body = await api.post(base + step.name, {"no_such_field_x": 1})
                    assert code in (409, 422), (step.name, code, body)
                    if code == 409:
                        assert body["error"]["code"] == "invalid_state"
                    else:
                        assert body["error"]["code"] == "validation_failed"
                code, body = await api.post(base + "no_such_step_x")
                assert (code, body["error"]["code"]) == (404, "not_found")
                for name, wrong in self._peer.wrong_input(mode.name):
                    code, body = await api.post(base + name, wrong)
                    assert 400 <= code < 500 and body["error"]["code"], (name, code, body)
                code, body = await api.post(base + "cancel")
                assert (code, body["status"]) == (200, "pending")

    @pytest.mark.asyncio
    async def test_restart_in_the_middle_of_a_flow(self) -> None:
        """Every step after the first runs in a new gateway over the same data."""
        for mode in self._provider.auth_modes:
            await self._login_across_restarts(mode.name)

    async def _login_across_restarts(self, mode: str) -> None:
        stack: list[Any] = []

        async def start() -> Api:
            cm = self.gateway()
            stack.append(cm)
            api: Api = await cm.__aenter__()
            return api

        async def restart() -> Api:
            await stack.pop().__aexit__(None, None, None)
            return await start()

        try:
            account = await self._new(await start(), mode)
            await self._peer.login(mode, account, self._stepper(
                await restart(), account["id"], [], restart))
            _, account = await (await restart()).get(f"/v1/accounts/{account['id']}")
            assert account["status"] == AUTHORIZED, (mode, account)
        finally:
            while stack:
                await stack.pop().__aexit__(None, None, None)

    @requires("receive")
    @pytest.mark.asyncio
    async def test_inbound_message_becomes_an_event(self) -> None:
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            await self._online(api, account["id"])
            await self._peer.send_inbound(account, "hello from the far side")
            data = await self._event(api, account["id"], "message.received",
                                     lambda d: d["message"]["text"] == "hello from the far side")
            assert data["provider"] == self.provider
            assert data["message"]["id"] and data["message"]["chat"]["id"]

    @requires("send")
    @pytest.mark.asyncio
    async def test_send_reaches_the_far_side(self) -> None:
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            chat = await self._peer.chat_for_send(account)
            path = f"/v1/accounts/{account['id']}/messages"
            code, body = await api.post(path, {"chat_id": chat, "text": "early"})
            assert (code, body["error"]["code"]) == (409, "runtime_not_running")
            await self._online(api, account["id"])
            code, sent = await api.post(path, {"chat_id": chat, "text": "sent by the kit"})
            assert code == 201, sent
            assert sent["text"] == "sent by the kit" and sent["chat"]["id"] == str(chat)
            data = await self._event(api, account["id"], "message.sent")
            assert data["message"] == sent
            assert await self._peer.saw_sent(account, str(chat), "sent by the kit")
            too_long = "x" * (self._provider.text_limit + 1)
            code, body = await api.post(path, {"chat_id": chat, "text": too_long})
            assert (code, body["error"]["code"]) == (422, "validation_failed")

    @requires("revocation")
    @pytest.mark.asyncio
    async def test_revocation_logs_the_account_out(self) -> None:
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            await self._online(api, account["id"])
            await self._peer.revoke(account)
            await self._event(api, account["id"], "account.logged_out")
            _, account = await api.get(f"/v1/accounts/{account['id']}")
            assert account["status"] == "logged_out"
            assert account["runtime"]["status"] == "stopped"

    @pytest.mark.asyncio
    async def test_undeclared_capabilities_answer_501(self) -> None:
        """Each messaging route of a capability the provider does not declare answers 501
        ``not_supported`` naming it (``unifyport.testing.messaging`` tests the declared)."""
        lacking = [c for c in MESSAGING_CAPABILITIES if c not in self._provider.capabilities]
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            for capability in lacking:
                method, path, body = MESSAGING_PROBES[capability]
                code, answer = await api.call(method, f"/v1/accounts/{account['id']}{path}",
                                              body)
                assert (code, answer["error"]["code"], answer["error"]["capability"]) == \
                    (501, "not_supported", capability), (capability, code, answer)

    @pytest.mark.asyncio
    async def test_deletion_removes_the_account(self) -> None:
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            code, _ = await api.delete(f"/v1/accounts/{account['id']}")
            assert code == 204
            code, _ = await api.get(f"/v1/accounts/{account['id']}")
            assert code == 404
            if "logout" in self._provider.capabilities:
                assert await self._peer.session_ended(account)
