"""The glue rules/*.smk call: parse-time checks (cheap: no SSH, no database, no video opened) and
the bodies of the small local rules that build job files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cosmos_steps import config as config_module
from cosmos_steps import schemas, specs

TRANSFER_FIELDS = (
    "key",
    "spec",
    "spec_path",
    "prompt",
    "negative_prompt",
    "inputs",
    "frames",
    "controls",
    "params",
    "enhance",
    "host",
    "requirements",
    "sweep",
    "notes",
)
"""What a transfer run's result depends on (not upscale settings, not its batch or line)."""


def plan_or_exit(config: dict[str, Any], where: str = "config.yaml") -> specs.Plan:
    """Check config and specs; print every problem and exit 1 (no traceback) if there are any.

    Also prepares the environment of step processes: this interpreter's bin/ first on PATH
    (so `python -m cosmos_steps` is the one Snakemake runs in) and the checked config.
    """
    try:
        config_module.prepare(config, where)
        plan = specs.load_plan(config, Path("."))
    except schemas.ValidationFailed as exc:
        schemas.report(exc.problems, "nothing was run")
        sys.exit(1)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ[config_module.CONFIG_ENV] = json.dumps(config)
    return plan


def transfer_view(run: dict[str, Any]) -> dict[str, Any]:
    """The part of a run its transfer job depends on (the params of rule cosmos_jobspec)."""
    return {key: run[key] for key in TRANSFER_FIELDS}


def database(config: dict[str, Any]) -> Any:
    """The project database, for rules that record rows from inside Snakemake."""
    from cosmos_steps import db

    return db.connect(config["database"], config["journal_mode"])


def jobspec_rule(run: dict[str, Any], output: Any, input: Any, config: dict[str, Any]) -> None:
    """Body of rule cosmos_jobspec."""
    from cosmos_steps.steps.jobspec import write_jobspec

    enhanced = Path(input.enhanced) if "enhanced" in input.keys() else None
    write_jobspec(run, Path(output.run), Path(output.spec), database(config), enhanced)


def transfer_job_rule(batch: str, input: Any, output: Any) -> None:
    """Body of rule cosmos_transfer_job."""
    from cosmos_steps.steps.jobs import transfer_job

    transfer_job(
        batch,
        [Path(p) for p in input.runs],
        Path(output.job),
        Path(output.spec),
        Path(output.jsonl),
    )


def split_rule(run: str, input: Any, output: Any, log: str, config: dict[str, Any]) -> None:
    """Body of rule cosmos_split, in this process (a step process costs ~0.5 s per run: Python
    start and imports). A run without output logs its reason and fails the job."""
    from cosmos_steps.progress import Reporter
    from cosmos_steps.steps import split

    reporter = Reporter(Path(log), prefix=run)
    try:
        split.finish_transfer(run, Path(input.manifest), Path(output.video), Path(input.run),
                              database(config))  # fmt: skip
    except split.RunFailed as exc:
        reporter.say(f"ERROR: {exc}")
        raise
    finally:
        reporter.close()


def upscale_job_rule(batch: str, input: Any, output: Any, settings: dict[str, Any]) -> None:
    """Body of rule cosmos_upscale_job."""
    from cosmos_steps.steps.jobs import upscale_job

    upscale_job(
        batch,
        [Path(p) for p in input.metas],
        settings,
        Path(output.job),
        Path(output.spec),
        Path(output.jsonl),
    )


def enhance_job_rule(spec: dict[str, Any], input: Any, output: Any, config: dict[str, Any]) -> None:
    """Body of rule cosmos_enhance_job: context video, prompt file, job.json; records the prompt."""
    from cosmos_steps.ffmpeg import ffmpeg_exe
    from cosmos_steps.steps.jobs import enhance_job, make_context_video
    from cosmos_steps.steps.jobspec import record_prompts

    make_context_video(Path(input.context), Path(output.context), ffmpeg_exe(config["ffmpeg"]))
    prompt_id = record_prompts(database(config), spec["run"], None)
    enhance_job(spec, prompt_id, Path(output.context), Path(output.job), Path(output.prompt))


def report_rule(plan: specs.Plan, page: str, log: str, config: dict[str, Any]) -> None:
    """Body of rule cosmos_report: the page, and its one-line summary in the log."""
    from cosmos_steps.files import write_text
    from cosmos_steps.report import write_report

    summary = write_report(config, plan, Path(page))
    write_text(Path(log), summary.line() + "\n")


def report_after_error(plan: specs.Plan, config: dict[str, Any]) -> None:
    """onerror handler: rule cosmos_report cannot run once a run failed (its input is missing),
    so the page is written here, failed runs and their reasons included. A problem with the
    page is printed and never hides the run's own error."""
    from cosmos_steps.report import write_report

    try:
        summary = write_report(config, plan)
    except Exception as exc:  # whatever it is, the run's own error matters more
        print(f"report not written: {exc}", file=sys.stderr)
        return
    print(f"report of this failed run: {summary.line()}", file=sys.stderr)


def controls_meta_rule(input: Any, output: Any, params: Any, config: dict[str, Any]) -> None:
    """Body of rule cosmos_controls_meta."""
    from cosmos_steps.steps.controls import write_meta

    settings = {"fps": params.fps, "crf": params.crf, "preset": params.preset}
    videos = [Path(p) for p in input.videos]
    write_meta(Path(input.validation), videos, settings, Path(output[0]), database(config))
