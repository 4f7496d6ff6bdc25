"""The procedural demo render folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cosmos_steps.demo_render import LABEL_COLORS, main, write_demo_render
from cosmos_steps.frames import scan_render, validate_render


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        sha.update(path.name.encode() + path.read_bytes())
    return sha.hexdigest()


def test_default_render_is_valid_small_and_the_same_every_time(tmp_path: Path) -> None:
    main([str(tmp_path / "a")])
    write_demo_render(tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    files = sorted((tmp_path / "a").iterdir())
    assert len(files) == 121 * 4
    assert files[0].name == "color.0001.png" and files[-1].name == "segmentation.0121.png"
    assert sum(p.stat().st_size for p in files) < 1_000_000
    report = validate_render(scan_render(tmp_path / "a"))
    assert report.ok and report.warnings == [] and report.notes == []
    assert (report.modalities["color"].width, report.modalities["color"].height) == (160, 88)


def test_passes_have_the_expected_content(tmp_path: Path) -> None:
    write_demo_render(tmp_path, frames=5, size=(96, 54))
    seg = np.asarray(Image.open(tmp_path / "segmentation.0003.png"))
    colours = {tuple(c) for c in seg.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in LABEL_COLORS[1:]} and len(colours) >= 5
    edge = np.asarray(Image.open(tmp_path / "edge.0003.png"))
    assert set(np.unique(edge)) == {0, 255}
    depth = np.asarray(Image.open(tmp_path / "depth.0003.png"))
    assert depth.dtype == np.uint8 and depth[0].max() == 0 and depth[-1].max() > 200
    first, last = (np.asarray(Image.open(tmp_path / f"color.000{n}.png")) for n in (1, 5))
    assert (first != last).any()  # things move


def test_sixteen_bit_depth_option(tmp_path: Path) -> None:
    main([str(tmp_path), "--frames", "2", "--size", "64x36", "--depth16"])
    depth = np.asarray(Image.open(tmp_path / "depth.0002.png"))
    assert depth.dtype == np.uint16 and depth.max() > 60000
    assert validate_render(scan_render(tmp_path)).modalities["depth"].bit_depth == 16


def test_bad_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--size", "big"])
