"""Render-folder discovery and validation, on real PNG files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from cosmos_steps.frames import (
    ALIASES,
    CHUNK_FRAMES,
    PngError,
    condense_ranges,
    nearest_cosmos_size,
    read_png_header,
    scan_render,
    validate_render,
)
from tests.render_helpers import flat, truncate, write_png, write_sequence


def check(folder: Path, modalities: list[str] | None = None):
    return validate_render(scan_render(folder), modalities)


def only_error(report) -> str:
    assert len(report.errors) == 1, report.errors
    return report.errors[0]


def test_houdini_and_blender_names_with_any_padding(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 6))
    write_sequence(tmp_path, "depth_{}.png", range(1, 6), value=40)
    write_sequence(tmp_path, "segmentation_{:03d}.png", range(1, 6))
    write_sequence(tmp_path, "edge.{:06d}.png", range(1, 6), value=255)
    scan = scan_render(tmp_path)
    assert list(scan.frames) == ["color", "depth", "segmentation", "edge"]
    assert scan.frames["depth"][3] == tmp_path / "depth_3.png"
    assert scan.frames["edge"][5] == tmp_path / "edge.000005.png"
    assert scan.ignored == [] and scan.duplicates == []
    report = validate_render(scan)
    assert report.ok, report.errors
    assert {m: (i.first, i.last, i.count) for m, i in report.modalities.items()} == {
        m: (1, 5, 5) for m in ("color", "depth", "segmentation", "edge")
    }


def test_frame_numbers_are_sorted_numerically_across_paddings(tmp_path: Path) -> None:
    for n in (9, 10, 11):
        write_sequence(tmp_path, "color_{}.png" if n % 2 else "color.{:04d}.png", [n])
    scan = scan_render(tmp_path)
    assert list(scan.frames["color"]) == [9, 10, 11]
    assert check(tmp_path).ok


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_map_to_their_modality(tmp_path: Path, alias: str) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 4))
    write_sequence(tmp_path, alias.upper() + "_{:04d}.PNG", range(1, 4))
    scan = scan_render(tmp_path)
    modality = ALIASES[alias]
    assert len(scan.frames[modality]) == 3
    assert scan.ignored == []
    if modality == "color":
        assert len(scan.duplicates) == 3
    else:
        assert check(tmp_path).ok


def test_other_entries_are_listed_as_ignored_not_dropped(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 3))
    others = ["beauty.0001.png", "color.png", "color.0001.exr", "color.0001.png.bak", "notes.txt"]
    for name in others:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "depth.0001.png").mkdir()
    scan = scan_render(tmp_path)
    assert sorted(scan.ignored) == sorted([*others, "depth.0001.png/"])
    assert list(scan.frames) == ["color"]
    report = validate_render(scan)
    assert report.ok, report.errors
    note = next(n for n in report.notes if "ignored" in n)
    assert all(name in note for name in [*others, "depth.0001.png/"])


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="render folder not found"):
        scan_render(tmp_path / "nope")


def test_no_color_frames_is_an_error(tmp_path: Path) -> None:
    write_sequence(tmp_path, "depth.{:04d}.png", range(1, 4), value=10)
    message = only_error(check(tmp_path))
    assert "no color frames" in message and "rgb" in message


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert "no color frames" in only_error(check(tmp_path))


def test_gaps_are_listed_as_ranges(tmp_path: Path) -> None:
    numbers = [n for n in range(1, 51) if not 12 <= n <= 15 and n != 40]
    write_sequence(tmp_path, "color.{:04d}.png", numbers)
    message = only_error(check(tmp_path))
    assert message == "color: 5 missing frame(s) in 1-50: 12-15, 40"


def test_a_stray_huge_frame_number_is_a_gap_not_a_memory_blowup(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", [1, 2, 3, 20240101])
    message = only_error(check(tmp_path))
    assert message == "color: 20240097 missing frame(s) in 1-20240101: 4-20240100"


@pytest.mark.parametrize(
    ("numbers", "text"),
    [
        ([12, 13, 14, 15, 40], "12-15, 40"),
        ([3], "3"),
        ([5, 1, 2, 2, 9, 8], "1-2, 5, 8-9"),
        ([], ""),
    ],
)
def test_condense_ranges(numbers: list[int], text: str) -> None:
    assert condense_ranges(numbers) == text


def test_modalities_with_different_frame_ranges(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 11))
    write_sequence(tmp_path, "depth.{:04d}.png", range(3, 13), value=5)
    message = only_error(check(tmp_path))
    assert message == "depth: frame range 3-12 differs from color's 1-10"


def test_frames_of_different_sizes_within_a_modality(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 8))
    write_sequence(tmp_path, "color.{:04d}.png", [3, 6], size=(20, 8))
    message = only_error(check(tmp_path))
    assert "color: frames differ in size: most are 16x8" in message
    assert "color.0003.png (20x8)" in message and "color.0006.png (20x8)" in message
    assert "color.0001.png" not in message


def test_frames_of_different_sizes_across_modalities(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 4))
    write_sequence(tmp_path, "seg.{:04d}.png", range(1, 4), size=(8, 4))
    message = only_error(check(tmp_path))
    assert message == "segmentation: frames are 8x4 but color frames are 16x8"


def test_unreadable_and_truncated_pngs_are_named(tmp_path: Path) -> None:
    paths = write_sequence(tmp_path, "color.{:04d}.png", range(1, 7))
    truncate(paths[1], paths[1].stat().st_size - 20)
    truncate(paths[2], 20)
    paths[3].write_bytes(b"this is not a png at all, but long enough to be read")
    paths[4].write_bytes(b"")
    corrupt = bytearray(paths[5].read_bytes())
    corrupt[16:20] = struct.pack(">I", 99)  # width changed without fixing the IHDR checksum
    paths[5].write_bytes(bytes(corrupt))
    message = only_error(check(tmp_path))
    assert message.startswith("color: 5 unreadable PNG(s): ")
    assert "color.0002.png: truncated" in message
    assert "color.0003.png: truncated (ends inside the header)" in message
    assert "color.0004.png: not a PNG file" in message
    assert "color.0005.png: empty file" in message
    assert "color.0006.png: IHDR checksum mismatch" in message
    assert "color.0001.png" not in message


def test_read_png_header(tmp_path: Path) -> None:
    rgb = read_png_header(write_png(tmp_path / "a.png", flat((7, 5), (1, 2, 3))))
    assert (rgb.width, rgb.height, rgb.bit_depth, rgb.color_type, rgb.has_alpha) == (
        7,
        5,
        8,
        2,
        False,
    )
    grey16 = read_png_header(write_png(tmp_path / "b.png", flat((4, 3), 1000, np.uint16)))
    assert (grey16.bit_depth, grey16.color_type) == (16, 0)
    rgba = read_png_header(write_png(tmp_path / "c.png", flat((4, 3), (1, 2, 3, 4))))
    assert rgba.has_alpha
    with pytest.raises(PngError, match="cannot read"):
        read_png_header(tmp_path / "missing.png")


def test_sixteen_bit_depth_is_accepted_with_a_note(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 4))
    for n in range(1, 4):
        write_png(tmp_path / f"depth.{n:04d}.png", flat((16, 8), 40000 + n, np.uint16))
    report = check(tmp_path)
    assert report.ok, report.errors
    assert report.modalities["depth"].bit_depth == 16
    assert any("16-bit" in n and "min..max" in n for n in report.notes)


def test_mixed_bit_depths_are_an_error(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 5))
    write_sequence(tmp_path, "depth.{:04d}.png", range(1, 5), value=7)
    write_png(tmp_path / "depth.0002.png", flat((16, 8), 700, np.uint16))
    message = only_error(check(tmp_path))
    assert (
        message == "depth: frames differ in bit depth: most are 8-bit, but depth.0002.png (16-bit)"
    )


@pytest.mark.parametrize(
    "names", [("color.0001.png", "color_1.png"), ("color.0001.png", "rgb.0001.png")]
)
def test_two_files_for_one_frame_are_an_error_naming_both(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(2, 4))
    for name in names:
        write_png(tmp_path / name, flat((16, 8), (1, 2, 3)))
    message = only_error(check(tmp_path))
    assert message == f"several files give the same frame: {names[0]}, {names[1]}"


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    color = write_sequence(tmp_path, "color.{:04d}.png", [1, 2, 3, 5, 6])
    truncate(color[1], 40)
    write_png(tmp_path / "color_6.png", flat((16, 8), (1, 2, 3)))
    write_sequence(tmp_path, "depth.{:04d}.png", range(1, 5), size=(8, 8), value=3)
    write_sequence(tmp_path, "edge.{:04d}.png", [1, 2, 3, 5, 6], value=255)
    write_png(tmp_path / "edge.0003.png", flat((16, 8), 255, np.uint16))
    errors = check(tmp_path).errors
    assert len(errors) == 7, errors
    joined = "\n".join(errors)
    for fragment in (
        "color: 1 unreadable PNG(s): color.0002.png: truncated",
        "color: 1 missing frame(s) in 1-6: 4",
        "several files give the same frame: color.0006.png, color_6.png",
        "depth: frame range 1-4 differs from color's 1-6",
        "depth: frames are 8x8 but color frames are 16x8",
        "edge: 1 missing frame(s) in 1-6: 4",
        "edge: frames differ in bit depth: most are 8-bit, but edge.0003.png (16-bit)",
    ):
        assert fragment in joined


def test_requested_modalities(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 4))
    write_sequence(tmp_path, "depth.{:04d}.png", range(1, 3), value=3)
    assert check(tmp_path, ["color"]).ok
    assert list(check(tmp_path, ["color"]).modalities) == ["color"]
    assert "no segmentation frames" in only_error(check(tmp_path, ["color", "seg"]))
    assert "depth: frame range" in only_error(check(tmp_path, ["depth"]))
    with pytest.raises(ValueError, match="unknown modalities"):
        check(tmp_path, ["normals"])


def test_fewer_than_one_chunk_of_frames_warns(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, 11), size=(32, 32))
    (warning,) = check(tmp_path).warnings
    assert warning.startswith("only 10 frames") and str(CHUNK_FRAMES) in warning


def test_one_chunk_of_frames_at_a_cosmos_size_has_no_warning(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(1, CHUNK_FRAMES + 1), size=(40, 22))
    report = check(tmp_path)
    assert report.ok and report.warnings == [] and report.notes == []


@pytest.mark.parametrize(
    ("size", "warned"),
    [
        ((160, 88), False),
        ((1920, 1080), False),
        ((64, 64), False),
        ((30, 40), False),
        ((90, 20), True),
        ((60, 40), True),
        ((20, 90), True),
    ],
)
def test_aspect_ratio_far_from_cosmos_sizes_warns(
    tmp_path: Path, size: tuple[int, int], warned: bool
) -> None:
    write_png(tmp_path / "color.0001.png", flat(size, 9))
    warnings = [w for w in check(tmp_path).warnings if "aspect" in w]
    assert bool(warnings) == warned, warnings
    if warned:
        width, height = nearest_cosmos_size(*size)
        assert f"{width}x{height}" in warnings[0]


def test_nearest_cosmos_size() -> None:
    assert nearest_cosmos_size(1920, 1080) == (1280, 704)
    assert nearest_cosmos_size(640, 480) == (960, 704)
    assert nearest_cosmos_size(1080, 1920) == (704, 1280)
    assert nearest_cosmos_size(500, 510) == (960, 960)
    assert nearest_cosmos_size(480, 640) == (704, 960)


def test_odd_dimensions_and_alpha_warn(tmp_path: Path) -> None:
    write_png(tmp_path / "color.0001.png", flat((33, 19), (1, 2, 3, 255)))
    warnings = check(tmp_path).warnings
    assert any("odd frame size 33x19" in w and "34x20" in w for w in warnings), warnings
    assert any(w.startswith("color: PNGs have an alpha channel") for w in warnings), warnings
