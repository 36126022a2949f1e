"""Collect what plugins register, validating names and refusing duplicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pluggy

from unifyport.auth.declare import problems
from unifyport.errors import ConfigError
from unifyport.events.sinks import EventSink, sink_problem
from unifyport.plugins.manager import LoadedPlugin, create_plugin_manager
from unifyport.providers import Provider
from unifyport.settings import Settings

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
T = TypeVar("T")


@dataclass
class Registry:
    """Providers and sinks by name, and the plugin manager that produced them."""

    pm: pluggy.PluginManager
    plugins: list[LoadedPlugin]
    providers: dict[str, Provider] = field(default_factory=dict)
    sinks: dict[str, EventSink] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    """``provider:<name>`` / ``sink:<name>`` -> the plugin that registered it."""

    def provider(self, name: str) -> Provider | None:
        return self.providers.get(name)


def build_registry(
    settings: Settings, extra_plugins: tuple[tuple[str, object], ...] = ()
) -> Registry:
    """Load plugins, call the registry hooks and validate the result.

    Raises :class:`ConfigError` for duplicates, bad names, and plugin tables that name no
    loaded plugin.
    """
    pm, loaded = create_plugin_manager(settings.plugins.disabled, extra_plugins)
    reg = Registry(pm, loaded)
    names = {p.name for p in loaded}
    for table in settings.plugins.tables:
        if table not in names and table not in settings.plugins.disabled:
            raise ConfigError(f"plugins.{table}", "no such plugin is installed")
    _call_each(reg, pm.hook.register_providers, "provider", reg.providers, _check_provider,
               settings)
    _call_each(reg, pm.hook.register_event_sinks, "sink", reg.sinks, _check_sink, settings)
    return reg


def _call_each(
    reg: Registry,
    hook: pluggy.HookCaller,
    kind: str,
    into: dict[str, T],
    check: Callable[[T], None],
    settings: Settings,
) -> None:
    """Call each implementation separately so the registry knows who registered what."""
    for impl in reversed(hook.get_hookimpls()):
        kwargs = {"register": _collector(reg, kind, into, check, impl.plugin_name),
                  "settings": settings}
        impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})


def _check_sink(sink: EventSink) -> None:
    problem = sink_problem(sink)
    if problem is not None:
        raise ConfigError("plugins", f"sink {sink.name!r} is not an event sink: {problem}")


def _collector(
    reg: Registry, kind: str, into: dict[str, T], check: Callable[[T], None], owner: str
) -> Callable[[T], None]:
    def register(obj: T) -> None:
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError("plugins", f"{kind} name {name!r} is not a valid name")
        if name in into:
            raise ConfigError("plugins", f"duplicate {kind} {name!r} registered by two plugins")
        check(obj)
        into[name] = obj
        reg.owners[f"{kind}:{name}"] = owner

    return register


def _check_provider(provider: Provider) -> None:
    if not isinstance(provider, Provider):
        raise ConfigError("plugins", f"provider {getattr(provider, 'name', provider)!r} does not "
                                     "subclass unifyport.sdk.Provider")
    found = problems(provider.name, tuple(getattr(provider, "auth_modes", ())))
    if found:
        raise ConfigError("plugins", "; ".join(found))
