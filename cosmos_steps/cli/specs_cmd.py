"""`cosmos validate`: check config.yaml and every spec without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate", help="check config.yaml and every spec in specs/ (all problems at once)"
    )
    parser.set_defaults(handler=validate)


def validate(args: argparse.Namespace) -> int:
    """Print every problem as `file: field: what is wrong`; exit 1 if there is any."""
    from cosmos_steps import config, schemas, specs  # jsonschema: ~80 ms, only for this command

    try:
        settings = config.load(args.config)
        plan = specs.load_plan(settings, Path(args.config).resolve().parent)
    except schemas.ValidationFailed as exc:
        schemas.report(exc.problems, "fix them before running the pipeline")
        return 1
    print(f"ok: {len(plan.specs)} specs, {len(plan.runs)} runs in {len(plan.batches)} batches")
    return 0
