"""The sandbox's world: users, chats, message boxes and auth keys, persisted as JSON."""

from __future__ import annotations

import bisect
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .crypto import auth_key_id


def digits(phone: str) -> str:
    """The digits of a phone number (Telethon strips ``+``, users may not)."""
    return "".join(ch for ch in phone if ch.isdigit())


@dataclass
class User:
    """A Telegram account living in the sandbox."""

    id: int
    phone: str
    first_name: str
    last_name: str = ""
    username: str = ""
    dc_id: int = 2
    bot: bool = False
    bot_token: str = ""
    access_hash: int = 0
    # 2FA: salts and verifier v = g^x (hex); the password itself is never stored.
    srp_salt1: str = ""
    srp_salt2: str = ""
    srp_verifier: str = ""
    password_hint: str = ""

    @property
    def has_password(self) -> bool:
        """Whether the account has two-step verification."""
        return bool(self.srp_verifier)

    def public(self) -> dict[str, Any]:
        """JSON view for the control API."""
        return {
            "id": self.id,
            "phone": self.phone,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username or None,
            "dc_id": self.dc_id,
            "bot": self.bot,
            "bot_token": self.bot_token or None,
            "has_password": self.has_password,
        }


@dataclass
class Chat:
    """A basic group."""

    id: int
    title: str
    date: int = field(default_factory=lambda: int(time.time()))
    members: list[int] = field(default_factory=list)


@dataclass
class Message:
    """One message as seen from one user's box (Telegram numbers messages per user)."""

    owner_id: int
    id: int
    pts: int
    date: int
    text: str
    out: bool
    peer_type: str  # "user" or "chat"
    peer_id: int
    from_id: int
    uid: int = 0  # shared by every box's copy of one message
    reply_to: int | None = None  # id in this box of the message replied to
    media: int | None = None  # id of a stored :class:`Media`
    edit_date: int | None = None


@dataclass
class Media:
    """An uploaded photo or document; its bytes are a file under ``files/``."""

    id: int
    kind: str  # "photo" or "document"
    access_hash: int
    file_reference: str  # hex
    size: int
    mime_type: str
    date: int
    dc_id: int
    attributes: list[str] = field(default_factory=list)  # hex of TL DocumentAttribute*
    width: int = 0
    height: int = 0


@dataclass
class AuthKey:
    """An auth key created by a handshake on one DC, optionally bound to a user."""

    key: bytes
    dc_id: int
    salt: int
    user_id: int | None = None
    revoked: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def key_id(self) -> int:
        """The wire id of the key."""
        return auth_key_id(self.key)


@dataclass
class LoginCode:
    """A code sent to a phone (in memory only)."""

    phone: str
    code: str
    hash: str
    expires: float


@dataclass
class QrToken:
    """A login token exported by a logged-out key (in memory only)."""

    token: bytes
    key_id: int
    dc_id: int
    expires: float
    accepted_user: int | None = None


#: pts of an empty box: Telethon reads a stored pts of 0 as "no state" and would not catch up.
BASE_PTS = 1


class Store:
    """In-memory state; users, chats and keys are written to ``state.json``, messages are
    appended to ``messages.jsonl`` (so a busy sandbox never rewrites its whole history)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "state.json"
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.boxes: dict[int, list[Message]] = {}
        self.pts: dict[int, int] = {}
        self.keys: dict[int, AuthKey] = {}
        self.next_user_id = 1_000_001
        self.next_chat_id = 5_000_001
        self.next_uid = 0
        self.media: dict[int, Media] = {}
        # Read state per (owner, peer type, peer id): the highest inbox/outbox id read.
        self.read_inbox: dict[tuple[int, str, int], int] = {}
        self.read_outbox: dict[tuple[int, str, int], int] = {}
        self.reactions: dict[int, dict[int, str]] = {}  # message uid -> user -> emoticon
        # Updates other than new messages, per owner, for getDifference (in memory only).
        self.other_updates: dict[int, list[tuple[int, Any]]] = {}
        self.dirty = False
        self.journal_path = directory / "messages.jsonl"
        self._journal: list[str] = []
        if self.path.exists():
            self._load(json.loads(self.path.read_text()))
        if self.journal_path.exists():
            self._replay()

    @property
    def pending(self) -> bool:
        """Whether anything waits to be written."""
        return self.dirty or bool(self._journal)

    # -- persistence ---------------------------------------------------------
    def _load(self, data: dict[str, Any]) -> None:
        self.next_user_id = data["next_user_id"]
        self.next_chat_id = data["next_chat_id"]
        self.next_uid = data.get("next_uid", 0)
        for u in data["users"]:
            self.users[u["id"]] = User(**u)
        for c in data["chats"]:
            self.chats[c["id"]] = Chat(**c)
        for m in data.get("media", []):
            self.media[m["id"]] = Media(**m)
        for k in data["keys"]:
            k["key"] = bytes.fromhex(k["key"])
            key = AuthKey(**k)
            self.keys[key.key_id] = key

    def _replay(self) -> None:
        with self.journal_path.open() as journal:
            for line in journal:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if "op" in record:
                        self._apply(record)
                        continue
                    msg = Message(**record)
                except (ValueError, TypeError, KeyError):
                    break  # a torn last line after a crash
                self.boxes.setdefault(msg.owner_id, []).append(msg)
                self.pts[msg.owner_id] = msg.pts
                self.next_uid = max(self.next_uid, msg.uid)

    def _apply(self, op: dict[str, Any]) -> None:
        """Replay one journalled change of existing messages or read state."""
        owner = op.get("owner", 0)
        if "pts" in op:
            self.pts[owner] = max(self.pts.get(owner, BASE_PTS), op["pts"])
        kind = op["op"]
        if kind == "edit":
            msg = self.find(owner, msg_id=op["id"])
            if msg is not None:
                msg.text, msg.edit_date = op["text"], op["edit_date"]
        elif kind == "delete":
            gone = set(op["ids"])
            self.boxes[owner] = [m for m in self.boxes.get(owner, []) if m.id not in gone]
        elif kind == "read":
            table = self.read_inbox if op["box"] == "inbox" else self.read_outbox
            table[(owner, op["peer_type"], op["peer_id"])] = op["max_id"]
        elif kind == "react":
            chosen = self.reactions.setdefault(op["uid"], {})
            chosen.pop(op["user"], None)  # a new reaction is the newest
            if op["emoticon"]:
                chosen[op["user"]] = op["emoticon"]

    def change(self, op: dict[str, Any]) -> None:
        """Apply a change of existing state and journal it (replayed by :meth:`_apply`)."""
        self._apply(op)
        self._journal.append(json.dumps(op) + "\n")

    def bump(self, owner_id: int, count: int = 1) -> int:
        """Advance a box's pts for a change that is not a new message; returns the new pts
        (the caller journals it with :meth:`change`)."""
        pts = self.pts.get(owner_id, BASE_PTS) + count
        self.pts[owner_id] = pts
        return pts

    def remember_update(self, owner_id: int, pts: int, update: Any) -> None:
        """Keep a pts-carrying update for ``updates.getDifference`` (the last 1000)."""
        log = self.other_updates.setdefault(owner_id, [])
        log.append((pts, update))
        if len(log) > 1000:
            del log[:500]

    def save(self) -> None:
        """Append new messages to the journal; rewrite the small state file if it changed."""
        if self._journal:
            with self.journal_path.open("a") as journal:
                journal.write("".join(self._journal))
            self._journal.clear()
        if not self.dirty:
            return
        keys = []
        for key in self.keys.values():
            item = asdict(key)
            item["key"] = key.key.hex()
            keys.append(item)
        data = {
            "next_user_id": self.next_user_id,
            "next_chat_id": self.next_chat_id,
            "next_uid": self.next_uid,
            "users": [asdict(u) for u in self.users.values()],
            "chats": [asdict(c) for c in self.chats.values()],
            "media": [asdict(m) for m in self.media.values()],
            "keys": keys,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)
        self.dirty = False

    # -- users ---------------------------------------------------------------
    def create_user(
        self,
        phone: str,
        first_name: str,
        last_name: str = "",
        username: str = "",
        dc_id: int = 2,
        bot: bool = False,
    ) -> User:
        """Create an account; bots get a token ``<id>:<secret>``."""
        if phone and self.user_by_phone(phone):
            raise ValueError(f"phone {phone} already exists")
        if username and self.user_by_username(username):
            raise ValueError(f"username {username} already exists")
        uid = self.next_user_id
        self.next_user_id += 1
        user = User(
            id=uid,
            phone=digits(phone),
            first_name=first_name,
            last_name=last_name,
            username=username,
            dc_id=dc_id,
            bot=bot,
            access_hash=int.from_bytes(secrets.token_bytes(8), "little", signed=True),
        )
        if bot:
            user.bot_token = f"{uid}:{secrets.token_urlsafe(24)}"
        self.users[uid] = user
        self.dirty = True
        return user

    def user_by_phone(self, phone: str) -> User | None:
        """Find an account by phone (digits compared)."""
        d = digits(phone)
        return next((u for u in self.users.values() if d and u.phone == d), None)

    def user_by_username(self, username: str) -> User | None:
        """Find an account by username (case-insensitive)."""
        name = username.lower().lstrip("@")
        return next((u for u in self.users.values() if u.username.lower() == name), None)

    def create_chat(self, title: str) -> Chat:
        """Create a basic group."""
        chat = Chat(self.next_chat_id, title)
        self.next_chat_id += 1
        self.chats[chat.id] = chat
        self.dirty = True
        return chat

    # -- message boxes -------------------------------------------------------
    def deliver(
        self,
        owner_id: int,
        *,
        text: str,
        out: bool,
        peer_type: str,
        peer_id: int,
        from_id: int,
        uid: int,
        reply_to_uid: int | None = None,
        media: int | None = None,
    ) -> Message:
        """Append a message to a user's box, advancing its pts by one."""
        pts = self.pts.get(owner_id, BASE_PTS) + 1
        self.pts[owner_id] = pts
        reply = self.find(owner_id, uid=reply_to_uid) if reply_to_uid else None
        msg = Message(
            owner_id, pts, pts, int(time.time()), text, out, peer_type, peer_id, from_id,
            uid=uid, reply_to=reply.id if reply else None, media=media,
        )  # fmt: skip
        self.boxes.setdefault(owner_id, []).append(msg)
        self._journal.append(json.dumps(asdict(msg)) + "\n")
        return msg

    def find(self, owner_id: int, *, msg_id: int = 0, uid: int | None = None) -> Message | None:
        """A message of a box by its id there, or by its shared uid."""
        for m in reversed(self.boxes.get(owner_id, [])):
            if m.id == msg_id or (uid is not None and m.uid == uid):
                return m
        return None

    def new_uid(self) -> int:
        """A fresh shared message uid."""
        self.next_uid += 1
        return self.next_uid

    def since(self, owner_id: int, pts: int, limit: int = 1000) -> list[Message]:
        """Messages of a box after ``pts`` (a box is in pts order: a binary search)."""
        box = self.boxes.get(owner_id, [])
        start = bisect.bisect_right(box, pts, key=lambda m: m.pts)
        return box[start : start + limit]

    # -- auth keys -----------------------------------------------------------
    def add_key(self, key: bytes, dc_id: int, salt: int) -> AuthKey:
        """Register a key produced by a handshake."""
        record = AuthKey(key, dc_id, salt)
        self.keys[record.key_id] = record
        self.dirty = True
        return record

    def keys_of(self, user_id: int) -> list[AuthKey]:
        """Keys bound to a user."""
        return [k for k in self.keys.values() if k.user_id == user_id]
