"""results/report.html of a real run, checked in a real headless browser (Debian's chromium
driven by playwright): thumbnails load, links resolve, the grid follows the sweep, failures show
their reason, and the page still works when results/ is copied elsewhere.

`COSMOS_REPORT_SCREENSHOT=docs/report.png pytest tests/test_report_page.py` also keeps a
screenshot of the page (the one in the README).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from cosmos_steps.report import NOT_RUN, Cell, Section, SpecGrid, build_tables, render
from tests.helpers import base_config, cosmos, make_project, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STREET = {
    "prompt": "A rainy street at night, neon signs reflecting in puddles",
    "inputs": "videos",
    "controls": {"vis": 0.3, "depth": 0.5},
    "sweep": {"controls.depth.weight": [0.3, 0.6, 0.9], "controls.vis.weight": [0.2, 0.5]},
}
SUNRISE = {
    "prompt": "A quiet meadow at sunrise",
    "inputs": {"color": "videos/color.mp4"},
    "controls": {"edge": 0.7},
    "enhance": True,
    "upscale": True,
}
SCREENSHOT = os.environ.get("COSMOS_REPORT_SCREENSHOT")
FAILED = "street/depth-0.3_vis-0.5"
"""Line 1 of the street batch, which the simulated host is told not to write."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install chromium (.ci/system-deps.sh does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no playwright: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = base_config()
    config["hosts"]["simulated"]["simulate"]["drop_lines"] = [1]
    root = tmp_path_factory.mktemp("report") / "demo"
    make_project(root, {"street": STREET, "sunrise": SUNRISE}, config)
    done = snakemake(root)
    assert done.returncode != 0, "one run was meant to fail"
    assert "report of this failed run: results/report.html: 2 specs, 7 runs" in done.stderr
    return root


def open_page(browser: Any, page_path: Path) -> Any:
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_path.as_uri())
    assert errors == []
    return page


def local_targets(page: Any) -> list[Path]:
    """Every file the page points at: images, links and the videos it plays."""
    urls = page.evaluate(
        """() => [
            ...[...document.images].map((img) => img.src),
            ...[...document.querySelectorAll("a[href]")].map((a) => a.href),
            ...[...document.querySelectorAll("[data-video]")]
                .map((el) => new URL(el.dataset.video, document.baseURI).href),
        ]"""
    )
    assert all(url.startswith("file://") for url in urls), urls
    return [Path(unquote(urlparse(url).path)) for url in urls]


def check_page(page: Any, results: Path) -> None:
    """Every image loaded and every link resolves to a file inside `results`."""
    images = page.evaluate(
        "() => [...document.images].map((img) => [img.getAttribute('src'), img.naturalWidth])"
    )
    assert len(images) == 6 + 1 + 2  # outputs, sunrise's color input, street's color and depth
    assert all(width > 0 for _, width in images), images
    for target in local_targets(page):
        assert target.is_file() and target.is_relative_to(results), target


def test_failed_workflow_still_writes_the_page_and_every_thumbnail_and_link_works(
    project: Path, browser: Any
) -> None:
    page = open_page(browser, project / "results/report.html")
    check_page(page, project / "results")
    anchors = page.evaluate(
        "() => [...document.querySelectorAll('a[href^=\"#\"]')]"
        ".map((a) => !!document.getElementById(a.getAttribute('href').slice(1)))"
    )
    assert anchors == [True, True]
    if SCREENSHOT:
        keep_screenshot(page, Path(SCREENSHOT))


def keep_screenshot(page: Any, target: Path) -> None:
    """A full-page PNG in 256 colours (small enough to live in the repository)."""
    from PIL import Image

    with Image.open(io.BytesIO(page.screenshot(full_page=True))) as image:
        image.convert("RGB").quantize(256).save(target, optimize=True)


def test_grid_rows_and_columns_follow_the_two_sweep_axes(project: Path, browser: Any) -> None:
    page = open_page(browser, project / "results/report.html")
    grid = page.evaluate(
        """() => {
            const table = document.querySelector("#spec-street table.grid");
            const text = (el) => el.textContent.trim();
            return {
                columns: [...table.querySelectorAll("thead th[scope=col]")].map(text),
                rows: [...table.querySelectorAll("tbody th[scope=row]")].map(text),
                keys: [...table.querySelectorAll("tbody tr")].map((tr) =>
                    [...tr.querySelectorAll("td .cell")].map((cell) => cell.dataset.key)),
            };
        }"""
    )
    assert grid["columns"] == ["vis 0.2", "vis 0.5"]
    assert grid["rows"] == ["depth 0.3", "depth 0.6", "depth 0.9"]
    assert grid["keys"] == [
        [f"street/depth-{depth}_vis-{vis}" for vis in ("0.2", "0.5")]
        for depth in ("0.3", "0.6", "0.9")
    ]


def test_a_failed_run_shows_its_reason(project: Path, browser: Any) -> None:
    page = open_page(browser, project / "results/report.html")
    cell = page.locator(f'.cell[data-key="{FAILED}"]')
    assert cell.get_attribute("data-status") == "failed"
    assert cell.locator(".reason").inner_text() == (
        "no output: video_1/output.mp4 was not written by the model (see the job log)"
    )
    assert cell.locator("img").count() == 0


def test_prompts_controls_and_4k_are_shown(project: Path, browser: Any) -> None:
    page = open_page(browser, project / "results/report.html")
    sunrise = page.locator("#spec-sunrise")
    assert sunrise.locator(".prompt").count() == 2
    assert "simulated upsampling" in sunrise.locator(".prompt.enhanced").inner_text()
    links = sunrise.locator(".cell .links a").all_inner_texts()
    assert links == ["output", "4K", "run.json", "edge"]
    given = page.locator("#spec-street .inputs figcaption span").all_inner_texts()
    assert given == ["color", "depth"]


def test_hover_plays_the_video_inline_and_click_shows_it_beside_its_controls(
    project: Path, browser: Any
) -> None:
    page = open_page(browser, project / "results/report.html")
    media = page.locator('.cell[data-key="street/depth-0.6_vis-0.2"] .media')
    media.hover()
    page.wait_for_function(
        "() => { const v = document.querySelector('.media video.hover');"
        " return v && !v.paused && v.currentTime > 0; }"
    )
    media.click()
    player = page.locator("dialog#player")
    assert player.evaluate("(dialog) => dialog.open")
    assert player.locator(".main video").get_attribute("src") == media.get_attribute("data-video")
    captions = player.locator(".refs figcaption").all_inner_texts()
    assert captions == ["depth", "vis", "street: color"]


def test_the_page_works_when_results_is_copied_elsewhere(
    project: Path, browser: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "results"
    shutil.copytree(project / "results", copy)
    check_page(open_page(browser, copy / "report.html"), copy)


def test_cosmos_report_rewrites_the_page_from_the_database_reusing_thumbnails(
    project: Path,
) -> None:
    thumbs = {path: path.stat().st_mtime_ns for path in (project / "results/.thumbs").iterdir()}
    (project / "results/report.html").unlink()
    done = cosmos(project, "report", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["path"] == "results/report.html" and summary["specs"] == 2
    assert summary["totals"]["statuses"] == {"completed": 6, "failed": 1}
    assert (project / "results/report.html").is_file()
    assert {p: p.stat().st_mtime_ns for p in (project / "results/.thumbs").iterdir()} == thumbs


def test_more_than_two_axes_become_tabs(browser: Any, tmp_path: Path) -> None:
    points = {
        f"s/depth-{d}_seed-{s}_guidance-{g}": {"depth": d, "seed": s, "guidance": g}
        for g in (5, 7, 9)
        for d in (0.4, 0.6)
        for s in (1, 2)
    }
    grid = SpecGrid("s", ["depth", "seed", "guidance"], points, "a prompt")
    cells = {key: Cell(key, NOT_RUN, []) for key in points}
    section = Section(
        "s", ["a prompt"], [], [], grid.axes, build_tables(grid, cells), list(cells.values()), []
    )
    (tmp_path / "report.html").write_text(render([section], "tabs"), encoding="utf-8")
    page = open_page(browser, tmp_path / "report.html")
    tabs = page.locator("[role=tab]")
    assert tabs.all_inner_texts() == ["guidance 5", "guidance 7", "guidance 9"]
    assert page.locator("[role=tabpanel]:visible table.grid tbody tr").count() == 2
    tabs.nth(2).click()
    visible = page.locator("[role=tabpanel]:visible .cell")
    assert visible.count() == 4
    assert all(
        key.endswith("guidance-9")
        for key in visible.evaluate_all("(cells) => cells.map((cell) => cell.dataset.key)")
    )
