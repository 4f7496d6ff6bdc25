"""Benchmark of the `cosmos` read commands on a large database (issue 5).

Generates a project with 20,000 prompts and 100,000 runs (plus batches, events and artifacts in
the numbers the pipeline writes: 5 events per run and per batch, 4 artifacts per completed run),
then times whole `python -m cosmos_steps.cli ...` processes, start-up included (median of N).

    python bench/cli_bench.py                 # generate in a temp folder, time, print a table
    python bench/cli_bench.py --dir /tmp/big  # keep the project (reused when it exists)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cosmos_steps import db  # noqa: E402

_VOCABULARY = (
    "rainy street night neon signs reflecting puddles quiet meadow dawn fog forest cabin snow "
    "desert highway sunset truck warehouse robot arm conveyor factory drone city skyline rooftop "
    "harbor boats storm lightning waves lighthouse train station crowd umbrellas autumn leaves "
    "park bench kitchen chef steam market stalls lanterns temple mountain river bridge tunnel "
    "headlights parking garage concrete glass office corridor hospital lab microscope farm "
    "tractor field wheat cows barn orchard vineyard castle knight horse village square fountain "
    "subway platform graffiti alley cat dog bicycle scooter motorbike racing track pit crew"
)
WORDS = _VOCABULARY.split()
HOSTS = ("simulated", "gpu-box", "cluster")
STATUS_WEIGHTS = {"completed": 85, "failed": 8, "cancelled": 3, "running": 2, "pending": 2}
EVENT_CHAIN = ("pending", "uploading", "running", "downloading")
CONFIG = """database: cosmos.db
default_host: simulated
hosts:
  simulated: {transport: local, runtime: simulate, root: work/host}
"""


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def hexid(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def prompt_text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(12, 40))
    if rng.random() < 0.01:
        words.insert(rng.randrange(len(words)), rng.choice(("100%", "snake_case", "it's")))
    return " ".join(words).capitalize()


def generate(folder: Path, prompts: int, runs: int, seed: int = 5) -> None:
    """Write config.yaml and a database with the given numbers of prompts and runs."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(CONFIG)
    database = db.connect(folder / "cosmos.db")
    conn = database.conn
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / prompts
    prompt_rows = []
    for index in range(prompts):
        spec = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{index:05d}"
        prompt_rows.append(
            (
                f"ps_{hexid(rng, 16)}",
                spec,
                spec,
                "user",
                prompt_text(rng),
                "",
                '{"color": "videos/color.mp4"}',
                '{"seed": 1}',
                f"specs/{spec}.yaml",
                stamp(start + step * index),
            )
        )
    run_rows, batch_rows, event_rows, artifact_rows = [], [], [], []
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=runs)
    for index in range(runs):
        prompt = prompt_rows[min(int(index * prompts / runs), prompts - 1)]
        status = statuses[index]
        if index % 4 == 0:
            created = datetime.fromisoformat(prompt[9]) + timedelta(minutes=rng.randint(1, 600))
            batch_id = f"{prompt[2]}-{hexid(rng, 8)}-{hexid(rng, 12)}"
            host = rng.choice(HOSTS)
            batch_rows.append(
                (
                    batch_id,
                    batch_id[:-13],
                    prompt[2],
                    "transfer",
                    host,
                    "transfer_batch",
                    status,
                    stamp(created),
                )
            )
            for event in (*EVENT_CHAIN, status):
                event_rows.append((None, batch_id, event, None, stamp(created)))
        run_id = f"rs_{hexid(rng, 32)}"
        key = f"{prompt[2]}/seed-{index % 4}"
        started = created + timedelta(seconds=rng.randint(5, 60))
        done = started + timedelta(seconds=rng.randint(60, 3600))
        final = status in db.FINAL_STATUSES
        outputs = (
            (f'{{"output.mp4": "results/{key}/output.mp4", "run.json": "results/{key}/run.json"}}')
            if status == "completed"
            else None
        )
        error = "CUDA out of memory" if status == "failed" else None
        run_rows.append(
            (
                run_id,
                key,
                prompt[0],
                prompt[2],
                "transfer",
                status,
                host,
                batch_id,
                index % 4,
                '{"params": {"seed": 1}}',
                outputs,
                error,
                "oom" if error else None,
                round((done - started).total_seconds(), 3) if final else None,
                stamp(created),
                stamp(started),
                stamp(done) if final else None,
                stamp(done if final else started),
            )
        )
        chain = EVENT_CHAIN if final else EVENT_CHAIN[: EVENT_CHAIN.index("running") + 1]
        for event in (*chain, status) if final else chain:
            event_rows.append((run_id, batch_id, event, None, stamp(started)))
        if status == "completed":
            for name, kind in (
                ("output.mp4", "output"),
                ("prompt.txt", "prompt"),
                ("run.json", "run"),
                ("vis_input_control_0.mp4", "control"),
            ):
                artifact_rows.append(
                    (
                        run_id,
                        batch_id,
                        kind,
                        f"results/{key}/{name}",
                        hexid(rng, 64),
                        rng.randint(1000, 10**7),
                        stamp(done),
                    )
                )
    with db.transaction(database):
        conn.executemany(
            "INSERT INTO prompts (id, name, spec, kind, text, negative_prompt, inputs, params, "
            "spec_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            prompt_rows,
        )
        conn.executemany(
            "INSERT INTO batches (id, batch, spec, model_type, host, mode, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch_rows,
        )
        conn.executemany(
            "INSERT INTO runs (id, run_key, prompt_id, spec, model_type, status, host, batch_id, "
            "line, execution_config, outputs, error, error_kind, gpu_seconds, created_at, "
            "started_at, completed_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        conn.executemany(
            "INSERT INTO events (run_id, batch_id, status, message, at) VALUES (?, ?, ?, ?, ?)",
            event_rows,
        )
        conn.executemany(
            "INSERT INTO artifacts (run_id, batch_id, kind, path, sha256, bytes, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            artifact_rows,
        )
    conn.execute("ANALYZE")
    conn.close()


def commands(folder: Path) -> list[list[str]]:
    """The commands timed: the four of the issue, their --json forms, and a few more."""
    import sqlite3

    conn = sqlite3.connect(folder / "cosmos.db")
    run_id = conn.execute("SELECT id FROM runs WHERE status = 'completed' LIMIT 1 OFFSET 777")
    run_prefix = run_id.fetchone()[0][:13]
    prompt_id = conn.execute("SELECT id FROM prompts LIMIT 1 OFFSET 4321").fetchone()[0]
    conn.close()
    return [
        ["list", "runs", "--limit", "50"],
        ["list", "runs", "--status", "failed"],
        ["search", "neon"],
        ["show", run_prefix],
        ["list", "runs", "--limit", "50", "--json"],
        ["list", "runs", "--status", "failed", "--json"],
        ["search", "neon", "--json"],
        ["show", run_prefix, "--json"],
        ["show", prompt_id],
        ["list", "prompts"],
        ["list", "runs", "--since", "2d", "--host", "gpu-box"],
        ["search", "100%"],
    ]


def time_command(folder: Path, argv: list[str], repeat: int) -> list[float]:
    """Wall times of whole `python -m cosmos_steps.cli` processes (start-up included)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "cosmos_steps.cli", *argv],
            cwd=folder,
            env=env,
            capture_output=True,
        )
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed: {done.stderr.decode()}")
    return times


def time_in_process(folder: Path, argv: list[str], repeat: int) -> list[float]:
    """Times of the same command inside this process (imports warm): queries and output only."""
    from cosmos_steps.cli import main

    args = ["--config", str(folder / "config.yaml"), *argv]
    times = []
    for _ in range(repeat + 1):  # the first call warms imports and the page cache
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            main(args)
        times.append(time.perf_counter() - began)
    return times[1:]


def python_start(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="project folder (kept; reused if it exists)")
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="cosmos-cli-bench-"))
    if not (folder / "cosmos.db").exists():
        began = time.perf_counter()
        generate(folder, args.prompts, args.runs)
        size = (folder / "cosmos.db").stat().st_size / 1e6
        print(
            f"generated {folder / 'cosmos.db'} ({size:.0f} MB) in "
            f"{time.perf_counter() - began:.1f}s"
        )
    print(
        f"\nwall ms of whole processes (median, min, max of {args.repeat}); in-process ms (median)"
    )
    print("\n| command | median | min | max | in-process |\n|---|---:|---:|---:|---:|")
    print(f"| `python -c pass` (interpreter start) | {_ms(python_start(args.repeat))} | |")
    for argv in commands(folder):
        wall = _ms(time_command(folder, argv, args.repeat))
        inside = statistics.median(time_in_process(folder, argv, args.repeat)) * 1000
        print(f"| `cosmos {' '.join(argv)}` | {wall} | {inside:.1f} |", flush=True)


def _ms(times: list[float]) -> str:
    return " | ".join(
        f"{value * 1000:.0f}" for value in (statistics.median(times), min(times), max(times))
    )


if __name__ == "__main__":
    main()
