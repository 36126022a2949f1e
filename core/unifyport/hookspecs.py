"""The plugin hook specifications: the whole Python API between the core and its plugins.

Registry hooks are synchronous and receive a ``register`` callback; the core validates what is
registered and refuses duplicate names at start-up. Async work lives in the objects registered.
Every hook here is documented in ``docs/plugins.md`` (a test fails when one is not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from unifyport.cli.api import CliCommand
    from unifyport.events.sinks import EventSink
    from unifyport.plugins.routes import Route
    from unifyport.providers import Provider
    from unifyport.settings import Settings

hookspec = pluggy.HookspecMarker("unifyport")


@hookspec
def register_providers(register: Callable[[Provider], None], settings: Settings) -> None:
    """Register channel providers.

    Called once per app when the plugin manager is built (``serve``, ``plugins``,
    ``config check`` and the other commands). Call ``register(provider)`` for each
    :class:`unifyport.providers.Provider`; read and validate your own ``[plugins.<name>]``
    table with ``settings.plugin_table(name)`` and raise :class:`unifyport.errors.ConfigError`
    naming the key on a bad value. Returns nothing.
    """


@hookspec
def register_event_sinks(register: Callable[[EventSink], None], settings: Settings) -> None:
    """Register event sinks that consume the event stream (webhooks, queues...).

    Called once per app when the plugin manager is built. Call ``register(sink)`` for each
    :class:`unifyport.sdk.EventSink`; the core checks that it implements the protocol and,
    while serving, runs a delivery engine for it that calls its ``deliver``. Returns nothing.
    """


@hookspec
def register_routes(
    register: Callable[[Route], None], settings: Settings, sinks: Mapping[str, EventSink]
) -> None:
    """Register extra HTTP routes (for example a sink's management API).

    Called once per app when the HTTP app is created, after the registry hooks, so ``sinks``
    holds the event sinks registered for this app by name (a plugin finds its own there).
    Call ``register(route)`` for each :class:`unifyport.http.plugin_routes.Route`; the core
    mounts it behind API-key authentication and the JSON error format. Returns nothing.
    """


@hookspec
def register_commands(register: Callable[[CliCommand], None]) -> None:
    """Register extra ``unifyport`` sub-commands (for example ``sandbox telegram``).

    Called when the command line is parsed. Call ``register(command)`` for each
    :class:`unifyport.cli.api.CliCommand`. Returns nothing.
    """
