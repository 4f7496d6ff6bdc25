"""A throwaway project for the `cosmos` command tests: config.yaml, a real database, results/.

Rows are written through cosmos_steps.db, the module the pipeline writes with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from cosmos_steps import PROJECT_DIR, db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


@dataclasses.dataclass
class CliResult:
    """Exit code and output of one command."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def config_with(hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The repository's config.yaml with these hosts (the first is the default)."""
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text())
    return {**config, "database": "cosmos.db", "hosts": hosts, "default_host": next(iter(hosts))}


def local_host(root: str = "host", **extra: Any) -> dict[str, Any]:
    """A simulated host on this machine (fast polling for tests)."""
    return {"transport": "local", "runtime": "simulate", "root": root, "poll_seconds": 0.2} | extra


class ProjectDir:
    """A project folder with its config.yaml and database."""

    def __init__(self, root: Path, hosts: dict[str, dict[str, Any]] | None = None):
        self.root = root
        self.config = root / "config.yaml"
        self.hosts = hosts or {"sim": local_host()}
        self.config.write_text(yaml.safe_dump(config_with(self.hosts)))
        self.db = db.connect(root / "cosmos.db")

    def add_prompt(self, prompt_id: str, name: str, text: str, created: datetime = T0) -> str:
        return db.record_prompt(
            self.db,
            {
                "id": prompt_id,
                "name": name,
                "spec": name,
                "kind": "user",
                "text": text,
                "created_at": stamp(created),
            },
        )

    def add_batch(
        self,
        job_id: str,
        prompt_id: str,
        runs: dict[str, str],
        host: str = "sim",
        created: datetime = T0,
        status: str = "pending",
    ) -> None:
        """A batch job `<batch>-<12 hex>` with runs {run id: run key}, all in `status`."""
        spec = runs[next(iter(runs))].split("/")[0]
        batch = {
            "id": job_id,
            "batch": job_id.rsplit("-", 1)[0],
            "spec": spec,
            "host": host,
            "model_type": "transfer",
            "mode": "transfer_batch",
            "created_at": stamp(created),
        }
        rows = [
            {
                "id": run_id,
                "run_key": key,
                "prompt_id": prompt_id,
                "spec": spec,
                "host": host,
                "model_type": "transfer",
                "batch_id": job_id,
                "line": line,
                "created_at": stamp(created),
                "execution_config": {"params": {"seed": line + 1}},
            }
            for line, (run_id, key) in enumerate(runs.items())
        ]
        db.create_batch(self.db, batch, rows)
        if status != "pending":
            db.set_status(self.db, list(runs), status)
            db.set_batch_status(self.db, job_id, status)

    def complete_run(self, run_id: str, run_key: str, video: bytes = b"video") -> Path:
        """Write results/<run>/ (output.mp4, prompt.txt, run.json) and record it completed."""
        folder = self.root / "results" / run_key
        folder.mkdir(parents=True, exist_ok=True)
        nvidia = {"mode": "transfer", "spec": {"prompt": f"prompt of {run_key}", "seed": 1}}
        files = {
            "output.mp4": video,
            "prompt.txt": f"prompt of {run_key}".encode(),
            "run.json": json.dumps({"run_id": run_id, "nvidia": nvidia}).encode(),
        }
        artifacts, outputs = [], {}
        for name, data in files.items():
            (folder / name).write_bytes(data)
            relative = f"results/{run_key}/{name}"
            outputs[name] = relative
            artifacts.append(
                {
                    "run_id": run_id,
                    "kind": name.split(".")[0],
                    "path": relative,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                }
            )
        db.add_artifacts(self.db, artifacts)
        db.set_status(self.db, [run_id], "completed", outputs=outputs, gpu_seconds=12.5)
        return folder

    def fail_run(self, run_id: str, error: str, log_tail: str = "") -> None:
        db.set_status(
            self.db, [run_id], "failed", error, error=error, error_kind="oom", log_tail=log_tail
        )

    def run_status(self, run_id: str) -> str:
        return self.db.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()[0]


RUN_STREET_1 = "rs_aaaa0001" + "0" * 24
RUN_STREET_2 = "rs_aaaa0002" + "0" * 24
RUN_MEADOW = "rs_bbbb0001" + "0" * 24
RUN_ALLEY = "rs_cccc0001" + "0" * 24
PROMPT_STREET = "ps_1111aaaa00000000"
PROMPT_MEADOW = "ps_2222bbbb00000000"
PROMPT_ALLEY = "ps_2222cccc00000000"
JOB_STREET = "street-1a2b3c4d-0123456789ab"
JOB_MEADOW = "meadow-5e6f7a8b-abcdefabcdef"
JOB_ALLEY = "neon-alley-9c0d1e2f-fedcbafedcba"


def seed(project: ProjectDir) -> ProjectDir:
    """Three prompts and four runs: completed, failed, completed (older), running."""
    project.add_prompt(
        PROMPT_STREET, "street", "A rainy street at night, neon signs reflecting in puddles", T0
    )
    project.add_prompt(
        PROMPT_MEADOW,
        "meadow",
        'A quiet meadow at dawn: 100% calm, snake_case fog, it\'s "quoted"',
        T0 - timedelta(days=30),
    )
    project.add_prompt(PROMPT_ALLEY, "neon-alley", "Wet alley with pink lights", T0 + timedelta(1))
    project.add_batch(
        JOB_STREET,
        PROMPT_STREET,
        {RUN_STREET_1: "street/seed-1", RUN_STREET_2: "street/seed-2"},
        created=T0,
    )
    project.add_batch(
        JOB_MEADOW, PROMPT_MEADOW, {RUN_MEADOW: "meadow"}, created=T0 - timedelta(days=30)
    )
    project.add_batch(
        JOB_ALLEY,
        PROMPT_ALLEY,
        {RUN_ALLEY: "neon-alley"},
        created=datetime.now(UTC),
        status="running",
    )
    db.set_status(project.db, [RUN_STREET_1, RUN_STREET_2], "running")
    project.complete_run(RUN_STREET_1, "street/seed-1")
    project.fail_run(RUN_STREET_2, "CUDA out of memory", "line 1\nRuntimeError: CUDA out of memory")
    db.set_batch_status(project.db, JOB_STREET, "completed")
    db.set_status(project.db, [RUN_MEADOW], "running")
    project.complete_run(RUN_MEADOW, "meadow")
    db.set_batch_status(project.db, JOB_MEADOW, "completed")
    return project


class JobStarter:
    """Starts real detached jobs (gpu_scripts/job.sh + a task script) on the project's hosts."""

    def __init__(self, project: ProjectDir):
        self.project = project
        self.jobs: list[Any] = []

    def __call__(self, job_id: str, task: str, host: str = "sim") -> Any:
        """Start `task` (bash) as job `job_id`; return its RemoteJob."""
        from cosmos_steps.jobs import open_session
        from cosmos_steps.project import Project
        from cosmos_steps.remote import GPU_SCRIPTS, RemoteJob

        session = open_session(Project(self.project.config).host(host), lambda message: None)
        folder = self.project.root / "tasks" / job_id
        folder.mkdir(parents=True)
        (folder / "task.sh").write_text(f"#!/usr/bin/env bash\n# test task\n{task}\n")
        (folder / "job.env").write_text("")
        files = {
            "job.sh": GPU_SCRIPTS / "job.sh",
            "task.sh": folder / "task.sh",
            "job.env": folder / "job.env",
        }
        job = RemoteJob(session, job_id, {})
        job.start_or_adopt(files, lambda: None)
        self.jobs.append(job)
        return job

    def wait_for(self, job: Any, state: str, seconds: float = 20) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        while (status := job.status())["state"] != state:
            assert time.monotonic() < deadline, f"job {job.job_id} stayed {status}"
            time.sleep(0.1)
        return status

    def stop_all(self) -> None:
        for job in self.jobs:
            if job.status()["state"] == "running":
                job.cancel()
            job.session.close()
