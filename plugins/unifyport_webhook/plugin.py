"""Entry point of the webhook plugin: the ``webhook`` event sink and its management routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from unifyport import hookimpl
from unifyport.sdk import EventSink, Route, Settings
from unifyport_webhook.config import load_config
from unifyport_webhook.routes import routes
from unifyport_webhook.sink import WebhookSink


@hookimpl
def register_event_sinks(register: Callable[[EventSink], None], settings: Settings) -> None:
    register(WebhookSink(load_config(settings)))  # also delivers endpoints stored by API


@hookimpl
def register_routes(
    register: Callable[[Route], None], settings: Settings, sinks: Mapping[str, EventSink]
) -> None:
    sink = sinks.get(WebhookSink.name)
    if not isinstance(sink, WebhookSink):  # the plugin's sink is not running here
        sink = WebhookSink(load_config(settings))
    for route in routes(sink):
        register(route)
