"""NVIDIA file formats: every field a run sets must reach the file NVIDIA reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosmos_steps import nvidia
from cosmos_steps.files import write_json
from cosmos_steps.steps.jobs import transfer_job

PARAMS = {
    "num_steps": 20,
    "guidance": 7.5,
    "seed": 42,
    "sigma_max": 60.0,
    "blur_strength": "very_high",
    "canny_threshold": "low",
    "fps": 30,
}


def make_run(key: str = "s", prompt: str = "a prompt", **overrides: object) -> dict:
    run = {
        "key": key,
        "spec": "s",
        "spec_path": "specs/s.yaml",
        "prompt": prompt,
        "prompt_id": "ps_x",
        "negative_prompt": "no cartoons",
        "inputs": {"color": "videos/color.mp4", "depth": "videos/depth.mp4"},
        "controls": {
            "vis": {"weight": 0.25, "input": "auto"},
            "depth": {"weight": 0.5, "input": "videos/depth.mp4"},
        },
        "params": dict(PARAMS),
        "notes": [],
        "host": "simulated",
        "sweep": {},
        "upscale": None,
    }
    run.update(overrides)
    return run


def test_single_spec_has_every_param_and_only_enabled_controls() -> None:
    run = make_run()
    spec = nvidia.single_spec(run, nvidia.batch_names([run])[0])
    assert spec == {
        "prompt": "a prompt",
        "negative_prompt": "no cartoons",
        "input_video_path": "inputs/color.mp4",
        **PARAMS,
        "vis": {"control_weight": 0.25},
        "depth": {"control_weight": 0.5, "input_control": "inputs/depth.mp4"},
    }


@pytest.mark.parametrize("param", sorted(PARAMS))
def test_each_param_reaches_the_spec(param: str) -> None:
    run = make_run()
    run["params"][param] = {"blur_strength": "low", "canny_threshold": "very_high"}.get(param, 3)
    spec = nvidia.single_spec(run, nvidia.batch_names([run])[0])
    assert spec[param] == run["params"][param]


def test_control_only_run_forces_sigma_max_80() -> None:
    run = make_run(
        inputs={"depth": "videos/depth.mp4"},
        controls={"depth": {"weight": 0.7, "input": "videos/depth.mp4"}},
    )
    spec = nvidia.single_spec(run, nvidia.batch_names([run])[0])
    assert "input_video_path" not in spec
    assert spec["sigma_max"] == 80.0


def test_batch_lines_carry_their_own_prompt_weights_and_inputs() -> None:
    runs = [
        make_run("s/a", 'first "quoted"\nprompt'),
        make_run(
            "s/b",
            "second",
            controls={
                "vis": {"weight": 0.1, "input": "auto"},
                "depth": {"weight": 0.9, "input": "videos/other_depth.mp4"},
            },
        ),
    ]
    base, lines = nvidia.batch_spec(runs)
    assert "prompt" not in base
    assert base["input_video_path"] == "inputs/color.mp4"
    assert {k: base[k] for k in PARAMS} == PARAMS
    assert base["negative_prompt"] == "no cartoons"
    assert lines[0] == {
        "prompt": 'first "quoted"\nprompt',
        "visual_input": "inputs/color.mp4",
        "control_overrides": {
            "depth": {"control_weight": 0.5, "input_control": "inputs/depth_0.mp4"},
            "vis": {"control_weight": 0.25, "input_control": None},
        },
    }
    assert lines[1]["control_overrides"] == {
        "depth": {"control_weight": 0.9, "input_control": "inputs/depth_1.mp4"},
        "vis": {"control_weight": 0.1, "input_control": None},
    }


def test_shared_files_keep_one_name() -> None:
    runs = [make_run("s/a"), make_run("s/b")]
    assert nvidia.batch_names(runs) == [
        {"color": "inputs/color.mp4", "depth": "inputs/depth.mp4"},
        {"color": "inputs/color.mp4", "depth": "inputs/depth.mp4"},
    ]


def test_batch_files_on_disk(tmp_path: Path) -> None:
    runs = [make_run("s/a", "uno"), make_run("s/b", "dos ✓")]
    paths = []
    for run in runs:
        path = tmp_path / f"{run['key'].replace('/', '_')}.json"
        write_json(path, run)
        paths.append(path)
    job, spec, jsonl = tmp_path / "job.json", tmp_path / "spec.json", tmp_path / "batch.jsonl"
    transfer_job("s-1234", paths, job, spec, jsonl)
    text = jsonl.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\n\n" not in text and "\r" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["prompt"] for line in lines] == ["uno", "dos ✓"]
    description = json.loads(job.read_text())
    assert description["task"] == "transfer_batch"
    assert [line["output"] for line in description["lines"]] == [
        "video_0/output.mp4",
        "video_1/output.mp4",
    ]
    assert description["files"]["inputs/color.mp4"] == "videos/color.mp4"
    assert all(not name.startswith("/") and ".." not in name for name in description["files"])


def test_batch_of_one_uses_single_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json(path, make_run())
    transfer_job("s-1", [path], tmp_path / "job.json", tmp_path / "spec.json", tmp_path / "b.jsonl")
    job = json.loads((tmp_path / "job.json").read_text())
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert job["task"] == "transfer" and job["lines"][0]["output"] == "output.mp4"
    assert spec["prompt"] == "a prompt"


def test_upscale_spec() -> None:
    assert nvidia.upscale_spec(0.3, 10, "inputs/in_0.mp4") == {
        "input_video_path": "inputs/in_0.mp4",
        "num_steps": 10,
        "upscale": {"control_weight": 0.3},
    }
