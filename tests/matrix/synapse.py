"""A real Synapse homeserver for the tests: generated config on a free loopback port, SQLite,
rate limits raised, users made with the shared registration secret. No mock of Matrix."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_NAME = "unifyport.test"
RATE = {"per_second": 1000, "burst_count": 1000}
OVERRIDES = {
    "enable_registration": False,
    "trusted_key_servers": [],
    "suppress_key_server_warning": True,
    "report_stats": False,
    "presence": {"enabled": False},
    "rc_message": RATE,
    "rc_login": {"address": RATE, "account": RATE, "failed_attempts": RATE},
    "rc_joins": {"local": RATE, "remote": RATE},
    "rc_invites": {"per_room": RATE, "per_user": RATE, "per_issuer": RATE},
    "rc_registration": RATE,
    "rc_room_creation": RATE,
    "rc_joins_per_room": RATE,
    "rc_admin_redaction": RATE,
    "url_preview_enabled": False,
    "max_upload_size": "200M",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Synapse:
    """A running homeserver and a small synchronous client for test set-up."""

    directory: Path
    port: int = 0
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "homeserver.yaml"
        if not config.exists():
            subprocess.run(
                [sys.executable, "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
                 "--config-path", str(config), "--data-directory", str(self.directory),
                 "--generate-config", "--report-stats=no"],
                check=True, capture_output=True, cwd=self.directory, timeout=120)
        self.port = self.port or _free_port()
        override = {**OVERRIDES, "registration_shared_secret": self.secret,
                    "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"],
                                   "type": "http", "tls": False, "x_forwarded": False,
                                   "resources": [{"names": ["client"], "compress": False}]}]}
        (self.directory / "override.yaml").write_text(json.dumps(override))  # JSON is YAML
        log = open(self.directory / "synapse.out", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config),
             "-c", str(self.directory / "override.yaml")],
            cwd=self.directory, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("Synapse exited: "
                                   + (self.directory / "synapse.out").read_text()[-3000:])
            try:
                self.call("GET", "/_matrix/client/versions")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise RuntimeError(f"Synapse did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             ok: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            if ok:
                raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:300]!r}") from None
            return {"status": err.code, **json.loads(err.read() or b"{}")}

    def register(self, username: str, password: str, admin: bool = False) -> dict[str, Any]:
        """A user made with the shared secret: ``user_id``, ``access_token``, ``device_id``."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\0".join([nonce.encode(), username.encode(), password.encode(),
                               b"admin" if admin else b"notadmin"]))
        return dict(self.call("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": username, "password": password, "admin": admin,
            "mac": mac.hexdigest()}))

    def new_user(self, prefix: str = "u") -> dict[str, Any]:
        name = f"{prefix}{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        user = self.register(name, password)
        return {**user, "localpart": name, "password": password}

    def direct_room(self, owner: dict[str, Any], other: dict[str, Any]) -> str:
        """A room ``owner`` made and ``other`` joined."""
        room = self.call("POST", "/_matrix/client/v3/createRoom",
                         {"preset": "private_chat", "invite": [other["user_id"]],
                          "is_direct": True}, token=owner["access_token"])["room_id"]
        self.call("POST", f"/_matrix/client/v3/join/{room}", {}, token=other["access_token"])
        return str(room)

    def say(self, user: dict[str, Any], room: str, text: str, **extra: Any) -> str:
        txn = secrets.token_hex(8)
        return str(self.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
                             {"msgtype": "m.text", "body": text, **extra},
                             token=user["access_token"])["event_id"])

    def messages(self, user: dict[str, Any], room: str) -> list[dict[str, Any]]:
        page = self.call("GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50",
                         token=user["access_token"])
        return [e for e in page["chunk"] if e["type"] == "m.room.message"]

    def logout_all(self, user: dict[str, Any]) -> None:
        token = self.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "password": user["password"],
            "identifier": {"type": "m.id.user", "user": user["localpart"]}})["access_token"]
        self.call("POST", "/_matrix/client/v3/logout/all", {}, token=token)

    def devices(self, user: dict[str, Any]) -> set[str]:
        """The user's devices (each login is one), asked with the registration token."""
        found = self.call("GET", "/_matrix/client/v3/devices", token=user["access_token"])
        return {d["device_id"] for d in found["devices"]}

    def raw(self, method: str, path: str, data: bytes | None, token: str,
            content_type: str = "application/octet-stream") -> bytes:
        """A request with a raw body, answering the raw bytes (media upload and download)."""
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return bytes(response.read())

    def upload(self, user: dict[str, Any], data: bytes, mime_type: str) -> str:
        """The ``mxc://`` URI of ``data`` uploaded as ``user``."""
        return str(json.loads(self.raw("POST", "/_matrix/media/v3/upload", data,
                                       user["access_token"], mime_type))["content_uri"])

    def download(self, user: dict[str, Any], mxc: str) -> bytes:
        server, media = mxc.removeprefix("mxc://").split("/", 1)
        return self.raw("GET", f"/_matrix/client/v1/media/download/{server}/{media}", None,
                        user["access_token"])

    def send(self, user: dict[str, Any], room: str, type: str, content: dict[str, Any]) -> str:
        txn = secrets.token_hex(8)
        return str(self.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/{type}/{txn}",
                             content, token=user["access_token"])["event_id"])

    def timeline(self, user: dict[str, Any], room: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's latest events of any type, newest first."""
        page = self.call("GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit={limit}",
                         token=user["access_token"])
        return list(page["chunk"])

    def receipts(self, user: dict[str, Any], room: str) -> dict[str, Any]:
        """The room's read receipts as an initial sync shows them to ``user``."""
        sync = self.call("GET", "/_matrix/client/v3/sync?timeout=0", token=user["access_token"])
        room_data = sync["rooms"]["join"].get(room) or {}
        found: dict[str, Any] = {}
        for event in room_data.get("ephemeral", {}).get("events", []):
            if event["type"] == "m.receipt":
                found.update(event["content"])
        return found
