"""`cosmos status`, `status --stream` and `cancel` over the real loopback OpenSSH server."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_steps.ffmpeg import ffmpeg_exe
from tests.cli_project import JobStarter, ProjectDir, local_host
from tests.sshd import LoopbackSSHD

pytestmark = pytest.mark.ssh


def ssh_project(root: Path, server: LoopbackSSHD, **hosts: dict) -> ProjectDir:
    """A project whose host `remote` is the loopback server (simulated runtime, this Python)."""
    remote = server.host_config(
        str(root / "remote"),
        poll_seconds=0.2,
        reconnect_seconds=20,
        simulate={"python": sys.executable, "ffmpeg": ffmpeg_exe("auto")},
    )
    return ProjectDir(root, {"remote": remote, **hosts})


@pytest.fixture
def remote_jobs(tmp_path: Path, sshd: LoopbackSSHD) -> Iterator[tuple[ProjectDir, JobStarter]]:
    project = ssh_project(tmp_path, sshd)
    starter = JobStarter(project)
    yield project, starter
    starter.stop_all()


def register(project: ProjectDir, job_id: str, run_id: str, status: str) -> None:
    project.add_prompt("ps_" + run_id[3:].ljust(16, "0"), run_id, "a prompt")
    project.add_batch(
        job_id,
        "ps_" + run_id[3:].ljust(16, "0"),
        {run_id: run_id[3:]},
        host="remote",
        status=status,
    )


def test_status_and_cancel_over_ssh(remote_jobs, cli):
    project, start_job = remote_jobs
    orphan = start_job("orphan-00000000-aaaaaaaaaaaa", "sleep 60", host="remote")
    tracked = start_job("tracked-00000000-bbbbbbbbbbbb", "sleep 60", host="remote")
    register(project, tracked.job_id, "rs_tracked", "running")
    register(project, "ghost-00000000-cccccccccccc", "rs_ghost", "uploading")
    for job in (orphan, tracked):
        start_job.wait_for(job, "running")

    result = cli(project, "status", "remote", "--json")
    assert result.code == 0, result.err
    (report,) = result.json()
    assert (report["transport"], report["reachable"], report["runtime_ok"]) == ("ssh", True, True)
    assert "Python" in report["runtime_detail"] and "ffmpeg" in report["runtime_detail"]
    assert "simulated GPU" in report["gpu_note"]
    assert {job["job_id"]: job["state"] for job in report["jobs"]} == {
        orphan.job_id: "running",
        tracked.job_id: "running",
    }
    assert [job["job_id"] for job in report["orphans"]] == [orphan.job_id]
    assert [(z["id"], z["status"], z["host_state"]) for z in report["zombies"]] == [
        ("rs_ghost", "uploading", "absent")
    ]
    table = cli(project, "status")
    assert "remote (ssh, simulate)" in table.out and "zombie" in table.out
    assert table.out.splitlines()[-1] == "1 host checked: 1 reachable, 1 orphan, 1 zombie"

    cancelled = cli(project, "cancel", "rs_tracked", "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["stopped"] is True
    assert tracked.status()["state"] == "cancelled"
    assert project.run_status("rs_tracked") == "cancelled"


def test_unreachable_ssh_host_exits_2_and_the_others_still_answer(tmp_path, fresh_sshd, cli):
    project = ssh_project(tmp_path, fresh_sshd, here=local_host())
    fresh_sshd.stop_listener()
    began = time.monotonic()
    result = cli(project, "status", "--json", "--timeout", "20")
    assert time.monotonic() - began < 15  # reported, not retried for reconnect_seconds
    assert result.code == 2
    reports = {report["host"]: report for report in result.json()}
    remote, here = reports["remote"], reports["here"]
    assert remote["reachable"] is False and remote["error"]
    assert "Connection refused" in remote["error"]
    assert here["reachable"] is True
    table = cli(project, "status", "--timeout", "20")
    assert table.code == 2 and "1 reachable" in table.out


def test_stream_over_ssh_survives_dropped_connections(tmp_path, fresh_sshd, cli):
    project = ssh_project(tmp_path, fresh_sshd)
    start_job = JobStarter(project)
    try:
        job = start_job(
            "talk-00000000-dddddddddddd",
            'for i in $(seq 1 30); do echo "line $i"; sleep 0.1; done',
            host="remote",
        )
        register(project, job.job_id, "rs_talk", "running")
        drops = []

        def drop_connections() -> None:
            for _ in range(3):
                time.sleep(0.7)
                drops.append(fresh_sshd.kill_sessions())

        dropper = threading.Thread(target=drop_connections)
        dropper.start()
        result = cli(project, "status", "--stream", "talk")
        dropper.join()
    finally:
        start_job.stop_all()
    assert sum(drops) >= 2, "the test never dropped a live connection"
    assert result.code == 0, result.err
    body = [line for line in result.out.splitlines() if line.startswith("line ")]
    assert body == [f"line {i}" for i in range(1, 31)]  # nothing lost, nothing twice
    assert result.out.rstrip().endswith("[cosmos-workflow] exit code 0")
