"""A run's or batch's job on its GPU host: find it, cancel it, follow its log.

A batch job runs every run of the batch in one process, so cancelling a run cancels its batch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cosmos_steps import db, queries
from cosmos_steps.errors import CosmosError
from cosmos_steps.hosts import Host
from cosmos_steps.project import Project
from cosmos_steps.remote import HostSession, JobError, RemoteJob
from cosmos_steps.transport import TransportError

CANCEL_MESSAGE = "cancelled by user (cosmos cancel)"


def find_job(project: Project, ref: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The batch row behind a batch id / name / prefix or a run id / key / prefix, and the run."""
    conn = project.reader()
    kind, row_id = queries.resolve(conn, ref, ("batch", "run"))
    run = queries.get_row(conn, "run", row_id) if kind == "run" else None
    batch_id = run["batch_id"] if run else row_id
    batch = queries.get_row(conn, "batch", batch_id) if batch_id else None
    if batch is None:
        raise CosmosError(f"run {row_id} has no batch job recorded: nothing runs on a host")
    return batch, run


def _no_progress(label: str, total: int) -> Callable[[int, int], None]:
    return lambda done, size: None


def open_session(host: Host, say: Callable[[str], None]) -> HostSession:
    """A HostSession for commands that move no large files (no progress lines)."""
    return HostSession(host, say, _no_progress)


def _say_to_stderr(message: str) -> None:
    print(f"cosmos: {message}", file=sys.stderr, flush=True)


@contextmanager
def remote_job(
    project: Project, batch: dict[str, Any], say: Callable[[str], None]
) -> Iterator[RemoteJob]:
    """A connected RemoteJob for a batch; an unreachable host is a CosmosError."""
    host = project.host(batch["host"])
    try:
        session = open_session(host, say)
    except TransportError as exc:
        raise CosmosError(f"cannot reach host {host.name}: {exc}") from None
    try:
        yield RemoteJob(session, batch["id"], {})
    except TransportError as exc:
        raise CosmosError(f"lost host {host.name}: {exc}") from None
    finally:
        session.close()


def cancel(project: Project, ref: str, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Stop the job on its host, then mark its unfinished runs and the batch cancelled."""
    batch, run = find_job(project, ref)
    if run is not None and run["status"] in db.FINAL_STATUSES:
        raise CosmosError(f"run {run['id']} is already {run['status']}: nothing to cancel")
    if batch["status"] in db.FINAL_STATUSES:
        raise CosmosError(
            f"batch job {batch['id']} is already {batch['status']}: nothing to cancel"
        )
    with remote_job(project, batch, say or _say_to_stderr) as job:
        host_state = job.status()["state"]
        if host_state in ("running", "absent"):  # absent: jobctl marks it so it never starts
            job.cancel()
    runs = queries.batch_runs(project.reader(), batch["id"])
    active = [row["id"] for row in runs if row["status"] not in db.FINAL_STATUSES]
    with project.writer() as writer:
        db.set_status(
            writer,
            active,
            "cancelled",
            CANCEL_MESSAGE,
            error=CANCEL_MESSAGE,
            error_kind="cancelled",
        )
        db.set_batch_status(writer, batch["id"], "cancelled", CANCEL_MESSAGE, error=CANCEL_MESSAGE)
    return {
        "batch_id": batch["id"],
        "batch": batch["batch"],
        "host": batch["host"],
        "host_state": host_state,
        "stopped": host_state == "running",
        "cancelled_runs": [
            {"id": row["id"], "run_key": row["run_key"]} for row in runs if row["id"] in active
        ],
    }


def stream(
    project: Project,
    ref: str,
    sink: Callable[[bytes], None],
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Pass a job's log to `sink` from its start until the job ends; resumes after dropped links.

    A job no longer on its host (finished and cleaned up) shows the local copy of its log.
    Returns {"batch_id", "state", "exit_code", "ok"}.
    """
    batch, _ = find_job(project, ref)
    say = say or _say_to_stderr
    with remote_job(project, batch, say) as job:
        status = job.status()
        if status["state"] != "absent":
            from cosmos_steps.steps.infer import RECONNECT_SECONDS  # the pipeline's own budget

            reconnect = float(job.host.conf.get("reconnect_seconds", RECONNECT_SECONDS))
            try:
                status = job.follow(sink, reconnect)
            except JobError as exc:
                raise CosmosError(exc.reason) from None
            code = status.get("exit_code")
            ok = status["state"] == "finished" and code == "0"
            return {"batch_id": batch["id"], "state": status["state"], "exit_code": code, "ok": ok}
    if batch["status"] not in db.FINAL_STATUSES:
        raise CosmosError(
            f"job {batch['id']} is {batch['status']} but not on {batch['host']} yet: "
            "try again once it has started"
        )
    log = project.infer_log(batch["batch"], batch.get("model_type") or "transfer")
    say(f"job {batch['id']} is no longer on {batch['host']} ({batch['status']}): showing {log}")
    try:
        sink(log.read_bytes())
    except OSError:
        raise CosmosError(
            f"job {batch['id']} is {batch['status']}; its log {log} is gone"
        ) from None
    ok = batch["status"] == "completed"
    return {"batch_id": batch["id"], "state": batch["status"], "exit_code": None, "ok": ok}


def prune_blobs(
    project: Project, names: list[str], days: int, dry_run: bool
) -> list[dict[str, Any]]:
    """Delete uploads no job folder uses and no job used for `days` (per host: count, bytes)."""
    results = []
    for name in names:
        host = project.host(name)
        try:
            session = open_session(host, lambda message: None)
        except TransportError as exc:
            raise CosmosError(f"cannot reach host {name}: {exc}") from None
        try:
            argv = ["gc", session.root, str(days), *(["--dry-run"] if dry_run else [])]
            lines = [line.split("\t", 1) for line in session.jobctl(*argv).splitlines() if line]
        except TransportError as exc:
            raise CosmosError(f"lost host {name}: {exc}") from None
        finally:
            session.close()
        results.append({
            "host": name,
            "blobs": len(lines),
            "bytes": sum(int(size) for size, _ in lines),
            "deleted": not dry_run,
        })  # fmt: skip
    return results
