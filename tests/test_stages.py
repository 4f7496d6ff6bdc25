"""Every Cosmos stage in the DAG: batching, 4K upscale, prompt enhancement, accounting."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.simulator.sim_media import probe
from tests.helpers import base_config, make_project, snakemake, write_yaml
from tests.test_workflow import job_counts

pytestmark = pytest.mark.workflow

SWEEP = {
    "prompt": "A harbour at dusk",
    "inputs": "videos",
    "controls": {"vis": 0.2, "depth": 0.5},
    "params": {
        "guidance": 6.5,
        "num_steps": 12,
        "blur_strength": "high",
        "canny_threshold": "very_low",
        "fps": 12,
    },
    "sweep": {"controls.depth.weight": [0.3, 0.6, 0.9], "params.seed": [3, 4]},
}


def rows(project: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(project / "cosmos.db") as conn:
        return conn.execute(sql, args).fetchall()


def records(project: Path) -> dict[str, dict]:
    """What the simulated model received, per run key (via the batch manifests' line mapping)."""
    received = {}
    for manifest_path in (project / "work/batches").glob("*/manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        record = json.loads((manifest_path.parent / "out/simulator_record.json").read_text())
        for line in manifest["lines"]:
            received[line["run"]] = {**record, "sample": record["samples"][line["line"]]}
    return received


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = base_config(gpus=[0, 1], price_per_gpu_hour=3.6)
    config["hosts"]["simulated"]["offload"] = {"diffusion_transformer": True, "guardrail": False}
    root = make_project(tmp_path_factory.mktemp("stages") / "p", {"harbour": SWEEP}, config)
    done = snakemake(root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_sweep_runs_batch_by_seed_and_each_output_reflects_its_own_parameters(swept: Path) -> None:
    batches = rows(swept, "SELECT batch, mode FROM batches")
    assert len(batches) == 2 and {b[1] for b in batches} == {"transfer_batch"}
    received = records(swept)
    assert len(received) == 6
    for key, got in received.items():
        weight = float(key.split("depth-")[1].split("_")[0])
        seed = int(key.split("seed-")[1])
        assert got["sample"]["weights"]["depth"] == weight
        assert got["params"]["seed"] == seed
        assert (got["params"]["guidance"], got["params"]["num_steps"], got["params"]["fps"]) == (
            6.5,
            12,
            12,
        )
        assert (got["params"]["blur_strength"], got["params"]["canny_threshold"]) == (
            "high",
            "very_low",
        )
        assert got["sample"]["prompt"] == "A harbour at dusk"
        assert got["params"]["negative_prompt"].startswith("The video captures a game playing")


def test_offload_flags_and_gpu_count_reach_nvidia(swept: Path) -> None:
    got = next(iter(records(swept).values()))
    assert got["params"]["num_gpus"] == 2
    assert got["flags"]["offload_diffusion_transformer"] is True
    assert got["flags"]["offload_guardrail_models"] is False
    assert got["flags"]["offload_text_encoder_model"] is True


def test_gpu_seconds_add_up_to_the_batch_time_and_cost_follows_the_price(swept: Path) -> None:
    for job_id, wall, gpus in rows(swept, "SELECT id, wall_seconds, num_gpus FROM batches"):
        runs = rows(swept, "SELECT gpu_seconds, cost FROM runs WHERE batch_id = ?", job_id)
        assert len(runs) == 3 and all(r[0] > 0 for r in runs)
        assert sum(r[0] for r in runs) == pytest.approx(wall * gpus, abs=0.01)
        assert all(r[1] == pytest.approx(r[0] / 3600 * 3.6, abs=1e-5) for r in runs)
    run_json = json.loads((swept / "results/harbour/depth-0.3_seed-3/run.json").read_text())
    assert run_json["gpu_seconds"] > 0 and run_json["host"] == "simulated"


def test_upscale_is_a_separate_job_that_never_reruns_inference(tmp_path: Path) -> None:
    spec = {
        "prompt": "A quiet meadow",
        "inputs": {"color": "videos/color.mp4"},
        "controls": {"edge": 0.5},
        "sweep": {"params.seed": [1]},
    }
    root = make_project(tmp_path / "p", {"meadow": spec})
    assert snakemake(root).returncode == 0
    write_yaml(root / "specs/meadow.yaml", {**spec, "upscale": {"weight": 0.7}})
    planned = snakemake(root, "-n")
    assert job_counts(planned.stdout + planned.stderr) == {
        "all": 1,
        "cosmos_infer": 1,
        "cosmos_upscale": 1,
        "cosmos_upscale_job": 1,
        "cosmos_report": 1,
    }
    assert snakemake(root).returncode == 0
    info = probe(ffmpeg_exe(), str(root / "results/meadow/seed-1/output_4k.mp4"))
    assert (info["width"], info["height"]) == (384, 212)  # 3 x 1280x704, x0.1 test scale
    upscale = rows(root, "SELECT parent_run_id, prompt_id FROM runs WHERE model_type = 'upscale'")[
        0
    ]
    parent = rows(root, "SELECT id, prompt_id FROM runs WHERE model_type = 'transfer'")[0]
    assert upscale == parent
    spec_used = json.loads((root / "results/meadow/seed-1/run_4k.json").read_text())["nvidia"]
    assert (
        spec_used["spec"]["upscale"] == {"control_weight": 0.7}
        and spec_used["spec"]["num_steps"] == 10
    )
    assert spec_used["batch_line"]["prompt"] == "A quiet meadow"


def test_enhanced_prompt_is_recorded_and_used(tmp_path: Path) -> None:
    spec = {
        "prompt": "A quiet meadow",
        "inputs": {"color": "videos/color.mp4"},
        "controls": {"edge": 0.5},
        "enhance": True,
    }
    root = make_project(tmp_path / "p", {"meadow": spec})
    done = snakemake(root)
    assert done.returncode == 0, done.stderr[-2000:]
    enhanced = (root / "work/prompts/meadow.txt").read_text()
    assert enhanced.startswith("A quiet meadow ") and "simulated upsampling" in enhanced
    prompts = dict(rows(root, "SELECT kind, text FROM prompts"))
    assert prompts == {"user": "A quiet meadow", "enhanced": enhanced}
    parent = rows(root, "SELECT parent_id FROM prompts WHERE kind = 'enhanced'")[0][0]
    assert parent == rows(root, "SELECT id FROM prompts WHERE kind = 'user'")[0][0]
    assert rows(root, "SELECT status FROM runs WHERE model_type = 'enhance'") == [("completed",)]
    assert (root / "results/meadow/prompt.txt").read_text() == enhanced
    assert (
        json.loads((root / "work/batches").glob("*/spec.json").__next__().read_text())["prompt"]
        == enhanced
    )


def test_control_only_run_uses_sigma_max_80_with_a_note(tmp_path: Path) -> None:
    spec = {"prompt": "p", "inputs": {"depth": "videos/depth.mp4"}, "controls": {"depth": 0.8}}
    root = make_project(tmp_path / "p", {"depth_only": spec})
    assert snakemake(root).returncode == 0
    record = json.loads(
        next((root / "work/batches").glob("*/out/simulator_record.json")).read_text()
    )
    assert record["params"]["sigma_max"] == 80
    log = next((root / "logs/infer/batches").glob("*.log")).read_text()
    assert "note: no color video: control-only run, sigma_max set to 80 as NVIDIA requires" in log
