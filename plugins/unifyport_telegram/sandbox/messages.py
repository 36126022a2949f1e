"""Users, messages and the configuration calls clients make while running."""

from __future__ import annotations

import time
from typing import Any

from telethon.tl import functions, types

from .delivery import post
from .rpc import Call, HandlerTable, RpcFail
from .state import User
from .views import user as tl_user
from .views import when

HANDLERS = HandlerTable()


def resolve_user(c: Call, peer: Any) -> User:
    """The sandbox user an ``InputUser``/``InputPeer`` refers to."""
    store = c.sandbox.store
    if isinstance(peer, types.InputUserSelf | types.InputPeerSelf):
        return c.user()
    uid = getattr(peer, "user_id", None)
    if uid is None or uid not in store.users:
        raise RpcFail(
            400, "USER_ID_INVALID" if isinstance(peer, types.InputUser) else "PEER_ID_INVALID"
        )
    return store.users[uid]


@HANDLERS.handles(functions.help.GetConfigRequest)
def get_config(c: Call) -> types.Config:
    """Configuration listing the sandbox's own DCs."""
    now = time.time()
    options = [
        types.DcOption(id=dc.id, ip_address=dc.host, port=dc.port, ipv6=(":" in dc.host) or None)
        for dc in c.sandbox.dcs.values()
    ]
    return types.Config(
        date=when(now), expires=when(now + 3600), test_mode=False,
        this_dc=c.dc_id, dc_options=options, dc_txt_domain_name="sandbox.invalid",
        chat_size_max=200, megagroup_size_max=200000, forwarded_count_max=100,
        online_update_period_ms=210000, offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000, online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000, notify_default_delay_ms=1500, push_chat_period_ms=60000,
        push_chat_limit=2, edit_time_limit=172800, revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647, rating_e_decay=2419200, stickers_recent_limit=200,
        channels_read_media_period=604800, call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000, call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000, me_url_prefix="https://t.me/",
        caption_length_max=1024, message_length_max=4096, webfile_dc_id=c.dc_id,
    )  # fmt: skip


@HANDLERS.handles(functions.help.GetNearestDcRequest)
def get_nearest_dc(c: Call) -> types.NearestDc:
    """This DC is the nearest."""
    return types.NearestDc(country="ZZ", this_dc=c.dc_id, nearest_dc=c.dc_id)


@HANDLERS.handles(functions.users.GetUsersRequest)
def get_users(c: Call) -> list[types.TypeUser]:
    """Users by ``InputUser`` (unknown ids are skipped, like Telegram)."""
    me = c.user()
    out: list[types.TypeUser] = []
    for peer in c.request.id:
        try:
            out.append(tl_user(resolve_user(c, peer), me.id))
        except RpcFail:
            continue
    return out


@HANDLERS.handles(functions.users.GetFullUserRequest)
def get_full_user(c: Call) -> types.users.UserFull:
    """A minimal full profile."""
    me = c.user()
    user = resolve_user(c, c.request.id)
    full = types.UserFull(
        id=user.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=0,
    )
    return types.users.UserFull(full_user=full, chats=[], users=[tl_user(user, me.id)])


@HANDLERS.handles(functions.contacts.ResolveUsernameRequest)
def resolve_username(c: Call) -> types.contacts.ResolvedPeer:
    """Find a user by username."""
    me = c.user()
    user = c.sandbox.store.user_by_username(c.request.username)
    if user is None:
        raise RpcFail(400, "USERNAME_NOT_OCCUPIED")
    return types.contacts.ResolvedPeer(
        peer=types.PeerUser(user.id), chats=[], users=[tl_user(user, me.id)]
    )


def target(c: Call, peer: Any, random_id: int) -> tuple[int | None, int | None]:
    """Where a new message goes, ``(user id, None)`` or ``(None, basic group id)``; a
    ``random_id`` the sender used before is ``RANDOM_ID_DUPLICATE``."""
    me = c.user()
    sent_ids = c.sandbox.random_ids.setdefault(me.id, set())
    if random_id in sent_ids:
        raise RpcFail(400, "RANDOM_ID_DUPLICATE")
    sent_ids.add(random_id)
    if isinstance(peer, types.InputPeerChat):
        chat = c.sandbox.store.chats.get(peer.chat_id)
        if chat is None or me.id not in chat.members:
            raise RpcFail(400, "PEER_ID_INVALID")
        return None, chat.id
    return resolve_user(c, peer).id, None


def reply_of(c: Call, reply_to: Any) -> tuple[int, int] | None:
    """``(box owner, message id)`` a request's ``reply_to`` points at."""
    reply_id = getattr(reply_to, "reply_to_msg_id", None)
    return (c.user().id, reply_id) if reply_id else None


@HANDLERS.handles(functions.messages.SendMessageRequest)
def send_message(c: Call) -> types.UpdateShortSentMessage:
    """Store an outgoing message and push it to the recipients."""
    me = c.user()
    if not c.request.message:
        raise RpcFail(400, "MESSAGE_EMPTY")
    if len(c.request.message) > 4096:
        raise RpcFail(400, "MESSAGE_TOO_LONG")
    to_id, chat_id = target(c, c.request.peer, c.request.random_id)
    reply = reply_of(c, c.request.reply_to)
    msg = post(c.sandbox, me.id, to_id, c.request.message, chat_id, reply_to=reply, origin=c.conn)
    return types.UpdateShortSentMessage(
        out=True, id=msg.id, pts=msg.pts, pts_count=1, date=when(msg.date)
    )


@HANDLERS.handles(functions.account.UpdateStatusRequest)
def update_status(c: Call) -> bool:
    """Accept online/offline status."""
    c.user()
    return True
