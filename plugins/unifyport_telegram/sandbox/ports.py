"""What the sandbox's parts need from one another, as Protocols (a leaf module).

``server.py`` wires data centres, connections, the dispatcher and the handler tables together;
the parts below it (``connection``, ``rpc``, ``delivery`` and the handler modules) see the
server and the connections only through these descriptions, so none of them imports
``server`` and the package's import graph stays acyclic. (For the same reason the modules
below ``server`` import siblings by name, ``from .views import when``, never as
``from . import views``: that form depends on the package, whose ``__init__`` loads ``server``.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from .crypto import MsgIdGenerator, ServerKey
from .srp import Challenge
from .state import AuthKey, LoginCode, QrToken, Store


class Endpoint(Protocol):
    """A data centre as clients are told about it."""

    @property
    def id(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class Peer(Protocol):
    """One client connection, as the dispatcher, the handlers and the server use it."""

    wants_updates: bool

    @property
    def id(self) -> int: ...
    @property
    def dc(self) -> Endpoint: ...
    @property
    def key(self) -> AuthKey | None: ...

    def send(self, body: bytes, *, response: bool, content: bool = True) -> None:
        """Encrypt and queue one message for the connection's session."""

    def transport_error(self, code: int) -> None:
        """Send a 4-byte transport error and close."""

    def close(self) -> None:
        """Drop the socket and unregister."""


class Router(Protocol):
    """The RPC dispatcher as a connection uses it."""

    def log_event(self, conn: Peer, method: str, error: str | None = None) -> dict[str, Any]:
        """Append an entry to the request log."""

    def call(self, conn: Peer, request: Any) -> bytes:
        """Answer one request with its serialised result or ``rpc_error``."""


class Hub(Protocol):
    """The server as a connection uses it: keys, msg ids, the registry, the dispatcher."""

    server_key: ServerKey
    store: Store
    msg_ids: MsgIdGenerator
    stats: Counter[str]

    @property
    def rpc(self) -> Router: ...

    def attach(self, conn: Peer, previous: AuthKey | None = None) -> None:
        """Index a connection under the key it uses (moving it off ``previous``)."""

    def detach(self, conn: Peer) -> None:
        """Forget a closed connection."""

    def new_session(self, key_id: int, session_id: int) -> bool:
        """True the first time a (key, session id) pair is seen."""


class Site(Endpoint, Protocol):
    """A data centre as its connections see it: where they run and whom they serve."""

    @property
    def sandbox(self) -> Hub: ...


class World(Protocol):
    """The server as the RPC handlers and message delivery use it."""

    store: Store
    codes: dict[str, LoginCode]
    qr_tokens: dict[bytes, QrToken]
    qr_by_key: dict[int, QrToken]
    srp_challenges: dict[int, Challenge]
    pending_2fa: dict[int, int]
    random_ids: dict[int, set[int]]
    pinned: dict[int, list[tuple[str, int]]]
    stats: Counter[str]
    user_keys: dict[int, set[int]]
    conns_by_key: dict[int, set[Peer]]

    @property
    def dcs(self) -> Mapping[int, Endpoint]: ...

    def bind_key(self, key: AuthKey, user_id: int) -> None:
        """Log a key in as ``user_id``."""

    def unbind_key(self, key: AuthKey, *, revoked: bool) -> None:
        """Log a key out."""

    def issue_code(self, phone: str, code_hash: str | None = None) -> LoginCode:
        """Make a fresh code for a phone."""

    def new_qr(self, key_id: int, dc_id: int) -> QrToken:
        """A new login token for a key (replacing its previous one)."""

    def drop_qr(self, tok: QrToken) -> None:
        """Forget a used token."""
