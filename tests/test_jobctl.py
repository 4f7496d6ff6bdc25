"""gpu_scripts/jobctl.sh status --wait-ms: a poll that waits on the host and ends with the job."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_steps.hosts import Host
from cosmos_steps.remote import HostSession, RemoteJob


@pytest.fixture
def running_job(tmp_path: Path) -> Iterator[RemoteJob]:
    """A job folder on a local host whose process (a sleep) is running."""
    host = Host("local", {"transport": "local", "runtime": "simulate", "root": str(tmp_path)})
    session = HostSession(host, lambda _: None, lambda *_: None)
    job = RemoteJob(session, "job-1", {})
    state = Path(job.dir) / "state"
    (state / "launch").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    (state / "pid").write_text(f"{sleeper.pid}\n")
    yield job
    sleeper.kill()
    sleeper.wait()
    session.close()


def timed_status(job: RemoteJob, wait: float) -> tuple[dict[str, str], float]:
    start = time.monotonic()
    status = job.status(wait=wait)
    return status, time.monotonic() - start


def test_status_of_a_running_job_waits_up_to_the_given_time(running_job: RemoteJob) -> None:
    status, seconds = timed_status(running_job, 0.6)
    assert status["state"] == "running" and 0.5 <= seconds < 3
    status, seconds = timed_status(running_job, 0)
    assert status["state"] == "running" and seconds < 0.5


def test_status_returns_as_soon_as_the_job_ends(running_job: RemoteJob) -> None:
    exit_code = Path(running_job.dir) / "state" / "exit_code"
    timer = threading.Timer(0.5, lambda: exit_code.write_text("0\n"))
    timer.start()
    try:
        status, seconds = timed_status(running_job, 20)
    finally:
        timer.cancel()
    assert status["state"] == "finished" and status["exit_code"] == "0"
    assert seconds < 5
