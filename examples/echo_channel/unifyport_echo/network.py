"""The echo "network": the far side of the channel, in this process.

A real channel talks to a server over the network; this one keeps users, sessions, pending
login links and inboxes in memory, so the template runs anywhere. The conformance tests drive
it as the peer (``tests/test_conformance.py``).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field


class Refused(Exception):
    """The network said no; ``code`` is what the plugin turns into a domain error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class User:
    name: str
    password: str
    inbox: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    """(chat id, text) of messages arriving for the user."""
    outbox: list[tuple[str, str]] = field(default_factory=list)


class EchoNetwork:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.sessions: dict[str, str] = {}
        """Session token -> user name."""
        self.links: dict[str, tuple[str, bool]] = {}
        """Login link id -> (user name, clicked)."""
        self.revoked: set[str] = set()

    def add_user(self, name: str, password: str) -> User:
        self.users[name] = User(name, password)
        return self.users[name]

    def _session(self, name: str) -> str:
        token = secrets.token_hex(16)
        self.sessions[token] = name
        return token

    def login(self, name: str, password: str) -> str:
        user = self.users.get(name)
        if user is None or user.password != password:
            raise Refused("invalid_credentials")
        return self._session(name)

    def send_link(self, name: str) -> str:
        if name not in self.users:
            raise Refused("unknown_user")
        link = secrets.token_hex(8)
        self.links[link] = (name, False)
        return link

    def click(self, link: str) -> None:
        name, _ = self.links[link]
        self.links[link] = (name, True)

    def check_link(self, link: str) -> str | None:
        """A session once the link was clicked, else ``None``."""
        if link not in self.links:
            raise Refused("link_expired")
        name, clicked = self.links[link]
        if not clicked:
            return None
        del self.links[link]
        return self._session(name)

    def user_of(self, token: str) -> User:
        name = self.sessions.get(token)
        if name is None or token in self.revoked:
            raise Refused("session_revoked")
        return self.users[name]

    def revoke(self, token: str) -> None:
        self.revoked.add(token)
        user = self.users.get(self.sessions.get(token, ""))
        if user is not None:
            user.inbox.put_nowait(("", ""))  # wakes the client up to notice

    def logout(self, token: str) -> None:
        self.sessions.pop(token, None)


NETWORK = EchoNetwork()
"""The one network of this process (a real plugin would reach its server instead)."""
