"""Job builders: what one GPU job runs (job.json) plus the NVIDIA files it reads.

job.json: batch, spec, host, task (a gpu_scripts/ name), model_type, files (job-relative name ->
local path, all uploaded), notes, and lines: one per run, saying where its output lands.
Three kinds: transfer batches, 4K upscale batches, and prompt enhancement (one per spec).
"""

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
    """Where a line's output and prompt text land (relative to the job's outputs folder)."""
    if task == "transfer":
        return {"folder": ".", "output": "output.mp4", "text": "output.txt"}
    folder = f"video_{line}"
    return {"folder": folder, "output": f"{folder}/output.mp4", "text": f"{folder}/prompt.txt"}


def transfer_job(
    batch: str, run_jsons: list[Path], job_out: Path, spec_out: Path, jsonl_out: Path
) -> None:
    """A transfer batch: NVIDIA spec.json + batch.jsonl (runs in line order) and job.json."""
    runs = [read_json(path) for path in run_jsons]
    names = nvidia.batch_names(runs)
    base, lines = nvidia.batch_spec(runs)
    task = "transfer" if len(runs) == 1 else "transfer_batch"
    write_json(spec_out, nvidia.single_spec(runs[0], names[0]) if task == "transfer" else base)
    write_jsonl(jsonl_out, lines)
    files = {"spec.json": str(spec_out), "batch.jsonl": str(jsonl_out)}
    job_lines = []
    for index, (run, run_names) in enumerate(zip(runs, names, strict=True)):
        local = nvidia.run_files(run)
        files.update({run_names[role]: local[role] for role in run_names})
        job_lines.append(
            {
                "line": index,
                "run": run["key"],
                "prompt_id": run["prompt_id"],
                "inputs": {
                    role: {"job_path": run_names[role], "path": local[role]} for role in run_names
                },
                "execution_config": {key: run[key] for key in ("controls", "params", "sweep")},
                **line_outputs(task, index),
            }
        )
    notes = sorted({note for run in runs for note in run["notes"]})
    job = _job(batch, runs[0], task, "transfer", files, job_lines, notes)
    write_json(job_out, {**job, "requirements": runs[0].get("requirements", {})})


def upscale_job(
    batch: str,
    metas: list[Path],
    settings: dict[str, Any],
    job_out: Path,
    spec_out: Path,
    jsonl_out: Path,
) -> None:
    """4K upscales of finished runs, back to back in one job (NVIDIA forces batch size 1)."""
    runs = [read_json(path) for path in metas]
    names = [nvidia.job_path("in", index) for index in range(len(runs))]
    write_json(spec_out, nvidia.upscale_spec(settings["weight"], settings["num_steps"], names[0]))
    write_jsonl(
        jsonl_out,
        nvidia.upscale_lines(
            [(name, run["prompt"]) for name, run in zip(names, runs, strict=True)]
        ),
    )
    files = {"spec.json": str(spec_out), "batch.jsonl": str(jsonl_out)}
    job_lines = []
    for index, (run, name, meta) in enumerate(zip(runs, names, metas, strict=True)):
        video = str(meta.parent / "output.mp4")
        files[name] = video
        job_lines.append(
            {
                "line": index,
                "run": run["run_key"],
                "prompt_id": run["prompt_id"],
                "parent_run_id": run["run_id"],
                "inputs": {"video": {"job_path": name, "path": video}},
                "execution_config": {
                    "upscale": {
                        "control_weight": settings["weight"],
                        "num_steps": settings["num_steps"],
                    }
                },
                **line_outputs("upscale", index),
            }
        )
    spec = {"spec": runs[0]["spec"], "host": settings["host"]}
    write_json(job_out, _job(batch, spec, "upscale", "upscale", files, job_lines, []))


def enhance_job(
    spec: dict[str, Any], prompt_id: str, context: Path, job_out: Path, prompt_out: Path
) -> None:
    """Pixtral prompt upsampling of a spec's prompt, with a small context video."""
    write_text(prompt_out, spec["prompt"])
    files = {"inputs/prompt.txt": str(prompt_out), "inputs/context.mp4": str(context)}
    line = {
        "line": 0,
        "run": spec["name"],
        "prompt_id": prompt_id,
        "inputs": {"context": {"job_path": "inputs/context.mp4", "path": str(context)}},
        "execution_config": {"model": "pixtral"},
        "folder": ".",
        "output": "enhanced_prompt.txt",
        "text": "enhanced_prompt.txt",
    }
    write_json(
        job_out,
        _job(
            spec["name"],
            {"spec": spec["name"], "host": spec["host"]},
            "enhance",
            "enhance",
            files,
            [line],
            [],
        ),
    )


def _job(
    batch: str,
    source: dict[str, Any],
    task: str,
    model_type: str,
    files: dict[str, str],
    lines: list[dict[str, Any]],
    notes: list[str],
) -> dict[str, Any]:
    return {
        "batch": batch,
        "spec": source["spec"],
        "host": source["host"],
        "task": task,
        "model_type": model_type,
        "files": files,
        "notes": notes,
        "lines": lines,
    }


CONTEXT_MAX = (1280, 720)
"""Pixtral's context frames must stay within 720p (NVIDIA's upsampler limit)."""
CONTEXT_FRAMES = 10


def make_context_video(source: Path, target: Path, ffmpeg: str) -> None:
    """The first frames of a video, downscaled to fit the prompt upsampler's input limit."""
    from cosmos_steps.ffmpeg import run_ffmpeg

    width, height = CONTEXT_MAX
    fit = (
        f"scale='min({width},iw)':'min({height},ih)':force_original_aspect_ratio=decrease,"
        "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-y",
            "-i",
            source,
            "-vf",
            fit,
            "-frames:v",
            str(CONTEXT_FRAMES),
            "-c:v",
            "libx264",
            target,
        ],
        ffmpeg=ffmpeg,
    )
