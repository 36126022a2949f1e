"""In-process notice that events were committed, so local sinks need not wait for a poll.

A listener on every ORM session notes flushed :class:`Event` rows (events inserted as rows,
``db.repositories.store_collected``, note themselves) and, after the commit,
calls the subscribed callbacks (in the event loop's thread, where SQLAlchemy's asyncio layer
runs session code). Other processes still find new events by polling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from unifyport.db.models import Event
from unifyport.db.repositories import NEW_EVENTS as _FLAG

_subscribers: set[Callable[[], None]] = set()


def subscribe(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback()`` after each commit that wrote events; returns the unsubscribe."""
    _subscribers.add(callback)
    return lambda: _subscribers.discard(callback)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    if _subscribers and any(isinstance(obj, Event) for obj in session.new):
        session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        for callback in list(_subscribers):
            callback()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)
