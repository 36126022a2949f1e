"""``python -m unifyport_telegram.sandbox``: same as ``unifyport sandbox telegram``."""

import argparse
import sys

from .cli import configure_parser, run


def main() -> int:
    """Parse the command line and run the sandbox."""
    parser = argparse.ArgumentParser(prog="python -m unifyport_telegram.sandbox")
    configure_parser(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
