"""The garbage-collection policy of a serving process: frozen heaps, re-freezes as the heap
grows, and a periodic full collection that still reclaims cycles among frozen objects."""

from __future__ import annotations

import gc
import time
import weakref

from tests.support.waiting import wait_for
from unifyport.collector import (
    YOUNG_THRESHOLD,
    CollectorPolicy,
    client_ended,
    client_started,
    collector_policy,
)


class Node:
    other: Node


def test_frozen_cycles_are_reclaimed_by_a_full_collection_once_clients_ended() -> None:
    before = gc.get_threshold()
    policy = CollectorPolicy(refreeze_at=0, full_interval=600)
    policy.start()
    try:
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
        gone = weakref.ref(a)
        policy.step()  # the unfrozen old generation is past refreeze_at: re-freeze
        assert (policy.refreezes, policy.full_collections) == (1, 0)
        del a, b
        gc.collect()
        assert gone() is not None  # frozen: out of the collector's sight
        policy.step(time.monotonic() + 600)  # due, but no client ended: not taken
        assert gone() is not None and policy.full_collections == 0
        client_ended()
        policy.step()  # a client ended, but the last full collection was just now
        assert gone() is not None and policy.full_collections == 0
        policy.step(time.monotonic() + 600)  # both: the full collection
        assert gone() is None
        assert policy.full_collections == 1 and gc.get_freeze_count() > 0
        assert policy.longest_refreeze > 0
    finally:
        policy.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_full_collection_waits_for_a_quarter_of_the_online_clients_to_end() -> None:
    """The pause grows with the heap: a lone reconnect among many online clients does not
    make one; a quarter of them ending does."""
    policy = CollectorPolicy(refreeze_at=10**9, full_interval=0)
    policy.start()
    try:
        for _ in range(100):
            client_started()
        client_ended()  # one of 100 (99 online)
        policy.step()
        assert policy.full_collections == 0
        for _ in range(24):
            client_ended()  # 25 of them, 75 still online: a third
        policy.step()
        assert policy.full_collections == 1
        policy.step()
        assert policy.full_collections == 1  # none ended since
    finally:
        for _ in range(75):
            client_ended()
        policy.stop()


async def test_the_policy_looks_at_the_heap_while_serving() -> None:
    async with collector_policy(CollectorPolicy(refreeze_at=0), interval=0.01) as policy:
        async def refrozen() -> bool:
            return policy.refreezes >= 2

        await wait_for(refrozen, "two re-freezes", delay=0.01)
    assert gc.get_freeze_count() == 0
