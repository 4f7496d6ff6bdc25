"""Finding and running ffmpeg, and probing videos with the ffmpeg binary alone (no ffprobe).

The default binary is the static build shipped by the ``imageio-ffmpeg`` package, so nothing
has to be installed system-wide; a config may name a system ffmpeg instead (a path or a command
name). ``probe`` reads a video's stream line from ``ffmpeg -i`` and counts frames exactly by
decoding the stream to the null muxer, reading the last ``frame=`` of ``-progress`` output.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


class FfmpegError(RuntimeError):
    """ffmpeg is missing, failed, or printed something we cannot read."""


class FfmpegNotFoundError(FfmpegError, FileNotFoundError):
    """The configured ffmpeg binary does not exist or cannot be run."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file, as ffmpeg sees it."""

    frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str


@functools.cache
def ffmpeg_exe(setting: str = "auto") -> str:
    """Resolve the ffmpeg binary: "auto" (imageio-ffmpeg's), a path, or a command on PATH."""
    if setting == "auto":
        try:
            import imageio_ffmpeg

            return imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError) as exc:
            raise FfmpegNotFoundError(
                f"ffmpeg setting is 'auto' but imageio-ffmpeg has no usable binary ({exc}); "
                "install imageio-ffmpeg or configure the path of a system ffmpeg"
            ) from exc
    found = shutil.which(str(Path(setting).expanduser()))
    if found is None:
        raise FfmpegNotFoundError(f"ffmpeg not found or not executable: {setting!r}")
    return found


def run_ffmpeg(
    args: Sequence[str], *, ffmpeg: str = "auto", log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg with args (after -hide_banner -nostdin); raise FfmpegError when it fails.

    stdout and stderr are captured as text; when log is given the command line and stderr
    are appended to it.
    """
    argv = [ffmpeg_exe(ffmpeg), "-hide_banner", "-nostdin", *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    if log is not None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"$ {subprocess.list2cmdline(argv)}\n{proc.stderr}\n")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise FfmpegError(f"ffmpeg exited with status {proc.returncode}:\n{tail}")
    return proc


def probe(path: str | Path, ffmpeg: str = "auto") -> VideoInfo:
    """Describe the first video stream of path; frames are counted by decoding them all."""
    args = ["-i", path, "-map", "0:v:0", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    try:
        proc = run_ffmpeg(args, ffmpeg=ffmpeg)
    except FfmpegError as exc:
        raise FfmpegError(f"cannot probe {path}: {exc}") from exc
    info = parse_stream_line(proc.stderr)
    frames = re.findall(r"^frame=(\d+)\s*$", proc.stdout, flags=re.M)
    if not frames:
        raise FfmpegError(f"cannot probe {path}: ffmpeg reported no frame count")
    return dataclasses.replace(info, frames=int(frames[-1]))


def parse_stream_line(stderr: str) -> VideoInfo:
    """Read codec, pixel format, size and fps of the first input video stream (frames=0)."""
    inputs = re.split(r"^(?:Output #|Stream mapping:)", stderr, maxsplit=1, flags=re.M)[0]
    match = re.search(r"^\s*Stream #\d+:\d+.*?: Video: (.+)$", inputs, flags=re.M)
    if match is None:
        raise FfmpegError("no video stream found in ffmpeg output")
    fields = _split_top_level(match.group(1))
    size = next((m for f in fields if (m := re.match(r"(\d+)x(\d+)\b", f))), None)
    if size is None:
        raise FfmpegError(f"no frame size in stream line: {match.group(1)}")
    return VideoInfo(
        frames=0,
        fps=_rate(fields, "fps") or _rate(fields, "tbr") or 0.0,
        width=int(size.group(1)),
        height=int(size.group(2)),
        codec=fields[0].split()[0],
        pix_fmt=fields[1].split("(")[0].strip() if len(fields) > 1 else "",
    )


def _split_top_level(text: str) -> list[str]:
    """Split a stream description on the commas that are outside parentheses and brackets."""
    fields, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            fields.append(text[start:i].strip())
            start = i + 1
    fields.append(text[start:].strip())
    return fields


def _rate(fields: list[str], unit: str) -> float | None:
    """The value of a field like "23.98 fps" or "1k tbr"."""
    for field in fields:
        match = re.fullmatch(rf"([\d.]+)(k?) {unit}", field)
        if match:
            return float(match.group(1)) * (1000 if match.group(2) else 1)
    return None
