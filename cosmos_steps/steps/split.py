"""cosmos_split: one run's share of a batch -> results/<run>/ (output.mp4, prompt.txt, controls, run.json).

Outputs are mapped to runs by their JSONL line, as recorded in the batch's manifest, never by file
order. A run whose output is missing is failed with the reason; the batch's other runs complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmos_steps import db
from cosmos_steps.files import copy_file, read_json, write_json
from cosmos_steps.remote import sha256_file


class RunFailed(Exception):
    """The run has no output; the message is the one-line reason."""


def nvidia_inputs(manifest: dict[str, Any], line: int) -> dict[str, Any]:
    """The exact NVIDIA files the job used: spec.json, and this run's batch.jsonl line."""
    files = manifest["job_files"]
    spec = read_json(Path(files["spec.json"]["path"]))
    lines = Path(files["batch.jsonl"]["path"]).read_text(encoding="utf-8").splitlines()
    used = {"mode": manifest["task"], "spec": spec}
    if manifest["task"] != "transfer":
        used["batch_line"] = json.loads(lines[line])
    return used


def split_run(
    run_key: str, manifest_path: Path, out_dir: Path, run_json: Path, database: Any
) -> None:
    """Copy a run's files out of its batch and record it completed (RunFailed if it has no output)."""
    manifest = read_json(manifest_path)
    line = next(entry for entry in manifest["lines"] if entry["run"] == run_key)
    if line["status"] != "ok":
        db.set_status(database, [line["run_id"]], "failed", line["error"], error=line["error"])
        raise RunFailed(f"run {run_key} failed: {line['error']}")
    batch_out = manifest_path.parent / "out"
    outputs = {"output.mp4": batch_out / line["video"], "prompt.txt": batch_out / line["text"]}
    folder = batch_out / line["folder"]
    for control in sorted(folder.glob("*_input_control*.mp4")):
        outputs[control.name] = control
    records = {}
    for name, source in outputs.items():
        target = out_dir / name
        copy_file(source, target)
        records[name] = {
            "path": str(target),
            "sha256": sha256_file(target),
            "bytes": target.stat().st_size,
        }
    run = read_json(run_json)
    row = db.get_run(database, line["run_id"]) or {}
    description = {
        "run_id": line["run_id"],
        "run_key": run_key,
        "spec": run["spec"],
        "spec_path": run["spec_path"],
        "prompt_id": run["prompt_id"],
        "prompt": run["prompt"],
        "original_prompt": run.get("original_prompt"),
        "negative_prompt": run["negative_prompt"],
        "controls": run["controls"],
        "params": run["params"],
        "sweep": run["sweep"],
        "inputs": {
            role: {
                **entry,
                "sha256": manifest["job_files"].get(entry["job_path"], {}).get("sha256"),
            }
            for role, entry in line["inputs"].items()
        },
        "host": manifest["host"],
        "batch": manifest["batch"],
        "job_id": manifest["job_id"],
        "line": line["line"],
        "timings": {
            "started_at": row.get("started_at"),
            "batch_wall_seconds": manifest["wall_seconds"],
        },
        "gpu_seconds": line["gpu_seconds"],
        "cost": line["cost"],
        "nvidia": nvidia_inputs(manifest, line["line"]),
        "outputs": records,
    }
    write_json(out_dir / "run.json", description)
    records["run.json"] = {"path": str(out_dir / "run.json"), "sha256": sha256_file(out_dir / "run.json"),
                           "bytes": (out_dir / "run.json").stat().st_size}  # fmt: skip
    db.add_artifacts(
        database,
        [
            {
                "run_id": line["run_id"],
                "batch_id": manifest["job_id"],
                "kind": _kind(name),
                **record,
            }
            for name, record in records.items()
        ],  # fmt: skip
    )
    db.set_status(
        database,
        [line["run_id"]],
        "completed",
        outputs={name: record["path"] for name, record in records.items()},
        gpu_seconds=line["gpu_seconds"],
        cost=line["cost"],
    )


def _kind(name: str) -> str:
    if name == "output.mp4":
        return "output"
    if name.endswith(".mp4"):
        return "control"
    return name.rsplit(".", 1)[0]
