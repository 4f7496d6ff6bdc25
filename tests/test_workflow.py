"""The real Snakemake workflow on tiny generated videos with the simulated GPU host."""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest

from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.simulator.sim_media import probe
from tests.helpers import base_config, cosmos, make_project, snakemake, write_yaml

pytestmark = pytest.mark.workflow

STREET = {
    "prompt": "A rainy street at night, neon signs reflecting in puddles",
    "inputs": "videos",
    "controls": {"vis": 0.3, "depth": 0.5},
    "sweep": {"controls.depth.weight": [0.4, 0.6], "params.seed": [1, 2]},
}
MEADOW = {
    "prompt": "A quiet meadow at dawn",
    "inputs": {"color": "videos/color.mp4"},
    "controls": {"edge": 0.7},
}
RUNS = [
    "meadow",
    "street/depth-0.4_seed-1",
    "street/depth-0.4_seed-2",
    "street/depth-0.6_seed-1",
    "street/depth-0.6_seed-2",
]


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake dry run."""
    counts = {}
    for line in output.split("Job stats:", 1)[-1].splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("wf") / "p", {"street": STREET, "meadow": MEADOW})
    done = snakemake(root)
    assert done.returncode == 0, done.stderr[-4000:]
    return root


def query(project: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(project / "cosmos.db") as conn:
        return conn.execute(sql, args).fetchall()


def test_dry_run_plans_the_dag(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"street": STREET, "meadow": MEADOW})
    done = snakemake(root, "-n")
    assert done.returncode == 0, done.stderr
    assert job_counts(done.stdout + done.stderr) == {
        "all": 1,
        "cosmos_transfer_job": 3,
        "cosmos_infer": 3,
        "cosmos_jobspec": 5,
        "cosmos_split": 5,
        "cosmos_report": 1,
    }
    assert not (root / "cosmos.db").exists()  # nothing written at parse time


def test_every_run_has_its_output(project: Path) -> None:
    for run in RUNS:
        folder = project / "results" / run
        info = probe(ffmpeg_exe(), str(folder / "output.mp4"))
        assert (info["width"], info["height"], info["frames"]) == (128, 70, 12)
        meta = json.loads((folder / "run.json").read_text())
        assert meta["run_key"] == run and meta["nvidia"]["spec"]["fps"] == 24
    street = json.loads((project / "results/street/depth-0.6_seed-2/run.json").read_text())
    assert street["nvidia"]["batch_line"]["control_overrides"]["depth"]["control_weight"] == 0.6
    assert street["nvidia"]["spec"]["seed"] == 2


def test_database_records_prompts_runs_artifacts_events(project: Path) -> None:
    assert sorted(query(project, "SELECT name, kind FROM prompts")) == [
        ("meadow", "user"),
        ("street", "user"),
    ]
    runs = query(project, "SELECT run_key, status, id, gpu_seconds FROM runs")
    assert sorted((r[0], r[1]) for r in runs) == [(run, "completed") for run in RUNS]
    assert all(r[2].startswith("rs_") and r[3] > 0 for r in runs)
    for run_id in (r[2] for r in runs):
        events = [
            e[0]
            for e in query(
                project, "SELECT status FROM events WHERE run_id = ? ORDER BY id", run_id
            )
        ]
        assert events == ["pending", "uploading", "running", "downloading", "completed"]
        output = query(
            project,
            "SELECT sha256, bytes, path FROM artifacts WHERE run_id = ? AND kind = 'output'",
            run_id,
        )
        assert len(output) == 1 and len(output[0][0]) == 64
        assert output[0][1] == (project / output[0][2]).stat().st_size


def test_the_report_is_written_and_snakemake_report_holds_the_videos(project: Path) -> None:
    assert (project / "results/report.html").is_file()
    log = (project / "logs/report/report.log").read_text()
    assert log.startswith("results/report.html: 2 specs, 5 runs (5 completed)")
    done = snakemake(project, "--report", str(project / "report.zip"))
    assert done.returncode == 0, done.stderr[-2000:]
    with zipfile.ZipFile(project / "report.zip") as archive:
        videos = [name for name in archive.namelist() if name.endswith("/output.mp4")]
        page = archive.read("report/report.html").decode()
    assert len(videos) == len(RUNS)
    assert '"labels": {"run": "street/depth-0.4_seed-2", "depth": "0.4", "seed": "2"}' in page


def test_second_run_has_nothing_to_do(project: Path) -> None:
    done = snakemake(project, "-n")
    assert done.returncode == 0
    assert "Nothing to be done" in done.stdout + done.stderr


def test_editing_a_prompt_reruns_only_that_spec_and_deleting_a_result_only_that_run(
    project: Path,
) -> None:
    meadow_before = (project / "results/meadow/output.mp4").stat().st_mtime_ns
    write_yaml(project / "specs/street.yaml", {**STREET, "prompt": "A rainy street at dawn"})
    planned = snakemake(project, "-n")
    counts = job_counts(planned.stdout + planned.stderr)
    assert counts == {
        "all": 1,
        "cosmos_transfer_job": 2,
        "cosmos_infer": 2,
        "cosmos_jobspec": 4,
        "cosmos_split": 4,
        "cosmos_report": 1,
    }
    assert snakemake(project).returncode == 0
    assert (project / "results/meadow/output.mp4").stat().st_mtime_ns == meadow_before
    text = (project / "results/street/depth-0.4_seed-1/prompt.txt").read_text()
    assert text == "A rainy street at dawn"
    (project / "results/street/depth-0.6_seed-1/output.mp4").unlink()
    planned = snakemake(project, "-n")
    assert job_counts(planned.stdout + planned.stderr) == {
        "all": 1,
        "cosmos_split": 1,
        "cosmos_report": 1,
    }
    assert snakemake(project).returncode == 0
    assert (project / "results/street/depth-0.6_seed-1/output.mp4").is_file()


def test_invalid_spec_stops_before_any_work_without_traceback(tmp_path: Path) -> None:
    bad = {**MEADOW, "controls": {"depth": {"weight": 1.7}}}
    root = make_project(tmp_path / "p", {"bad": bad, "meadow": MEADOW})
    done = snakemake(root)
    assert done.returncode == 1
    assert (
        "specs/bad.yaml: controls.depth.weight: 1.7 is greater than the maximum of 1" in done.stderr
    )
    assert "Traceback" not in done.stderr and not (root / "work").exists()
    check = cosmos(root, "validate")
    assert check.returncode == 1
    assert (
        "specs/bad.yaml: controls.depth.weight: 1.7 is greater than the maximum of 1"
        in check.stderr
    )


def test_model_failure_is_classified_and_recorded(tmp_path: Path) -> None:
    config = base_config()
    config["hosts"]["simulated"]["simulate"]["fail"] = "oom"
    root = make_project(tmp_path / "p", {"meadow": MEADOW}, config)
    done = snakemake(root)
    assert done.returncode != 0
    batch_dir = next((root / "work/batches").glob("meadow-*"))
    first = (batch_dir / "attempt-1.log").read_text().strip().splitlines()
    assert "out of GPU memory on simulated: retrying with every offload flag" in "\n".join(first)
    assert first[-1].split("] ", 1)[1].startswith("ERROR: no run of batch meadow-")
    assert "CUDA out of memory" in first[-1]
    # Snakemake's retry of the rule is refused: the failure would repeat
    log = (root / f"logs/infer/batches/{batch_dir.name}.log").read_text().strip().splitlines()
    assert "ERROR: not retried: the last attempt failed with oom" in log[-1]
    assert "attempt-1.log" in log[-1]
    rows = query(root, "SELECT status, error_kind, error, log_tail FROM runs")
    assert len(rows) == 2  # as configured, then with every offload flag
    for row in rows:
        assert row[:2] == ("failed", "oom") and "CUDA out of memory" in row[2] and row[3]


def test_a_missing_output_fails_exactly_that_run(tmp_path: Path) -> None:
    config = base_config()
    config["hosts"]["simulated"]["simulate"]["drop_lines"] = [1]
    spec = {**STREET, "sweep": {"controls.depth.weight": [0.2, 0.4, 0.6]}}
    root = make_project(tmp_path / "p", {"street": spec}, config)
    done = snakemake(root)
    assert done.returncode != 0
    statuses = dict(query(root, "SELECT run_key, status FROM runs"))
    assert statuses == {
        "street/depth-0.2": "completed",
        "street/depth-0.4": "failed",
        "street/depth-0.6": "completed",
    }
    assert (root / "results/street/depth-0.6/output.mp4").is_file()
    assert not (root / "results/street/depth-0.4").exists()
    split_log = (root / "logs/split/street/depth-0.4.log").read_text().strip().splitlines()
    assert (
        "ERROR: run street/depth-0.4 failed: no output: video_1/output.mp4 was not written"
        in split_log[-1]
    )
