"""Entry point of the Telegram plugin: registers the ``telegram`` provider and the
``unifyport sandbox telegram`` command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from unifyport import hookimpl

from .config import parse_config

if TYPE_CHECKING:
    from unifyport.sdk import CliCommand, Provider, Settings


@hookimpl
def register_providers(register: Callable[[Provider], None], settings: Settings) -> None:
    from .provider import TelegramProvider

    register(TelegramProvider(parse_config(settings.plugin_table("telegram"))))


def _configure_sandbox(parser: argparse.ArgumentParser) -> None:
    from .sandbox.cli import configure_parser

    configure_parser(parser)


def _run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox.cli import run

    return run(args)


@hookimpl
def register_commands(register: Callable[[CliCommand], None]) -> None:
    from unifyport.sdk import CliCommand

    register(CliCommand(("sandbox", "telegram"), "run the local Telegram test server",
                        _configure_sandbox, _run_sandbox))
