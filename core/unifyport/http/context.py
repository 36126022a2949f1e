"""Access to the running gateway from inside a request."""

from __future__ import annotations

from typing import cast

from quart import current_app

from unifyport.gateway import Gateway

EXTENSION = "unifyport"


def gateway() -> Gateway:
    """The :class:`Gateway` of the app serving the current request."""
    return cast(Gateway, current_app.extensions[EXTENSION])
