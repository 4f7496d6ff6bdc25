"""results/report.html: a static contact sheet of every spec's runs, from the database and results/.

One section per spec: its prompt (and enhanced prompt), the control videos it was given, and a
grid laid out by its sweep axes (rows x columns; more axes become tabs) whose cells show a
thumbnail strip, the run's key parameters, status, GPU-seconds and links to everything it made.

The page is self-contained and relative: links point into results/, control videos given as
inputs are copied to results/<spec>/controls/, and thumbnail strips live in results/.thumbs/, so
the folder still works when copied elsewhere. Written by rule cosmos_report, by the workflow's
onerror handler (so failed runs get a page too) and by `cosmos report`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections import Counter
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cosmos_steps import thumbnails
from cosmos_steps.files import copy_file, sha256_file, write_text
from cosmos_steps.specs import Plan

PAGE = Path("results/report.html")
THUMBS = ".thumbs"
KEY_PARAMS = ("seed", "guidance", "num_steps")
"""Parameters every cell shows (besides the control weights and whatever is swept)."""
NOT_RUN = "not run"


# ---------------------------------------------------------------------------------------------
# Grid layout (pure)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One 2-D table of a spec's grid: the extra axes' values it shows, its rows and columns.

    Each row and column is the {axis: value} part of the sweep point it stands for (an empty
    dict when that direction has no axis).
    """

    fixed: dict[str, Any]
    rows: list[dict[str, Any]]
    columns: list[dict[str, Any]]


def layout(axes: list[str], values: dict[str, list[Any]]) -> list[Frame]:
    """The tables of a grid: no axis = one cell, one axis = one row, two = rows x columns, more:
    one table (a tab) per combination of the values of the axes after the second."""
    row_axes, column_axes = (axes[:1], axes[1:2]) if len(axes) > 1 else ([], axes)

    def combinations(names: list[str]) -> list[dict[str, Any]]:
        return [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(values[name] for name in names))
        ]

    return [
        Frame(fixed, combinations(row_axes), combinations(column_axes))
        for fixed in combinations(axes[2:])
    ]


def point_id(point: dict[str, Any]) -> str:
    """A sweep point as a stable, hashable text (values may be numbers, text or mappings)."""
    return json.dumps(sorted(point.items()), sort_keys=True)


def value_label(value: Any) -> str:
    """A sweep or parameter value as shown on the page."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def point_label(point: dict[str, Any]) -> str:
    """`depth 0.4 · seed 1` (empty for an empty point)."""
    return " · ".join(f"{axis} {value_label(value)}" for axis, value in point.items())


# ---------------------------------------------------------------------------------------------
# What the grids are made of: from the plan (inside Snakemake) or from the database alone


@dataclasses.dataclass
class SpecGrid:
    """A spec's runs as sweep points: run key -> {axis: value}, in display order."""

    name: str
    axes: list[str]
    points: dict[str, dict[str, Any]]
    prompt: str | None = None

    def values(self) -> dict[str, list[Any]]:
        """Each axis' values in order of first appearance."""
        seen: dict[str, dict[str, Any]] = {axis: {} for axis in self.axes}
        for point in self.points.values():
            for axis in self.axes:
                seen[axis].setdefault(json.dumps(point.get(axis), sort_keys=True), point.get(axis))
        return {axis: list(found.values()) for axis, found in seen.items()}


def grids_from_plan(plan: Plan) -> list[SpecGrid]:
    """Specs, axes and values in the order the spec files list them."""
    return [
        SpecGrid(
            spec["name"],
            spec["axes"],
            {key: plan.runs[key]["sweep"] for key in spec["runs"]},
            spec["prompt"],
        )
        for spec in plan.specs.values()
    ]


def grids_from_runs(runs: dict[str, dict[str, Any]]) -> list[SpecGrid]:
    """Specs of the recorded runs: axes in run-name order, numbers sorted, other values by name."""
    by_spec: dict[str, dict[str, dict[str, Any]]] = {}
    for key in sorted(runs):
        sweep = (runs[key].get("execution_config") or {}).get("sweep") or {}
        by_spec.setdefault(runs[key]["spec"], {})[key] = sweep
    grids = []
    for spec, points in sorted(by_spec.items()):
        labels = {label for point in points.values() for label in point}
        axes = axis_order(next(iter(points)), labels)
        ordered = sorted(points.items(), key=lambda item: [_sort_key(item[1].get(a)) for a in axes])
        grids.append(SpecGrid(spec, axes, dict(ordered)))
    return grids


def axis_order(key: str, labels: set[str]) -> list[str]:
    """Axis labels in the order they appear in a run name (`spec/depth-0.4_seed-1`)."""
    name = key.partition("/")[2]

    def position(label: str) -> int:
        found = re.search(rf"(?:^|_){re.escape(label)}-", name)
        return found.start() if found else len(name)

    return sorted(labels, key=lambda label: (position(label), label))


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, json.dumps(value, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# Database records


@dataclasses.dataclass
class Records:
    """The rows the page reads: the latest transfer run per run key, the latest upscale per
    transfer run, the latest prompt enhancement per spec, prompts, and artifact digests."""

    runs: dict[str, dict[str, Any]]
    upscales: dict[str, dict[str, Any]]
    enhances: dict[str, dict[str, Any]]
    prompts: dict[str, dict[str, Any]]
    digests: dict[str, tuple[str, int]]

    @classmethod
    def load(cls, database: Any) -> Records:
        from cosmos_steps import db  # sqlite-utils is slow to import: not at Snakefile parse time

        def rows(sql: str) -> list[dict[str, Any]]:
            return [db.decode(row) for row in database.query(sql)]

        runs = rows("SELECT * FROM runs ORDER BY created_at, rowid")

        def latest(model_type: str, by: str) -> dict[str, dict[str, Any]]:
            return {row[by]: row for row in runs if row["model_type"] == model_type}

        return cls(
            runs=latest("transfer", "run_key"),
            upscales=latest("upscale", "parent_run_id"),
            enhances=latest("enhance", "run_key"),
            prompts={row["id"]: row for row in rows("SELECT * FROM prompts")},
            digests={
                row["path"]: (row["sha256"], row["bytes"])
                for row in database.query("SELECT path, sha256, bytes FROM artifacts ORDER BY id")
            },
        )

    def digest(self, path: Path) -> str:
        """sha256 of a delivered file (recorded when its size still matches, else computed)."""
        recorded = self.digests.get(path.as_posix())
        if recorded and recorded[1] == path.stat().st_size:
            return recorded[0]
        return sha256_file(path)

    def prompt_texts(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """The distinct user prompts and enhanced prompts the rows used."""
        user: dict[str, None] = {}
        enhanced: dict[str, None] = {}
        for row in rows:
            prompt = self.prompts.get(row.get("prompt_id") or "")
            if prompt and prompt["kind"] == "enhanced":
                enhanced[prompt["text"]] = None
                prompt = self.prompts.get(prompt["parent_id"] or "")
            if prompt:
                user[prompt["text"]] = None
        return list(user), list(enhanced)

    def inputs(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        """role -> video path of the inputs (color, depth, seg, edge) the rows' prompts name."""
        found: dict[str, str] = {}
        for row in rows:
            prompt = self.prompts.get(row.get("prompt_id") or "") or {}
            found.update(prompt.get("inputs") or {})
        return found


# ---------------------------------------------------------------------------------------------
# Page model


@dataclasses.dataclass
class Clip:
    """A file on the page: label, link, and for videos a thumbnail strip (None until made)."""

    label: str
    href: str
    path: Path
    strip: str | None = None


@dataclasses.dataclass
class Cell:
    """One run in a grid."""

    key: str
    status: str
    params: list[tuple[str, str, bool]]
    output: Clip | None = None
    links: list[Clip] = dataclasses.field(default_factory=list)
    controls: list[Clip] = dataclasses.field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    gpu_seconds: float | None = None
    cost: float | None = None


@dataclasses.dataclass
class Table:
    """One 2-D table of cells (a tab when the spec has more than two axes)."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[Cell | None]]]


@dataclasses.dataclass
class Section:
    """Everything the page shows about one spec."""

    name: str
    prompts: list[str]
    enhanced: list[str]
    inputs: list[Clip]
    axes: list[str]
    tables: list[Table]
    cells: list[Cell]
    notes: list[str]
    spec_path: str | None = None
    host: str | None = None
    simulated: bool = False


@dataclasses.dataclass
class Totals:
    """Run counts by status, GPU-seconds and cost of a set of cells."""

    runs: int
    statuses: dict[str, int]
    gpu_seconds: float
    cost: float | None

    @classmethod
    def of(cls, cells: list[Cell]) -> Totals:
        costs = [cell.cost for cell in cells if cell.cost is not None]
        return cls(
            runs=len(cells),
            statuses=dict(Counter(cell.status for cell in cells)),
            gpu_seconds=round(sum(cell.gpu_seconds or 0.0 for cell in cells), 3),
            cost=round(sum(costs), 6) if costs else None,
        )


# ---------------------------------------------------------------------------------------------
# Building the page


@dataclasses.dataclass
class Site:
    """The results folder the page is written to (every link is relative to it) and the records."""

    results: Path
    records: Records
    simulated_hosts: set[str]

    def href(self, path: Path) -> str:
        """A link relative to the page (which sits in results/)."""
        return quote(path.relative_to(self.results).as_posix())

    def clip(self, label: str, path: Path) -> Clip | None:
        """A file of results/ (None if it is not there)."""
        return Clip(label, self.href(path), path) if path.is_file() else None

    def publish_input(self, spec: str, label: str, source: Path) -> Clip | None:
        """An input video, copied once per content to results/<spec>/controls/<name>-<sha>.mp4."""
        if not source.is_file():
            return None
        digest = sha256_file(source)
        target = self.results / spec / "controls" / f"{source.stem}-{digest[:8]}{source.suffix}"
        if not target.is_file():
            copy_file(source, target)
        return self.clip(label, target)

    def control_clip(self, key: str, hint: str, control: dict[str, Any]) -> Clip | None:
        """The control video a run used: the one Cosmos generated, else the one it was given."""
        generated = self.clip(hint, self.results / key / f"{hint}_input_control_0.mp4")
        if generated or control.get("input") in (None, "auto"):
            return generated
        return self.publish_input(key.split("/")[0], hint, Path(control["input"]))

    def add_strips(self, ffmpeg: str, clips: list[Clip]) -> None:
        """Make the missing strips of these videos (in parallel) and point each clip at its own."""
        videos = {clip.path: self.records.digest(clip.path) for clip in clips}
        strips = thumbnails.ensure_strips(videos, self.results / THUMBS, ffmpeg)
        for clip in clips:
            strip = strips[clip.path]
            clip.strip = self.href(strip) if strip else None


def cell_params(row: dict[str, Any] | None, point: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(name, value, swept) of the control weights, key parameters and swept values of a run."""
    config = (row or {}).get("execution_config") or {}
    shown = {hint: control["weight"] for hint, control in (config.get("controls") or {}).items()}
    params = config.get("params") or {}
    shown.update({name: params[name] for name in KEY_PARAMS if name in params})
    shown.update(point)
    return [(name, value_label(value), name in point) for name, value in shown.items()]


def build_cell(site: Site, key: str, point: dict[str, Any], row: dict[str, Any] | None) -> Cell:
    """A run's cell: status, parameters, output strip, links, and its reason if it failed."""
    cell = Cell(key, row["status"] if row else NOT_RUN, cell_params(row, point))
    if row is None:
        return cell
    folder = site.results / key
    cell.gpu_seconds, cell.cost = row.get("gpu_seconds"), row.get("cost")
    cell.error, cell.error_kind = first_line(row.get("error")), row.get("error_kind")
    cell.output = site.clip("output", folder / "output.mp4")
    controls = (row.get("execution_config") or {}).get("controls") or {}
    found = [site.control_clip(key, hint, control) for hint, control in controls.items()]
    cell.controls = [clip for clip in found if clip]
    links = [
        cell.output,
        site.clip("4K", folder / "output_4k.mp4"),
        site.clip("run.json", folder / "run.json"),
    ]
    cell.links = [clip for clip in links if clip]
    cell.notes = unfinished("4K", site.records.upscales.get(row["id"]))
    return cell


def first_line(text: str | None) -> str | None:
    """The first line of an error message (None when there is none)."""
    return (text or "").strip().split("\n")[0] or None


def build_tables(grid: SpecGrid, cells: dict[str, Cell]) -> list[Table]:
    """The spec's tables of cells, laid out by its sweep axes."""
    by_point = {point_id(point): cells[key] for key, point in grid.points.items()}
    tables = []
    for frame in layout(grid.axes, grid.values()):
        rows = [
            (
                point_label(row),
                [by_point.get(point_id({**frame.fixed, **row, **col})) for col in frame.columns],
            )
            for row in frame.rows
        ]
        tables.append(
            Table(point_label(frame.fixed), [point_label(c) for c in frame.columns], rows)
        )
    return tables


def build_section(site: Site, grid: SpecGrid) -> Section:
    """One spec: prompts, input videos (copied next to its results), grid of cells."""
    rows = [site.records.runs[key] for key in grid.points if key in site.records.runs]
    cells = {
        key: build_cell(site, key, point, site.records.runs.get(key))
        for key, point in grid.points.items()
    }
    prompts, enhanced = site.records.prompt_texts(rows)
    inputs = [
        site.publish_input(grid.name, role, Path(path))
        for role, path in site.records.inputs(rows).items()
    ]
    first = site.records.prompts.get(rows[0].get("prompt_id") or "", {}) if rows else {}
    host = rows[0]["host"] if rows else None
    return Section(
        name=grid.name,
        prompts=prompts or ([grid.prompt] if grid.prompt else []),
        enhanced=enhanced,
        inputs=[clip for clip in inputs if clip],
        axes=grid.axes,
        tables=build_tables(grid, cells),
        cells=list(cells.values()),
        notes=unfinished("prompt enhancement", site.records.enhances.get(grid.name)),
        spec_path=first.get("spec_path"),
        host=host,
        simulated=host in site.simulated_hosts,
    )


def unfinished(what: str, row: dict[str, Any] | None) -> list[str]:
    """`<what> failed: <reason>` for a run that did not complete (nothing when it did)."""
    if row is None or row["status"] == "completed":
        return []
    reason = first_line(row.get("error"))
    return [f"{what} {row['status']}" + (f": {reason}" if reason else "")]


def build_sections(site: Site, grids: list[SpecGrid], ffmpeg: str) -> list[Section]:
    """Every spec's section, with thumbnail strips made (or reused) for every video shown."""
    sections = [build_section(site, grid) for grid in grids]
    clips = [clip for section in sections for clip in section.inputs]
    clips += [cell.output for section in sections for cell in section.cells if cell.output]
    site.add_strips(ffmpeg, clips)
    return sections


# ---------------------------------------------------------------------------------------------
# Rendering and writing


@dataclasses.dataclass
class Summary:
    """What a written report holds (printed by `cosmos report`, logged by the rule)."""

    path: str
    specs: int
    totals: Totals

    def line(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.totals.statuses.items()))
        runs = f"{self.totals.runs} run{'s' * (self.totals.runs != 1)}"
        detail = f" ({counts})" if counts else ""
        return (
            f"{self.path}: {self.specs} spec{'s' * (self.specs != 1)}, {runs}{detail}, "
            f"{seconds(self.totals.gpu_seconds)} GPU-s"
        )


def seconds(value: float) -> str:
    """GPU-seconds as shown: two decimals below 10, whole seconds (with separators) above."""
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def render(sections: list[Section], project: str) -> str:
    """The HTML page (jinja2, autoescaped; CSS and JS inline)."""
    import jinja2

    env = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    env.filters["seconds"] = seconds
    template = env.from_string(files("cosmos_steps").joinpath("report.html.j2").read_text("utf-8"))
    totals = {section.name: Totals.of(section.cells) for section in sections}
    return template.render(
        project=project,
        sections=sections,
        totals=totals,
        overall=Totals.of([cell for section in sections for cell in section.cells]),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(config: dict[str, Any], plan: Plan | None = None, page: Path = PAGE) -> Summary:
    """Write the report page for the project in the current folder; return what it holds.

    With a plan (from the specs), the page shows exactly the specs' runs in their listed order;
    without one, every run key the database knows (its latest run).
    """
    from cosmos_steps import db
    from cosmos_steps.ffmpeg import ffmpeg_exe

    records = Records.load(db.connect(config["database"], config["journal_mode"]))
    grids = grids_from_plan(plan) if plan is not None else grids_from_runs(records.runs)
    simulated = {name for name, host in config["hosts"].items() if host["runtime"] == "simulate"}
    site = Site(page.parent, records, simulated)
    sections = build_sections(site, grids, ffmpeg_exe(config["ffmpeg"]))
    write_text(page, render(sections, page.resolve().parent.parent.name))
    cells = [cell for section in sections for cell in section.cells]
    return Summary(str(page), len(sections), Totals.of(cells))
