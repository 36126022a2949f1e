"""The JSON messaging operations of an online account as runtime calls any process answers:
``list_chats``, ``history``, ``edit``, ``delete``, ``react`` and ``mark_read``.

Each is a handler taking JSON arguments (validated here, in the process that runs it) and
answering JSON; the messaging routes call it through :func:`call`, which runs it here when this
process runs the account's client and forwards it to the owner process otherwise
(``runtime/operations.py``), so both cases take one code path and answer the same errors.
Sends with files and attachment downloads carry byte streams: they run only in the owner
process (:func:`run_here`); elsewhere they are answered 503 ``runtime_unavailable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unifyport.accounts.service import emit
from unifyport.db.models import Account
from unifyport.errors import ApiError
from unifyport.gateway import Gateway
from unifyport.messages import linked
from unifyport.providers import Provider, SendContext
from unifyport.runtime.operations import client_errors, on_owner, supervisor
from unifyport.runtime.supervisor import RuntimeSupervisor

T = TypeVar("T")
CALL_TIMEOUT = 30.0
"""Longest a provider operation may take (a send with files takes longer)."""


async def run_here(gw: Gateway, account: Account, operation: str,
                   fn: Callable[[Provider, SendContext], Awaitable[T]],
                   seconds: float = CALL_TIMEOUT) -> T:
    """Run a provider operation with the client running in this process; domain errors
    become API errors."""
    stopped = ApiError(409, "runtime_not_running",
                       f"the account's client stopped during {operation}", status="stopped")
    async with client_errors(gw, account, seconds, stopped):
        return await supervisor(gw).call(account, operation, fn)


async def call(gw: Gateway, account: Account, operation: str,
               args: Mapping[str, Any]) -> dict[str, Any]:
    """Run a messaging operation where the account's client runs: here or in its owner."""
    return dict(await on_owner(gw, account, operation, args, within=CALL_TIMEOUT))


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageArgs(_Args):
    limit: int = Field(ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class HistoryArgs(PageArgs):
    chat_id: str


class MessageArgs(_Args):
    chat_id: str
    message_id: str


class EditArgs(MessageArgs):
    text: str = Field(min_length=1)


class ReactArgs(MessageArgs):
    emoji: str = Field(min_length=1)
    remove: bool = False


A = TypeVar("A", bound=_Args)


def _parse(model: type[A], args: Mapping[str, Any]) -> A:
    try:
        return model.model_validate(args)
    except ValidationError:
        raise ApiError(422, "validation_failed", "invalid arguments for a runtime call") \
            from None


async def list_chats(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    a = _parse(PageArgs, args)
    page = await run_here(gw, account, "list_chats",
                          lambda p, c: p.list_chats(c, a.limit, a.cursor))
    out = []
    for chat in page.items:
        data = chat.model_dump(mode="json", exclude={"last_message"})
        data["last_message"] = None if chat.last_message is None else \
            linked(account.id, chat.last_message)
        out.append(data)
    return {"data": out, "next_cursor": page.next_cursor}


async def history(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    a = _parse(HistoryArgs, args)
    page = await run_here(gw, account, "history",
                          lambda p, c: p.history(c, a.chat_id, a.limit, a.cursor))
    return {"data": [linked(account.id, m) for m in page.items], "next_cursor": page.next_cursor}


async def edit(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    """Edit; emits ``message.edited`` (stored by the process that made the change)."""
    a = _parse(EditArgs, args)
    message = await run_here(gw, account, "edit",
                             lambda p, c: p.edit(c, a.chat_id, a.message_id, a.text))
    data = linked(account.id, message)
    async with gw.db.write() as s:
        emit(s, "message.edited", account.id, {"provider": account.provider, "message": data})
    return data


async def delete(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    """Delete for everyone; emits ``message.deleted``."""
    a = _parse(MessageArgs, args)
    await run_here(gw, account, "delete", lambda p, c: p.delete(c, a.chat_id, a.message_id))
    async with gw.db.write() as s:
        emit(s, "message.deleted", account.id, {"provider": account.provider,
                                                "chat_id": a.chat_id,
                                                "message_ids": [a.message_id]})
    return {}


async def react(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    a = _parse(ReactArgs, args)
    await run_here(gw, account, "react", lambda p, c: p.react(
        c, a.chat_id, a.message_id, a.emoji, remove=a.remove))
    return {}


async def mark_read(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    a = _parse(MessageArgs, args)
    await run_here(gw, account, "mark_read",
                   lambda p, c: p.mark_read(c, a.chat_id, a.message_id))
    return {}


HANDLERS = {"list_chats": list_chats, "history": history, "edit": edit, "delete": delete,
            "react": react, "mark_read": mark_read}


def register(sup: RuntimeSupervisor) -> None:
    """Let any process run the messaging operations (each registers the same)."""
    for name, handler in HANDLERS.items():
        sup.calls.register(name, partial(handler, sup.gw))
