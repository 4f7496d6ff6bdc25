"""The `cosmos` command: look at and manage what the pipeline did (the pipeline is `snakemake`).

Each command group lives in its own module with a `register(subparsers)` function; a command's
handler returns the process exit code. User mistakes (a wrong id, a bad spec) print one clear
line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from cosmos_steps import __version__
from cosmos_steps.cli import (
    hosts_cmd,
    inputs_cmd,
    manage_cmd,
    query_cmd,
    report_cmd,
    specs_cmd,
)
from cosmos_steps.errors import CosmosError

COMMAND_MODULES = [specs_cmd, inputs_cmd, query_cmd, hosts_cmd, manage_cmd, report_cmd]


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cosmos-workflow {__version__}")
    parser.add_argument(
        "--config", default="config.yaml", help="config file (default: config.yaml)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cosmos` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (UserError, CosmosError) as exc:
        print(f"cosmos: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("cosmos: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
