"""The simulated GPU: NVIDIA's command line and files in, Cosmos-shaped videos out, honestly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.simulator import HERE
from cosmos_steps.simulator.sim_media import bucket_size, probe
from tests.helpers import make_video

TRANSFER = HERE / "transfer.py"


def simulate(
    cwd: Path, *args: str, nproc: int = 1, **knobs: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COSMOS_SIM_FFMPEG": ffmpeg_exe(),
        "COSMOS_SIM_SCALE": "0.1",
        "COSMOS_SIM_PYTHON": __import__("sys").executable,
        **knobs,
    }
    command = [
        str(HERE / "torchrun"),
        f"--nproc_per_node={nproc}",
        "--nnodes=1",
        str(TRANSFER),
        *args,
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture
def job(tmp_path: Path) -> Path:
    make_video(tmp_path / "inputs/color.mp4", "testsrc", frames=10, size="160x90", fps=30)
    make_video(tmp_path / "inputs/depth.mp4", "testsrc2", frames=8, size="160x90", fps=30)
    return tmp_path


def write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_single_run_shapes_and_record(job: Path) -> None:
    write(
        job / "spec.json",
        {
            "prompt": "neon",
            "input_video_path": "inputs/color.mp4",
            "seed": 7,
            "fps": 12,
            "num_steps": 4,
            "blur_strength": "high",
            "depth": {"control_weight": 0.4, "input_control": "inputs/depth.mp4"},
            "edge": {"control_weight": 0.3},
        },
    )
    done = simulate(
        job,
        "--controlnet_specs",
        "spec.json",
        "--video_save_folder",
        "out",
        "--offload_text_encoder_model",
        "--num_gpus",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "COSMOS SIMULATOR" in done.stdout and "no model runs" in done.stdout
    info = probe(ffmpeg_exe(), str(job / "out/output.mp4"))
    assert info["frames"] == 8  # the shortest input decides, as in Cosmos
    assert (info["width"], info["height"]) == (128, 70)  # 16:9 bucket 1280x704, scaled by 0.1
    assert info["fps"] == 12
    assert (job / "out/output.txt").read_text() == "neon"
    assert (job / "out/edge_input_control_0.mp4").is_file()  # generated, as NVIDIA does
    record = json.loads((job / "out/simulator_record.json").read_text())
    assert record["params"]["seed"] == 7 and record["params"]["blur_strength"] == "high"
    assert record["flags"]["offload_text_encoder_model"] is True
    sample = record["samples"][0]
    assert sample["weights"] == {"depth": 0.4, "edge": 0.3}
    assert sample["controls"]["depth"]["input_control"] == "inputs/depth.mp4"


def test_batch_mode_applies_overrides_per_line(job: Path) -> None:
    write(
        job / "spec.json",
        {"input_video_path": "inputs/color.mp4", "depth": {"control_weight": 0.5}},
    )
    lines = [
        {
            "prompt": "one",
            "visual_input": "inputs/color.mp4",
            "control_overrides": {
                "depth": {"control_weight": 0.2, "input_control": "inputs/depth.mp4"}
            },
        },
        {
            "prompt": "two",
            "visual_input": "inputs/color.mp4",
            "control_overrides": {"depth": {"control_weight": 0.9, "input_control": None}},
        },
    ]
    (job / "batch.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    done = simulate(
        job,
        "--controlnet_specs",
        "spec.json",
        "--batch_input_path",
        "batch.jsonl",
        "--video_save_folder",
        "out",
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((job / "out/simulator_record.json").read_text())
    assert [s["weights"]["depth"] for s in record["samples"]] == [0.2, 0.9]
    assert (job / "out/video_0/prompt.txt").read_text() == "one"
    assert (job / "out/video_1/depth_input_control_0.mp4").is_file()
    assert not (job / "out/video_0/depth_input_control_0.mp4").exists()


def test_nvidia_validation_errors(job: Path) -> None:
    write(job / "spec.json", {"depth": {"control_weight": 0.5}})
    done = simulate(job, "--controlnet_specs", "spec.json")
    assert (
        done.returncode != 0
        and "Must have 'input_video' specified if sigma_max < 80" in done.stderr
    )
    done = simulate(job, "--controlnet_specs", "spec.json", "--num_gpus", "2")
    assert done.returncode != 0 and "--num_gpus 2 != torchrun --nproc_per_node 1" in done.stderr
    write(
        job / "spec.json", {"input_video_path": "inputs/color.mp4", "colour": {"control_weight": 1}}
    )
    assert "Invalid hint_key colour" in simulate(job, "--controlnet_specs", "spec.json").stderr


def test_torchrun_shim_rejects_unknown_flags(job: Path) -> None:
    done = subprocess.run(
        [str(HERE / "torchrun"), "--bogus", "x.py"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown option --bogus" in done.stderr


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("oom", 1, "CUDA out of memory"),
        ("guardrail", 1, "Guardrail blocked generation"),
        ("crash", 139, "Segmentation fault"),
    ],
)
def test_failure_injection(job: Path, mode: str, code: int, message: str) -> None:
    write(
        job / "spec.json",
        {"prompt": "p", "input_video_path": "inputs/color.mp4", "vis": {"control_weight": 1}},
    )
    done = simulate(job, "--controlnet_specs", "spec.json", COSMOS_SIM_FAIL=mode)
    assert done.returncode == code
    assert message in done.stdout + done.stderr
    assert not (job / "outputs/output.mp4").exists()


def test_upscale_triples_the_bucket(job: Path) -> None:
    write(
        job / "spec.json",
        {
            "input_video_path": "inputs/color.mp4",
            "upscale": {"control_weight": 0.5},
            "num_steps": 10,
        },
    )
    done = simulate(job, "--controlnet_specs", "spec.json", "--video_save_folder", "up")
    assert done.returncode == 0, done.stderr
    info = probe(ffmpeg_exe(), str(job / "up/output.mp4"))
    assert (info["width"], info["height"]) == (384, 212)  # 3840x2112 scaled by 0.1


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        ((1280, 704), (1280, 704)),
        ((1920, 1080), (1280, 704)),
        ((640, 480), (960, 704)),
        ((1000, 1000), (960, 960)),
        ((720, 1280), (704, 1280)),
        ((600, 800), (704, 960)),
    ],
)
def test_resolution_buckets(size: tuple[int, int], bucket: tuple[int, int]) -> None:
    assert bucket_size(*size) == bucket
