"""What `cosmos show` tells about a prompt or a run: database rows plus what lies on disk.

A run's NVIDIA spec comes from results/<run>/run.json (key `nvidia`) when that file belongs to the
run, else from its batch's work/batches/<batch>/ files; its log tail from the database (failed
runs) or the end of logs/infer/<stage>/<batch>.log.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from cosmos_steps import db, queries
from cosmos_steps.project import Project
from cosmos_steps.timeutil import duration_seconds

LOG_TAIL_LINES = 30
LOG_TAIL_BYTES = 16_384
_JOB_HASH = re.compile(r"-[0-9a-f]{12}(-r\d+)?$")


def run_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A run row with its JSON columns decoded and its duration in seconds."""
    run = db.decode(row)
    run["duration_seconds"] = duration_seconds(run.get("started_at"), run.get("completed_at"))
    return run


def batch_name(run: dict[str, Any], batch: dict[str, Any] | None) -> str | None:
    """The plain batch name (the job id without its `-<12 hex>` hash)."""
    if batch is not None:
        return batch["batch"]
    return _JOB_HASH.sub("", run["batch_id"]) if run.get("batch_id") else None


def show_prompt(conn: sqlite3.Connection, prompt_id: str) -> dict[str, Any]:
    """A prompt with every run of it."""
    prompt = db.decode(queries.get_row(conn, "prompt", prompt_id) or {})
    runs = [run_summary(row) for row in queries.prompt_runs(conn, prompt_id)]
    return {"type": "prompt", "prompt": prompt, "runs": runs}


def show_run(project: Project, conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """A run with its prompt, batch, events, artifacts, NVIDIA spec and log tail."""
    run = run_summary(queries.get_row(conn, "run", run_id) or {})
    batch = queries.get_row(conn, "batch", run["batch_id"]) if run.get("batch_id") else None
    prompt = queries.get_row(conn, "prompt", run["prompt_id"]) if run.get("prompt_id") else None
    name = batch_name(run, batch)
    nvidia, nvidia_source = nvidia_spec(project, run, batch, name)
    return {
        "type": "run",
        "run": run,
        "prompt": {key: prompt[key] for key in ("id", "name", "text")} if prompt else None,
        "batch": db.decode(batch) if batch else None,
        "nvidia": nvidia,
        "nvidia_source": nvidia_source,
        "events": queries.run_events(conn, run_id, run.get("batch_id")),
        "artifacts": queries.run_artifacts(conn, run_id),
        "log": log_tail(project, run, name),
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def nvidia_spec(
    project: Project, run: dict[str, Any], batch: dict[str, Any] | None, name: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The exact NVIDIA inputs the run used, and the file they came from (None, None if lost)."""
    outputs = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
    run_json = project.path(outputs.get("run.json") or f"results/{run['run_key']}/run.json")
    described = _read_json(run_json)
    if isinstance(described, dict) and described.get("run_id") == run["id"]:
        return described.get("nvidia"), str(run_json)
    folder = project.root / "work" / "batches" / (name or "")
    if name is None or batch is None or not (folder / "spec.json").exists():
        return None, None
    from cosmos_steps.steps.split import nvidia_inputs

    files = {key: {"path": str(folder / key)} for key in ("spec.json", "batch.jsonl")}
    try:
        return nvidia_inputs({"job_files": files, "task": batch["mode"]}, run["line"]), str(folder)
    except (OSError, ValueError, IndexError):
        return None, None


def tail_lines(path: Path, lines: int = LOG_TAIL_LINES) -> str | None:
    """The last lines of a text file, reading only its end (None if it does not exist)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return None
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def log_tail(project: Project, run: dict[str, Any], name: str | None) -> dict[str, str] | None:
    """The run's log tail: stored with a failed run, else the end of its batch's infer log."""
    if run.get("log_tail"):
        return {"source": "database", "text": run["log_tail"]}
    if name is None:
        return None
    path = project.infer_log(name, run.get("model_type") or "transfer")
    text = tail_lines(path)
    return {"source": str(path), "text": text} if text is not None else None
