"""Entry point of the webhook plugin: the ``webhook`` event sink and its management routes."""

from __future__ import annotations

from collections.abc import Callable

from unifyport import hookimpl
from unifyport.events.sinks import EventSink
from unifyport.http.plugin_routes import Route
from unifyport.settings import Settings
from unifyport_webhook.config import load_config
from unifyport_webhook.routes import routes
from unifyport_webhook.sink import WebhookSink

_SINKS: dict[int, tuple[Settings, WebhookSink]] = {}
"""One sink per settings object, shared by the two hooks of one app."""


def sink_for(settings: Settings) -> WebhookSink:
    """The sink built from ``settings`` (validated once; raises ``ConfigError``)."""
    entry = _SINKS.get(id(settings))
    if entry is None or entry[0] is not settings:
        entry = (settings, WebhookSink(load_config(settings)))
        _SINKS[id(settings)] = entry
    return entry[1]


@hookimpl
def register_event_sinks(register: Callable[[EventSink], None], settings: Settings) -> None:
    sink = sink_for(settings)
    if sink.endpoints:
        register(sink)


@hookimpl
def register_routes(register: Callable[[Route], None], settings: Settings) -> None:
    for route in routes(sink_for(settings)):
        register(route)
