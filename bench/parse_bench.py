"""Snakefile parse and DAG time of the workflow against a bare Snakefile with the same jobs.

Every SLURM job parses the Snakefile again, so parsing must stay cheap. For each size this makes a
project with 10 sweep specs (depth weight x vis weight) and a bare Snakefile with the same rules,
wildcards, files and number of jobs but no logic (run -> batch read from a JSON file), then times,
in fresh processes, side by side, median of --repeats:

- parse:   `snakemake --list-rules` (start Python + Snakemake, run the Snakefile, list its rules);
- dry run: `snakemake -n --quiet` (parse, then build the whole DAG: nothing exists yet).

Usage: PYTHONPATH=. python bench/parse_bench.py [--sizes 1000 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cosmos_steps import PROJECT_DIR, config, nvidia, specs

SPECS = 10
COMMANDS = {"parse": ["--list-rules"], "dry run": ["-n", "--quiet"]}
"""The measured Snakemake commands, by their name in the tables."""
METRICS = {
    "cpu": "CPU seconds (user + sys of the Snakemake process)",
    "wall": "Wall-clock seconds",
}
BARE_SNAKEFILE = Path(__file__).with_name("bare.smk")


def weights(count: int) -> list[float]:
    """`count` distinct control weights in (0, 1)."""
    return [round((index + 1) / (count + 1), 4) for index in range(count)]


def sweep_shape(points: int) -> tuple[int, int]:
    """Two axis lengths whose product is `points`, as square as possible."""
    first = max(d for d in range(1, math.isqrt(points) + 1) if points % d == 0)
    return first, points // first


def write_project(root: Path, runs: int) -> Path:
    """A project with the shipped config and SPECS sweep specs giving `runs` runs in all."""
    (root / "videos").mkdir(parents=True)
    for name in ("color.mp4", "depth.mp4"):
        (root / "videos" / name).write_bytes(b"")  # parsing and planning never open a video
    (root / "config.yaml").write_text((PROJECT_DIR / "config.yaml").read_text())
    depth, vis = sweep_shape(runs // SPECS)
    for index in range(SPECS):
        spec = {
            "prompt": f"Scene {index}: a rainy street at night, neon signs reflecting in puddles",
            "inputs": "videos",
            "controls": {"vis": 0.5, "depth": 0.5},
            "sweep": {"controls.depth.weight": weights(depth), "controls.vis.weight": weights(vis)},
        }
        path = root / "specs" / f"scene{index:02d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def write_bare(folder: Path, project: Path) -> tuple[Path, int]:
    """The bare Snakefile and plan.json (the workflow's plan, flattened); returns the job count."""
    settings = config.load(project / "config.yaml")
    plan = specs.load_plan(settings, project)
    videos = {
        batch: sorted({path for key in keys for path in nvidia.run_files(plan.runs[key]).values()})
        for batch, keys in plan.batches.items()
    }
    flat = {
        "patterns": {"run": specs.RUN_PATTERN, "batch": specs.BATCH_PATTERN},
        "runs": {key: run["batch"] for key, run in plan.runs.items()},
        "batches": plan.batches,
        "videos": videos,
    }
    folder.mkdir()
    (folder / "plan.json").write_text(json.dumps(flat))
    shutil.copy(BARE_SNAKEFILE, folder / "Snakefile")
    return folder / "Snakefile", 1 + 2 * len(plan.runs) + 2 * len(plan.batches)


def timed(snakefile: Path, project: Path, args: list[str]) -> dict[str, float]:
    """CPU seconds (user + sys) and wall seconds of one Snakemake command in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "-d",
        str(project),
        "--workflow-profile",
        "none",
        *args,
    ]
    path = os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"cpu": cpu, "wall": wall}


def plan_seconds(project: Path) -> float:
    """CPU seconds of cosmos_steps.specs.load_plan alone (the workflow's own parse-time logic)."""
    settings = config.load(project / "config.yaml")
    started = time.process_time()
    specs.load_plan(settings, project)
    return time.process_time() - started


def measure(runs: int, repeats: int, scratch: Path) -> dict[str, float]:
    """Medians of every figure for one size: `<command>_<side>_<cpu|wall>`, plan, runs, jobs."""
    project = write_project(scratch / f"project-{runs}", runs)
    bare, jobs = write_bare(scratch / f"bare-{runs}", project)
    sides = {"ours": PROJECT_DIR / "Snakefile", "bare": bare}
    samples: dict[str, list[float]] = {"plan": []}
    for _ in range(repeats):  # interleaved, so drift in machine load hits both sides alike
        for command in COMMANDS:
            for side, snakefile in sides.items():
                for metric, value in timed(snakefile, project, COMMANDS[command]).items():
                    samples.setdefault(f"{command}_{side}_{metric}", []).append(value)
        samples["plan"].append(plan_seconds(project))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {"runs": runs, "jobs": jobs, **medians}


def table(results: list[dict[str, float]], metric: str) -> str:
    """One metric as a Markdown table: ours, bare and ours / bare for each command."""
    header = "| runs | jobs |" + "".join(
        f" {command}: ours | {command}: bare | ratio |" for command in COMMANDS
    )
    lines = [header, "|---:" * (2 + 3 * len(COMMANDS)) + "|"]
    for r in results:
        cells = [f"{r['runs']:,.0f}", f"{r['jobs']:,.0f}"]
        for command in COMMANDS:
            ours, bare = r[f"{command}_ours_{metric}"], r[f"{command}_bare_{metric}"]
            cells += [f"{ours:.2f} s", f"{bare:.2f} s", f"{ours / bare:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def growth(results: list[dict[str, float]], metric: str) -> str:
    """How each figure grows from the smallest to the largest size (x10 runs: x10 is linear)."""
    first, last = results[0], results[-1]
    parts = [
        f"{command} {side} x{last[key] / first[key]:.1f}"
        for command in COMMANDS
        for side in ("ours", "bare")
        for key in [f"{command}_{side}_{metric}"]
    ]
    return f"Growth for x{last['runs'] / first['runs']:g} runs: " + ", ".join(parts) + "."


def report(results: list[dict[str, float]], repeats: int) -> str:
    """Both tables, growth, and the cost of load_plan alone."""
    out = []
    for metric, title in METRICS.items():
        out += [f"{title}, median of {repeats}:", "", table(results, metric), ""]
        if len(results) > 1:
            out += [growth(results, metric), ""]
    plans = ", ".join(f"{r['runs']:,.0f} runs {r['plan']:.2f} s" for r in results)
    return "\n".join([*out, f"load_plan alone (CPU seconds, in process): {plans}."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as scratch:
        results = [measure(runs, args.repeats, Path(scratch)) for runs in args.sizes]
    print(report(results, args.repeats))


if __name__ == "__main__":
    main()
