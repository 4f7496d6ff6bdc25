"""cosmos_infer: run one batch job on its GPU host and download its outputs, verified.

Statuses of the batch's runs move pending -> uploading -> running -> downloading; the split step
then marks each run completed (or failed). A job already running or finished on the host (a killed
Snakemake, a dropped connection) is adopted instead of started again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cosmos_steps import db
from cosmos_steps.classify import classify
from cosmos_steps.config import for_step
from cosmos_steps.files import read_json, sha256_file, write_json, write_text
from cosmos_steps.hosts import Host, with_all_offloads
from cosmos_steps.pool import Lease, NoHost, Placement
from cosmos_steps.progress import Reporter
from cosmos_steps.remote import GPU_SCRIPTS, TASK_SCRIPTS, HostSession, JobError, RemoteJob
from cosmos_steps.transport import TransportError

LOG_TAIL_BYTES = 16_384
RECONNECT_SECONDS = 300.0
DETERMINISTIC = ("oom", "guardrail", "checkpoint", "container", "missing_output", "cancelled")
"""Failure kinds a plain retry would only repeat (Snakemake's retry of the rule is refused)."""
MOVABLE = ("unreachable", "killed")
"""Failure kinds that move the job to another host of its pool."""


class LogTail:
    """Keeps the last bytes of a job's log (for failure classification) while passing them on."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.data = b""

    def __call__(self, chunk: bytes) -> None:
        self.reporter.remote_log(chunk)
        self.data = (self.data + chunk)[-LOG_TAIL_BYTES:]

    def text(self, lines: int = 40) -> str:
        return "\n".join(self.data.decode("utf-8", "replace").splitlines()[-lines:])


def job_identity(job: dict[str, Any], shas: dict[str, str], host: Host, cosmos_dir: str) -> str:
    """`<batch>-<hash>` over every file the job reads and how the host runs it."""
    payload = repr(
        (
            sorted(shas.items()),
            job["task"],
            host.name,
            host.runtime,
            host.gpu_ids,
            host.offload_flags(job["task"]),
            cosmos_dir,
        )
    )
    return f"{job['batch']}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def choose_job_id(database: Any, base: str) -> tuple[str, dict[str, Any] | None]:
    """The job id to use: the base id while its job is unfinished (adopt), else a new attempt."""
    attempt, candidate = 1, base
    while True:
        rows = list(database.query("SELECT * FROM batches WHERE id = ?", [candidate]))
        if not rows or rows[0]["status"] in db.ACTIVE_STATUSES:
            return candidate, (db.decode(rows[0]) if rows else None)
        attempt += 1
        candidate = f"{base}-r{attempt}"


def write_env(path: Path, env: dict[str, str]) -> None:
    """job.env, sourced by job.sh: every value shell-quoted."""
    write_text(path, "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items())))


def register(
    database: Any, job: dict[str, Any], job_id: str, host: Host, existing: dict | None
) -> dict[int, str]:
    """Create the batch and its runs in the database (or reuse them to adopt): line -> run id."""
    if existing is not None:
        return {entry["line"]: entry["run_id"] for entry in existing["lines"]}
    run_ids = {line["line"]: db.new_run_id() for line in job["lines"]}
    batch = {
        "id": job_id,
        "batch": job["batch"],
        "spec": job["spec"],
        "model_type": job["model_type"],
        "host": host.name,
        "mode": job["task"],
        "num_gpus": host.num_gpus,
        "lines": db.to_json(
            [
                {"line": ln["line"], "run_key": ln["run"], "run_id": run_ids[ln["line"]]}
                for ln in job["lines"]
            ]
        ),
    }
    runs = [
        {
            "id": run_ids[line["line"]],
            "run_key": line["run"],
            "prompt_id": line.get("prompt_id"),
            "spec": job["spec"],
            "model_type": job["model_type"],
            "host": host.name,
            "batch_id": job_id,
            "line": line["line"],
            "parent_run_id": line.get("parent_run_id"),
            "execution_config": line.get("execution_config", {}),
        }
        for line in job["lines"]
    ]
    db.create_batch(database, batch, runs)
    return run_ids


def video_frames(path: Path, ffmpeg: str) -> int:
    """Frame count of a downloaded video (0 when it cannot be read)."""
    from cosmos_steps.simulator.sim_media import probe

    try:
        return probe(ffmpeg, str(path))["frames"]
    except RuntimeError:
        return 0


def summarise_lines(
    job: dict[str, Any],
    run_ids: dict[int, str],
    out_dir: Path,
    entries: dict[str, tuple[str, int]],
    failure: str | None,
    gpu_seconds: float,
    price: float | None,
    ffmpeg: str,
) -> list[dict[str, Any]]:
    """Per line: ok or failed (with the reason), frames, GPU-seconds apportioned by frames."""
    lines = []
    for line in job["lines"]:
        present = line["output"] in entries
        entry = {**line, "run_id": run_ids[line["line"]], "status": "ok" if present else "failed"}
        video = present and line["output"].endswith(".mp4")
        entry["frames"] = video_frames(out_dir / line["output"], ffmpeg) if video else 0
        if not present:
            entry["error"] = failure or (
                f"no output: {line['output']} was not written by the model (see the job log)"
            )
        lines.append(entry)
    ok = [entry for entry in lines if entry["status"] == "ok"]
    total_frames = sum(entry["frames"] for entry in ok)
    for entry in lines:
        if entry["status"] != "ok":
            share = 0.0
        else:
            share = entry["frames"] / total_frames if total_frames else 1 / len(ok)
        entry["gpu_seconds"] = round(gpu_seconds * share, 3)
        entry["cost"] = round(entry["gpu_seconds"] / 3600 * price, 6) if price is not None else None
    return lines


def as_job_error(exc: Exception) -> JobError:
    """Transport failures (host unreachable, host key refused) as job errors."""
    if isinstance(exc, JobError):
        return exc
    return JobError("unreachable", str(exc))


@dataclasses.dataclass
class JobContext:
    """One GPU job as the infer step sees it: its description, files and where it reports."""

    job: dict[str, Any]
    job_path: Path
    config: dict[str, Any]
    database: Any
    reporter: Reporter
    files: dict[str, Path]
    shas: dict[str, str]


def job_files(job: dict[str, Any]) -> dict[str, Path]:
    """Every file a job uploads: its inputs and NVIDIA files, and the gpu_scripts it runs."""
    files = {name: Path(path) for name, path in job["files"].items()}
    files["job.sh"] = GPU_SCRIPTS / "job.sh"
    files["task.sh"] = GPU_SCRIPTS / TASK_SCRIPTS[job["task"]]
    files["lib.sh"] = GPU_SCRIPTS / "lib.sh"
    return files


def refuse_repeat(database: Any, batch: str, attempt: int, attempt_log: Path) -> str | None:
    """On Snakemake's retry of the rule: why not to run again (the last failure would repeat)."""
    if attempt <= 1:
        return None
    rows = list(
        database.query(
            "SELECT runs.error_kind, runs.error FROM runs"
            " JOIN batches ON runs.batch_id = batches.id"
            " WHERE batches.batch = ? ORDER BY runs.created_at DESC LIMIT 1",
            [batch],
        )
    )
    if not rows or rows[0]["error_kind"] not in DETERMINISTIC:
        return None
    earlier = attempt_log.with_name(f"attempt-{attempt - 1}.log")
    return (
        f"not retried: the last attempt failed with {rows[0]['error_kind']}, which would repeat "
        f"({rows[0]['error']}); its log: {earlier}"
    )


def infer(
    job_path: Path,
    manifest_path: Path,
    log_path: Path,
    config: dict | None = None,
    attempt: int = 1,
) -> int:
    """Run a GPU job end to end (placed, and moved when its host fails); return the exit code."""
    config = config or for_step()
    job = read_json(job_path)
    # Snakemake empties the rule's log before a retry: each attempt keeps a copy of its own.
    attempt_log = manifest_path.parent / f"attempt-{attempt}.log"
    reporter = Reporter(log_path, prefix=job["batch"], copies=(attempt_log,))
    try:
        database = db.connect(config["database"], config["journal_mode"])
        refusal = refuse_repeat(database, job["batch"], attempt, attempt_log)
        if refusal:
            raise JobError("not_retried", refusal)
        for note in job["notes"]:
            reporter.say(f"note: {note}")
        files = job_files(job)
        shas = {name: sha256_file(path) for name, path in files.items()}
        context = JobContext(job, job_path, config, database, reporter, files, shas)
        return Attempts(context).run(manifest_path)
    except (JobError, TransportError, NoHost) as exc:
        reporter.say(f"ERROR: {as_job_error(exc).reason}")
        return 1
    except Exception as exc:  # a bug: keep the traceback in the log, end it with one line
        reporter.say(traceback.format_exc().rstrip())
        reporter.say(f"ERROR: internal error ({type(exc).__name__}: {exc}); please report it")
        return 1
    finally:
        reporter.close()


class Attempts:
    """Places a job on a host and runs it there; on host loss moves it, on OOM escalates."""

    def __init__(self, context: JobContext):
        self.context = context
        self.reporter = context.reporter
        self.escalation = list(context.config.get("oom_escalation", ["offload", "larger_host"]))
        self.offloaded: set[str] = set()
        self.placement = Placement(
            context.config,
            context.database,
            context.job,
            self.held_bytes,
            context.reporter.say,
            self.session,
        )

    def session(self, host: Host) -> HostSession:
        return HostSession(host, self.reporter.say, self.reporter.transfer)

    def held_bytes(self, session: HostSession) -> int:
        """Bytes of this job's files the host already holds."""
        files, shas = self.context.files, self.context.shas
        present = session.present(set(shas.values()))
        return sum(files[name].stat().st_size for name, sha in shas.items() if sha in present)

    def run(self, manifest_path: Path) -> int:
        last: JobError | None = None
        while True:
            try:
                host, lease = self.placement.acquire()
            except NoHost as exc:
                raise (last or JobError("unreachable", str(exc))) from exc
            if host.name in self.offloaded:
                host = with_all_offloads(host)
            try:
                return self.run_on(host, lease, manifest_path)
            except (JobError, TransportError) as problem:
                last = as_job_error(problem)
                if not self.reconsider(host, last):
                    raise last from problem
            finally:
                lease.release()

    def run_on(self, host: Host, lease: Lease, manifest_path: Path) -> int:
        note = host.allocation_note()
        if note:
            self.reporter.say(f"note: {note}")
        session = self.session(host)
        try:
            batch = BatchJob(self.context, session)
            batch.abandon_elsewhere()
            return batch.run(manifest_path, lease.renew)
        finally:
            session.close()

    def reconsider(self, host: Host, failure: JobError) -> bool:
        """After a failure: True to try again (elsewhere, or with more offloading)."""
        if failure.kind in MOVABLE:
            self.placement.exclude(host.name, failure.reason)
            self.reporter.say(
                f"host {host.name} failed this job ({failure.reason}); trying another host"
            )
            return True
        if failure.kind != "oom":
            return False
        if (
            "offload" in self.escalation
            and host.name not in self.offloaded
            and not host.offloads_everything()
        ):
            self.offloaded.add(host.name)
            self.reporter.say(f"out of GPU memory on {host.name}: retrying with every offload flag")
            return True
        if "larger_host" in self.escalation:
            self.placement.need_more_memory_than(host.name)
            self.reporter.say("out of GPU memory: looking for a host with more GPU memory")
            return True
        return False


class BatchJob:
    """One batch on one host: identity, database rows, the remote job and its results."""

    def __init__(self, context: JobContext, session: HostSession):
        self.job = job = context.job
        self.config = context.config
        self.database = database = context.database
        self.reporter = context.reporter
        self.host = host = session.host
        self.session = session
        self.tail = LogTail(context.reporter)
        self.files = dict(context.files)
        self.shas = dict(context.shas)
        cosmos_dir = session.cosmos_dir()
        base_id = job_identity(job, self.shas, host, cosmos_dir)
        self.job_id, existing = choose_job_id(database, base_id)
        env_path = context.job_path.parent / "job.env"
        # From the base id, so a re-run of an unchanged batch uploads nothing new.
        write_env(env_path, host.job_env(job["task"], base_id, cosmos_dir))
        self.files["job.env"] = env_path
        self.run_ids = register(database, job, self.job_id, host, existing)
        labels = {"batch": job["batch"], "spec": job["spec"]}
        self.remote = RemoteJob(session, self.job_id, labels)

    def set_status(self, status: str, message: str | None = None, **fields: Any) -> None:
        """Move the batch and all its runs to a status."""
        db.set_status(self.database, self.run_ids.values(), status, message, **fields)
        db.set_batch_status(self.database, self.job_id, status, message)

    def unfinished_runs(self) -> list[str]:
        """Runs of this job not yet completed or failed (failed lines keep their own reason)."""
        ids = list(self.run_ids.values())
        marks = ", ".join("?" for _ in ids)
        rows = self.database.execute(
            f"SELECT id FROM runs WHERE id IN ({marks}) AND status NOT IN "
            "('completed', 'failed', 'cancelled')",
            ids,
        )
        return [row[0] for row in rows]

    def abandon_elsewhere(self) -> None:
        """Unfinished attempts of this batch on other hosts (their host was lost) are failed."""
        rows = self.database.query(
            "SELECT id, host FROM batches WHERE batch = ? AND id != ? AND status IN "
            "('pending', 'uploading', 'running', 'downloading')",
            [self.job["batch"], self.job_id],
        )
        for row in list(rows):
            reason = f"moved to host {self.host.name}: host {row['host']} was lost"
            run_ids = [
                r["id"]
                for r in self.database.query("SELECT id FROM runs WHERE batch_id = ?", [row["id"]])
            ]
            db.set_status(
                self.database, run_ids, "failed", reason, error=reason, error_kind="unreachable"
            )
            db.set_batch_status(self.database, row["id"], "failed", reason, error=reason)

    def run(self, manifest_path: Path, on_poll: Callable[[], None] = lambda: None) -> int:
        """Start or adopt, follow, then collect; mark every run failed if the job cannot finish."""
        started = time.monotonic()
        try:
            adopted = self.remote.start_or_adopt(self.files, lambda: self.set_status("uploading"))
            self.set_status(
                "running", "adopted a running job" if adopted else self.remote.describe()
            )
            reconnect = float(self.host.conf.get("reconnect_seconds", RECONNECT_SECONDS))
            status = self.remote.follow(self.tail, reconnect, on_poll)
            return self.collect(status, adopted, manifest_path, started)
        except (JobError, TransportError) as problem:
            exc = as_job_error(problem)
            exc.log_tail = exc.log_tail or self.tail.text()
            db.set_batch_status(self.database, self.job_id, "failed", exc.reason, error=exc.reason)
            db.set_status(
                self.database,
                self.unfinished_runs(),
                "failed",
                exc.reason,
                error=exc.reason,
                error_kind=exc.kind,
                log_tail=exc.log_tail,
            )
            raise exc from problem

    def ended_badly(self, status: dict[str, str]) -> JobError | None:
        """A JobError for jobs that ended without running to an exit code."""
        state = status["state"]
        if state == "cancelled":
            return JobError("cancelled", "the job was cancelled")
        if state == "dead":
            reason = (
                "the job died on the host without an exit code (host rebooted, or process killed)"
            )
            return JobError("killed", reason)
        if state == "launch_failed":
            launcher = self.session.transport.read(f"{self.remote.dir}/state/launcher.log", 0)
            kind, reason = classify(None, launcher.decode("utf-8", "replace"))
            return JobError(
                "container" if kind == "unknown" else kind, f"could not start the job: {reason}"
            )
        return None

    def collect(
        self, status: dict[str, str], adopted: bool, manifest_path: Path, started: float
    ) -> int:
        """Download verified outputs, judge each line, write manifest.json."""
        problem = self.ended_badly(status)
        if problem is not None and problem.kind == "cancelled":
            self.set_status("cancelled", problem.reason)
            self.reporter.say(f"ERROR: {problem.reason}")
            return 1
        if problem is not None:
            raise problem
        exit_code = int(status["exit_code"])
        wall = max(float(status.get("finished_at", 0)) - float(status.get("started_at", 0)), 0.0)
        failure, kind = None, "missing_output"
        if exit_code != 0:
            kind, failure = classify(exit_code, self.tail.text(200))
            self.reporter.say(f"job failed: {failure}")
        self.set_status("downloading")
        out_dir = manifest_path.parent / "out"
        shutil.rmtree(out_dir, ignore_errors=True)
        entries = self.remote.download(out_dir)
        from cosmos_steps.ffmpeg import ffmpeg_exe

        lines = summarise_lines(
            self.job,
            self.run_ids,
            out_dir,
            entries,
            failure,
            wall * self.host.num_gpus,
            self.host.conf.get("price_per_gpu_hour"),
            ffmpeg_exe(self.config["ffmpeg"]),
        )
        failed = [entry for entry in lines if entry["status"] != "ok"]
        for entry in failed:
            db.set_status(
                self.database,
                [entry["run_id"]],
                "failed",
                entry["error"],
                error=entry["error"],
                error_kind=kind,
                log_tail=self.tail.text(),
            )
        self.write_manifest(manifest_path, adopted, exit_code, wall, entries, lines)
        final = "failed" if len(failed) == len(lines) else "completed"
        db.set_batch_status(
            self.database, self.job_id, final, failure, wall_seconds=wall, error=failure
        )
        if self.host.conf.get("cleanup", True):
            self.remote.remove()
        self.reporter.say(
            f"{len(lines) - len(failed)}/{len(lines)} outputs, {wall:.1f}s on the GPU, "
            f"{self.session.uploaded_bytes / 1e6:.1f} MB uploaded, "
            f"{time.monotonic() - started:.1f}s in all"
        )
        if len(failed) == len(lines):
            raise JobError(
                kind,
                f"no run of batch {self.job['batch']} produced an output: {failed[0]['error']}",
            )
        return 0

    def write_manifest(
        self,
        path: Path,
        adopted: bool,
        exit_code: int,
        wall: float,
        entries: dict[str, tuple[str, int]],
        lines: list[dict[str, Any]],
    ) -> None:
        """manifest.json: what ran where, the downloaded files with checksums, each line's fate."""
        manifest = {
            "batch": self.job["batch"],
            "job_id": self.job_id,
            "host": self.host.name,
            "task": self.job["task"],
            "remote_dir": self.remote.dir,
            "adopted": adopted,
            "exit_code": exit_code,
            "wall_seconds": round(wall, 3),
            "num_gpus": self.host.num_gpus,
            "uploaded_bytes": self.session.uploaded_bytes,
            "files": {
                name: {"sha256": sha, "bytes": size} for name, (sha, size) in entries.items()
            },
            "job_files": {
                name: {"path": str(p), "sha256": self.shas.get(name)}
                for name, p in self.files.items()
            },
            "lines": lines,
        }
        write_json(path, manifest)
        db.add_artifacts(
            self.database,
            [
                {
                    "batch_id": self.job_id,
                    "kind": "manifest",
                    "path": str(path),
                    "sha256": sha256_file(path),
                    "bytes": path.stat().st_size,
                }
            ],
        )
