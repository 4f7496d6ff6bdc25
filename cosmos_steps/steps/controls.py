"""encode_controls: a render folder of PNG sequences -> validated control videos + meta.json.

Three steps, so every problem is reported before any encoding and the modalities encode in
parallel: validate (all problems at once) -> encode one modality (one ffmpeg process) -> meta.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos_steps import db, encode, frames
from cosmos_steps.files import read_json, sha256_file, write_json
from cosmos_steps.progress import Reporter


class RenderProblems(Exception):
    """The render folder cannot be encoded; the message lists every problem."""


def validate(folder: Path, out: Path, reporter: Reporter) -> None:
    """Check the folder; write the report (ignored files, warnings, per-modality facts) to `out`."""
    report = frames.validate_render(frames.scan_render(folder))
    for name in report.scan.ignored:
        reporter.say(f"ignored (not a control frame name): {folder / name}")
    for warning in report.warnings:
        reporter.say(f"warning: {warning}")
    if report.errors:
        raise RenderProblems("\n".join(f"{folder}: {error}" for error in report.errors))
    write_json(out, encode.report_facts(report))
    reporter.say(f"{folder}: {', '.join(report.modalities)} ok ({len(report.warnings)} warnings)")


def encode_one(folder: Path, video: Path, settings: dict[str, Any], log: Path) -> None:
    """Encode the modality named by the video's file stem; its facts go to `<video>.json`."""
    modality = video.stem
    extra = encode.encode_modality(
        frames.scan_render(folder),
        modality,
        video,
        fps=settings["fps"],
        crf=settings["crf"],
        preset=settings["preset"],
        ffmpeg=settings["ffmpeg"],
        log=log,
    )
    write_json(video.with_suffix(".json"), {"file": video.name, **extra})


def write_meta(
    validation: Path, videos: list[Path], settings: dict[str, Any], out: Path, database: Any
) -> None:
    """meta.json (frames, fps, size, source, sha256 of each video); the videos as artifacts."""
    checked = read_json(validation)
    facts = {}
    for video in videos:
        facts[video.stem] = {
            **read_json(video.with_suffix(".json")),
            "sha256": sha256_file(video),
            "bytes": video.stat().st_size,
        }
    meta = encode.build_meta(checked, settings, facts)
    write_json(out, meta)
    db.add_artifacts(
        database,
        [
            {
                "kind": "control_video",
                "path": str(video),
                "sha256": facts[video.stem]["sha256"],
                "bytes": facts[video.stem]["bytes"],
            }
            for video in videos
        ],
    )
