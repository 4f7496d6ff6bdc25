"""The `cosmos` commands on what the real pipeline wrote (Snakemake + the simulated GPU host)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import base_config, cosmos, make_project, start_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]
MEADOW = {
    "prompt": "A quiet meadow at dawn",
    "inputs": {"color": "videos/color.mp4"},
    "controls": {"edge": 0.7},
}


def make_meadow(root: Path, load_seconds: float) -> Path:
    """A project with one spec and a tiny color video, on the simulated local host."""
    config = base_config(poll_seconds=0.3)
    config["hosts"]["simulated"]["simulate"].update(load_seconds=load_seconds, scale=0.5)
    return make_project(root, {"meadow": MEADOW}, config, videos=("color",))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_meadow(tmp_path_factory.mktemp("pipeline"), load_seconds=0)
    process = start_snakemake(root, cores=1)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
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
    root = make_meadow(tmp_path, load_seconds=120)
    process = start_snakemake(root, cores=1)
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
    assert "cancelled" in output
    with sqlite3.connect(root / "cosmos.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        assert conn.execute("SELECT status FROM batches").fetchall() == [("cancelled",)]
    state = root / "work" / "host" / "jobs" / batch / "state"
    assert (state / "cancelled").exists()
    pid = int((state / "pid").read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def wait_for_running_batch(database: Path, process: subprocess.Popen[str]) -> str:
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
