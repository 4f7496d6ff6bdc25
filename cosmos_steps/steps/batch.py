"""cosmos_batch: the runs of a batch -> job.json (what to run where) + NVIDIA spec.json / batch.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmos_steps import nvidia
from cosmos_steps.files import read_json, write_json, write_text


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    """NVIDIA's batch file: one JSON object per line, no blank lines."""
    write_text(path, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def line_outputs(task: str, line: int) -> dict[str, str]:
    """Where NVIDIA writes a line's video and prompt text (relative to the outputs folder)."""
    if task == "transfer":
        return {"folder": ".", "video": "output.mp4", "text": "output.txt"}
    return {"folder": f"video_{line}", "video": f"video_{line}/output.mp4",
            "text": f"video_{line}/prompt.txt"}  # fmt: skip


def write_batch(
    batch: str, run_jsons: list[Path], job_out: Path, spec_out: Path, jsonl_out: Path
) -> None:
    """Build the batch's NVIDIA files and job.json (runs in line order)."""
    runs = [read_json(path) for path in run_jsons]
    names = nvidia.batch_names(runs)
    base, lines = nvidia.batch_spec(runs)
    if len(runs) == 1:
        task, spec = "transfer", nvidia.single_spec(runs[0], names[0])
    else:
        task, spec = "transfer_batch", base
    write_json(spec_out, spec)
    write_jsonl(jsonl_out, lines)
    files = {"spec.json": str(spec_out), "batch.jsonl": str(jsonl_out)}
    inputs = []
    for run, run_names in zip(runs, names, strict=True):
        local = nvidia.run_files(run)
        files.update({run_names[role]: local[role] for role in run_names})
        inputs.append(
            {role: {"job_path": run_names[role], "path": local[role]} for role in run_names}
        )
    job = {
        "batch": batch,
        "spec": runs[0]["spec"],
        "host": runs[0]["host"],
        "task": task,
        "model_type": "transfer",
        "files": files,
        "notes": sorted({note for run in runs for note in run["notes"]}),
        "lines": [
            {
                "line": index,
                "run": run["key"],
                "prompt_id": run["prompt_id"],
                "inputs": inputs[index],
                "execution_config": {
                    key: run[key] for key in ("controls", "params", "sweep", "upscale")
                },
                **line_outputs(task, index),
            }
            for index, run in enumerate(runs)
        ],
    }
    write_json(job_out, job)
