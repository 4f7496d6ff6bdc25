"""The pipeline against a real OpenSSH server on 127.0.0.1 (the "GPU host", simulator there)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.hosts import Host
from cosmos_steps.remote import HostSession, JobError, RemoteJob
from cosmos_steps.simulator import TREE
from tests.helpers import base_config, make_project, snakemake, start_snakemake, write_yaml
from tests.sshd import LoopbackSSHD

pytestmark = [pytest.mark.ssh, pytest.mark.workflow]
FAKES = Path(__file__).parent / "fake_runtimes"
MEADOW = {
    "prompt": "A quiet meadow at dawn",
    "inputs": "videos",
    "controls": {"edge": 0.5, "depth": 0.4},
}


def simulated(**knobs: Any) -> dict[str, Any]:
    """Simulator settings for a host reached over SSH (this machine's python and ffmpeg)."""
    return {"python": sys.executable, "ffmpeg": ffmpeg_exe(), "scale": 0.1, **knobs}


def ssh_config(server: LoopbackSSHD, root: Path, **host: Any) -> dict[str, Any]:
    config = base_config()
    entry = server.host_config(
        str(root), poll_seconds=0.3, reconnect_seconds=30, simulate=simulated()
    )
    entry.update(host)
    config["hosts"] = {"gpu": entry}
    config["default_host"] = "gpu"
    return config


def rows(project: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(project / "cosmos.db") as conn:
        return conn.execute(sql, args).fetchall()


def manifest(project: Path) -> dict[str, Any]:
    return json.loads(next((project / "work/batches").glob("*/manifest.json")).read_text())


def wait_for(predicate, seconds: float = 60, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def job_running(root: Path) -> bool:
    return any(root.glob("jobs/*/state/pid")) and not any(root.glob("jobs/*/state/exit_code"))


def test_end_to_end_over_ssh_uploads_once(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    root = tmp_path / "host"
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, ssh_config(sshd, root))
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    first = manifest(project)
    videos = sum((project / "videos" / name).stat().st_size for name in ("color.mp4", "depth.mp4"))
    assert first["uploaded_bytes"] > videos and first["host"] == "gpu"
    assert rows(project, "SELECT status, host FROM runs") == [("completed", "gpu")]
    assert not (root / "jobs" / first["job_id"]).exists()  # cleaned after a verified download
    assert len(list((root / "blobs").iterdir())) >= 6  # inputs, specs, scripts, simulator
    # The same batch again (forced): a new attempt, and not one byte uploaded.
    done = snakemake(project, "--forcerun", "cosmos_infer")
    assert done.returncode == 0, done.stderr[-3000:]
    again = manifest(project)
    assert again["job_id"] == first["job_id"] + "-r2" and again["uploaded_bytes"] == 0
    # A second spec sharing the color video uploads only what is new.
    shutil.copy(project / "videos/depth.mp4", project / "videos/other_depth.mp4")
    with (project / "videos/other_depth.mp4").open("ab") as handle:
        handle.write(b"\0" * 100)
    write_yaml(
        project / "specs/second.yaml",
        {
            **MEADOW,
            "inputs": {"color": "videos/color.mp4"},
            "controls": {"depth": {"weight": 0.5, "input": "videos/other_depth.mp4"}},
        },
    )
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    second = json.loads(next((project / "work/batches").glob("second-*/manifest.json")).read_text())
    new_depth = (project / "videos/other_depth.mp4").stat().st_size
    assert new_depth <= second["uploaded_bytes"] < new_depth + 5_000  # + its small spec files


def test_unknown_host_key_is_refused_under_strict_and_accepted_under_accept_new(
    fresh_sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    fresh_sshd.known_hosts.write_text("")
    project = make_project(
        tmp_path / "p", {"meadow": MEADOW}, ssh_config(fresh_sshd, tmp_path / "host")
    )
    done = snakemake(project)
    assert done.returncode != 0
    log = next((project / "logs/infer/batches").glob("*.log")).read_text()
    assert "ERROR:" in log and "ssh-keyscan" in log and "accept-new" in log
    write_yaml(
        project / "config.yaml",
        ssh_config(fresh_sshd, tmp_path / "host", host_key_policy="accept-new"),
    )
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(fresh_sshd.port) in fresh_sshd.known_hosts.read_text()


def test_dropped_connection_mid_job_reattaches_without_a_second_job(
    fresh_sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    root = tmp_path / "host"
    config = ssh_config(fresh_sshd, root, cleanup=False, simulate=simulated(load_seconds=4))
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, config)
    run = start_snakemake(project)
    wait_for(lambda: job_running(root), what="the job to start on the host")
    logins = fresh_sshd.log.count("Accepted publickey")
    assert fresh_sshd.kill_sessions() >= 1
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output[-3000:]
    assert "connection to gpu lost" in output or fresh_sshd.log.count("Accepted publickey") > logins
    assert len(list(root.glob("jobs/*/state/launch"))) == 1
    assert rows(project, "SELECT count(*) FROM batches") == [(1,)]
    assert rows(project, "SELECT status FROM runs") == [("completed",)]


def test_killed_snakemake_is_replaced_by_one_that_adopts_the_running_job(
    sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    root = tmp_path / "host"
    config = ssh_config(sshd, root, cleanup=False, simulate=simulated(load_seconds=5))
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, config)
    run = start_snakemake(project)
    wait_for(lambda: job_running(root), what="the job to start on the host")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert snakemake(project, "--unlock").returncode == 0
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "adopting it" in done.stderr
    assert manifest(project)["adopted"] is True
    assert len(list(root.glob("jobs/*/state/launch"))) == 1
    events = [
        e[0]
        for e in rows(project, "SELECT status FROM events WHERE run_id IS NOT NULL ORDER BY id")
    ]
    assert events == ["pending", "uploading", "running", "downloading", "completed"]


def test_out_of_memory_is_classified(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    config = ssh_config(sshd, tmp_path / "host", simulate=simulated(fail="oom"))
    config["oom_escalation"] = []
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, config)
    assert snakemake(project).returncode != 0
    status, kind, error, tail = rows(
        project, "SELECT status, error_kind, error, log_tail FROM runs"
    )[0]
    assert (status, kind) == ("failed", "oom")
    assert error.startswith("CUDA out of memory") and "OutOfMemoryError" in tail


def test_corrupted_download_is_detected(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    root = tmp_path / "host"
    job_dir = root / "jobs" / "corrupt-1"
    (job_dir / "outputs").mkdir(parents=True)
    (job_dir / "outputs" / "output.mp4").write_bytes(b"x" * 5000)
    said: list[str] = []
    session = HostSession(
        Host("gpu", ssh_config(sshd, root)["hosts"]["gpu"]), said.append, lambda *_: None
    )
    job = RemoteJob(session, "corrupt-1", {})
    # job.sh writes the manifest when the job ends; then the file is changed on the host
    subprocess.run(
        [
            "bash",
            "-c",
            "cd outputs && printf '%s 5000 output.mp4\\n' $(sha256sum < output.mp4 | cut -d' ' -f1)"
            " > ../manifest && mkdir -p ../state && mv ../manifest ../state/outputs.manifest",
        ],
        cwd=job_dir,
        check=True,
    )
    (job_dir / "outputs" / "output.mp4").write_bytes(b"y" * 5000)
    with pytest.raises(JobError) as caught:
        job.download(tmp_path / "local")
    session.close()
    assert caught.value.kind == "transfer" and "corrupted" in caught.value.reason
    assert not (tmp_path / "local" / "output.mp4").exists()
    assert sum("failed verification" in line for line in said) == 3


def test_prompt_with_shell_metacharacters_arrives_byte_identical(
    sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    canary = tmp_path / "pwned"
    prompt = (
        f"$(touch {canary}) `touch {canary}`; touch {canary} && echo 'single' \"double\" \\ "
        "$HOME %s {} * ? [a] | > < &\nsecond line\ttab — 東京 ünïcödé 🎬"
    )
    project = make_project(
        tmp_path / "p",
        {"meadow": {**MEADOW, "prompt": prompt}},
        ssh_config(sshd, tmp_path / "host"),
    )
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(
        next((project / "work/batches").glob("*/out/simulator_record.json")).read_text()
    )
    assert record["samples"][0]["prompt"] == prompt
    assert (project / "results/meadow/prompt.txt").read_text(encoding="utf-8") == prompt
    assert not canary.exists()


def fake_cosmos_checkout(folder: Path) -> Path:
    """A cosmos-transfer1 checkout whose entry points are the simulator's."""
    for name, source in TREE.items():
        if not name.startswith("bin/"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / name)
    return folder


@pytest.fixture
def runtime_host(sshd_factory, tmp_path: Path) -> tuple[LoopbackSSHD, Path]:  # noqa: ANN001
    """An SSH host whose PATH has stand-in docker/apptainer (and torchrun, as in a Cosmos image)."""
    fakebin = tmp_path / "fakebin"
    shutil.copytree(FAKES, fakebin)
    shutil.copy(TREE["bin/torchrun"], fakebin / "torchrun")
    state = tmp_path / "runtime-state"
    env = {
        "PATH": f"{fakebin}:/usr/local/bin:/usr/bin:/bin",
        "FAKE_RUNTIME_STATE": str(state),
        "FAKE_DOCKER_IMAGE": "nvcr.io/test/cosmos-transfer1:1.0",
        "FAKE_APPTAINER_IMAGE": str(tmp_path / "cosmos.sif"),
        "COSMOS_SIM_PYTHON": sys.executable,
        "COSMOS_SIM_FFMPEG": ffmpeg_exe(),
        "COSMOS_SIM_SCALE": "0.1",
    }
    (tmp_path / "cosmos.sif").write_text("image")
    # one SetEnv line: sshd keeps the first value of a keyword
    server = sshd_factory(
        "SetEnv " + " ".join(f"{key}={value}" for key, value in env.items()) + "\n"
    )
    return server, state


@pytest.mark.parametrize("runtime", ["docker", "apptainer"])
def test_container_runtimes_end_to_end_through_stand_ins(
    runtime_host, tmp_path: Path, runtime: str
) -> None:  # noqa: ANN001
    server, state = runtime_host
    checkout = fake_cosmos_checkout(tmp_path / "cosmos-transfer1")
    (tmp_path / "checkpoints").mkdir()
    settings: dict[str, Any] = {
        "runtime": runtime,
        "cosmos_dir": str(checkout),
        "checkpoint_dir": str(tmp_path / "checkpoints"),
        "gpus": [0],
    }
    if runtime == "docker":
        settings["docker"] = {
            "image": "nvcr.io/test/cosmos-transfer1:1.0",
            "hf_cache": str(tmp_path / "hf"),
        }
    else:
        settings["apptainer"] = {"image": str(tmp_path / "cosmos.sif")}
    root = tmp_path / "host"
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, ssh_config(server, root, **settings))
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    launch = next(call for call in calls if call[1] in ("run", "exec"))
    job_id = manifest(project)["job_id"]
    job_dir = f"{root}/jobs/{job_id}"
    if runtime == "docker":
        batch = job_id.rsplit("-", 1)[0]
        assert launch == [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            f"cosmos-{job_id}",
            "--label",
            f"cosmos-workflow.batch={batch}",
            "--label",
            f"cosmos-workflow.job={job_id}",
            "--label",
            "cosmos-workflow.spec=meadow",
            "--gpus",
            "device=0",
            "--ipc=host",
            "--shm-size",
            "8g",
            "-v",
            f"{root}:{root}",
            "-v",
            f"{checkout}:{checkout}",
            "-v",
            f"{tmp_path / 'checkpoints'}:{tmp_path / 'checkpoints'}",
            "-v",
            f"{tmp_path / 'hf'}:/root/.cache/huggingface",
            "-w",
            job_dir,
            "nvcr.io/test/cosmos-transfer1:1.0",
            "bash",
            f"{job_dir}/job.sh",
            job_dir,
        ]
        assert ["docker", "inspect", "-f", "{{.State.Running}}", f"cosmos-{job_id}"] in calls
    else:
        ckpt = tmp_path / "checkpoints"
        assert launch == [
            "apptainer",
            "exec",
            "--nv",
            "--bind",
            f"{root}:{root},{checkout}:{checkout},{ckpt}:{ckpt}",
            "--pwd",
            job_dir,
            str(tmp_path / "cosmos.sif"),
            "bash",
            f"{job_dir}/job.sh",
            job_dir,
        ]
    assert rows(project, "SELECT status FROM runs") == [("completed",)]


def test_missing_image_is_a_container_error(runtime_host, tmp_path: Path) -> None:  # noqa: ANN001
    server, _ = runtime_host
    checkout = fake_cosmos_checkout(tmp_path / "cosmos-transfer1")
    settings = {
        "runtime": "docker",
        "cosmos_dir": str(checkout),
        "checkpoint_dir": str(checkout),
        "docker": {"image": "nvcr.io/test/missing:0", "hf_cache": str(tmp_path)},
    }
    project = make_project(
        tmp_path / "p", {"meadow": MEADOW}, ssh_config(server, tmp_path / "host", **settings)
    )
    assert snakemake(project).returncode != 0
    kind, error = rows(project, "SELECT error_kind, error FROM runs")[0]
    assert kind == "container" and "Unable to find image" in error
