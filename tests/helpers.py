"""Helpers for tests: tiny real videos, throwaway project folders, real Snakemake runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cosmos_steps import PROJECT_DIR
from cosmos_steps.ffmpeg import ffmpeg_exe

SOURCES = {
    "color": "testsrc",
    "depth": "testsrc2",
    "segmentation": "rgbtestsrc",
    "edge": "smptebars",
}


def make_video(
    path: Path, source: str = "testsrc", frames: int = 12, size: str = "64x36", fps: int = 24
) -> Path:
    """A real H.264 video from one of ffmpeg's test sources."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}=size={size}:rate={fps}",
            "-frames:v",
            str(frames),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
    )
    return path


def make_videos(
    folder: Path, modalities: tuple[str, ...] = ("color", "depth"), **kwargs: Any
) -> Path:
    """A folder of control videos named as the pipeline expects (color.mp4, depth.mp4, ...)."""
    for modality in modalities:
        make_video(folder / f"{modality}.mp4", SOURCES[modality], **kwargs)
    return folder


def base_config(**host: Any) -> dict[str, Any]:
    """The shipped config.yaml with a fast simulated host (no emulated delays, small outputs)."""
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text())
    simulated = config["hosts"]["simulated"]
    simulated["simulate"] = {"load_seconds": 0, "seconds_per_frame": 0, "scale": 0.1}
    simulated["poll_seconds"] = 0.2
    simulated.update(host)
    return config


def make_project(
    root: Path,
    specs: dict[str, dict[str, Any]],
    config: dict[str, Any] | None = None,
    videos: tuple[str, ...] = ("color", "depth"),
) -> Path:
    """A project folder: config.yaml, specs/<name>.yaml, videos/ with tiny control videos."""
    root.mkdir(parents=True, exist_ok=True)
    if videos:
        make_videos(root / "videos", videos)
    write_yaml(root / "config.yaml", config or base_config())
    for name, spec in specs.items():
        write_yaml(root / "specs" / f"{name}.yaml", spec)
    return root


def write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def snakemake_command(project: Path, *args: str, cores: int = 2) -> list[str]:
    """The command that runs the real workflow in `project` (this interpreter, our Snakefile)."""
    snakefile = str(PROJECT_DIR / "Snakefile")
    return [sys.executable, "-m", "snakemake", "-s", snakefile, "-d", str(project),
            "--cores", str(cores), *args]  # fmt: skip


def snakemake(
    project: Path,
    *args: str,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real workflow in `project` and wait for it."""
    return subprocess.run(
        snakemake_command(project, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start_snakemake(project: Path, cores: int = 2) -> subprocess.Popen[str]:
    """Start the real workflow in `project` in the background (own session, output captured)."""
    return subprocess.Popen(
        snakemake_command(project, cores=cores),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def cosmos(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `cosmos` CLI in a project folder."""
    return subprocess.run(
        [sys.executable, "-m", "cosmos_steps.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
