"""What online clients cost in memory: a stopped client's is reclaimed under the collection
policy ``serve`` runs (its objects were frozen while it was online), and no client starts a
thread of its own (both backends)."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from tests.support.gateway import Api
from tests.support.waiting import wait_for
from unifyport.collector import CollectorPolicy
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import authorized, online, received


async def test_a_stopped_client_is_reclaimed_by_the_full_collection(api: Api,
                                                                    sb: RunningSandbox) -> None:
    acc, _ = await authorized(api, sb, "+15550004901")
    policy = CollectorPolicy(refreeze_at=0, full_interval=600)
    policy.start()
    try:
        await online(api, acc)
        runtime = api.gateway.runtime
        assert runtime is not None
        client = weakref.ref(runtime.clients[acc])
        policy.step()  # accounts came online: re-frozen with the client in it
        status, body = await api.post(f"/v1/accounts/{acc}/runtime/stop")
        assert status == 200 and body["status"] == "stopped"
        async def ended() -> bool:  # the client's task wound down
            return acc not in runtime.tasks and acc not in runtime.clients

        await wait_for(ended, "the stopped client to end", delay=0.01)
        gc.collect()
        assert client() is not None  # its cycles are frozen: a collection does not see them
        policy.step(time.monotonic() + 600)  # a client ended: the full collection
        assert client() is None
    finally:
        policy.stop()


async def test_online_clients_start_no_thread_of_their_own(api: Api, sb: RunningSandbox) -> None:
    """Kurigram would hand each packet's crypto to a thread of the connection's own (one
    thread per online account); small packets are handled in the loop's thread."""
    acc, me = await authorized(api, sb, "+15550004911")
    friend = await sb.control.create_user("+15550004912", "Tom")
    await online(api, acc)
    await sb.control.push_message(me["id"], friend["id"], "hello")
    await received(api, acc)
    status, _ = await api.post(f"/v1/accounts/{acc}/messages",
                               {"chat_id": str(friend["id"]), "text": "hi"})
    assert status == 201
    assert [t.name for t in threading.enumerate() if t.name.startswith("CryptoWorker")] == []
