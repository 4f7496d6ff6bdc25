"""Encoding render folders with the real ffmpeg, checked with ffprobe when present."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cosmos_steps import ffmpeg as ffmpeg_module
from cosmos_steps.demo_render import write_demo_render
from cosmos_steps.encode import (
    SEGMENTATION_CRF,
    RenderValidationError,
    encode_modality,
    encode_render,
    image2_pattern,
    prepare_table,
)
from cosmos_steps.ffmpeg import (
    FfmpegError,
    FfmpegNotFoundError,
    ffmpeg_exe,
    parse_stream_line,
    probe,
)
from cosmos_steps.frames import scan_render
from tests.render_helpers import flat, truncate, write_png, write_sequence

FFPROBE = shutil.which("ffprobe")
SYSTEM_FFMPEG = shutil.which("ffmpeg")
ALL = ["color", "depth", "segmentation", "edge"]


def facts(path: Path) -> dict[str, object]:
    """Codec, pixel format, size, fps and exact frame count: ffprobe's view, else probe()'s."""
    if FFPROBE is None:
        info = probe(path)
        return {
            "codec": info.codec,
            "pix_fmt": info.pix_fmt,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frames": info.frames,
        }
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames,profile",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    num, den = map(int, stream["r_frame_rate"].split("/"))
    assert stream["profile"] == "High"
    keys = ("codec_name", "pix_fmt", "width", "height")
    codec, pix_fmt, width, height = (stream[k] for k in keys)
    frames = int(stream["nb_read_frames"])
    return {
        "codec": codec,
        "pix_fmt": pix_fmt,
        "width": width,
        "height": height,
        "fps": num / den,
        "frames": frames,
    }


def decode(path: Path, pix_fmt: str = "rgb24") -> np.ndarray:
    """All frames of a video as uint8 arrays (frames, height, width, channels)."""
    info = probe(path)
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
        capture_output=True,
        check=True,
    ).stdout
    channels = 3 if pix_fmt == "rgb24" else 1
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, channels)


def interior(image: np.ndarray, margin: int = 2) -> np.ndarray:
    """Pixels whose (2*margin+1)^2 neighbourhood has the same colour as they do."""
    same = np.ones(image.shape[:2], dtype=bool)
    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    for dy in range(2 * margin + 1):
        for dx in range(2 * margin + 1):
            same &= (padded[dy : dy + height, dx : dx + width] == image).all(axis=-1)
    return same


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    render = tmp_path_factory.mktemp("render")
    write_demo_render(render, frames=12, size=(64, 36))
    outdir = tmp_path_factory.mktemp("controls")
    meta = encode_render(render, outdir, fps=24)
    return render, outdir, meta


@pytest.mark.parametrize("modality", ALL)
def test_videos_are_browser_h264_with_exact_frames_fps_and_size(
    encoded: tuple[Path, Path, dict], modality: str
) -> None:
    _, outdir, _ = encoded
    assert facts(outdir / f"{modality}.mp4") == {
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "width": 64,
        "height": 36,
        "fps": 24.0,
        "frames": 12,
    }


def test_output_folder_holds_only_the_videos_and_meta(encoded: tuple[Path, Path, dict]) -> None:
    _, outdir, _ = encoded
    names = sorted(p.name for p in outdir.iterdir())
    assert names == sorted([f"{m}.mp4" for m in ALL] + ["meta.json"])


def test_meta_json(encoded: tuple[Path, Path, dict]) -> None:
    render, outdir, meta = encoded
    assert json.loads((outdir / "meta.json").read_text()) == meta
    assert meta["source"] == str(render.resolve())
    assert (meta["frame_range"], meta["frame_count"], meta["fps"]) == ([1, 12], 12, 24)
    assert (meta["size"], meta["video_size"]) == ([64, 36], [64, 36])
    assert (meta["codec"], meta["pix_fmt"], meta["crf"], meta["preset"]) == (
        "h264",
        "yuv420p",
        18,
        "medium",
    )
    assert list(meta["videos"]) == ALL
    for modality, video in meta["videos"].items():
        data = (outdir / f"{modality}.mp4").read_bytes()
        assert video["file"] == f"{modality}.mp4"
        assert video["sha256"] == hashlib.sha256(data).hexdigest()
        assert video["bytes"] == len(data)
    assert meta["videos"]["segmentation"]["crf"] == SEGMENTATION_CRF
    assert meta["videos"]["color"]["crf"] == 18
    assert any("only 12 frames" in w for w in meta["warnings"])


def test_segmentation_label_colours_survive(encoded: tuple[Path, Path, dict]) -> None:
    render, outdir, _ = encoded
    frames = decode(outdir / "segmentation.mp4").astype(int)
    for index in (0, 6, 11):
        source = np.asarray(Image.open(render / f"segmentation.{index + 1:04d}.png"))
        inside = interior(source)
        error = np.abs(frames[index] - source.astype(int)).max(axis=-1)
        assert inside.mean() > 0.5
        assert error[inside].max() <= 12, error[inside].max()
        assert (error < 40).mean() > 0.9


def test_color_is_reproduced_through_the_tagged_bt601_conversion(tmp_path: Path) -> None:
    patches = np.zeros((32, 64, 3), np.uint8)
    colours = [(220, 30, 40), (30, 200, 60), (40, 60, 210), (240, 240, 240)]
    for i, rgb in enumerate(colours):
        patches[:, i * 16 : (i + 1) * 16] = rgb
    for n in range(1, 4):
        write_png(tmp_path / "render" / f"color.{n:04d}.png", patches)
    encode_render(tmp_path / "render", tmp_path / "out", fps=24, crf=10)
    frame = decode(tmp_path / "out" / "color.mp4")[1].astype(int)
    inside = interior(patches, margin=3)
    assert np.abs(frame - patches.astype(int)).max(axis=-1)[inside].max() <= 6


def test_sixteen_bit_depth_keeps_levels_that_truncation_merges(tmp_path: Path) -> None:
    render = tmp_path / "render"
    write_sequence(render, "color.{:04d}.png", range(1, 6), size=(64, 32))
    ramp = 5000 + 3 * np.arange(64)
    for n in range(1, 6):
        write_png(render / f"depth.{n:04d}.png", np.tile(ramp + n, (32, 1)).astype(np.uint16))
    assert len(np.unique((ramp + 1) >> 8)) <= 2  # keeping the high byte: at most 2 levels
    meta = encode_render(render, tmp_path / "out", fps=24, crf=1)
    assert meta["videos"]["depth"]["depth_range"] == [5001, 5000 + 3 * 63 + 5]
    row = decode(tmp_path / "out" / "depth.mp4", "gray")[2][16, :, 0].astype(int)
    assert len(np.unique(row)) >= 50
    assert np.all(np.diff(row) >= -2), row
    assert row[0] <= 8 and row[-1] >= 240


def test_odd_dimensions_are_padded_by_repeating_the_last_row_and_column(tmp_path: Path) -> None:
    render = tmp_path / "render"
    image = flat((33, 19), (40, 60, 200))
    image[:, -1] = (200, 40, 40)
    image[-1, :] = (40, 200, 40)
    for modality in ("color", "segmentation"):
        for n in range(1, 4):
            write_png(render / f"{modality}.{n:04d}.png", image)
    meta = encode_render(render, tmp_path / "out", fps=12)
    assert meta["video_size"] == [34, 20]
    for modality in ("color", "segmentation"):
        assert facts(tmp_path / "out" / f"{modality}.mp4")["width"] == 34
        frame = decode(tmp_path / "out" / f"{modality}.mp4")[1].astype(int)
        assert np.abs(frame[2:16, 33] - np.array([200, 40, 40])).max() <= 16
        assert np.abs(frame[19, 2:30] - np.array([40, 200, 40])).max() <= 16


def test_mixed_padding_is_read_in_frame_order(tmp_path: Path) -> None:
    render = tmp_path / "render"
    for n in range(1, 9):
        name = f"color.{n:04d}.png" if n % 2 else f"rgb_{n}.png"
        write_sequence(render, name, [n], value=n * 25)
    scan = scan_render(render)
    assert image2_pattern(scan.frames["color"]) is None
    encode_render(render, tmp_path / "out", fps=30)
    info = facts(tmp_path / "out" / "color.mp4")
    assert (info["frames"], info["fps"]) == (8, 30.0)
    means = decode(tmp_path / "out" / "color.mp4", "gray").mean(axis=(1, 2, 3))
    assert np.abs(means - 25 * np.arange(1, 9)).max() <= 6, means


def test_unpadded_numbers_from_any_start_in_a_folder_with_percent(tmp_path: Path) -> None:
    render = tmp_path / "50%_render"
    for n in range(998, 1004):
        write_sequence(render, "color_{}.png", [n], value=(n - 995) * 20)
    frames = scan_render(render).frames["color"]
    assert image2_pattern(frames) == str(render).replace("%", "%%") + "/color_%d.png"
    encode_render(render, tmp_path / "out", fps=24)
    means = decode(tmp_path / "out" / "color.mp4", "gray").mean(axis=(1, 2, 3))
    assert np.abs(means - 20 * np.arange(3, 9)).max() <= 6, means


def test_image2_pattern_for_houdini_padding(tmp_path: Path) -> None:
    write_sequence(tmp_path, "color.{:04d}.png", range(9, 12))
    assert image2_pattern(scan_render(tmp_path).frames["color"]) == f"{tmp_path}/color.%04d.png"


def test_validation_errors_are_raised_before_anything_is_written(tmp_path: Path) -> None:
    render = tmp_path / "render"
    paths = write_sequence(render, "color.{:04d}.png", [1, 2, 4])
    truncate(paths[0], 30)
    with pytest.raises(RenderValidationError) as caught:
        encode_render(render, tmp_path / "out", fps=24)
    message = str(caught.value)
    assert "color.0001.png: truncated" in message and "missing frame(s) in 1-4: 3" in message
    assert len(caught.value.report.errors) == 2
    assert not (tmp_path / "out").exists()


def test_a_failed_encode_leaves_no_video_and_no_meta(tmp_path: Path) -> None:
    render = tmp_path / "render"
    write_demo_render(render, frames=4, size=(32, 18))
    data = bytearray((render / "color.0003.png").read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 30] = bytes(b ^ 0x5A for b in data[start : start + 30])
    (render / "color.0003.png").write_bytes(bytes(data))  # header and IEND intact
    out = tmp_path / "out"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    with pytest.raises(FfmpegError):
        encode_render(render, out, fps=24)
    assert list(out.iterdir()) == []


def test_one_ffmpeg_process_per_modality(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(argv)
        return real_run(argv, **kwargs)

    monkeypatch.setattr(ffmpeg_module.subprocess, "run", counting_run)
    write_demo_render(tmp_path / "r8", frames=3, size=(32, 18))
    encode_render(tmp_path / "r8", tmp_path / "o8", fps=24)
    assert len(calls) == 4
    assert all("-i" in argv and "libx264" in argv for argv in calls)
    calls.clear()
    write_demo_render(tmp_path / "r16", frames=3, size=(32, 18), depth16=True)
    meta = encode_render(tmp_path / "r16", tmp_path / "o16", fps=24)
    assert len(calls) == 5  # the 16-bit depth range is measured by one more ffmpeg run
    assert meta["videos"]["depth"]["depth_range"][0] == 0


def test_requested_modalities_only(tmp_path: Path) -> None:
    write_demo_render(tmp_path / "render", frames=3, size=(32, 18))
    meta = encode_render(tmp_path / "render", tmp_path / "out", fps=24, modalities=["rgb", "seg"])
    assert list(meta["videos"]) == ["color", "segmentation"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "color.mp4",
        "meta.json",
        "segmentation.mp4",
    ]


def test_encode_modality_alone_validates_and_logs(tmp_path: Path) -> None:
    write_demo_render(tmp_path / "render", frames=3, size=(32, 18))
    scan = scan_render(tmp_path / "render")
    log = tmp_path / "ffmpeg.log"
    extra = encode_modality(scan, "edge", tmp_path / "edge.mp4", fps=8, crf=30, log=log)
    assert extra == {"crf": 30}
    assert facts(tmp_path / "edge.mp4")["frames"] == 3
    assert "libx264" in log.read_text()
    (tmp_path / "render" / "depth.0002.png").unlink()  # another modality: not checked here
    encode_modality(scan_render(tmp_path / "render"), "edge", tmp_path / "e2.mp4", fps=8)
    (tmp_path / "render" / "edge.0002.png").unlink()
    with pytest.raises(RenderValidationError, match="edge: 1 missing frame"):
        encode_modality(scan_render(tmp_path / "render"), "edge", tmp_path / "e2.mp4", fps=8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crf": 0}, "crf"),
        ({"crf": 52}, "crf"),
        ({"preset": "fastest"}, "preset"),
        ({"fps": 0}, "fps"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    write_demo_render(tmp_path / "render", frames=2, size=(32, 18))
    with pytest.raises(ValueError, match=match):
        encode_render(tmp_path / "render", tmp_path / "out", **{"fps": 24, **kwargs})
    assert not (tmp_path / "out").exists()


def test_prepare_table(tmp_path: Path) -> None:
    write_demo_render(tmp_path / "render", frames=2, size=(33, 18))
    report, rows = prepare_table(tmp_path / "render", tmp_path / "out", fps=24)
    assert report.ok
    assert [r["modality"] for r in rows] == ALL
    assert rows[2] == {
        "modality": "segmentation",
        "frames": "1-2",
        "count": 2,
        "size": "33x18",
        "video_size": "34x18",
        "bit_depth": 8,
        "fps": 24,
        "output": str(tmp_path / "out" / "segmentation.mp4"),
    }
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(SYSTEM_FFMPEG is None, reason="no system ffmpeg")
def test_a_system_ffmpeg_can_be_configured(tmp_path: Path) -> None:
    write_demo_render(tmp_path / "render", frames=3, size=(32, 18), depth16=True)
    meta = encode_render(tmp_path / "render", tmp_path / "out", fps=24, ffmpeg="ffmpeg")
    assert list(meta["videos"]) == ALL
    assert probe(tmp_path / "out" / "depth.mp4", ffmpeg=SYSTEM_FFMPEG).frames == 3


def test_ffmpeg_exe(tmp_path: Path) -> None:
    assert Path(ffmpeg_exe("auto")).is_file()
    assert ffmpeg_exe(ffmpeg_exe("auto")) == ffmpeg_exe("auto")
    with pytest.raises(FfmpegNotFoundError, match="not found"):
        ffmpeg_exe("no-such-ffmpeg-binary")
    (tmp_path / "ffmpeg").write_text("not executable")
    with pytest.raises(FileNotFoundError):
        ffmpeg_exe(str(tmp_path / "ffmpeg"))


def test_probe_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_text("hello")
    with pytest.raises(FfmpegError, match="cannot probe"):
        probe(tmp_path / "x.mp4")


@pytest.mark.skipif(FFPROBE is None, reason="no ffprobe to compare with")
def test_probe_agrees_with_ffprobe(encoded: tuple[Path, Path, dict]) -> None:
    _, outdir, _ = encoded
    info = probe(outdir / "color.mp4")
    assert facts(outdir / "color.mp4") == {
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "frames": info.frames,
    }


def test_parse_stream_line() -> None:
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':\n"
        "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, "
        "progressive), 1280x704 [SAR 1:1 DAR 20:11], 1048 kb/s, 23.98 fps, 23.98 tbr, "
        "24k tbn (default)\n"
        "Stream mapping:\n  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))\n"
        "Output #0, null, to 'pipe:':\n"
        "  Stream #0:0(und): Video: wrapped_avframe, yuv444p, 32x32, 25 fps\n"
    )
    info = parse_stream_line(stderr)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.fps) == (
        "h264",
        "yuv420p",
        1280,
        704,
        23.98,
    )
    no_fps = "  Stream #1:0: Video: vp9, yuv420p(tv), 640x360, 1k tbr, 1k tbn\n"
    assert parse_stream_line(no_fps).fps == 1000.0
    with pytest.raises(FfmpegError, match="no video stream"):
        parse_stream_line("  Stream #0:0: Audio: aac, 48000 Hz, stereo\n")
