"""Group commit: many small write transactions of one process run as one.

Thousands of online clients each write a little (a status change, received messages, their
update state). One transaction each costs a commit and, on SQLite, a turn at the file's one
write lock. :class:`GroupCommit` queues such writes in memory and runs every write queued
by the time the previous transaction ended in one transaction, one after the other, so a
burst costs a few commits instead of one per client. A write that fails rolls its batch
back; the batch is then run again one write per transaction, so only the failing write
sees its error.

The writes of a batch run without autoflush: what they add is inserted at the commit, all
together, and the events they emit (``EventRepository.add``) and the secrets they put
(``SecretRepository.put``: saved sessions) are collected as plain rows and stored by a few
statements at the end of the batch (``repositories.collect``), with no model instance and no
round trip each; so a write must not query rows that another write of the batch added. A
``prepare`` function may read what the batch's writes need in one statement first (e.g. the
rows named by their keys).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.database import Database
from unifyport.db.repositories import collect, store_collected

T = TypeVar("T")
Write = Callable[[AsyncSession], Awaitable[Any]]
Prepare = Callable[[AsyncSession, list[str]], Awaitable[None]]
Item = tuple[Write, str | None, "asyncio.Future[Any]"]
MAX_BATCH = 500
"""Most writes one transaction runs (the rest join the next one)."""


class GroupCommit:
    """Runs queued writes in shared transactions, in the order they were queued.

    ``run(fn)`` returns what ``fn(session)`` returned once its transaction committed (or
    raises what it raised). A caller cancelled while waiting does not take its write back:
    it was queued and runs (as a write awaited through ``database.to_the_end`` would)."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH,
                 prepare: Prepare | None = None) -> None:
        self.db = db
        self.max_batch = max_batch
        self.prepare = prepare
        """Run first in each transaction with the keys of its writes (distinct, sorted)."""
        self._queue: list[Item] = []
        self._drainer: asyncio.Task[None] | None = None
        self.transactions = 0
        """Transactions run so far (for tests and benches)."""

    async def run(self, fn: Callable[[AsyncSession], Awaitable[T]], key: str | None = None
                  ) -> T:
        """``fn(session)`` in the next shared transaction; ``key`` is handed to
        ``prepare``."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled caller's error is not "lost"
        self._queue.append((fn, key, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        batch: list[Item] = []
        try:
            while self._queue:
                batch, self._queue = (self._queue[:self.max_batch],
                                      self._queue[self.max_batch:])
                try:
                    results = await self._transaction(batch)
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][2], exc)
                        continue
                    for one in batch:  # again alone: only the failing write fails
                        try:
                            _settle(one[2], None, (await self._transaction([one]))[0])
                        except Exception as exc1:
                            _settle(one[2], exc1)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    _settle(future, None, result)
                batch = []
        finally:  # cancelled (the loop is closing): nobody waits forever
            for _, _, future in batch + self._queue:
                future.cancel()
            self._queue = []

    async def _transaction(self, batch: list[Item]) -> list[Any]:
        self.transactions += 1
        async with self.db.write() as s:
            if self.prepare is not None:
                await self.prepare(s, sorted({key for _, key, _ in batch if key is not None}))
            collect(s)
            with s.no_autoflush:
                results = [await fn(s) for fn, _, _ in batch]
            await store_collected(s)
            return results


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[Any], exc: BaseException | None, result: Any = None
            ) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
