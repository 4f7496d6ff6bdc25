"""Run specs: discovery, validation, sweep expansion into runs, and batch assignment.

Called by rules/common.smk at parse time, so it only reads the spec files and lists folders:
no video is opened, nothing is written. That parse runs again in every cluster job, so the cost
per run stays small: each run starts from an unpickled copy of its spec (not a deep copy), and
each input file is checked once per spec, not once per run (bench/parse_bench.py measures it).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cosmos_steps import config as config_module
from cosmos_steps import frames, nvidia, schemas
from cosmos_steps.config import read_yaml

FOLDER_VIDEOS = {
    "color": ("color.mp4",),
    "depth": ("depth.mp4",),
    "seg": ("segmentation.mp4", "seg.mp4"),
    "edge": ("edge.mp4",),
}
"""Control videos looked for in an `inputs` folder, by role."""
ENCODED_NAMES = {"color": "color", "depth": "depth", "seg": "segmentation", "edge": "edge"}
"""Role -> file stem of the videos encode_controls makes from a render folder."""
HINT_SOURCE = {"edge": "edge", "depth": "depth", "seg": "seg"}
"""Control -> the input video it uses by default (vis always derives from color)."""
SPEC_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
POINT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.=+-]*"
RUN_PATTERN = rf"{SPEC_NAME}(/{POINT_NAME})?"
BATCH_PATTERN = SPEC_NAME


@dataclasses.dataclass
class Plan:
    """Everything the DAG needs, derived from config.yaml and specs/."""

    specs: dict[str, dict[str, Any]]
    runs: dict[str, dict[str, Any]]
    batches: dict[str, list[str]]
    upscales: dict[str, list[str]]


@functools.cache
def render_files(folder: Path) -> dict[str, list[str]]:
    """A render folder's PNGs by encoded video stem (color, depth, segmentation, edge).

    File names only: the PNGs are checked by the encode_controls stage, not at parse time.
    """
    scan = frames.scan_render(folder)
    return {modality: [str(p) for p in seq.values()] for modality, seq in scan.frames.items()}


def render_roles(folder: Path) -> list[str]:
    """Roles (color, depth, seg, edge) that have a PNG sequence in a render folder."""
    stems = render_files(folder)
    return [role for role, stem in ENCODED_NAMES.items() if stem in stems]


def folder_videos(folder: Path) -> dict[str, str]:
    """Role -> file name of the control videos in a folder (the first of FOLDER_VIDEOS found)."""
    videos = {}
    for role, candidates in FOLDER_VIDEOS.items():
        found = [c for c in candidates if (folder / c).is_file()]
        if found:
            videos[role] = found[0]
    return videos


def spec_files(specs_dir: Path) -> list[Path]:
    """Spec files in a folder (*.yaml, *.yml; not recursive), sorted."""
    if not specs_dir.is_dir():
        return []
    return sorted(p for p in specs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_plan(config: dict[str, Any], project: Path = Path(".")) -> Plan:
    """Read every spec, expand sweeps, assign batches; ValidationFailed lists every problem."""
    problems: list[str] = []
    specs: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}
    for path in spec_files(project / config["specs_dir"]):
        where = path.relative_to(project).as_posix() if path.is_relative_to(project) else str(path)
        try:
            spec, spec_runs = load_spec(path, where, config, project)
        except schemas.ValidationFailed as exc:
            problems += exc.problems
            continue
        if spec["name"] in specs:
            other = specs[spec["name"]]["path"]
            problems.append(f"{where}: name: {spec['name']!r} is already used by {other}")
            continue
        specs[spec["name"]] = spec
        runs.update((run["key"], run) for run in spec_runs)
    if problems:
        raise schemas.ValidationFailed(problems)
    max_runs = config["batching"]["max_runs"]
    batches = assign_batches(list(runs.values()), max_runs)
    upscales = assign_upscales(list(runs.values()), max_runs)
    return Plan(specs, runs, batches, upscales)


def load_spec(
    path: Path, where: str, config: dict[str, Any], project: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One spec file -> (spec summary, its runs)."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise schemas.ValidationFailed(
            [f"{where}: expected a mapping with at least `prompt` and `inputs`"]
        )
    schemas.validate(raw, "spec.schema.yaml", where)
    name = raw.get("name") or path.stem
    if not re.fullmatch(SPEC_NAME, name):
        raise schemas.ValidationFailed(
            [
                f"{where}: the file name {path.stem!r} is not a usable spec name; set `name:` "
                "(letters, digits, _ . -; starting with a letter or digit)"
            ]
        )
    host = raw.get("host", config["default_host"])
    if host not in config_module.targets(config):
        known = ", ".join(config_module.targets(config))
        raise schemas.ValidationFailed(
            [f"{where}: host: {host!r} is not a host or pool of config.yaml ({known})"]
        )
    base = normalise(raw, name, host, where, config, project)
    problems = check_sweep(raw.get("sweep", {}), base, where)
    if base["enhance"] and "prompt" in raw.get("sweep", {}):
        problems.append(
            f"{where}: enhance: cannot be combined with a sweep over prompt "
            "(one prompt per spec is enhanced)"
        )
    if problems:
        raise schemas.ValidationFailed(problems)
    spec_runs = expand(base, raw.get("sweep", {}))
    is_file = functools.cache(lambda path: (project / path).is_file())
    problems = [p for run in spec_runs for p in check_run(run, where, is_file)]
    if problems:
        raise schemas.ValidationFailed(sorted(set(problems), key=problems.index))
    summary = {
        "name": name,
        "path": where,
        "runs": [run["key"] for run in spec_runs],
        "axes": [label for label, _ in axis_labels(raw.get("sweep", {}))],
        "frames": base["frames"],
        "frame_files": render_files(project / base["frames"]) if base["frames"] else {},
        "fps": base["params"]["fps"],
        "enhance": base["enhance"],
        "upscale": base["upscale"] is not None,
        "prompt": base["prompt"],
        "host": host,
    }
    return summary, spec_runs


def encoded_video(spec: str, role: str) -> str:
    """Where encode_controls writes a spec's control video for a role."""
    return f"work/controls/{spec}/{ENCODED_NAMES[role]}.mp4"


def _inputs(raw: Any, spec: str, where: str, project: Path) -> tuple[dict[str, str], str | None]:
    """Resolve `inputs` into role -> video path, plus the render folder if any."""
    mapping = {"videos": raw} if isinstance(raw, str) else dict(raw)
    videos: dict[str, str] = {}
    folder = mapping.pop("videos", None)
    if folder is not None:
        if not (project / folder).is_dir():
            raise schemas.ValidationFailed(
                [f"{where}: inputs.videos: folder {folder!r} does not exist"]
            )
        for role, name in folder_videos(project / folder).items():
            videos[role] = f"{folder.rstrip('/')}/{name}"
    render_folder = mapping.pop("frames", None)
    if render_folder is not None:
        if not (project / render_folder).is_dir():
            raise schemas.ValidationFailed(
                [f"{where}: inputs.frames: folder {render_folder!r} does not exist"]
            )
        for role in render_roles(project / render_folder):
            videos[role] = encoded_video(spec, role)
    videos.update(mapping)
    return videos, render_folder


def normalise(
    raw: dict[str, Any], name: str, host: str, where: str, config: dict[str, Any], project: Path
) -> dict[str, Any]:
    """A spec with every default filled in and controls as {weight, input} (before the sweep)."""
    defaults = config["defaults"]
    inputs, frames = _inputs(raw["inputs"], name, where, project)
    upscale = raw.get("upscale", False)
    if upscale is True:
        upscale = {"weight": 0.5}
    return {
        "spec": name,
        "spec_path": where,
        "prompt": raw["prompt"],
        "negative_prompt": raw.get("negative_prompt", defaults["negative_prompt"]),
        "inputs": inputs,
        "frames": frames,
        "controls": {h: _control(v) for h, v in raw.get("controls", {}).items()},
        "params": {**defaults["params"], **raw.get("params", {})},
        "upscale": upscale or None,
        "enhance": bool(raw.get("enhance", False)),
        "host": host,
        "requirements": raw.get("requirements", {}),
    }


def _control(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"weight": value["weight"], "input": value.get("input")}
    return {"weight": value, "input": None}


def axis_labels(sweep: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """(label, dotted path) per sweep axis, e.g. `controls.depth.weight` -> `depth`."""

    def short(path: str) -> str:
        parts = path.split(".")
        return parts[-2] if parts[-1] == "weight" and len(parts) > 1 else parts[-1]

    labels = [short(path) for path in sweep]
    return [
        (path.replace(".", "-") if labels.count(label) > 1 else label, path)
        for label, path in zip(labels, sweep, strict=True)
    ]


def format_value(value: Any, index: int) -> str:
    """A sweep value as it appears in run names (numbers as written, short strings, else #index)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-")
    return text if text and len(text) <= 24 else f"v{index}"


def set_path(run: dict[str, Any], path: str, value: Any) -> None:
    """Apply one sweep value at a dotted path of a normalised spec."""
    parts = path.split(".")
    if parts[0] == "controls":
        control = run["controls"].setdefault(parts[1], {"weight": 0.0, "input": None})
        if len(parts) == 2 and isinstance(value, dict):
            control.update(_control(value))
        else:
            control["weight" if len(parts) == 2 else parts[2]] = value
    elif parts[0] == "upscale":
        run["upscale"] = _upscale_value(run["upscale"], parts, value)
    elif len(parts) == 2:
        run[parts[0]][parts[1]] = value
    else:
        run[parts[0]] = value


def _upscale_value(current: dict[str, Any] | None, parts: list[str], value: Any) -> dict | None:
    if len(parts) == 2:
        return {"weight": value}
    if value is False:
        return None
    return {"weight": 0.5} if value is True else dict(value)


def check_sweep(sweep: dict[str, list[Any]], base: dict[str, Any], where: str) -> list[str]:
    """Each sweep value checked against the schema of the field it replaces."""
    pointers = {
        "prompt": "/$defs/text",
        "negative_prompt": "/$defs/text",
        "controls": "/$defs/control",
        "weight": "/$defs/weight",
        "input": "/$defs/path",
        "params": None,
        "upscale": "/properties/upscale",
        "inputs": "/$defs/path",
    }
    problems = []
    for path, values in sweep.items():
        parts = path.split(".")
        if parts[0] == "params":
            pointer = f"/$defs/params/properties/{parts[1]}"
        elif parts[-1] in ("weight", "input"):
            pointer = pointers[parts[-1]]
        else:
            pointer = pointers[parts[0]]
        for index, value in enumerate(values):
            for problem in schemas.subschema_problems(value, pointer):
                problems.append(f"{where}: sweep.{path}[{index}]: {problem}")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            problems.append(f"{where}: sweep.{path}: the same value is listed twice")
    return problems


def expand(base: dict[str, Any], sweep: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The runs of a spec: the cartesian product of its sweep axes (one run when there is none)."""
    labels = axis_labels(sweep)
    template = pickle.dumps(base, protocol=pickle.HIGHEST_PROTOCOL)
    if not labels:
        return [finish(pickle.loads(template), base["spec"], {})]
    runs = []
    seen: dict[str, int] = {}
    indexed = [list(enumerate(sweep[path])) for _, path in labels]
    for combo in itertools.product(*indexed):
        run = pickle.loads(template)
        point = {}
        parts = []
        for (label, path), (index, value) in zip(labels, combo, strict=True):
            set_path(run, path, value)
            point[label] = value
            parts.append(f"{label}-{format_value(value, index)}")
        name = "_".join(parts)
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        runs.append(finish(run, f"{base['spec']}/{name}", point))
    return runs


def finish(run: dict[str, Any], key: str, point: dict[str, Any]) -> dict[str, Any]:
    """Name a run, drop controls that are off, and settle each control's input video."""
    run["key"] = key
    run["sweep"] = point
    controls = {}
    for hint, control in run["controls"].items():
        if control["weight"] <= 0:
            continue
        source = HINT_SOURCE.get(hint)
        if control["input"] is None:
            default = run["inputs"].get(source) if source else None
            control["input"] = default or "auto"
        controls[hint] = control
    run["controls"] = dict(sorted(controls.items()))
    run["notes"] = []
    if not run["inputs"].get("color"):
        run["notes"].append(
            "no color video: control-only run, sigma_max set to "
            f"{nvidia.CONTROL_ONLY_SIGMA_MAX:g} as NVIDIA requires"
        )
    return run


def check_run(run: dict[str, Any], where: str, is_file: Callable[[str], bool]) -> list[str]:
    """Problems that only show once a run is fully resolved (missing files, impossible controls).

    `is_file` tells whether a path of the project is a file (cached by the caller).
    """
    problems = []
    if not run["controls"]:
        problems.append(f"{where}: controls: run {run['key']} has no control with a weight above 0")

    def missing(path: str) -> bool:
        return not path.startswith("work/controls/") and not is_file(path)

    for role, path in run["inputs"].items():
        if missing(path):
            problems.append(f"{where}: inputs.{role}: file {path!r} does not exist")
    for hint, control in run["controls"].items():
        if control["input"] == "auto" and not run["inputs"].get("color"):
            problems.append(
                f"{where}: controls.{hint}: input auto needs a color video "
                "(NVIDIA computes the control from it); give a control video"
            )
        elif control["input"] != "auto" and missing(control["input"]):
            problems.append(
                f"{where}: controls.{hint}.input: file {control['input']!r} does not exist"
            )
    return problems


def batch_key(run: dict[str, Any]) -> str:
    """What runs must share to go through one model load: host, global params, control set."""
    shared = {
        "spec": run["spec"],
        "host": run["host"],
        "requirements": run["requirements"],
        "negative_prompt": run["negative_prompt"],
        "params": {k: run["params"][k] for k in nvidia.GLOBAL_PARAMS},
        "hints": sorted(run["controls"]),
        "color": bool(run["inputs"].get("color")),
    }
    return json.dumps(shared, sort_keys=True)


def group_runs(
    runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], max_runs: int, tag: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """Group runs by `key` into batches of at most max_runs, ids `<spec>-<tag><hash>[-n]`."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda r: r["key"]):
        groups.setdefault(key(run), []).append(run)
    batches: dict[str, list[dict[str, Any]]] = {}
    for group_key, members in groups.items():
        digest = hashlib.sha256(group_key.encode()).hexdigest()[:8]
        for start in range(0, len(members), max_runs):
            suffix = "" if start == 0 else f"-{start // max_runs + 1}"
            batches[f"{members[0]['spec']}-{tag}{digest}{suffix}"] = members[
                start : start + max_runs
            ]
    return batches


def assign_batches(runs: list[dict[str, Any]], max_runs: int) -> dict[str, list[str]]:
    """Transfer batches (runs get `batch` and `line`); returns batch -> run keys in line order."""
    batches = {}
    for batch, members in group_runs(runs, batch_key, max_runs).items():
        for line, run in enumerate(members):
            run["batch"], run["line"] = batch, line
        batches[batch] = [run["key"] for run in members]
    return batches


def upscale_key(run: dict[str, Any]) -> str:
    """Upscales run back to back in one job per spec, host and control weight."""
    return json.dumps([run["spec"], run["host"], run["upscale"]["weight"]])


def assign_upscales(runs: list[dict[str, Any]], max_runs: int) -> dict[str, list[str]]:
    """Upscale batches of the runs that ask for a 4K version (runs get `upscale_batch`)."""
    wanted = [run for run in runs if run["upscale"]]
    batches = {}
    for batch, members in group_runs(wanted, upscale_key, max_runs, tag="up-").items():
        for run in members:
            run["upscale_batch"] = batch
        batches[batch] = [run["key"] for run in members]
    return batches
