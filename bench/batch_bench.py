"""Batching vs single runs over SSH, and the pipeline's own overhead per run (issue 8).

    PYTHONPATH=. python bench/batch_bench.py [--repeats 3] [--runs 8] [--load-seconds 20]
        [--seconds-per-frame 0.025] [--frames 121] [--lean-login] [--stub-scontrol]
        [--scenarios batch singles]

One loopback OpenSSH server is the GPU host, runtime `simulate` with an emulated model load and a
fixed time per output frame, the schema's default poll_seconds. Two scenarios, each in a fresh
project, alternating within every repeat:

- batch:   one spec sweeping the depth control weight over N values -> one batch job of N lines;
- singles: one spec sweeping the seed over N values (batch-global) -> N jobs of one run each.

Both run `snakemake --cores 1` end to end (planning, jobspecs, upload, job, download, split,
report): one core, so the N single jobs use the one GPU one after another. The host folder is
shared and warmed once (scripts, simulator and videos already there, as on a host used before).
Emulated model time = per job, load + output frames x seconds per frame (frames as the simulator
recorded them); overhead per run = (snakemake wall - emulated model time) / N, split into
  host side  = job wall on the host (manifest wall_seconds) - emulated model time
               (torchrun stand-in, interpreter start, the simulator's ffmpeg work, checksums);
  infer step = the cosmos_infer steps' wall (their benchmark files) - job wall on the host
               (step start, SSH connect, upload, start, end detection, download, database);
  the rest   = snakemake wall - the infer steps (Snakemake start, parse, DAG, scheduling, the
               jobspec / batch / split / report steps).

Two switches take this machine's quirks out: --lean-login starts sshd with `SetEnv SHLVL=1`, so
bash skips the account's ~/.bashrc for each command (here it runs pyenv init: ~0.13 s per
command; Debian's and Ubuntu's default .bashrc returns at once for non-interactive shells);
--stub-scontrol puts an `scontrol` that fails at once first on Snakemake's PATH (the SLURM
executor plugin runs `scontrol show config` when Snakemake starts; with a SLURM client configured
and no controller reachable, as here, that waits 9 s).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cosmos_steps import PROJECT_DIR  # noqa: E402
from cosmos_steps.ffmpeg import ffmpeg_exe  # noqa: E402
from cosmos_steps.hosts import Host  # noqa: E402
from cosmos_steps.ssh_transport import SSHTransport  # noqa: E402
from tests.helpers import base_config, make_videos, write_yaml  # noqa: E402
from tests.sshd import LoopbackSSHD  # noqa: E402

SCENARIOS = ("batch", "singles")
EXEC_MARK = "Starting session: command"
"""What sshd (LogLevel VERBOSE) logs for every command run over SSH."""


@dataclasses.dataclass
class Result:
    """One end-to-end snakemake run of a scenario and where its time went (seconds)."""

    scenario: str
    runs: int
    jobs: int
    wall: float
    emulated: float
    host_wall: float
    infer_wall: float
    commands: int

    @property
    def overhead_per_run(self) -> float:
        return (self.wall - self.emulated) / self.runs

    @property
    def host_side(self) -> float:
        return (self.host_wall - self.emulated) / self.runs

    @property
    def infer_side(self) -> float:
        return (self.infer_wall - self.host_wall) / self.runs

    @property
    def rest(self) -> float:
        return (self.wall - self.infer_wall) / self.runs


class Bench:
    """The loopback host, its warm folder and the settings shared by every scenario run."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.server = LoopbackSSHD("SetEnv SHLVL=1\n" if args.lean_login else "").start()
        self.env = dict(os.environ)
        if args.stub_scontrol:
            stub = folder / "stub-bin" / "scontrol"
            stub.parent.mkdir()
            stub.write_text("#!/bin/sh\nexit 1\n")
            stub.chmod(0o755)
            self.env["PATH"] = f"{stub.parent}{os.pathsep}{self.env['PATH']}"

    def close(self) -> None:
        self.server.stop()

    def host(self, load_seconds: float) -> dict[str, Any]:
        """The config.yaml entry of the loopback host (simulated model)."""
        simulate = {
            "python": sys.executable,
            "ffmpeg": ffmpeg_exe(),
            "scale": 0.1,
            "load_seconds": load_seconds,
            "seconds_per_frame": self.args.seconds_per_frame,
        }
        return self.server.host_config(str(self.folder / "host"), simulate=simulate)

    def command_seconds(self, count: int = 20) -> float:
        """Median round trip of one command over SSH (`true` on an open connection)."""
        transport = SSHTransport.from_host_config("gpu", Host("gpu", self.host(0)).conf)
        try:
            transport.run(["true"])
            times = []
            for _ in range(count):
                start = time.perf_counter()
                transport.run(["true"])
                times.append(time.perf_counter() - start)
        finally:
            transport.close()
        return statistics.median(times)

    def run(self, scenario: str, runs: int, load_seconds: float) -> Result:
        """Time `snakemake --cores 1` on a fresh project; read what each job recorded."""
        with tempfile.TemporaryDirectory(prefix=f"bbench-{scenario}-", dir=self.folder) as temp:
            project = Path(temp)
            make_videos(project / "videos", ("color", "depth"), frames=self.args.frames)
            config = base_config()
            config["hosts"] = {"gpu": self.host(load_seconds)}
            config["default_host"] = "gpu"
            write_yaml(project / "config.yaml", config)
            write_yaml(project / "specs" / "meadow.yaml", spec(scenario, runs))
            command = [sys.executable, "-m", "snakemake", "-s", str(PROJECT_DIR / "Snakefile"),
                       "-d", str(project), "--cores", "1"]  # fmt: skip
            commands = self.server.log.count(EXEC_MARK)
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=self.env)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"snakemake failed ({scenario}):\n{done.stderr[-3000:]}")
            commands = self.server.log.count(EXEC_MARK) - commands
            return collect(project, scenario, runs, wall, load_seconds, commands, self.args)


def spec(scenario: str, runs: int) -> dict[str, Any]:
    """One spec: a sweep of the depth weight (one batch) or of the seed (one batch per run)."""
    axis = (
        {"controls.depth.weight": [round(0.1 * (i + 1), 2) for i in range(runs)]}
        if scenario == "batch"
        else {"params.seed": list(range(1, runs + 1))}
    )
    return {"prompt": "A quiet meadow at dawn", "inputs": "videos", "controls": {"depth": 0.5},
            "sweep": axis}  # fmt: skip


def collect(project: Path, scenario: str, runs: int, wall: float, load_seconds: float,
            commands: int, args: argparse.Namespace) -> Result:  # fmt: skip
    """Jobs, lines, frames and timings from the manifests, simulator records and benchmarks."""
    manifests = sorted((project / "work/batches").glob("*/manifest.json"))
    lines = 0
    emulated = host_wall = infer_wall = 0.0
    for path in manifests:
        manifest = json.loads(path.read_text())
        record = json.loads((path.parent / "out/simulator_record.json").read_text())
        frames = sum(sample["frames"] for sample in record["samples"])
        lines += len(manifest["lines"])
        emulated += load_seconds + frames * args.seconds_per_frame
        host_wall += manifest["wall_seconds"]
        benchmark = project / "benchmarks/infer/batches" / f"{path.parent.name}.tsv"
        with benchmark.open() as handle:
            infer_wall += float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    expected = (1 if scenario == "batch" else runs, runs)
    if (len(manifests), lines) != expected:
        raise SystemExit(f"{scenario}: {len(manifests)} job(s) with {lines} line(s), "
                         f"expected {expected[0]} with {expected[1]}")  # fmt: skip
    return Result(scenario, runs, len(manifests), wall, emulated, host_wall, infer_wall, commands)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(results: list[Result], args: argparse.Namespace) -> None:
    """Medians (and the slowest run) per scenario, the batching goals, and the breakdown."""
    med = statistics.median
    by = {name: [r for r in results if r.scenario == name] for name in args.scenarios}
    generation = med((r.emulated - args.load_seconds * r.jobs) / r.runs for r in results)
    ideal = args.load_seconds + args.runs * generation
    print(
        f"\nideal batch (one load + {args.runs} generations): {ideal:.2f} s "
        f"= {args.load_seconds:g} + {args.runs} x {generation:.3f}"
    )
    print(
        "\n| scenario | wall median | slowest | all walls | emulated | on the host | "
        "overhead/run median (slowest) | host side | infer step | rest | SSH commands |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in by.items():
        walls = [r.wall for r in rows]
        slowest = max(rows, key=lambda r: r.wall)
        print(
            f"| {name} | {med(walls):.1f} s | {max(walls):.1f} s | "
            f"{' '.join(f'{w:.1f}' for w in walls)} | {med(r.emulated for r in rows):.1f} s | "
            f"{med(r.host_wall for r in rows):.1f} s | "
            f"{med(r.overhead_per_run for r in rows):.2f} s ({slowest.overhead_per_run:.2f} s) | "
            f"{med(r.host_side for r in rows):.2f} s | {med(r.infer_side for r in rows):.2f} s | "
            f"{med(r.rest for r in rows):.2f} s | {med(r.commands for r in rows):.0f} |"
        )
    batch, singles = by.get("batch"), by.get("singles")
    if batch:
        print(
            f"\nbatch on the host / ideal: median {med(r.host_wall for r in batch) / ideal:.3f}, "
            f"slowest {max(r.host_wall for r in batch) / ideal:.3f} (goal <= 1.10)"
        )
        print(
            f"batch end to end / ideal: median {med(r.wall for r in batch) / ideal:.3f}, "
            f"slowest {max(r.wall for r in batch) / ideal:.3f}"
        )
    if batch and singles:
        speedup = med(r.wall for r in singles) / med(r.wall for r in batch)
        worst = max(r.wall for r in singles) / max(r.wall for r in batch)
        print(
            f"singles / batch (end to end): median {speedup:.2f}x, slowest / slowest {worst:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--seconds-per-frame", type=float, default=0.025)
    parser.add_argument("--frames", type=int, default=121, help="frames of the control videos")
    lean = "sshd skips the account's ~/.bashrc for each command"
    parser.add_argument("--lean-login", action="store_true", help=lean)
    stub = "no wait for `scontrol show config` when Snakemake starts"
    parser.add_argument("--stub-scontrol", action="store_true", help=stub)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cosmos-bbench-") as temp:
        bench = Bench(args, Path(temp))
        try:
            print(f"{time.strftime('%Y-%m-%d %H:%M')}: {' '.join(sys.argv)}; load {load_average()}")
            print(f"one SSH command: {bench.command_seconds() * 1000:.1f} ms (median of 20)")
            warm = bench.run("batch", 1, 0)
            print(f"warm-up (uploads scripts, simulator, videos): {warm.wall:.1f} s", flush=True)
            for repeat in range(args.repeats):
                order = args.scenarios if repeat % 2 == 0 else args.scenarios[::-1]
                for scenario in order:
                    before = load_average()
                    result = bench.run(scenario, args.runs, args.load_seconds)
                    results.append(result)
                    print(
                        f"repeat {repeat + 1} {scenario}: wall {result.wall:.1f} s, {result.jobs} "
                        f"job(s), emulated {result.emulated:.1f} s, on the host "
                        f"{result.host_wall:.1f} s, infer steps {result.infer_wall:.1f} s, "
                        f"overhead/run {result.overhead_per_run:.2f} s, {result.commands} SSH "
                        f"commands; load {before} -> {load_average()}",
                        flush=True,
                    )
        finally:
            bench.close()
    summary(results, args)


if __name__ == "__main__":
    main()
