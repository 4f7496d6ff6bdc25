"""`cosmos status`, `status --stream` and `cancel` against real jobs on local hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from cosmos_steps import PROJECT_DIR
from cosmos_steps.hosts import Host
from cosmos_steps.hoststatus import parse_gpus
from cosmos_steps.transport import LocalTransport, TransportError
from tests.cli_project import ProjectDir, local_host

FAKE_SMI = """#!/usr/bin/env bash
echo "0, NVIDIA H100 80GB HBM3, 1024, 81559, 35, 41, 120.50"
echo "1, NVIDIA H100 80GB HBM3, 70000, 81559, 99, 77, [N/A]"
"""


def register(project: ProjectDir, job_id: str, runs: dict[str, str], status: str) -> None:
    """Database rows for a batch job on host `sim`, its runs moved to `status`."""
    project.add_prompt("ps_" + job_id[:16].ljust(16, "0"), job_id.split("-")[0], "some prompt")
    project.add_batch(job_id, "ps_" + job_id[:16].ljust(16, "0"), runs, status=status)


def test_status_finds_orphans_and_zombies(cosmos_project, cli, start_job):
    orphan = start_job("orphan-00000000-aaaaaaaaaaaa", "sleep 60")
    tracked = start_job("tracked-00000000-bbbbbbbbbbbb", "sleep 60")
    done = start_job("done-00000000-cccccccccccc", "echo hi")
    register(cosmos_project, tracked.job_id, {"rs_tracked": "tracked"}, "running")
    register(cosmos_project, done.job_id, {"rs_done": "done"}, "downloading")
    register(cosmos_project, "ghost-00000000-dddddddddddd", {"rs_ghost": "ghost"}, "running")
    for job in (orphan, tracked):
        start_job.wait_for(job, "running")
    start_job.wait_for(done, "finished")

    result = cli(cosmos_project, "status", "--json")
    assert result.code == 0, result.err
    (report,) = result.json()
    assert report["reachable"] and report["runtime_ok"], report
    assert report["gpus"] == [] and "simulated GPU" in report["gpu_note"]
    states = {job["job_id"]: (job["state"], job["db_status"]) for job in report["jobs"]}
    assert states == {
        orphan.job_id: ("running", None),
        tracked.job_id: ("running", "running"),
        done.job_id: ("finished", "downloading"),
    }
    assert [job["job_id"] for job in report["orphans"]] == [orphan.job_id]
    assert [(z["id"], z["host_state"]) for z in report["zombies"]] == [("rs_ghost", "absent")]

    table = cli(cosmos_project, "status")
    assert table.code == 0
    assert "orphan" in table.out and orphan.job_id in table.out
    assert "zombie" in table.out and "rs_ghost (ghost)" in table.out
    assert table.out.splitlines()[-1] == "1 host checked: 1 reachable, 1 orphan, 1 zombie"


def test_status_orphan_when_the_batch_row_is_final(cosmos_project, cli, start_job):
    job = start_job("stale-00000000-eeeeeeeeeeee", "sleep 60")
    register(cosmos_project, job.job_id, {"rs_stale": "stale"}, "failed")
    start_job.wait_for(job, "running")
    (report,) = cli(cosmos_project, "status", "--json").json()
    assert [(o["job_id"], o["db_status"]) for o in report["orphans"]] == [(job.job_id, "failed")]
    assert report["zombies"] == []


def test_status_reports_every_gpu_and_runtime_checks(tmp_path, cli, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    hosts = {
        "box": {
            "transport": "local",
            "runtime": "none",
            "root": "box",
            "cosmos_dir": "/opt/c",
            "checkpoint_dir": "/opt/c/checkpoints",
        },
        "broken": local_host("broken", simulate={"ffmpeg": "/nonexistent/ffmpeg"}),
    }
    project = ProjectDir(tmp_path, hosts)
    result = cli(project, "status", "--json")
    assert result.code == 0, result.err
    box, broken = result.json()
    assert [gpu["memory_used_mib"] for gpu in box["gpus"]] == [1024, 70000]
    assert box["gpus"][1]["power_w"] is None and box["gpus"][1]["utilization_pct"] == 99
    assert box["runtime_ok"] and box["runtime_detail"].startswith("Python 3")
    assert broken["runtime_ok"] is False and "ffmpeg" in broken["runtime_detail"]
    one = cli(project, "status", "box")
    assert one.code == 0
    assert one.out.count("NVIDIA H100 80GB HBM3") == 2
    assert "1024 / 81559 MiB" in one.out and "70000 / 81559 MiB" in one.out


def test_parse_gpus_handles_not_available_values():
    gpus = parse_gpus("0, Tesla T4, [N/A], 15360, [Not Supported], 40, 27.3\n")
    assert gpus == [
        {
            "index": 0,
            "name": "Tesla T4",
            "memory_used_mib": None,
            "memory_total_mib": 15360.0,
            "utilization_pct": None,
            "temperature_c": 40.0,
            "power_w": 27.3,
        }
    ]


class HangingTransport(LocalTransport):
    """A host that never answers (a stuck SSH connection)."""

    def run(self, argv, *, stdin=None, timeout=None):
        time.sleep(5)
        raise TransportError("too late")


def test_status_unknown_host_and_timeout(cosmos_project, cli, monkeypatch):
    unknown = cli(cosmos_project, "status", "nowhere")
    assert unknown.code == 1 and "no host 'nowhere'" in unknown.err
    monkeypatch.setattr(Host, "connect", lambda self: HangingTransport())
    began = time.monotonic()
    late = cli(cosmos_project, "status", "--timeout", "0.5", "--json")
    assert time.monotonic() - began < 4
    assert late.code == 2
    assert late.json()[0]["error"] == "no answer within 0.5s"
    table = cli(cosmos_project, "status", "--timeout", "0.5")
    assert table.code == 2
    assert "reachable  NO" in table.out and "0 reachable" in table.out


def test_cancel_stops_a_running_job_and_marks_its_runs(cosmos_project, cli, start_job):
    job = start_job("batch-00000000-111111111111", "echo started; sleep 60")
    register(cosmos_project, job.job_id, {"rs_one": "batch/a", "rs_two": "batch/b"}, "running")
    start_job.wait_for(job, "running")
    pid_file = cosmos_project.root / "host" / "jobs" / job.job_id / "state" / "pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists():
        assert time.monotonic() < deadline, "job.sh never wrote its pid"
        time.sleep(0.05)
    pid = int(pid_file.read_text())

    result = cli(cosmos_project, "cancel", "batch/a")
    assert result.code == 0, result.err
    assert "stopped the running job" in result.out
    assert result.out.splitlines()[-1] == "cancelled 2 runs of batch batch-00000000"
    assert job.status()["state"] == "cancelled"
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the job's process survived the cancel"
        time.sleep(0.1)
    for run_id in ("rs_one", "rs_two"):
        assert cosmos_project.run_status(run_id) == "cancelled"
    batch = cosmos_project.db.execute(
        "SELECT status FROM batches WHERE id = ?", [job.job_id]
    ).fetchone()
    assert batch[0] == "cancelled"
    message = cosmos_project.db.execute(
        "SELECT message FROM events WHERE run_id = 'rs_one' AND status = 'cancelled'"
    ).fetchone()[0]
    assert "cosmos cancel" in message

    again = cli(cosmos_project, "cancel", job.job_id)
    assert again.code == 1 and "already cancelled" in again.err


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(
        ["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True
    ).stdout.strip()[:1] not in ("Z", "")


def test_cancel_json_and_final_runs(seeded, cli):
    completed = cli(seeded, "cancel", "street/seed-1")
    assert completed.code == 1 and "already completed" in completed.err
    wrong = cli(seeded, "cancel", "rs_zzz")
    assert wrong.code == 1 and "no batch or run matches 'rs_zzz'" in wrong.err
    result = cli(seeded, "cancel", "neon-alley", "--json")  # running in the database, no job
    assert result.code == 0, result.err
    data = result.json()
    assert (data["host_state"], data["stopped"]) == ("absent", False)
    assert [run["run_key"] for run in data["cancelled_runs"]] == ["neon-alley"]


def test_stream_prints_the_whole_log_and_the_exit_status(cosmos_project, cli, start_job):
    job = start_job(
        "talk-00000000-222222222222", "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"
    )
    register(cosmos_project, job.job_id, {"rs_talk": "talk"}, "running")
    result = cli(cosmos_project, "status", "--stream", "talk")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line for line in lines if line.startswith("line ")] == [
        f"line {i}" for i in range(1, 6)
    ]
    assert lines[-1] == "[cosmos-workflow] exit code 0"
    assert "finished, exit code 0" in result.err


def test_stream_of_a_failed_job_exits_1(cosmos_project, cli, start_job):
    job = start_job("bad-00000000-333333333333", "echo oops; exit 3")
    register(cosmos_project, job.job_id, {"rs_bad": "bad"}, "running")
    result = cli(cosmos_project, "status", "--stream", job.job_id[:8])
    assert result.code == 1
    assert "oops" in result.out and "exit code 3" in result.err


class FlakyTransport(LocalTransport):
    """A local host whose connection drops during some log reads (a dropped SSH link)."""

    reads = 0

    def read(self, remote: str, offset: int, limit: int = 1 << 20) -> bytes:
        FlakyTransport.reads += 1
        if FlakyTransport.reads in (3, 4, 7):
            raise TransportError("local: connection reset by peer")
        return super().read(remote, offset, min(limit, 8))  # small chunks: many reads


def test_stream_resumes_after_dropped_connections(cosmos_project, cli, start_job, monkeypatch):
    job = start_job(
        "flaky-00000000-444444444444", 'for i in $(seq 1 12); do echo "line $i"; sleep 0.1; done'
    )
    register(cosmos_project, job.job_id, {"rs_flaky": "flaky"}, "running")
    monkeypatch.setattr(Host, "connect", lambda self: FlakyTransport())
    result = cli(cosmos_project, "status", "--stream", job.job_id)
    assert result.code == 0, result.err
    assert result.err.count("connection reset by peer") == 3
    body = [line for line in result.out.splitlines() if line.startswith("line ")]
    assert body == [f"line {i}" for i in range(1, 13)]  # nothing lost, nothing twice


def test_stream_of_a_job_gone_from_the_host_shows_the_local_log(seeded, cli):
    log = seeded.root / "logs" / "infer" / "batches" / "meadow-5e6f7a8b.log"
    log.parent.mkdir(parents=True)
    log.write_text("[12:00:00] uploading\nmodel output\n")
    result = cli(seeded, "status", "--stream", "meadow")
    assert result.code == 0, result.err
    assert result.out == "[12:00:00] uploading\nmodel output\n"
    assert "no longer on sim" in result.err
    failed = cli(seeded, "status", "--stream", "street/seed-2")
    assert failed.code == 1 and "its log" in failed.err  # completed batch, log file missing


def test_stream_usage_errors(seeded, cli):
    assert "needs a run or batch" in cli(seeded, "status", "--stream").err
    assert "no --json form" in cli(seeded, "status", "--stream", "meadow", "--json").err
    seeded.add_batch("queued-00000000-555555555555", "ps_2222bbbb00000000", {"rs_q": "queued"})
    result = cli(seeded, "status", "--stream", "queued")
    assert result.code == 1 and "not on sim yet" in result.err


def test_stream_ctrl_c_exits_130(cosmos_project, start_job):
    job = start_job("long-00000000-666666666666", "echo first; sleep 60")
    register(cosmos_project, job.job_id, {"rs_long": "long"}, "running")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cosmos_steps.cli", "status", "--stream", job.job_id],
        cwd=cosmos_project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline().startswith(b"[cosmos-workflow] job")
    assert process.stdout.readline() == b"first\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert b"Traceback" not in err and b"interrupted" in err
    assert job.status()["state"] == "running"  # Ctrl+C stops following, not the job


FAKE_DOCKER = """#!/usr/bin/env bash
case "$1" in
  info) echo "27.3.1" ;;
  ps) printf 'ghost-00000000-ffffffffffff\\tcosmos-ghost-00000000-ffffffffffff\\tUp 3 minutes\\n' ;;
  inspect) [[ "$4" == cosmos-ghost-* ]] && echo true || echo false ;;
esac
"""


def test_status_of_a_docker_host_reads_labelled_containers(tmp_path, cli, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("docker", FAKE_DOCKER), ("nvidia-smi", FAKE_SMI)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    host = {
        "transport": "local",
        "runtime": "docker",
        "root": "dock",
        "cosmos_dir": "/opt/c",
        "checkpoint_dir": "/opt/c/checkpoints",
        "docker": {"image": "cosmos:latest"},
    }
    project = ProjectDir(tmp_path, {"gpu": host})
    stopped = tmp_path / "dock" / "jobs" / "gone-00000000-999999999999" / "state" / "launch"
    stopped.mkdir(parents=True)  # a job whose container is no longer running
    project.add_prompt("ps_gone000000000000", "gone", "a prompt")
    project.add_batch(
        "gone-00000000-999999999999",
        "ps_gone000000000000",
        {"rs_gone": "gone"},
        host="gpu",
        status="running",
    )

    result = cli(project, "status", "--json")
    assert result.code == 0, result.err
    (report,) = result.json()
    assert (report["runtime_ok"], report["runtime_detail"]) == (True, "27.3.1")
    assert len(report["gpus"]) == 2
    jobs = {job["job_id"]: job for job in report["jobs"]}
    assert jobs["gone-00000000-999999999999"]["state"] == "dead"
    ghost = jobs["ghost-00000000-ffffffffffff"]
    assert (ghost["state"], ghost["container"]) == ("running", "cosmos-ghost-00000000-ffffffffffff")
    assert [job["job_id"] for job in report["orphans"]] == ["ghost-00000000-ffffffffffff"]
    assert [(z["id"], z["host_state"]) for z in report["zombies"]] == [("rs_gone", "dead")]


def test_status_checks_hosts_concurrently(tmp_path, cli, monkeypatch):
    """Each host's first command waits for the others': it only passes if all run at once."""
    hosts = {name: local_host(name) for name in ("a", "b", "c")}
    project = ProjectDir(tmp_path, hosts)
    barrier = threading.Barrier(len(hosts), timeout=10)

    class TogetherTransport(LocalTransport):
        def run(self, argv, *, stdin=None, timeout=None):
            if argv == ["true"]:
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    raise TransportError("hosts were checked one after another") from None
            return super().run(argv, stdin=stdin, timeout=timeout)

    monkeypatch.setattr(Host, "connect", lambda self: TogetherTransport())
    result = cli(project, "status", "--json")
    assert result.code == 0, result.out
    assert [report["reachable"] for report in result.json()] == [True, True, True]


def test_cancel_before_the_job_starts_keeps_it_from_starting(cosmos_project, cli, start_job):
    job_id = "late-00000000-777777777777"
    register(cosmos_project, job_id, {"rs_late": "late"}, "uploading")
    result = cli(cosmos_project, "cancel", "late", "--json")
    assert result.code == 0, result.err
    assert result.json()["host_state"] == "absent"
    job = start_job(job_id, "echo should not run")  # the pipeline's upload finishing late
    assert job.status()["state"] == "cancelled"
    assert not (cosmos_project.root / "host" / "jobs" / job_id / "state" / "launch").exists()
    assert cosmos_project.run_status("rs_late") == "cancelled"
