"""The life of one job on a GPU host: upload once, start once, follow, download verified.

Host layout under `root`:
    blobs/<sha256>           every uploaded file, once per host (scripts included)
    jobs/<job_id>/           symlinks to blobs (job.sh, task.sh, job.env, spec files, inputs/),
                             job.log, state/ (pid, heartbeat, exit_code, outputs.manifest), outputs/
    simulator/<tree hash>/   the simulator's fake cosmos-transfer1 checkout (runtime simulate)

A job id is `<batch>-<hash of everything the job reads>`; a job that is running or finished on
the host is adopted, never started twice (jobctl.sh start is guarded by an atomic mkdir).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from cosmos_steps import PROJECT_DIR, simulator
from cosmos_steps.classify import classify
from cosmos_steps.files import sha256_file
from cosmos_steps.hosts import Host, expand_home, needs_home
from cosmos_steps.transport import ProgressFn, Transport, TransportError

GPU_SCRIPTS = PROJECT_DIR / "gpu_scripts"
TASK_SCRIPTS = {
    "transfer": "transfer.sh",
    "transfer_batch": "transfer_batch.sh",
    "upscale": "upscale.sh",
    "enhance": "enhance.sh",
}
ENDED = ("finished", "cancelled", "dead", "launch_failed")
DOWNLOAD_ATTEMPTS = 3
LAUNCH_FAILED = 3
"""jobctl.sh start's exit code when the launch command (e.g. docker run) fails."""
_LINK_SCRIPT = (
    'job="$1"; blobs="$2"; shift 2; '
    'while [ $# -gt 0 ]; do mkdir -p "$job/$(dirname "$1")"; '
    'ln -sfn "$blobs/$2" "$job/$1"; shift 2; done'
)
_MISSING_SCRIPT = (
    'dir="$1"; shift; for s in "$@"; do '
    'if [ -f "$dir/$s" ]; then touch -c "$dir/$s"; else echo "$s"; fi; done'
)
"""Prints the blobs the host lacks; marks the ones it holds as used now (`cosmos gc` age)."""


class JobError(Exception):
    """A job could not be run or did not produce what it should; `kind` classifies it."""

    def __init__(self, kind: str, reason: str, log_tail: str = ""):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.log_tail = log_tail


@dataclasses.dataclass
class Outcome:
    """How a job ended on the host."""

    state: str
    exit_code: int | None
    wall_seconds: float
    adopted: bool


def check_job_path(name: str) -> str:
    """A path inside a job folder: relative, no `..`, no empty parts."""
    parts = name.split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"unsafe path in job folder: {name!r}")
    return name


class HostSession:
    """A connected host: the blob store, jobctl.sh and (for runtime simulate) the simulator."""

    def __init__(self, host: Host, say: Callable[[str], None], progress: Callable[..., ProgressFn]):
        self.say = say
        self.progress = progress
        self.transport: Transport = host.connect()
        if host.conf["transport"] == "ssh" and needs_home(host.conf):
            home = self.transport.check(["printenv", "HOME"]).text.strip()
            host = Host(host.name, expand_home(host.conf, home))
        self.host = host
        self.root = host.root
        self.blobs = f"{self.root}/blobs"
        self.uploaded_bytes = 0
        self._jobctl: str | None = None

    def close(self) -> None:
        self.transport.close()

    def blob_path(self, sha: str) -> str:
        return f"{self.blobs}/{sha}"

    def ensure_blobs(self, files: dict[str, Path]) -> dict[str, str]:
        """Upload the files the host does not hold yet; return name -> sha256."""
        shas = {name: sha256_file(path) for name, path in files.items()}
        by_sha = {sha: files[name] for name, sha in shas.items()}
        missing = sorted(set(by_sha) - self.present(set(by_sha)))
        if missing:
            size = sum(by_sha[sha].stat().st_size for sha in missing)
            held = len(by_sha) - len(missing)
            self.say(
                f"uploading {len(missing)} file(s), {size / 1e6:.1f} MB ({held} already on the host)"
            )
        for sha in missing:
            self._upload_blob(by_sha[sha], sha)
        return shas

    def present(self, shas: set[str]) -> set[str]:
        """Which of these blobs the host holds already."""
        self.transport.check(["mkdir", "-p", self.blobs])
        listing = self.transport.check(
            ["bash", "-c", _MISSING_SCRIPT, "missing", self.blobs, *shas]
        )
        return shas - set(listing.text.split())

    def _upload_blob(self, local: Path, sha: str) -> None:
        """Temp name, verify the sha256 on the host, then rename: partial uploads never become blobs."""
        temp = f"{self.blobs}/.partial-{sha}-{os.getpid()}"
        size = local.stat().st_size
        self.transport.put(local, temp, self.progress(f"upload {local.name}", size))
        remote_sha = self.transport.check(["sha256sum", temp]).text.split()[0]
        if remote_sha != sha:
            self.transport.run(["rm", "-f", temp])
            raise JobError("transfer", f"upload of {local} arrived corrupted (sha256 mismatch)")
        self.transport.check(["mv", "-f", temp, self.blob_path(sha)])
        self.uploaded_bytes += size

    def jobctl_argv(self, *args: str) -> list[str]:
        """The command running gpu_scripts/jobctl.sh on the host (uploaded once, content-addressed)."""
        if self._jobctl is None:
            sha = self.ensure_blobs({"jobctl.sh": GPU_SCRIPTS / "jobctl.sh"})["jobctl.sh"]
            self._jobctl = self.blob_path(sha)
        return ["bash", self._jobctl, *args]

    def jobctl(self, *args: str) -> str:
        """Run jobctl.sh; its stdout (TransportError if it fails)."""
        return self.transport.check(self.jobctl_argv(*args)).text

    def cosmos_dir(self) -> str:
        """The cosmos-transfer1 checkout jobs use (the uploaded simulator tree for simulate)."""
        if self.host.runtime != "simulate":
            return self.host.conf["cosmos_dir"]
        shas = self.ensure_blobs(dict(simulator.TREE))
        tree = hashlib.sha256(repr(sorted(shas.items())).encode()).hexdigest()[:16]
        folder = f"{self.root}/simulator/{tree}"
        self.link(folder, shas)
        return folder

    def link(self, folder: str, shas: dict[str, str]) -> None:
        """Make `folder/<name>` a symlink to each blob (creating parent folders)."""
        pairs = [part for name, sha in shas.items() for part in (check_job_path(name), sha)]
        self.transport.check(["bash", "-c", _LINK_SCRIPT, "link", folder, self.blobs, *pairs])


class RemoteJob:
    """One job folder on a host, from upload to verified download."""

    def __init__(self, session: HostSession, job_id: str, labels: dict[str, str]):
        self.session = session
        self.host = session.host
        self.job_id = job_id
        self.labels = labels
        self.dir = f"{session.root}/jobs/{job_id}"
        self.log_offset = 0

    def status(self, wait: float = 0) -> dict[str, str]:
        """jobctl.sh status as a dict (state, exit_code, heartbeat_age, log_size, ...); with
        `wait`, the host first waits up to that many seconds for the job to end."""
        options = ["--wait-ms", str(round(wait * 1000))] if wait > 0 else []
        text = self.session.jobctl(
            "status", self.dir, *self.host.liveness_args(self.job_id), *options
        )
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def start_or_adopt(self, files: dict[str, Path], on_upload: Callable[[], None]) -> bool:
        """Start the job unless it already exists on the host; True when adopted."""
        state = self.status()["state"]
        if state != "absent":
            self.session.say(
                f"job {self.job_id} is already {state} on {self.host.name}: adopting it"
            )
            return True
        on_upload()
        shas = self.session.ensure_blobs(files)
        self.session.link(self.dir, shas)
        launch = self.host.launch(self.dir, self.job_id, self.labels)
        started = self.session.transport.run(self.session.jobctl_argv("start", self.dir, *launch))
        if started.returncode == LAUNCH_FAILED:
            kind, reason = classify(None, started.stderr.decode("utf-8", "replace"))
            raise JobError(
                "container" if kind == "unknown" else kind, f"could not start the job: {reason}"
            )
        if started.returncode != 0:
            raise JobError(
                "unreachable", f"jobctl start failed: {started.stderr.decode(errors='replace')}"
            )
        if started.text.strip() == "exists":
            self.session.say(f"job {self.job_id} was started by another process: adopting it")
            return True
        self.session.say(f"started job {self.job_id} on {self.host.name} ({self.host.runtime})")
        return False

    def follow(
        self,
        sink: Callable[[bytes], None],
        reconnect_seconds: float,
        on_poll: Callable[[], None] = lambda: None,
    ) -> dict[str, str]:
        """Poll until the job ends, passing new log bytes to `sink` and calling `on_poll` each
        time (to renew the slot lease); survive dropped connections.

        Each poll waits on the host (up to poll_seconds) and returns as soon as the job ends, so
        the end is seen within a fraction of a second, not up to a poll interval later."""
        poll = float(self.host.conf.get("poll_seconds", 2))
        lost_since: float | None = None
        while True:
            on_poll()
            try:
                status = self.status(wait=poll)
                self._pump_log(sink)
                lost_since = None
            except TransportError as exc:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > reconnect_seconds:
                    raise JobError("unreachable", f"lost {self.host.name}: {exc}") from exc
                self.session.say(f"connection to {self.host.name} lost ({exc}); retrying")
                time.sleep(min(poll * 2, 10))
                continue
            if status["state"] in ENDED:
                self._pump_log(sink)
                return status

    def _pump_log(self, sink: Callable[[bytes], None]) -> None:
        while chunk := self.session.transport.read(f"{self.dir}/job.log", self.log_offset):
            self.log_offset += len(chunk)
            sink(chunk)

    def manifest(self) -> dict[str, tuple[str, int]]:
        """Output files listed by job.sh: relative path -> (sha256, bytes), computed on the host."""
        text = self.session.transport.read(f"{self.dir}/state/outputs.manifest", 0, 1 << 24)
        entries = {}
        for line in text.decode("utf-8", "replace").splitlines():
            sha, size, name = line.split(" ", 2)
            entries[check_job_path(name)] = (sha, int(size))
        return entries

    def download(self, local_dir: Path) -> dict[str, tuple[str, int]]:
        """Fetch every output to a temp name, check size and sha256, rename; retry, then fail."""
        entries = self.manifest()
        for name, (sha, size) in entries.items():
            target = local_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download_one(f"{self.dir}/outputs/{name}", target, sha, size)
        return entries

    def _download_one(self, remote: str, target: Path, sha: str, size: int) -> None:
        temp = target.with_name(f".{target.name}.partial")
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            self.session.transport.get(
                remote, temp, self.session.progress(f"download {target.name}", size)
            )
            got_size, got_sha = temp.stat().st_size, sha256_file(temp)
            if got_size == size and got_sha == sha:
                temp.replace(target)
                return
            self.session.say(
                f"download of {remote} failed verification (attempt {attempt}/{DOWNLOAD_ATTEMPTS}): "
                f"{got_size} bytes sha256 {got_sha[:12]}, expected {size} bytes {sha[:12]}"
            )
        temp.unlink(missing_ok=True)
        raise JobError(
            "transfer", f"download of {remote} is corrupted: sha256 never matched the host's"
        )

    def cancel(self) -> None:
        self.session.jobctl("cancel", self.dir, *self.host.liveness_args(self.job_id))

    def remove(self) -> None:
        """Delete the finished job folder on the host (blobs stay for reuse)."""
        self.session.jobctl("remove", self.dir)

    def describe(self) -> str:
        return f"{self.host.name}:{shlex.quote(self.dir)}"
