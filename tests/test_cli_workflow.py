"""The `cosmos` commands on what the real pipeline wrote (Snakemake + the simulated GPU host)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cosmos_steps import PROJECT_DIR
from cosmos_steps.ffmpeg import ffmpeg_exe
from tests.cli_project import config_with, local_host

pytestmark = [pytest.mark.workflow, pytest.mark.slow]
ENV = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}


def make_project(root: Path, load_seconds: float) -> Path:
    """A project with one spec and a tiny color video, on a simulated local host."""
    (root / "specs").mkdir(parents=True)
    (root / "videos").mkdir()
    subprocess.run(
        [
            ffmpeg_exe("auto"),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=24",
            "-frames:v",
            "12",
            "-pix_fmt",
            "yuv420p",
            str(root / "videos" / "color.mp4"),
        ],
        check=True,
    )
    spec = {
        "prompt": "A quiet meadow at dawn",
        "inputs": {"color": "videos/color.mp4"},
        "controls": {"edge": 0.7},
    }
    (root / "specs" / "meadow.yaml").write_text(yaml.safe_dump(spec))
    host = local_host(
        "work/host", poll_seconds=0.3, simulate={"load_seconds": load_seconds, "scale": 0.5}
    )
    (root / "config.yaml").write_text(yaml.safe_dump(config_with({"sim": host})))
    return root


def snakemake(root: Path, **popen: object) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(PROJECT_DIR / "Snakefile"),
        "--cores",
        "1",
        "--quiet",
    ]
    return subprocess.Popen(command, cwd=root, env=ENV, **popen)


def cosmos(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cosmos_steps.cli", *args],
        cwd=root,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("pipeline"), load_seconds=0)
    process = snakemake(root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output.decode()[-3000:]
    return root


def test_show_run_of_the_pipeline(finished):
    data = json.loads(cosmos(finished, "show", "meadow", "--json").stdout)
    assert data["type"] == "prompt" and data["runs"][0]["status"] == "completed"
    run = json.loads(cosmos(finished, "show", data["runs"][0]["id"][:10], "--json").stdout)
    assert run["type"] == "run" and run["run"]["run_key"] == "meadow"
    assert run["nvidia"]["mode"] == "transfer"
    assert run["nvidia"]["spec"]["edge"] == {"control_weight": 0.7}
    assert run["nvidia"]["spec"]["prompt"] == "A quiet meadow at dawn"
    assert run["log"]["source"].endswith(f"logs/infer/batches/{run['batch']['batch']}.log")
    assert "[cosmos-workflow] exit code 0" in run["log"]["text"]
    kinds = {artifact["kind"] for artifact in run["artifacts"]}
    assert {"output", "prompt", "run"} <= kinds
    statuses = [event["status"] for event in run["events"] if event["run_id"]]
    assert statuses == ["pending", "uploading", "running", "downloading", "completed"]
    table = cosmos(finished, "show", "meadow")
    assert table.returncode == 0 and "results/meadow/output.mp4" in table.stdout


def test_verify_then_delete_on_pipeline_results(finished):
    assert cosmos(finished, "verify").returncode == 0
    search = json.loads(cosmos(finished, "search", "dawn", "--json").stdout)
    assert search["total"] == 1
    deleted = cosmos(finished, "delete", "run", "meadow", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert not (finished / "results" / "meadow").exists()
    assert json.loads(cosmos(finished, "list", "runs", "--json").stdout)["total"] == 0


def test_cancel_a_really_running_simulated_job(tmp_path):
    root = make_project(tmp_path, load_seconds=120)
    process = snakemake(root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        batch = wait_for_running_batch(root / "cosmos.db", process)
        status = json.loads(cosmos(root, "status", "--json").stdout)[0]
        assert [job["job_id"] for job in status["jobs"] if job["state"] == "running"] == [batch]
        assert status["orphans"] == [] and status["zombies"] == []
        result = cosmos(root, "cancel", "meadow")
        assert result.returncode == 0, result.stderr
        assert "stopped the running job" in result.stdout
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0  # the pipeline sees the cancelled job and stops
    assert b"cancelled" in output
    with sqlite3.connect(root / "cosmos.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        assert conn.execute("SELECT status FROM batches").fetchall() == [("cancelled",)]
    state = root / "work" / "host" / "jobs" / batch / "state"
    assert (state / "cancelled").exists()
    pid = int((state / "pid").read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def wait_for_running_batch(database: Path, process: subprocess.Popen[bytes]) -> str:
    """The id of the batch job once the database says it runs on the host."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, "snakemake ended before the job ran"
        if database.exists():
            with sqlite3.connect(database) as conn:
                try:
                    row = conn.execute("SELECT id FROM batches WHERE status = 'running'").fetchone()
                except sqlite3.OperationalError:
                    row = None
            if row:
                return row[0]
        time.sleep(0.3)
    raise AssertionError("no batch reached running")
