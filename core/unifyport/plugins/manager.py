"""Build the plugin manager: built-in and third-party plugins load through one entry-point group."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass

import pluggy

from unifyport import hookspecs
from unifyport.errors import ConfigError

ENTRY_POINT_GROUP = "unifyport"


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin the manager loaded: its entry-point name, distribution and version."""

    name: str
    module: str
    distribution: str
    version: str


def create_plugin_manager(
    disabled: Iterable[str] = (), extra: Iterable[tuple[str, object]] = ()
) -> tuple[pluggy.PluginManager, list[LoadedPlugin]]:
    """A new manager with every ``unifyport`` entry point not in ``disabled``, plus ``extra``
    ``(name, module_or_object)`` pairs (used by tests to add a plugin without installing it).
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    skip = set(disabled)
    loaded: list[LoadedPlugin] = []
    for ep in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        if ep.name in skip or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must say which one
            raise ConfigError(f"plugins.{ep.name}", f"failed to load: {exc}") from exc
        pm.register(plugin, name=ep.name)
        dist = ep.dist
        loaded.append(
            LoadedPlugin(
                ep.name,
                ep.value,
                dist.name if dist else "?",
                dist.version if dist else "?",
            )
        )
    for name, plugin in extra:
        if name in skip:
            continue
        pm.register(plugin, name=name)
        loaded.append(LoadedPlugin(name, getattr(plugin, "__name__", repr(plugin)), "-", "-"))
    return pm, loaded
