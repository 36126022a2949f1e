"""A stopped client's memory is reclaimed under the collection policy ``serve`` runs (its
objects were frozen while it was online; both backends)."""

from __future__ import annotations

import gc
import time
import weakref

from tests.support.gateway import Api
from tests.support.waiting import wait_for
from unifyport.collector import CollectorPolicy
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import authorized, online


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
        policy.step(time.monotonic() + 600)  # the periodic full collection
        assert client() is None
    finally:
        policy.stop()
