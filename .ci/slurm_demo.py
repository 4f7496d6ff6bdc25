"""The SLURM demo of CI (.ci/slurm-demo.sh): make its project, then check what the run left.

python .ci/slurm_demo.py make DIR    a small project: the simulated host, a spec with a
                                     2-value seed sweep (two GPU batches) and one that is
                                     enhanced and upscaled (GPU jobs of all three stages)
python .ci/slurm_demo.py check DIR   every planned output exists; every run and batch in the
                                     database completed, with one event per status change; the
                                     database is not in WAL mode; every GPU job ran in a SLURM
                                     job and used exactly the GPUs SLURM gave it
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosmos_steps import config, specs  # noqa: E402
from tests.helpers import make_project  # noqa: E402

STATUSES = ["pending", "uploading", "running", "downloading", "completed"]
"""Every status change of a run or batch that went well, each recorded once, in this order."""
EVENTS = {
    "runs": "SELECT status FROM events WHERE run_id = ? ORDER BY id",
    "batches": "SELECT status FROM events WHERE batch_id = ? AND run_id IS NULL ORDER BY id",
}
"""The events of one run, and those of one batch itself."""
SLURM_NOTE = re.compile(r"note: SLURM job (\d+): using its GPUs (\S+)")
STREET = {
    "prompt": "A rainy street at night, neon signs reflecting in puddles",
    "inputs": "videos",
    "controls": {"vis": 0.3, "depth": 0.5},
    "sweep": {"params.seed": [1, 2]},
}
MEADOW = {
    "prompt": "A quiet meadow at dawn",
    "inputs": {"color": "videos/color.mp4"},
    "controls": {"edge": 0.7},
    "enhance": True,
    "upscale": True,
}


def expected_outputs(plan: specs.Plan) -> list[str]:
    """What `rule all` asks for: every run's video, and the 4K one where the spec wants it."""
    outputs = [f"results/{key}/output.mp4" for key in plan.runs]
    return outputs + [
        f"results/{key}/output_4k.mp4" for keys in plan.upscales.values() for key in keys
    ]


def event_problems(conn: sqlite3.Connection, table: str) -> list[str]:
    """Rows of `table` (runs or batches) not completed, or whose events are not STATUSES."""
    problems = []
    for row_id, status in conn.execute(f"SELECT id, status FROM {table}").fetchall():
        events = [event for (event,) in conn.execute(EVENTS[table], [row_id])]
        if status != "completed" or events != STATUSES:
            problems.append(f"{table} {row_id}: status {status}, events {events}")
    return problems


def database_problems(path: Path, plan: specs.Plan) -> list[str]:
    """Runs and batches that did not complete cleanly, missing runs, a WAL journal."""
    with sqlite3.connect(path) as conn:
        problems = event_problems(conn, "runs") + event_problems(conn, "batches")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        types = Counter(kind for (kind,) in conn.execute("SELECT model_type FROM runs"))
    if mode != "delete" or path.with_name(path.name + "-wal").exists():
        problems.append(f"{path}: journal mode {mode}, expected delete (shared filesystem)")
    wanted = Counter(
        transfer=len(plan.runs),
        upscale=sum(map(len, plan.upscales.values())),
        enhance=sum(spec["enhance"] for spec in plan.specs.values()),
    )
    if +types != +wanted:
        problems.append(f"runs in the database by model type: {dict(types)}, expected {wanted}")
    return problems


def gpu_jobs(project: Path) -> tuple[list[str], list[str]]:
    """Each GPU job's log must name its SLURM job, and its job.env use exactly that job's GPUs.

    Returns (one line per GPU job, problems).
    """
    jobs, problems = [], []
    for log in sorted((project / "logs/infer").glob("*/*.log")):
        stage, batch = log.parent.name, log.stem
        match = SLURM_NOTE.search(log.read_text())
        if match is None:
            problems.append(f"{log}: no 'SLURM job ...: using its GPUs' note")
            continue
        job, gpus = match.groups()
        env = (project / "work" / stage / batch / "job.env").read_text()
        if f"CUDA_VISIBLE_DEVICES={gpus}\n" not in env:
            problems.append(f"{stage}/{batch}: job.env does not use the job's GPUs {gpus}")
        jobs.append(f"{stage}/{batch}: SLURM job {job}, CUDA_VISIBLE_DEVICES={gpus}")
    return jobs, problems or ([] if jobs else ["no GPU job ran"])


def check(project: Path) -> int:
    """Print each GPU job and every problem; 0 when there is none."""
    settings = config.load(project / "config.yaml")
    plan = specs.load_plan(settings, project)
    jobs, problems = gpu_jobs(project)
    problems += [
        f"missing {path}" for path in expected_outputs(plan) if not (project / path).is_file()
    ]
    problems += database_problems(project / settings["database"], plan)
    print("\n".join(jobs))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    verdict = "FAILED" if problems else "all completed"
    print(f"{len(plan.runs)} runs, {len(jobs)} GPU jobs on SLURM: {verdict}")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["make", "check"])
    parser.add_argument("project", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make_project(args.project.resolve(), {"street": STREET, "meadow": MEADOW})
        return 0
    return check(args.project.resolve())


if __name__ == "__main__":
    sys.exit(main())
