"""Video facts the simulator needs, from the ffmpeg binary alone (stdlib only: it is uploaded)."""

from __future__ import annotations

import math
import re
import subprocess

# Cosmos Transfer 1 resizes every input to the nearest of these aspect buckets (W, H).
BUCKETS = ((960, 960), (960, 704), (704, 960), (1280, 704), (704, 1280))
_STREAM = re.compile(r"Stream #\S+.*?Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+) fps")
_FRAME = re.compile(r"frame=\s*(\d+)")


def run_ffmpeg(ffmpeg: str, args: list[str]) -> str:
    """Run ffmpeg quietly (overwriting outputs); raise with its last error line on failure."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise RuntimeError(f"ffmpeg failed: {lines[-1]}")
    return done.stderr


def probe(ffmpeg: str, path: str) -> dict:
    """Frames (exact, packet by packet), fps, width, height, codec of the first video stream."""
    cmd = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-i",
        path,
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    stream = _STREAM.search(done.stderr)
    if done.returncode != 0 or not stream:
        raise RuntimeError(f"cannot read video {path}: {done.stderr.strip().splitlines()[-1:]}")
    fps = _FPS.search(done.stderr[stream.start() :].splitlines()[0])
    frames = _FRAME.findall(done.stderr)
    return {
        "codec": stream.group(1),
        "width": int(stream.group(2)),
        "height": int(stream.group(3)),
        "fps": float(fps.group(1)) if fps else 0.0,
        "frames": int(frames[-1]) if frames else 0,
    }


def bucket_size(width: int, height: int) -> tuple[int, int]:
    """The output size Cosmos snaps an input of this size to (nearest aspect ratio)."""
    aspect = math.log(width / height)
    return min(BUCKETS, key=lambda wh: abs(math.log(wh[0] / wh[1]) - aspect))


def even(value: float) -> int:
    """Nearest even integer >= 2 (H.264 yuv420p needs even sizes)."""
    return max(2, int(round(value / 2)) * 2)
