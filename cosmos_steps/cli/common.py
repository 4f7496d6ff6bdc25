"""Helpers shared by the command modules: options, the project, summary lines."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cosmos_steps.project import Project


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts)")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0, got {text}")
    return value


def add_limit(parser: argparse.ArgumentParser, default: int = 50) -> None:
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=default,
        help=f"show at most this many (default {default})",
    )


def open_project(args: argparse.Namespace) -> Project:
    """The project of --config (config checked; database opened on first query)."""
    from cosmos_steps.project import Project

    return Project(args.config)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 run`, `3 runs`, `2 checksum mismatches` (with many=)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def count_summary(shown: int, total: int, noun: str, filtered: bool) -> str:
    """`3 runs shown (of 120 matching)`, `no runs match`, `50 prompts shown (of 20,000)`."""
    if shown == 0:
        return f"no {noun}s match" if filtered else f"no {noun}s yet"
    matching = " matching" if filtered else ""
    return f"{plural(shown, noun)} shown (of {total:,}{matching})"
