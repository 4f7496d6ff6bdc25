"""`cosmos report`: write results/report.html from the database, without running the pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report",
        help="write results/report.html (grids of every spec's runs) from the database",
        description="Write results/report.html from the database and results/ (the same page "
        "the pipeline writes), without running anything.",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a web browser")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    """Write the page; print its path and a one-line summary (or JSON)."""
    from cosmos_steps import config, schemas
    from cosmos_steps.report import write_report

    try:
        settings = config.load(args.config)
    except schemas.ValidationFailed as exc:
        schemas.report(exc.problems, "no report written")
        return 1
    if not Path(settings["database"]).is_file():
        print(
            f"cosmos: no database at {settings['database']}: run the pipeline first (snakemake)",
            file=sys.stderr,
        )
        return 1
    summary = write_report(settings, current_plan(settings))
    print(json.dumps(dataclasses.asdict(summary)) if args.json else summary.line())
    if args.open:
        import webbrowser

        webbrowser.open(Path(summary.path).resolve().as_uri())
    return 0


def current_plan(settings: dict) -> Any:
    """The specs' runs (a specs.Plan), to lay the page out as the specs do; None (every recorded
    run) if the specs do not validate right now."""
    from cosmos_steps import schemas, specs

    try:
        return specs.load_plan(settings, Path("."))
    except schemas.ValidationFailed as exc:
        print(
            f"cosmos: specs/ has {len(exc.problems)} problem(s) (see `cosmos validate`); "
            "showing every recorded run",
            file=sys.stderr,
        )
        return None
