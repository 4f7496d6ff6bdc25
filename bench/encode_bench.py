"""Control-video encoding: the pipeline's rule and encode_modality against ffmpeg run directly.

Generates a color sequence once (the demo scene plus seeded film grain, so that PNG sizes and
encoding cost are those of a real render; 240 frames of 1280x704 by default) into a cache
folder, then times, alternately, the ffmpeg command ``encode_modality`` builds (from
``encode_args``) run with subprocess, ``encode_modality`` itself, and the ``ffmpeg_encode_control``
rule run by Snakemake (its job's time from the rule's ``benchmark:`` file, i.e. the step process
with its Python start-up, not Snakemake's own start). Reports medians and direct/ours (goal: at
least 0.9), plus the time of the header validation and of Pillow's ``verify()`` for comparison.

    python -m bench.encode_bench [--frames 240] [--size 1280x704] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from cosmos_steps import PROJECT_DIR
from cosmos_steps.demo_render import render_frame
from cosmos_steps.encode import encode_args, encode_modality
from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.frames import scan_render, validate_render

FPS, CRF, PRESET = 24, 18, "medium"


def sequence(frames: int, width: int, height: int) -> Path:
    """The cached color sequence, generated on the first run."""
    name = f"bench-grain-{width}x{height}-{frames}"
    folder = Path.home() / ".cache" / "cosmos-workflow" / name
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            color = render_frame(t, frames, width, height)["color"]
            grain = np.random.default_rng(t).normal(0.0, 4.0, color.shape)
            pixels = np.clip(color + grain, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"color.{t + 1:04d}.png")
        done.touch()
    return folder


def rule_project(folder: Path, root: Path) -> Path:
    """A project whose one spec encodes the sequence (the shipped config, simulated host)."""
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text())
    config["encode"] = {"crf": CRF, "preset": PRESET}
    (root / "specs").mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    spec = {
        "prompt": "bench",
        "inputs": {"frames": str(folder)},
        "controls": {"vis": 0.5},
        "params": {"fps": FPS},
    }
    (root / "specs" / "bench.yaml").write_text(yaml.safe_dump(spec))
    return root


def through_rule(project: Path) -> tuple[float, float, float]:
    """One run of the encode rule: (job wall s, 0, job CPU s) from Snakemake's benchmark file."""
    target = "work/controls/bench/color.mp4"
    snakefile = str(PROJECT_DIR / "Snakefile")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        snakefile,
        "-d",
        str(project),
        "--cores",
        "1",
        "--quiet",
        "all",
    ]
    command += ["--forcerun", "ffmpeg_encode_control", target]
    subprocess.run(command, check=True, capture_output=True)
    with (project / "benchmarks/controls/bench/color.tsv").open() as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    return float(row["s"]), 0.0, float(row["cpu_time"])


def measure(action: Callable[[], object]) -> tuple[float, float, float]:
    """Wall seconds of one call, CPU seconds of this process and of its child processes."""
    own, kids = cpu_seconds()
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    own_after, kids_after = cpu_seconds()
    return wall, own_after - own, kids_after - kids


def cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds used so far by this process and by its finished children."""
    usages = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    own, kids = (u.ru_utime + u.ru_stime for u in usages)
    return own, kids


def report(label: str, runs: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Print the median wall time, the runs and the median CPU times; return wall and CPU."""
    wall, own, kids = (statistics.median(column) for column in zip(*runs, strict=True))
    shown = ", ".join(f"{r[0]:.2f}" for r in runs)
    print(f"{label}: wall median {wall:.2f} s (runs {shown}); ", end="")
    print(f"CPU ffmpeg {kids:.2f} s, Python {own:.3f} s")
    return wall, own + kids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", default="1280x704")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    folder = sequence(args.frames, width, height)
    scan = scan_render(folder)
    paths = list(scan.frames["color"].values())
    validate_s = measure(lambda: validate_render(scan))[0]
    verify_s = measure(lambda: [Image.open(p).verify() for p in paths])[0]
    info = validate_render(scan).modalities["color"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "color.mp4"
        argv = encode_args(scan, info, out, fps=FPS, crf=CRF, preset=PRESET, workdir=Path(tmp))
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *argv]
        print("direct command:", shlex.join(command))
        project = rule_project(folder, Path(tmp) / "project")
        direct, ours, rule = [], [], []
        for _ in range(args.runs):
            direct.append(measure(lambda: subprocess.run(command, check=True, capture_output=True)))
            ours.append(
                measure(
                    lambda: encode_modality(scan, "color", out, fps=FPS, crf=CRF, preset=PRESET)
                )
            )
            rule.append(through_rule(project))
    print(f"sequence: {folder} ({args.frames} frames, {width}x{height}, color)")
    print(f"header validation of {len(paths)} PNGs: {validate_s:.3f} s")
    print(f"Pillow verify() of {len(paths)} PNGs:   {verify_s:.3f} s")
    (d, d_cpu), (o, o_cpu) = report("direct ffmpeg", direct), report("encode_modality", ours)
    r, r_cpu = report("ffmpeg_encode_control rule", rule)
    print(f"ratio direct/ours: wall {d / o:.3f}, CPU {d_cpu / o_cpu:.3f}")
    print(f"ratio direct/rule: wall {d / r:.3f}, CPU {d_cpu / r_cpu:.3f}")
    print(f"throughput through the module: {args.frames / o:.1f} frames/s")


if __name__ == "__main__":
    main()
