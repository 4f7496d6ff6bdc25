"""Discovery and validation of a render folder of PNG control passes.

Accepted file names (case-insensitive), in a flat folder:

* ``<modality>.<frame>.png`` (Houdini ``color.$F4.png``) or ``<modality>_<frame>.png``
  (Blender ``color_####.png``), with any zero padding, mixed or none (``color_7.png``);
* modalities and aliases: ``color`` (``rgb``, ``vis``), ``depth``, ``segmentation`` (``seg``),
  ``edge`` (``canny``).

Everything else in the folder (other names, unknown modalities, sub-folders) is listed in
``RenderScan.ignored`` and reported as a note, never dropped silently.

Validation reads PNG headers only, never pixel data: the IHDR chunk (checksum included) gives
size, bit depth and colour type, and a file that does not end with the 12-byte IEND chunk is
reported as truncated. Every problem is collected and reported at once, naming the files.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import struct
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

MODALITIES = ("color", "depth", "segmentation", "edge")
"""Canonical modality names, in the order they are reported and encoded."""

ALIASES = {
    "color": "color",
    "rgb": "color",
    "vis": "color",
    "depth": "depth",
    "segmentation": "segmentation",
    "seg": "segmentation",
    "edge": "edge",
    "canny": "edge",
}
"""Accepted spellings of each modality in file names."""

COSMOS_SIZES = ((1280, 704), (704, 1280), (960, 960), (960, 704), (704, 960))
"""The sizes Cosmos Transfer resizes every input to (nearest aspect ratio wins)."""

CHUNK_FRAMES = 121
"""Frames in one Cosmos chunk; shorter inputs give noisy results."""

ASPECT_TOLERANCE = 0.05
"""Relative aspect-ratio difference to the nearest Cosmos size above which we warn."""

_NAME = re.compile(r"(?P<modality>[a-z]+)[._](?P<digits>\d+)\.png", re.IGNORECASE)
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_NAMES_SHOWN = 10
_T = TypeVar("_T", tuple[int, int], int)


class PngError(ValueError):
    """A file is not a readable, complete PNG."""


@dataclasses.dataclass(frozen=True)
class PngHeader:
    """What the IHDR chunk of a PNG says."""

    width: int
    height: int
    bit_depth: int
    color_type: int

    @property
    def has_alpha(self) -> bool:
        return self.color_type in (4, 6)


@dataclasses.dataclass
class RenderScan:
    """The control frames found in a render folder."""

    folder: Path
    frames: dict[str, dict[int, Path]]
    """modality -> {frame number: file}, modalities in MODALITIES order, frames sorted."""
    duplicates: list[list[Path]]
    """Groups of files that name the same modality and frame (only the first is in frames)."""
    ignored: list[str]
    """Names of folder entries that are not control frames (sub-folders end with "/")."""


@dataclasses.dataclass(frozen=True)
class ModalityInfo:
    """One modality's frame sequence, as validated."""

    modality: str
    first: int
    last: int
    count: int
    width: int
    height: int
    bit_depth: int
    has_alpha: bool


@dataclasses.dataclass
class ValidationReport:
    """Everything wrong (errors), risky for Cosmos (warnings) or worth knowing (notes)."""

    scan: RenderScan
    modalities: dict[str, ModalityInfo] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_png_header(path: Path) -> PngHeader:
    """Parse the IHDR chunk of a PNG and check that the file ends with IEND."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
            if not head or not _SIGNATURE.startswith(head[:8]):
                raise PngError("not a PNG file" if head else "empty file")
            if len(head) < 33:
                raise PngError("truncated (ends inside the header)")
            if head[8:16] != b"\x00\x00\x00\x0dIHDR":
                raise PngError("first chunk is not IHDR")
            if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
                raise PngError("IHDR checksum mismatch")
            fh.seek(-len(_IEND), os.SEEK_END)
            if fh.read() != _IEND:
                raise PngError("truncated (no IEND chunk at the end)")
    except OSError as exc:
        raise PngError(f"cannot read ({exc.strerror or exc})") from exc
    width, height, depth, color_type = struct.unpack(">IIBB", head[16:26])
    if not width or not height or depth not in _BIT_DEPTHS.get(color_type, ()):
        raise PngError(f"invalid IHDR (size {width}x{height}, depth {depth}, type {color_type})")
    return PngHeader(width, height, depth, color_type)


def scan_render(folder: str | Path) -> RenderScan:
    """List the control frames of a render folder by name (no file is opened)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"render folder not found: {folder}")
    found: dict[tuple[str, int], list[Path]] = defaultdict(list)
    ignored: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        match = _NAME.fullmatch(entry.name)
        modality = ALIASES.get(match["modality"].lower()) if match else None
        if modality is None or not entry.is_file():
            ignored.append(entry.name + ("/" if entry.is_dir() else ""))
        else:
            found[(modality, int(match["digits"]))].append(entry)
    frames: dict[str, dict[int, Path]] = {m: {} for m in MODALITIES}
    for (modality, number), paths in sorted(found.items()):
        frames[modality][number] = paths[0]
    return RenderScan(
        folder=folder,
        frames={m: seq for m, seq in frames.items() if seq},
        duplicates=[paths for _, paths in sorted(found.items()) if len(paths) > 1],
        ignored=ignored,
    )


def validate_render(scan: RenderScan, modalities: Iterable[str] | None = None) -> ValidationReport:
    """Check a scanned render folder; modalities limits the check (color is always checked)."""
    report = ValidationReport(scan)
    selected = _select(scan, modalities, report)
    for modality in selected:
        info = _check_sequence(modality, scan.frames[modality], report)
        if info is not None:
            report.modalities[modality] = info
    for paths in scan.duplicates:
        report.errors.append(
            f"several files give the same frame: {_listing([p.name for p in paths])}"
        )
    _check_across(report)
    _warn_for_cosmos(report)
    if scan.ignored:
        report.notes.append(
            f"ignored, not control frames ({len(scan.ignored)}): {_listing(scan.ignored)}"
        )
    return report


def condense_ranges(numbers: Iterable[int]) -> str:
    """Write sorted numbers as ranges: [12, 13, 14, 15, 40] -> "12-15, 40"."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return _runs_text(runs)


def nearest_cosmos_size(width: int, height: int) -> tuple[int, int]:
    """The Cosmos size whose aspect ratio is closest (in log scale) to width/height."""
    aspect = math.log(width / height)
    return min(COSMOS_SIZES, key=lambda s: abs(math.log(s[0] / s[1]) - aspect))


def _select(
    scan: RenderScan, modalities: Iterable[str] | None, report: ValidationReport
) -> list[str]:
    """The present modalities to check; report the required or requested ones that are absent."""
    if modalities is None:
        wanted = set(scan.frames) | {"color"}
    else:
        wanted = {"color", *(ALIASES.get(m, m) for m in modalities)}
        unknown = sorted(wanted - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; expected some of {MODALITIES}")
    for modality in MODALITIES:
        if modality in wanted and modality not in scan.frames:
            aliases = "/".join(a for a, m in ALIASES.items() if m == modality)
            report.errors.append(
                f"no {modality} frames in {scan.folder} (expected names like "
                f"{modality}.0001.png or {modality}_0001.png; accepted: {aliases})"
            )
    return [m for m in MODALITIES if m in wanted and m in scan.frames]


def _check_sequence(
    modality: str, frames: dict[int, Path], report: ValidationReport
) -> ModalityInfo | None:
    """Check one modality's files; return its description unless no file is readable."""
    headers: dict[int, PngHeader] = {}
    unreadable: list[str] = []
    for number, path in frames.items():
        try:
            headers[number] = read_png_header(path)
        except PngError as exc:
            unreadable.append(f"{path.name}: {exc}")
    if unreadable:
        report.errors.append(
            f"{modality}: {len(unreadable)} unreadable PNG(s): {_listing(unreadable, '; ')}"
        )
    numbers = list(frames)
    first, last = numbers[0], numbers[-1]
    gaps = [(a + 1, b - 1) for a, b in pairwise(numbers) if b - a > 1]
    if gaps:
        report.errors.append(
            f"{modality}: {last - first + 1 - len(numbers)} missing frame(s) in {first}-{last}: "
            f"{_runs_text(gaps)}"
        )
    if not headers:
        return None
    size = _majority(
        report, modality, frames, {n: (h.width, h.height) for n, h in headers.items()}, "size"
    )
    depth = _majority(
        report, modality, frames, {n: h.bit_depth for n, h in headers.items()}, "bit depth"
    )
    has_alpha = any(h.has_alpha for h in headers.values())
    return ModalityInfo(modality, first, last, len(frames), *size, depth, has_alpha)


def _majority(
    report: ValidationReport,
    modality: str,
    frames: dict[int, Path],
    values: dict[int, _T],
    what: str,
) -> _T:
    """The most common value; report the files whose value differs from it."""
    common = Counter(values.values()).most_common(1)[0][0]
    odd = [f"{frames[n].name} ({_show(v)})" for n, v in values.items() if v != common]
    if odd:
        report.errors.append(
            f"{modality}: frames differ in {what}: most are {_show(common)}, but {_listing(odd)}"
        )
    return common


def _show(value: object) -> str:
    """A size tuple as WxH, a bit depth as N-bit."""
    return "x".join(map(str, value)) if isinstance(value, tuple) else f"{value}-bit"


def _check_across(report: ValidationReport) -> None:
    """Every modality must cover color's frame range at color's size."""
    color = report.modalities.get("color")
    if color is None:
        return
    for info in report.modalities.values():
        if info is color:
            continue
        if (info.first, info.last) != (color.first, color.last):
            report.errors.append(
                f"{info.modality}: frame range {info.first}-{info.last} differs from "
                f"color's {color.first}-{color.last}"
            )
        if (info.width, info.height) != (color.width, color.height):
            report.errors.append(
                f"{info.modality}: frames are {info.width}x{info.height} but color frames "
                f"are {color.width}x{color.height}"
            )


def _warn_for_cosmos(report: ValidationReport) -> None:
    """Warnings about what Cosmos handles badly, and notes on how inputs are converted."""
    color = report.modalities.get("color")
    if color is not None:
        _warn_geometry(color, report)
    for info in report.modalities.values():
        if info.has_alpha:
            report.warnings.append(
                f"{info.modality}: PNGs have an alpha channel, which the video drops"
            )
        if info.modality == "depth" and info.bit_depth == 16:
            report.notes.append(
                "depth: 16-bit PNGs are normalised to 8 bits by mapping the sequence's "
                "min..max to 0..255 (see docs/control-inputs.md)"
            )


def _warn_geometry(color: ModalityInfo, report: ValidationReport) -> None:
    """Frame count, aspect ratio and parity of the frame size."""
    if color.count < CHUNK_FRAMES:
        report.warnings.append(
            f"only {color.count} frames: Cosmos works in chunks of {CHUNK_FRAMES} frames "
            "and gives noisy results below one chunk"
        )
    width, height = color.width, color.height
    target = nearest_cosmos_size(width, height)
    off = abs((width / height) / (target[0] / target[1]) - 1)
    if off > ASPECT_TOLERANCE:
        report.warnings.append(
            f"aspect ratio of {width}x{height} is {off:.0%} away from the nearest Cosmos size "
            f"{target[0]}x{target[1]}; Cosmos will stretch the frames to it"
        )
    if width % 2 or height % 2:
        report.warnings.append(
            f"odd frame size {width}x{height}: the videos are padded to "
            f"{width + width % 2}x{height + height % 2} by repeating the last column/row"
        )


def _runs_text(runs: Iterable[Sequence[int]]) -> str:
    """Inclusive (first, last) runs as "12-15, 40"."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _listing(items: Sequence[str], separator: str = ", ") -> str:
    """The first _NAMES_SHOWN items joined, with "(+N more)" for the rest."""
    more = len(items) - _NAMES_SHOWN
    return separator.join(items[:_NAMES_SHOWN]) + (f" (+{more} more)" if more > 0 else "")
