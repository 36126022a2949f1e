"""Entry point of the Matrix plugin: registers the ``matrix`` provider."""

from __future__ import annotations

from collections.abc import Callable

from unifyport.sdk import Provider, Settings, hookimpl

from .config import parse_config


@hookimpl
def register_providers(register: Callable[[Provider], None], settings: Settings) -> None:
    from .provider import MatrixProvider

    register(MatrixProvider(parse_config(settings.plugin_table("matrix"))))
