"""Thumbnail strips for the report: a few frames of a video side by side in one small JPEG.

One ffmpeg call per video (the frames are seeked inputs stacked with hstack; no per-frame
Python). Strips are cached by the video's sha256 under the thumbnails folder, so a video is only
ever read once, and identical videos share a strip.
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import SubprocessError

from cosmos_steps.ffmpeg import run_ffmpeg

FRAMES = 3
FRAME_WIDTH = 240
"""Width of one frame in the strip (pixels; videos narrower than this keep their width)."""


def _header(data: bytes, start: int) -> tuple[bytes, int, int]:
    """(type, header length, total size; 0 = up to the end) of the ISO-BMFF box at data[start]."""
    size, kind = struct.unpack_from(">I4s", data, start)
    if size == 1:
        return kind, 16, struct.unpack_from(">Q", data, start + 8)[0]
    return kind, 8, size


def mp4_duration(path: Path) -> float | None:
    """Duration in seconds from an MP4/MOV header (moov/mvhd); None if it has none."""
    with path.open("rb") as handle:
        offset = 0
        while len(head := handle.read(16)) >= 8:
            kind, length, size = _header(head, 0)
            if kind == b"moov":
                handle.seek(offset + length)
                return _mvhd_duration(handle.read(size - length if size else -1))
            if size < length:
                return None
            offset += size
            handle.seek(offset)
    return None


def _mvhd_duration(moov: bytes) -> float | None:
    """Duration from the mvhd box among a moov box's children."""
    start = 0
    while start + 8 <= len(moov):
        kind, length, size = _header(moov, start)
        if kind == b"mvhd":
            body = start + length
            if moov[body] == 1:
                scale, duration = struct.unpack_from(">IQ", moov, body + 20)
            else:
                scale, duration = struct.unpack_from(">II", moov, body + 12)
            return duration / scale if scale else None
        if size < length:
            return None
        start += size
    return None


def frame_times(duration: float, count: int = FRAMES) -> list[float]:
    """Evenly spread moments, each in the middle of its share of the video."""
    return [round(duration * (2 * index + 1) / (2 * count), 3) for index in range(count)]


def make_strip(video: Path, target: Path, ffmpeg: str, count: int = FRAMES) -> None:
    """Write `count` frames of `video` side by side to `target` (JPEG), atomically."""
    duration = mp4_duration(video)
    if not duration:
        raise ValueError(f"{video}: no duration in its header (not an MP4/MOV file?)")
    args: list[str] = []
    for moment in frame_times(duration, count):
        args += ["-ss", f"{moment}", "-i", str(video)]
    scaled = ";".join(
        f"[{index}:v]scale='min({FRAME_WIDTH},iw)':-2,setsar=1[f{index}]" for index in range(count)
    )
    stack = "".join(f"[f{index}]" for index in range(count)) + f"hstack=inputs={count}"
    temp = target.with_name(f".{target.stem}.tmp{os.getpid()}{target.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-loglevel",
            "error",
            "-y",
            *args,
            "-filter_complex",
            f"{scaled};{stack}",
            "-frames:v",
            "1",
            "-q:v",
            "4",
            str(temp),
        ],
        ffmpeg=ffmpeg,
    )
    temp.replace(target)


def strip_path(thumbs: Path, sha256: str) -> Path:
    """Where the strip of a video with this content lives."""
    return thumbs / f"{sha256[:24]}.jpg"


def ensure_strip(video: Path, sha256: str, thumbs: Path, ffmpeg: str) -> Path | None:
    """The cached strip of a video, made if missing; None if the video cannot be read."""
    target = strip_path(thumbs, sha256)
    if not target.is_file():
        try:
            make_strip(video, target, ffmpeg)
        except (OSError, ValueError, RuntimeError, SubprocessError):  # ffmpeg failed
            return None
    return target


def ensure_strips(videos: dict[Path, str], thumbs: Path, ffmpeg: str) -> dict[Path, Path | None]:
    """Strips of many videos ({video: sha256}): one per content, several ffmpeg at a time."""
    by_content = {sha256: video for video, sha256 in videos.items()}

    def make(sha256: str) -> Path | None:
        return ensure_strip(by_content[sha256], sha256, thumbs, ffmpeg)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        made = dict(zip(by_content, pool.map(make, by_content), strict=True))
    return {video: made[sha256] for video, sha256 in videos.items()}
