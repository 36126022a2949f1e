"""``unifyport``: argument parsing and dispatch. Exit codes: 0 ok, 2 usage/config, 1 other."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from unifyport import __version__
from unifyport.cli import accounts, admin, demo, serve
from unifyport.cli.api import CliCommand
from unifyport.config import load_settings
from unifyport.errors import ConfigError
from unifyport.logs import configure_logging
from unifyport.plugins.manager import create_plugin_manager
from unifyport.settings import LoggingSettings


def build_parser(extra: Sequence[CliCommand] = ()) -> argparse.ArgumentParser:
    # ``--config`` is accepted before and after the sub-command. The sub-commands' copy
    # defaults to SUPPRESS so that, when absent there, it leaves the top-level value alone
    # (argparse would otherwise overwrite ``--config X serve`` with the default).
    help_text = "TOML configuration (default ./unifyport.toml when present)"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=help_text)
    parser = argparse.ArgumentParser(prog="unifyport", description="UnifyPort messaging gateway")
    parser.add_argument("--config", type=Path, default=None, help=help_text)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(sub, common)
    admin.add_parsers(sub, common)
    demo.add_parser(sub, common)
    accounts.add_parser(sub, common)
    groups: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for cmd in extra:
        action = sub
        for depth in range(1, len(cmd.path)):
            prefix = cmd.path[:depth]
            if prefix not in groups:
                grp = action.add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = grp.add_subparsers(dest=f"sub{depth}", required=True)
            action = groups[prefix]
        p = action.add_parser(cmd.path[-1], help=cmd.help, parents=[common])
        cmd.configure(p)
        p.set_defaults(func=cmd.run)
    return parser


def plugin_commands() -> list[CliCommand]:
    """Commands from installed plugins (all of them: ``disabled`` needs the config first)."""
    pm, _ = create_plugin_manager()
    commands: list[CliCommand] = []
    pm.hook.register_commands(register=commands.append)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging(LoggingSettings())
    try:
        parser = build_parser(plugin_commands())
    except ConfigError as exc:
        print(f"unifyport: configuration error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        # ``[logging]`` of the configuration; the command reads (and checks) it again.
        configure_logging(load_settings(args.config).logging)
    except ConfigError:
        pass  # the command reports it
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"unifyport: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
