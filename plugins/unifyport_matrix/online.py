"""What an online Matrix runtime attaches, and the checks every room call shares."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from mautrix.client import ClientAPI

from unifyport.sdk import SendContext, StepError

from . import client as mx


@dataclass
class Online:
    """What an online runtime attaches: its client and whose it is."""

    client: ClientAPI
    user_id: str


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def online_in(ctx: SendContext, room: str | None = None) -> Online:
    """The attached client; ``room``, when given, must be a room id."""
    online = ctx.client
    if not isinstance(online, Online):
        raise StepError("runtime_not_running", "the account is not online")
    if room is not None and not room.startswith("!"):
        raise StepError("validation_failed", "chat_id must be a room id (!room:server)")
    return online


@contextlib.contextmanager
def in_room() -> Iterator[None]:
    """Homeserver refusals in a room call: not a member, a revoked token."""
    try:
        yield
    except mx.Revoked:
        raise StepError("session_revoked", "the homeserver refused the token") from None
    except StepError as err:
        if err.code == "provider_unavailable" and "M_FORBIDDEN" in err.message:
            raise StepError("chat_not_found", "not a member of that room") from None
        if err.code == "provider_unavailable" and "M_NOT_FOUND" in err.message:
            raise StepError("message_not_found", "no such message in that room") from None
        raise
