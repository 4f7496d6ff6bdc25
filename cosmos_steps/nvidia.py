"""NVIDIA Cosmos Transfer 1 file formats: per-run controlnet spec JSON, batch JSONL, upscale spec.

Pure functions, exact to reference/cosmos_transfer.md. Paths inside are POSIX paths relative to
the job directory on the host (the gpu_scripts run NVIDIA's script from there), whatever the
local OS. Every parameter a run sets is written as a top-level key (NVIDIA merges top-level keys
of the spec into its arguments), so nothing depends on command-line defaults.
"""

from __future__ import annotations

from typing import Any

HINTS = ("vis", "edge", "depth", "seg")
GLOBAL_PARAMS = (
    "num_steps",
    "guidance",
    "seed",
    "sigma_max",
    "fps",
    "blur_strength",
    "canny_threshold",
)
DEFAULT_PARAMS: dict[str, Any] = {
    "num_steps": 35,
    "guidance": 5.0,
    "seed": 1,
    "sigma_max": 70.0,
    "blur_strength": "medium",
    "canny_threshold": "medium",
    "fps": 24,
}
CONTROL_ONLY_SIGMA_MAX = 80.0
DEFAULT_NEGATIVE_PROMPT = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames. "
    "It represents a recording of old outdated games. The lighting looks very fake. "
    "The textures are very raw and basic. The geometries are very primitive. "
    "The images are very pixelated and of poor CG quality. There are many subtitles in the "
    "footage. Overall, the video is unrealistic at all."
)


def job_path(role: str, line: int | None = None) -> str:
    """Where a file lives in the job folder: inputs/<role>.mp4 (or inputs/<role>_<line>.mp4)."""
    suffix = "" if line is None else f"_{line}"
    return f"inputs/{role}{suffix}.mp4"


def run_files(run: dict[str, Any]) -> dict[str, str]:
    """Local files a run sends to the model, by role: color, and each control given as a video."""
    files = {"color": run["inputs"]["color"]} if run["inputs"].get("color") else {}
    for hint, control in run["controls"].items():
        if control["input"] != "auto":
            files[hint] = control["input"]
    return files


def _control_block(control: dict[str, Any], input_path: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {"control_weight": control["weight"]}
    if input_path is not None:
        block["input_control"] = input_path
    return block


def _global_keys(run: dict[str, Any]) -> dict[str, Any]:
    params = {key: run["params"][key] for key in GLOBAL_PARAMS}
    if not run["inputs"].get("color"):
        params["sigma_max"] = CONTROL_ONLY_SIGMA_MAX
    return {"negative_prompt": run["negative_prompt"], **params}


def single_spec(run: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The controlnet spec JSON of one run; `names` maps roles to job-relative paths."""
    spec: dict[str, Any] = {"prompt": run["prompt"]}
    if "color" in names:
        spec["input_video_path"] = names["color"]
    spec.update(_global_keys(run))
    for hint in HINTS:
        if hint in run["controls"]:
            spec[hint] = _control_block(run["controls"][hint], names.get(hint))
    return spec


def batch_names(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Job-relative names per line: shared files keep one name, differing ones get a line suffix."""
    files = [run_files(run) for run in runs]
    roles = {role for line in files for role in line}
    shared = {role for role in roles if len({line.get(role) for line in files}) == 1}
    return [
        {role: job_path(role, None if role in shared else index) for role in line}
        for index, line in enumerate(files)
    ]


def batch_spec(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The shared spec JSON and the JSONL lines of a batch (one line per run, in order).

    Runs of a batch agree on the control set and on the global params (checked by the caller's
    grouping). Every line carries its own prompt, input video and an override for every control
    (weight, and input_control or null for "NVIDIA computes it"), so no run inherits another's.
    """
    names = batch_names(runs)
    first = runs[0]
    base = single_spec(first, names[0])
    base.pop("prompt")
    lines = []
    for run, line_names in zip(runs, names, strict=True):
        line: dict[str, Any] = {"prompt": run["prompt"]}
        if "color" in line_names:
            line["visual_input"] = line_names["color"]
        line["control_overrides"] = {
            hint: {
                "control_weight": control["weight"],
                "input_control": line_names.get(hint),
            }
            for hint, control in sorted(run["controls"].items())
        }
        lines.append(line)
    return base, lines


def upscale_spec(weight: float, num_steps: int, first_input: str) -> dict[str, Any]:
    """The 4K upscaler spec: only the upscale control (NVIDIA: batch size is forced to 1)."""
    return {
        "input_video_path": first_input,
        "num_steps": num_steps,
        "upscale": {"control_weight": weight},
    }


def upscale_lines(items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One JSONL line per (video, prompt) to upscale; the run's prompt guides the upscaler."""
    return [{"visual_input": path, "prompt": prompt} for path, prompt in items]
