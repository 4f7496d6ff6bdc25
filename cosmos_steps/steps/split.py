"""Delivering a job's outputs to their runs, by JSONL line as recorded in the manifest (never by
file order). A run whose output is missing fails with the reason; the batch's other runs complete.

- transfer: results/<run>/output.mp4, prompt.txt, the controls Cosmos generated, run.json
- upscale:  results/<run>/output_4k.mp4 and run_4k.json
- enhance:  work/prompts/<spec>.txt
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmos_steps import db
from cosmos_steps.files import copy_file, read_json, sha256_file, write_json


class RunFailed(Exception):
    """The run has no output; the message is the one-line reason."""


def line_of(
    manifest_path: Path, run_key: str, database: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and the run's line in it; RunFailed (run marked failed) if it has no output."""
    manifest = read_json(manifest_path)
    line = next(entry for entry in manifest["lines"] if entry["run"] == run_key)
    if line["status"] != "ok":
        db.set_status(database, [line["run_id"]], "failed", line["error"], error=line["error"])
        raise RunFailed(f"run {run_key} failed: {line['error']}")
    return manifest, line


def file_record(path: Path, kind: str) -> dict[str, Any]:
    """An artifact row for a delivered file."""
    return {
        "path": str(path),
        "kind": kind,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def deliver(sources: dict[Path, tuple[Path, str]]) -> list[dict[str, Any]]:
    """Copy target <- (source, kind) atomically; return their artifact records."""
    for target, (source, _) in sources.items():
        copy_file(source, target)
    return [file_record(target, kind) for target, (_, kind) in sources.items()]


def complete(
    database: Any, manifest: dict[str, Any], line: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    """Record the artifacts and mark the run completed with its outputs, GPU-seconds and cost."""
    rows = [
        {"run_id": line["run_id"], "batch_id": manifest["job_id"], **record} for record in records
    ]
    db.add_artifacts(database, rows)
    db.set_status(
        database,
        [line["run_id"]],
        "completed",
        outputs={Path(record["path"]).name: record["path"] for record in records},
        gpu_seconds=line["gpu_seconds"],
        cost=line["cost"],
    )


def nvidia_inputs(manifest: dict[str, Any], line: int) -> dict[str, Any]:
    """The exact NVIDIA files the job used: spec.json, and this run's batch.jsonl line."""
    files = manifest["job_files"]
    used = {"mode": manifest["task"], "spec": read_json(Path(files["spec.json"]["path"]))}
    if manifest["task"] != "transfer":
        lines = Path(files["batch.jsonl"]["path"]).read_text(encoding="utf-8").splitlines()
        used["batch_line"] = json.loads(lines[line])
    return used


def describe(manifest: dict[str, Any], line: dict[str, Any], database: Any) -> dict[str, Any]:
    """run.json's job side: ids, host, timings, inputs with sha256, the NVIDIA files used."""
    row = db.get_run(database, line["run_id"]) or {}
    return {
        "run_id": line["run_id"],
        "parent_run_id": line.get("parent_run_id"),
        "host": manifest["host"],
        "batch": manifest["batch"],
        "job_id": manifest["job_id"],
        "line": line["line"],
        "inputs": {
            role: {
                **entry,
                "sha256": manifest["job_files"].get(entry["job_path"], {}).get("sha256"),
            }
            for role, entry in line["inputs"].items()
        },
        "timings": {
            "created_at": row.get("created_at"),
            "started_at": row.get("started_at"),
            "batch_wall_seconds": manifest["wall_seconds"],
        },
        "gpu_seconds": line["gpu_seconds"],
        "cost": line["cost"],
        "nvidia": nvidia_inputs(manifest, line["line"]),
    }


def finish_transfer(
    run_key: str, manifest_path: Path, video_out: Path, run_json: Path, database: Any
) -> None:
    """results/<run>/: output.mp4, prompt.txt, generated controls, run.json."""
    manifest, line = line_of(manifest_path, run_key, database)
    out_dir, job_out = video_out.parent, manifest_path.parent / "out"
    sources = {
        video_out: (job_out / line["output"], "output"),
        out_dir / "prompt.txt": (job_out / line["text"], "prompt"),
    }
    for control in sorted((job_out / line["folder"]).glob("*_input_control*.mp4")):
        sources[out_dir / control.name] = (control, "control")
    records = deliver(sources)
    run = read_json(run_json)
    keep = (
        "spec",
        "spec_path",
        "prompt_id",
        "prompt",
        "original_prompt",
        "negative_prompt",
        "controls",
        "params",
        "sweep",
    )
    description = {
        "run_key": run_key,
        **{key: run.get(key) for key in keep},
        **describe(manifest, line, database),
    }
    description["outputs"] = {
        Path(r["path"]).name: {"sha256": r["sha256"], "bytes": r["bytes"]} for r in records
    }
    write_json(out_dir / "run.json", description)
    complete(database, manifest, line, [*records, file_record(out_dir / "run.json", "run")])


def finish_upscale(run_key: str, manifest_path: Path, video_out: Path, database: Any) -> None:
    """results/<run>/output_4k.mp4 and run_4k.json (the upscale run, linked to its parent)."""
    manifest, line = line_of(manifest_path, run_key, database)
    records = deliver({video_out: (manifest_path.parent / "out" / line["output"], "output_4k")})
    meta = video_out.with_name("run_4k.json")
    description = {
        "run_key": run_key,
        "model_type": "upscale",
        **describe(manifest, line, database),
    }
    description["outputs"] = {
        video_out.name: {"sha256": records[0]["sha256"], "bytes": records[0]["bytes"]}
    }
    write_json(meta, description)
    complete(database, manifest, line, [*records, file_record(meta, "run_4k")])


def finish_enhance(spec: str, manifest_path: Path, prompt_out: Path, database: Any) -> None:
    """work/prompts/<spec>.txt: the upsampled prompt."""
    manifest, line = line_of(manifest_path, spec, database)
    records = deliver(
        {prompt_out: (manifest_path.parent / "out" / line["output"], "enhanced_prompt")}
    )
    complete(database, manifest, line, records)
