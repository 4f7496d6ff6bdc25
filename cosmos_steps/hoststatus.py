"""`cosmos status`: every configured host checked at once, and compared with the database.

Per host: reachable?, runtime usable?, GPUs (nvidia-smi, every GPU), the project's jobs there
(jobctl.sh list over the job folders; docker containers by label), then against the database:
- orphan: a job running on the host whose batch has no row, or a final one;
- zombie: a run uploading/running/downloading in the database whose job is not running there
  (a `downloading` run whose job has finished is expected, not a zombie).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from cosmos_steps import db, queries
from cosmos_steps.hosts import LABEL, Host
from cosmos_steps.jobs import open_session
from cosmos_steps.project import Project
from cosmos_steps.remote import HostSession
from cosmos_steps.transport import Transport, TransportError

IN_FLIGHT = ("uploading", "running", "downloading")
GPU_QUERY = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw",
    "--format=csv,noheader,nounits",
]
GPU_FIELDS = (
    "index",
    "name",
    "memory_used_mib",
    "memory_total_mib",
    "utilization_pct",
    "temperature_c",
    "power_w",
)
DOCKER_FORMAT = f'{{{{.Label "{LABEL}.job"}}}}\t{{{{.Names}}}}\t{{{{.Status}}}}'
DOCKER_PS = ["ps", "--filter", f"label={LABEL}.job", "--format", DOCKER_FORMAT]
SIMULATED_GPU = "simulated GPU (runtime simulate: no real GPU, no nvidia-smi)"


def _ignore(message: str) -> None:
    """HostSession's `say` for status checks: they print nothing while probing."""


def runtime_checks(host: Host) -> list[list[str]]:
    """The commands that must succeed on the host for its runtime to run jobs."""
    if host.runtime == "docker":
        return [[*host.docker_command(), "info", "--format", "{{.ServerVersion}}"]]
    if host.runtime == "apptainer":
        return [["apptainer", "--version"]]
    if host.runtime == "none":
        prefix = host.conf.get("env_prefix")
        if prefix:
            python = f"{prefix.rstrip('/')}/bin/python"
            return [[python, "-c", "import torch; print('torch', torch.__version__)"]]
        return [["python3", "--version"]]
    env = host.simulator_env("")
    return [[env["COSMOS_SIM_PYTHON"], "--version"], [env["COSMOS_SIM_FFMPEG"], "-version"]]


def _run_check(transport: Transport, argv: list[str], timeout: float) -> tuple[bool, str]:
    """(passed, the first line it printed or why it failed, naming the program)."""
    try:
        result = transport.run(argv, timeout=timeout)
    except TransportError as exc:
        return False, str(exc)
    output = (result.stdout or result.stderr).decode("utf-8", "replace").strip()
    first = output.splitlines()[0] if output else f"exit code {result.returncode}"
    if result.returncode != 0:
        return False, f"{argv[0].rsplit('/', 1)[-1]}: {first}"
    return True, first


def check_runtime(host: Host, transport: Transport, timeout: float) -> dict[str, Any]:
    """runtime_ok and a one-line detail per check (version, or why it failed)."""
    checks = [_run_check(transport, argv, timeout) for argv in runtime_checks(host)]
    return {
        "runtime_ok": all(passed for passed, _ in checks),
        "runtime_detail": "; ".join(line for _, line in checks),
    }


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_gpus(text: str) -> list[dict[str, Any]]:
    """nvidia-smi CSV lines (one per GPU) -> dicts with numbers where the driver gives them."""
    gpus = []
    for line in text.strip().splitlines():
        values = [value.strip() for value in line.split(",")]
        if len(values) != len(GPU_FIELDS):
            continue
        gpu: dict[str, Any] = dict(zip(GPU_FIELDS, values, strict=True))
        for key in GPU_FIELDS[2:]:
            gpu[key] = _number(gpu[key])
        gpu["index"] = int(gpu["index"]) if gpu["index"].isdigit() else gpu["index"]
        gpus.append(gpu)
    return gpus


def check_gpus(host: Host, transport: Transport, timeout: float) -> dict[str, Any]:
    """Every GPU's name, memory, utilisation, temperature and power (or why there are none)."""
    if host.runtime == "simulate":
        return {"gpus": [], "gpu_note": SIMULATED_GPU}
    try:
        result = transport.run(GPU_QUERY, timeout=timeout)
    except TransportError as exc:
        return {"gpus": [], "gpu_note": f"nvidia-smi: {exc}"}
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip() or f"exit {result.returncode}"
        return {"gpus": [], "gpu_note": f"nvidia-smi failed: {reason.splitlines()[-1]}"}
    return {"gpus": parse_gpus(result.text), "gpu_note": None}


def list_jobs(host: Host, session: HostSession, timeout: float) -> list[dict[str, Any]]:
    """The project's jobs on the host: job folders (state files), for docker labelled containers."""
    options = []
    if host.runtime == "docker":
        options = ["--container-prefix", host.container_name("")]
        options += ["--sudo"] if host.conf["docker"].get("sudo") else []
    jobs = {}
    for line in session.jobctl("list", f"{session.root}/jobs", *options).splitlines():
        job_id, state, age = line.split("\t")
        jobs[job_id] = {"job_id": job_id, "state": state, "heartbeat_age": int(age)}
    if host.runtime == "docker":
        result = session.transport.run([*host.docker_command(), *DOCKER_PS], timeout=timeout)
        for line in result.text.splitlines():
            job_id, name, status = (line.split("\t") + ["", ""])[:3]
            entry = jobs.setdefault(
                job_id, {"job_id": job_id, "state": "running", "heartbeat_age": None}
            )
            entry.update(container=name, container_status=status)
    return list(jobs.values())


def unreachable(host: Host, error: str | None = None) -> dict[str, Any]:
    """A report with nothing learnt yet (and why, if the host did not answer)."""
    return {
        "host": host.name,
        "transport": host.conf["transport"],
        "runtime": host.runtime,
        "reachable": False,
        "error": error,
        "runtime_ok": None,
        "runtime_detail": None,
        "gpus": [],
        "gpu_note": None,
        "jobs": [],
    }


def probe(host: Host, timeout: float) -> dict[str, Any]:
    """Everything `cosmos status` learns from one host (no database).

    A dropped SSH connection is reported, not retried (reconnect_seconds 0).
    """
    report = unreachable(host)
    session = None
    try:
        session = open_session(Host(host.name, {**host.conf, "reconnect_seconds": 0}), _ignore)
        session.transport.check(["true"], timeout=timeout)
        report["reachable"] = True
        report.update(check_runtime(host, session.transport, timeout))
        report.update(check_gpus(host, session.transport, timeout))
        report["jobs"] = list_jobs(host, session, timeout)
    except TransportError as exc:
        report["error"] = str(exc)
    finally:
        if session is not None:
            session.close()
    return report


def reconcile(conn: sqlite3.Connection, report: dict[str, Any]) -> None:
    """Add each job's batch status, and the host's orphans and zombies, to a probe report."""
    report["orphans"], report["zombies"] = [], []
    if not report["reachable"]:
        return
    jobs = report["jobs"]
    statuses = queries.batch_statuses(conn, [job["job_id"] for job in jobs])
    for job in jobs:
        job["db_status"] = statuses.get(job["job_id"])
    report["orphans"] = [
        job
        for job in jobs
        if job["state"] == "running"
        and (job["db_status"] is None or job["db_status"] in db.FINAL_STATUSES)
    ]
    states = {job["job_id"]: job["state"] for job in jobs}
    for run in queries.active_runs_on(conn, report["host"], IN_FLIGHT):
        state = states.get(run["batch_id"], "absent")
        if state == "running" or (run["status"] == "downloading" and state == "finished"):
            continue
        report["zombies"].append({**run, "host_state": state})


def status(project: Project, names: list[str] | None, timeout: float) -> list[dict[str, Any]]:
    """One report per host (all configured hosts when `names` is empty), checked concurrently."""
    hosts = [project.host(name) for name in (names or project.host_names())]
    reports: dict[str, dict[str, Any]] = {}

    def check(host: Host) -> None:
        try:
            reports[host.name] = probe(host, timeout)
        except Exception as exc:  # a broken host must not hide the others
            reports[host.name] = unreachable(host, f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=check, args=(host,), daemon=True) for host in hosts]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    results = []
    for host, thread in zip(hosts, threads, strict=True):
        answered = not thread.is_alive() and host.name in reports
        report = (
            reports[host.name] if answered else unreachable(host, f"no answer within {timeout:g}s")
        )
        reconcile(project.reader(), report)
        results.append(report)
    return results
