"""The report without a browser: grid layout, run ordering, thumbnail strips, `cosmos report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cosmos_steps import thumbnails
from cosmos_steps.ffmpeg import ffmpeg_exe
from cosmos_steps.report import (
    NOT_RUN,
    Cell,
    Frame,
    SpecGrid,
    axis_order,
    build_tables,
    grids_from_runs,
    layout,
)
from tests.helpers import cosmos, make_project, make_video


def test_no_axis_is_a_single_cell() -> None:
    assert layout([], {}) == [Frame({}, [{}], [{}])]


def test_one_axis_is_one_row() -> None:
    assert layout(["seed"], {"seed": [1, 2, 3]}) == [
        Frame({}, [{}], [{"seed": 1}, {"seed": 2}, {"seed": 3}])
    ]


def test_two_axes_are_rows_by_columns_in_listed_order() -> None:
    frames = layout(["depth", "seed"], {"depth": [0.6, 0.4], "seed": [1, 2, 3]})
    assert frames == [
        Frame({}, [{"depth": 0.6}, {"depth": 0.4}], [{"seed": 1}, {"seed": 2}, {"seed": 3}])
    ]


def test_extra_axes_make_one_table_per_combination() -> None:
    values = {"depth": [0.4, 0.6], "seed": [1, 2, 3], "guidance": [5, 7], "num_steps": [20, 35]}
    frames = layout(list(values), values)
    assert [frame.fixed for frame in frames] == [
        {"guidance": 5, "num_steps": 20},
        {"guidance": 5, "num_steps": 35},
        {"guidance": 7, "num_steps": 20},
        {"guidance": 7, "num_steps": 35},
    ]
    assert all(len(frame.rows) == 2 and len(frame.columns) == 3 for frame in frames)


def test_tables_put_each_run_at_its_point_and_leave_gaps_empty() -> None:
    points = {
        "s/depth-0.4_seed-1_guidance-5": {"depth": 0.4, "seed": 1, "guidance": 5},
        "s/depth-0.6_seed-2_guidance-5": {"depth": 0.6, "seed": 2, "guidance": 5},
        "s/depth-0.4_seed-2_guidance-7": {"depth": 0.4, "seed": 2, "guidance": 7},
    }
    grid = SpecGrid("s", ["depth", "seed", "guidance"], points)
    tables = build_tables(grid, {key: Cell(key, NOT_RUN, []) for key in points})
    assert [table.title for table in tables] == ["guidance 5", "guidance 7"]
    assert tables[0].columns == ["seed 1", "seed 2"]

    def keys(table: Any) -> list[list[str | None]]:
        return [[cell.key if cell else None for cell in cells] for _, cells in table.rows]

    assert [header for header, _ in tables[0].rows] == ["depth 0.4", "depth 0.6"]
    assert keys(tables[0]) == [
        ["s/depth-0.4_seed-1_guidance-5", None],
        [None, "s/depth-0.6_seed-2_guidance-5"],
    ]
    assert keys(tables[1]) == [[None, "s/depth-0.4_seed-2_guidance-7"], [None, None]]


def recorded(key: str, sweep: dict[str, Any]) -> dict[str, Any]:
    return {"spec": key.split("/")[0], "execution_config": {"sweep": sweep}}


def test_recorded_runs_keep_the_axis_order_of_run_names_and_sort_numbers() -> None:
    runs = {
        key: recorded(key, sweep)
        for key, sweep in {
            "s/depth-0.6_seed-10": {"depth": 0.6, "seed": 10},
            "s/depth-0.6_seed-2": {"depth": 0.6, "seed": 2},
            "s/depth-0.4_seed-10": {"depth": 0.4, "seed": 10},
            "s/depth-0.4_seed-2": {"depth": 0.4, "seed": 2},
            "t": {},
        }.items()
    }
    street, single = grids_from_runs(runs)
    assert street.axes == ["depth", "seed"]
    assert street.values() == {"depth": [0.4, 0.6], "seed": [2, 10]}
    assert (single.name, single.axes, list(single.points)) == ("t", [], ["t"])


def test_axis_order_copes_with_underscores_in_labels() -> None:
    assert axis_order("s/seed-1_num_steps-20", {"num_steps", "seed"}) == ["seed", "num_steps"]


def test_a_strip_holds_three_frames_and_is_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=24, size="64x36")
    assert thumbnails.mp4_duration(video) == pytest.approx(1.0, abs=0.05)
    strip = thumbnails.ensure_strip(video, "ab" * 32, tmp_path / "thumbs", ffmpeg_exe())
    assert strip is not None
    with Image.open(strip) as image:
        assert (image.format, image.size) == ("JPEG", (3 * 64, 36))

    def never(*args: object) -> None:
        raise AssertionError("the cached strip was made again")

    monkeypatch.setattr(thumbnails, "make_strip", never)
    assert thumbnails.ensure_strip(video, "ab" * 32, tmp_path / "thumbs", ffmpeg_exe()) == strip


def test_a_file_that_is_no_video_gets_no_strip(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert thumbnails.mp4_duration(text) is None
    assert thumbnails.ensure_strip(text, "cd" * 32, tmp_path / "thumbs", ffmpeg_exe()) is None


def test_frames_are_taken_from_the_middle_of_each_third() -> None:
    assert thumbnails.frame_times(6.0) == [1.0, 3.0, 5.0]


def test_cosmos_report_needs_a_database(tmp_path: Path) -> None:
    meadow = {"prompt": "p", "inputs": {"color": "videos/color.mp4"}, "controls": {"edge": 0.5}}
    root = make_project(tmp_path / "p", {"meadow": meadow}, videos=("color",))
    done = cosmos(root, "report")
    assert done.returncode == 1
    assert "no database at cosmos.db: run the pipeline first" in done.stderr
