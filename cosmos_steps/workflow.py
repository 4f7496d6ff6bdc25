"""The glue rules/common.smk calls at parse time (cheap: no SSH, no database, no video opened)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cosmos_steps import config as config_module
from cosmos_steps import schemas, specs


def plan_or_exit(config: dict[str, Any], where: str = "config.yaml") -> specs.Plan:
    """Check config and specs; print every problem and exit 1 (no traceback) if there are any.

    Also prepares the environment of step processes: this interpreter's bin/ first on PATH
    (so `python -m cosmos_steps` is the one Snakemake runs in) and the checked config.
    """
    try:
        config_module.prepare(config, where)
        plan = specs.load_plan(config, Path("."))
    except schemas.ValidationFailed as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' * (count != 1)} found; nothing was run.", file=sys.stderr)
        sys.exit(1)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ[config_module.CONFIG_ENV] = json.dumps(config)
    return plan


def database(config: dict[str, Any]) -> Any:
    """The project database, for rules that record rows from inside Snakemake."""
    from cosmos_steps import db

    return db.connect(config["database"], config["journal_mode"])


def jobspec_rule(run: dict[str, Any], output: Any, input: Any, config: dict[str, Any]) -> None:
    """Body of rule cosmos_jobspec."""
    from cosmos_steps.steps.jobspec import write_jobspec

    enhanced = Path(input.enhanced) if "enhanced" in input.keys() else None
    write_jobspec(run, Path(output.run), Path(output.spec), database(config), enhanced)


def batch_rule(batch: str, input: Any, output: Any) -> None:
    """Body of rule cosmos_batch."""
    from cosmos_steps.steps.batch import write_batch

    write_batch(batch, [Path(p) for p in input.runs], Path(output.job), Path(output.spec),
                Path(output.jsonl))  # fmt: skip
