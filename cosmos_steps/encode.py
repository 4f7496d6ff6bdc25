"""Encoding a validated render folder into the control videos Cosmos reads.

Each modality is encoded by one ffmpeg process that reads the PNGs itself: Python reads PNG
headers to validate, never pixels, so encoding runs at ffmpeg's own speed. The rules (also in
docs/control-inputs.md):

* Video: H.264 (libx264, High profile) yuv420p in mp4 with ``+faststart``, tagged BT.601
  limited range. Browsers play it, and decoders that ignore the tag (they default to BT.601)
  give back the same RGB as those that honour it. CRF is configurable (1-51; 0 would be
  lossless H.264, which needs the High 4:4:4 profile that browsers do not play).
* Input: when every file of a modality has the same prefix and zero padding, the image2
  demuxer reads them with ``-start_number`` (the command is the one a person would type).
  Otherwise (mixed padding, separators or aliases) an ffconcat list of the files in frame
  order is read with ``-r fps``, which replaces the list's timestamps by a constant rate.
* Even size: yuv420p needs an even width and height. An odd size is padded by one column or
  row that repeats the last one (``pad`` + ``fillborders=mode=smear``): nothing is resampled
  and no new colour or label appears. Cosmos resizes to its own sizes anyway.
* Segmentation: chroma is subsampled with nearest neighbour, so label edges get one of the
  neighbouring labels' chroma instead of an average of them, and the CRF is capped at
  ``SEGMENTATION_CRF`` so flat label areas come back within a few levels. (yuv444p or
  lossless H.264 would keep every pixel but browsers do not play them.)
* 16-bit depth: a first ffmpeg pass (``signalstats`` on full-range 16-bit grey) finds the
  sequence's minimum and maximum; the encode maps min..max linearly to 0..255 with ``lut``
  (constant depth gives 0). Whatever the units, the 8-bit video uses every level, where
  keeping the high byte would merge all values within 256 of each other. The range is stored
  in meta.json (``depth_range``) so metric values can be recovered. 8-bit depth is encoded as
  is; no inversion is done either way (near/far orientation is the renderer's).
* Decoding errors: ``-xerror`` makes ffmpeg fail on a frame it cannot decode (a PNG whose
  header and end are intact but whose data is corrupt) instead of skipping it.
* Atomic outputs: each video is written in a hidden temporary folder beside it and renamed
  into place when ffmpeg succeeds. ``encode_render`` deletes an old meta.json first and writes
  the new one last, so a meta.json only ever sits beside a complete set of videos.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cosmos_steps.ffmpeg import FfmpegError, run_ffmpeg
from cosmos_steps.files import sha256_file, write_json
from cosmos_steps.frames import (
    ALIASES,
    MODALITIES,
    ModalityInfo,
    RenderScan,
    ValidationReport,
    scan_render,
    validate_render,
)

VIDEO_NAMES = {m: f"{m}.mp4" for m in MODALITIES}
"""Output file name of each modality's video."""

DEFAULT_CRF = 18
DEFAULT_PRESET = "medium"
"""CRF and x264 preset used when none is configured (config.yaml `encode:` has the same)."""

SEGMENTATION_CRF = 4
"""Highest CRF used for segmentation, whatever CRF is configured."""

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
"""libx264 presets."""

_TO_YUV = "scale=flags={flags}:out_color_matrix=bt601:out_range=tv"
_DEPTH_STATS = "format=gray16le,scale=in_range=full:out_range=full,format=yuv444p16le,signalstats"


class RenderValidationError(ValueError):
    """A render folder failed validation; the message lists every error."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        problems = "\n".join(f"  - {e}" for e in report.errors)
        super().__init__(f"render folder {report.scan.folder} is not usable:\n{problems}")


def encode_render(
    folder: str | Path,
    outdir: str | Path,
    fps: float,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    ffmpeg: str = "auto",
    modalities: Iterable[str] | None = None,
    on_video: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Validate a render folder, encode each modality to <outdir>/<modality>.mp4, write meta.json.

    Raises RenderValidationError (listing every problem) before anything is encoded.
    on_video(modality, facts) is called as each video is done (facts as in meta.json).
    Returns the content of meta.json.
    """
    check_settings(fps, crf, preset)
    report, chosen = _validated(folder, modalities)
    outdir = Path(outdir)
    meta_path = outdir / "meta.json"
    meta_path.unlink(missing_ok=True)
    videos = {}
    for info in chosen:
        path = outdir / VIDEO_NAMES[info.modality]
        extra = encode_modality(
            report.scan,
            info.modality,
            path,
            fps=fps,
            crf=crf,
            preset=preset,
            ffmpeg=ffmpeg,
            info=info,
        )
        videos[info.modality] = {"file": path.name, **_file_facts(path), **extra}
        if on_video is not None:
            on_video(info.modality, videos[info.modality])
    meta = build_meta(report_facts(report), {"fps": fps, "crf": crf, "preset": preset}, videos)
    write_json(meta_path, meta)
    return meta


def encode_modality(
    scan: RenderScan,
    modality: str,
    out_path: str | Path,
    *,
    fps: float,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    ffmpeg: str = "auto",
    info: ModalityInfo | None = None,
    log: Path | None = None,
) -> dict[str, Any]:
    """Encode one modality of a scanned folder to out_path with one ffmpeg process.

    info is the modality's validated description; without it the folder is validated here.
    Returns what meta.json records about the encode: the CRF used and, for 16-bit depth,
    the depth range mapped to 0..255.
    """
    check_settings(fps, crf, preset)
    info = info or _validated(scan, [modality])[0].modalities[modality]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"crf": video_crf(modality, crf)}
    if modality == "depth" and info.bit_depth == 16:
        extra["depth_range"] = list(measure_depth_range(scan, fps=fps, ffmpeg=ffmpeg, log=log))
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=f".{out_path.name}.") as tmp:
        partial = Path(tmp) / out_path.name
        args = encode_args(
            scan,
            info,
            partial,
            fps=fps,
            crf=crf,
            preset=preset,
            depth_range=extra.get("depth_range"),
            workdir=Path(tmp),
        )
        run_ffmpeg(args, ffmpeg=ffmpeg, log=log)
        os.replace(partial, out_path)
    return extra


def encode_args(
    scan: RenderScan,
    info: ModalityInfo,
    out_path: Path,
    *,
    fps: float,
    crf: int,
    preset: str,
    depth_range: Iterable[int] | None = None,
    workdir: Path,
) -> list[str]:
    """The ffmpeg arguments (after the binary) that encode one modality to out_path.

    workdir receives the ffconcat list when the file names need one.
    """
    output = [
        *("-vf", video_filter(info, depth_range)),
        *("-frames:v", str(info.count), "-an", "-map_metadata", "-1"),
        *("-c:v", "libx264", "-preset", preset, "-crf", str(video_crf(info.modality, crf))),
        *("-pix_fmt", "yuv420p", "-profile:v", "high"),
        *("-colorspace", "smpte170m", "-color_range", "tv", "-movflags", "+faststart"),
    ]
    frames = scan.frames[info.modality]
    return ["-xerror", *_input_args(frames, fps, workdir), *output, "-nostats", "-y", str(out_path)]


def video_filter(info: ModalityInfo, depth_range: Iterable[int] | None = None) -> str:
    """The filter chain: 16-bit depth normalisation, even-size padding, yuv420p conversion."""
    steps = []
    if depth_range is not None:
        low, high = depth_range
        scale = f"255/{high - low}" if high > low else "0"
        steps += ["format=gray16le", f"lut=c0='clip(round((val-{low})*{scale}),0,255)*257'"]
        steps += ["format=gray"]
    flags = "neighbor" if info.modality == "segmentation" else "bicubic"
    width, height = _even_size(info)
    if (width, height) != (info.width, info.height):
        steps += [_TO_YUV.format(flags="bicubic"), "format=yuv444p", f"pad={width}:{height}:0:0"]
        right, bottom = width - info.width, height - info.height
        steps += [f"fillborders=right={right}:bottom={bottom}:mode=smear"]
        steps += [f"scale=flags={flags}"]
    else:
        steps += [_TO_YUV.format(flags=flags)]
    return ",".join([*steps, "format=yuv420p"])


def video_crf(modality: str, crf: int) -> int:
    """The CRF a modality is encoded with (segmentation is capped at SEGMENTATION_CRF)."""
    return min(crf, SEGMENTATION_CRF) if modality == "segmentation" else crf


def measure_depth_range(
    scan: RenderScan, *, fps: float, ffmpeg: str = "auto", log: Path | None = None
) -> tuple[int, int]:
    """The minimum and maximum depth value over the whole sequence, measured by ffmpeg."""
    frames = scan.frames["depth"]
    with tempfile.TemporaryDirectory(prefix="cosmos-depth-") as tmp:
        args = _input_args(frames, fps, Path(tmp))
        vf = f"{_DEPTH_STATS},metadata=print:file=-"
        args = ["-xerror", *args, "-vf", vf, "-nostats", "-f", "null", "-"]
        proc = run_ffmpeg(args, ffmpeg=ffmpeg, log=log)
    lows = re.findall(r"signalstats\.YMIN=(\d+)", proc.stdout)
    highs = re.findall(r"signalstats\.YMAX=(\d+)", proc.stdout)
    if len(lows) != len(frames) or len(highs) != len(frames):
        raise FfmpegError(f"depth statistics covered {len(lows)} of {len(frames)} frames")
    return min(map(int, lows)), max(map(int, highs))


def image2_pattern(frames: dict[int, Path]) -> str | None:
    """A printf pattern (e.g. color.%04d.png) naming exactly these files, if one exists."""
    first = frames[min(frames)]
    match = re.fullmatch(r"(.*?)(\d+)(\.png)", first.name, flags=re.IGNORECASE)
    if match is None:
        return None
    prefix, digits, suffix = match.groups()
    width = len(digits) if digits.startswith("0") else 1
    for number, path in frames.items():
        if path.name != f"{prefix}{number:0{width}d}{suffix}":
            return None
    spec = f"%0{width}d" if width > 1 else "%d"
    return str(first.parent / prefix).replace("%", "%%") + spec + suffix


def prepare_table(
    folder: str | Path, outdir: str | Path, fps: float, modalities: Iterable[str] | None = None
) -> tuple[ValidationReport, list[dict[str, Any]]]:
    """What `cosmos prepare` shows: the validation report and one row per video to encode."""
    report, chosen = _validated(folder, modalities, raise_errors=False)
    rows = [
        {
            "modality": info.modality,
            "frames": f"{info.first}-{info.last}",
            "count": info.count,
            "size": f"{info.width}x{info.height}",
            "video_size": "x".join(map(str, _even_size(info))),
            "bit_depth": info.bit_depth,
            "fps": fps,
            "output": str(Path(outdir) / VIDEO_NAMES[info.modality]),
        }
        for info in chosen
    ]
    return report, rows


def _validated(
    folder: str | Path | RenderScan,
    modalities: Iterable[str] | None,
    raise_errors: bool = True,
) -> tuple[ValidationReport, list[ModalityInfo]]:
    """Scan and validate; the infos of the modalities to encode (all present by default)."""
    scan = folder if isinstance(folder, RenderScan) else scan_render(folder)
    wanted = None if modalities is None else [ALIASES.get(m, m) for m in modalities]
    report = validate_render(scan, wanted)
    if raise_errors and report.errors:
        raise RenderValidationError(report)
    chosen = [i for m, i in report.modalities.items() if wanted is None or m in wanted]
    return report, chosen


def _input_args(frames: dict[int, Path], fps: float, workdir: Path) -> list[str]:
    """ffmpeg input options reading the frames in order at fps."""
    pattern = image2_pattern(frames)
    if pattern is not None:
        image2 = ["-f", "image2", "-pattern_type", "sequence", "-framerate", str(fps)]
        return [*image2, "-start_number", str(min(frames)), "-i", pattern]
    listing = workdir / "frames.ffconcat"
    lines = ["ffconcat version 1.0"]
    lines += ["file '" + str(p.resolve()).replace("'", "'\\''") + "'" for p in frames.values()]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["-r", str(fps), "-f", "concat", "-safe", "0", "-i", str(listing)]


def check_settings(fps: float, crf: int, preset: str) -> None:
    """Reject settings that ffmpeg would refuse late or that browsers cannot play."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 1 <= crf <= 51:
        raise ValueError(f"crf must be within 1..51 (0 is lossless, unplayable in browsers): {crf}")
    if preset not in PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; expected one of {', '.join(PRESETS)}")


def _even_size(info: ModalityInfo) -> tuple[int, int]:
    """The video size: the frame size rounded up to even numbers."""
    return info.width + info.width % 2, info.height + info.height % 2


def _file_facts(path: Path) -> dict[str, Any]:
    """sha256 and size of a file."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def report_facts(report: ValidationReport) -> dict[str, Any]:
    """A validation report as plain data (what the pipeline's validate step writes)."""
    return {
        "folder": str(report.scan.folder),
        "modalities": {m: dataclasses.asdict(info) for m, info in report.modalities.items()},
        "ignored": report.scan.ignored,
        "warnings": report.warnings,
    }


def build_meta(
    checked: dict[str, Any], settings: dict[str, Any], videos: dict[str, Any]
) -> dict[str, Any]:
    """The content of meta.json, from report_facts(), the encode settings and each video's facts."""
    color = checked["modalities"]["color"]
    width, height = color["width"], color["height"]
    return {
        "source": str(Path(checked["folder"]).resolve()),
        "frame_range": [color["first"], color["last"]],
        "frame_count": color["count"],
        "fps": settings["fps"],
        "size": [width, height],
        "video_size": [width + width % 2, height + height % 2],
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "crf": settings["crf"],
        "preset": settings["preset"],
        "videos": videos,
        "ignored": checked["ignored"],
        "warnings": checked["warnings"],
    }
