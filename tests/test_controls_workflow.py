"""The encode_controls stage inside the real workflow: render folder -> control videos -> runs."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from cosmos_steps.demo_render import write_demo_render
from cosmos_steps.ffmpeg import probe
from tests.helpers import base_config, make_project, snakemake, write_yaml
from tests.render_helpers import truncate
from tests.test_workflow import job_counts

pytestmark = pytest.mark.workflow

RENDER = {"prompt": "A park at dusk", "inputs": {"frames": "renders/park"},
          "controls": {"vis": 0.2, "depth": 0.4, "seg": 0.3, "edge": 0.2},
          "params": {"fps": 12}}  # fmt: skip
OTHER = {"prompt": "A meadow", "inputs": "videos", "controls": {"edge": 0.5}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("ctl") / "p", {"park": RENDER, "other": OTHER})
    write_demo_render(root / "renders/park", frames=8, size=(48, 26))
    (root / "renders/park/notes.txt").write_text("render notes")
    done = snakemake(root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_render_folder_becomes_control_videos_and_runs(project: Path) -> None:
    meta = json.loads((project / "work/controls/park/meta.json").read_text())
    assert sorted(meta["videos"]) == ["color", "depth", "edge", "segmentation"]
    assert (meta["frame_range"], meta["frame_count"], meta["fps"]) == ([1, 8], 8, 12)
    for name in meta["videos"]:
        info = probe(project / f"work/controls/park/{name}.mp4")
        assert (info.codec, info.pix_fmt, info.frames, info.fps, info.width, info.height) == (
            "h264", "yuv420p", 8, 12, 48, 26,
        )  # fmt: skip
    run = json.loads((project / "results/park/run.json").read_text())
    assert run["inputs"]["depth"]["path"] == "work/controls/park/depth.mp4"
    assert run["inputs"]["depth"]["sha256"] == meta["videos"]["depth"]["sha256"]
    log = (project / "logs/controls/park/validate.log").read_text()
    assert "ignored (not a control frame name): renders/park/notes.txt" in log
    assert "warning: only 8 frames: Cosmos works in chunks of 121 frames" in log


def test_control_videos_are_recorded_as_artifacts(project: Path) -> None:
    with sqlite3.connect(project / "cosmos.db") as conn:
        rows = conn.execute(
            "SELECT path, sha256, bytes FROM artifacts WHERE kind = 'control_video'"
        ).fetchall()
    assert sorted(Path(r[0]).name for r in rows) == [
        "color.mp4",
        "depth.mp4",
        "edge.mp4",
        "segmentation.mp4",
    ]
    assert all(len(r[1]) == 64 and r[2] == (project / r[0]).stat().st_size for r in rows)


def test_changing_adding_or_removing_a_png_reencodes_only_that_spec(project: Path) -> None:
    frames = project / "renders/park"
    shutil.copy(frames / "depth.0003.png", frames / "depth.0004.png")  # change one PNG
    dry = snakemake(project, "-n")
    planned = job_counts(dry.stdout + dry.stderr)
    assert planned["ffmpeg_encode_control"] == 4 and planned["ffmpeg_validate_render"] == 1
    assert "output: results/other/" not in dry.stdout + dry.stderr  # the other spec is untouched
    for name in ("color", "depth", "segmentation", "edge"):  # add a frame 9 to every pass
        shutil.copy(frames / f"{name}.0008.png", frames / f"{name}.0009.png")
    dry = snakemake(project, "-n")
    planned = job_counts(dry.stdout + dry.stderr)
    assert planned["ffmpeg_validate_render"] == 1 and planned["cosmos_infer"] == 1
    (frames / "edge.0009.png").unlink()  # removing one makes the ranges differ: refused
    done = snakemake(project)
    assert done.returncode != 0
    log = (project / "logs/controls/park/validate.log").read_text()
    assert "ERROR:" in log and "edge" in log
    assert (project / "results/other/output.mp4").is_file()


def test_every_render_problem_is_reported_before_any_encoding(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"park": RENDER})
    write_demo_render(root / "renders/park", frames=6, size=(48, 26))
    (root / "renders/park/depth.0003.png").unlink()
    truncate(root / "renders/park/color.0002.png", 40)
    write_yaml(root / "config.yaml", base_config())
    done = snakemake(root)
    assert done.returncode != 0
    log = (root / "logs/controls/park/validate.log").read_text()
    assert "color.0002.png" in log
    assert "depth: 1 missing frame(s) in 1-6: 3" in log
    assert not list((root / "work/controls/park").glob("*.mp4"))
