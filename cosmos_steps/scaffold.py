"""Scaffolding a run spec (`cosmos new`): what a folder offers, the spec's text, writing it.

The text is built field by field. Each top-level field has the description of
schemas/spec.schema.yaml as a comment above it, nested entries have a note beside them, and
optional fields are shown commented out with their defaults. Values are written by PyYAML, so
any prompt (quotes, `#`, `:`, newlines, unicode) reads back exactly.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from cosmos_steps import schemas, specs
from cosmos_steps.errors import CosmosError

CONTROL_SOURCES = {"vis": "color", **specs.HINT_SOURCE}
"""Control -> the input role it reads, in the order of `cosmos new --weights`."""
DEFAULT_WEIGHT = 0.25
"""Weight of each control whose input exists (and the example weight of the others)."""
WIDTH = 96
"""Width of comment paragraphs and wrapped values."""
_BREAKS = re.compile("[\x85\u2028\u2029]")


@dataclasses.dataclass(frozen=True)
class SpecInputs:
    """What a folder offers a spec."""

    kind: str
    """"frames" (a render folder of PNG sequences) or "videos" (a folder of control videos)."""
    path: str
    """The folder as the spec names it: relative to the project folder, else absolute."""
    roles: dict[str, str]
    """Role (color, depth, seg, edge) -> what provides it: a modality's frames or a video file."""


class _Dumper(yaml.SafeDumper):
    """Multi-line text as a literal block, and double quotes where PyYAML's other styles fail."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Single quotes would fold U+0085/2028/2029, and a kept final newline would swallow the
    # blank line that follows the block; double quotes escape both.
    style = "|" if "\n" in text else None
    if _BREAKS.search(text) or text.endswith("\n"):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def project_path(path: Path, root: Path) -> str:
    """path as specs name it: relative to the project folder root when inside it, else absolute."""
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        if candidate.is_relative_to(root):
            return candidate.relative_to(root).as_posix()
    return str(path.resolve())


def find_inputs(folder: Path, root: Path) -> SpecInputs:
    """A render folder (PNG sequences win) or a folder of control videos; else a CosmosError."""
    if not folder.is_dir():
        raise CosmosError(f"{folder} is not a folder")
    found = specs.render_roles(folder)
    if found:
        roles = {r: m for r, m in specs.ENCODED_NAMES.items() if r in found}
        return SpecInputs("frames", project_path(folder, root), roles)
    videos = specs.folder_videos(folder)
    if videos:
        return SpecInputs("videos", project_path(folder, root), videos)
    raise CosmosError(
        f"{folder} holds neither PNG sequences (color.0001.png, depth_0001.png, ...) nor "
        "control videos (color.mp4, depth.mp4, segmentation.mp4 or seg.mp4, edge.mp4)"
    )


def default_weights(inputs: SpecInputs) -> dict[str, float]:
    """DEFAULT_WEIGHT for each control whose input exists, 0 (off) for the others."""
    return {c: DEFAULT_WEIGHT if s in inputs.roles else 0.0 for c, s in CONTROL_SOURCES.items()}


def name_candidates(name: str) -> Iterable[str]:
    """name, name_2, name_3, ..."""
    return itertools.chain([name], (f"{name}_{n}" for n in itertools.count(2)))


def create_spec(
    specs_dir: Path, names: Iterable[str], text_for: Callable[[str], str]
) -> Path | None:
    """Create specs_dir/<name>.yaml with text_for(name) for the first name not taken.

    Returns None when every name is taken; an existing spec is never replaced.
    """
    for name in names:
        if _taken(specs_dir, name):
            continue
        path = specs_dir / f"{name}.yaml"
        try:
            _write_new(path, text_for(name))
        except FileExistsError:  # created since _taken looked
            continue
        return path
    return None


def spec_text(
    prompt: str,
    name: str,
    inputs: SpecInputs,
    weights: dict[str, float],
    settings: dict[str, Any],
) -> str:
    """The commented YAML of a new spec (params and defaults from the checked config)."""
    defaults = settings["defaults"]
    hosts = ", ".join([*settings["hosts"], *settings.get("pools", {})])
    first = next((c for c, w in weights.items() if w > 0), "vis")
    sweep = [(f"controls.{first}.weight", [DEFAULT_WEIGHT, 0.5]), ("params.seed", [1, 2])]
    blocks = [
        _comment(
            "Run spec written by `cosmos new`. Check it with `cosmos validate`; run it with "
            "`snakemake`. Each field is described above it (reference: "
            "schemas/spec.schema.yaml); commented-out fields show their defaults or an example."
        ),
        _field("prompt", prompt),
        _field("negative_prompt", defaults["negative_prompt"], enabled=False),
        _field("name", name, enabled=False),
        _described("inputs", _inputs_body(inputs)),
        _described("controls", _controls_body(inputs, weights)),
        _described(
            "params", _params_body(defaults["params"]), "Values: config.yaml defaults.params."
        ),
        _field("upscale", False),
        _field("enhance", False),
        _field("host", settings["default_host"], enabled=False, note=f"Hosts: {hosts}."),
        _described(
            "requirements",
            _commented(_block("requirements", [("min_gpu_memory_gb", 80), ("gpus", 1)])),
        ),
        _described("sweep", _commented(_block("sweep", sweep))),
    ]
    return "\n\n".join(blocks) + "\n"


def _taken(specs_dir: Path, name: str) -> bool:
    """Whether a spec file of that name exists (.yaml or .yml: both would give the same name)."""
    return any((specs_dir / f"{name}{suffix}").exists() for suffix in (".yaml", ".yml"))


def _write_new(path: Path, text: str) -> None:
    """Create path with text, all at once; FileExistsError if it exists (it is never replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _comment(text: str) -> str:
    """text as a paragraph of `# ` lines."""
    return textwrap.fill(text, WIDTH, initial_indent="# ", subsequent_indent="# ")


def _described(key: str, body: str, note: str = "") -> str:
    """A top-level field's text under its description from spec.schema.yaml (and a note)."""
    spec_schema = schemas.schema("spec.schema.yaml")
    about = spec_schema["properties"][key]
    if "description" not in about:  # params: described where its $ref points
        about = spec_schema["$defs"][about["$ref"].rsplit("/", 1)[-1]]
    description = about["description"]
    return f"{_comment(f'{description} {note}'.strip())}\n{body}"


def _field(key: str, value: Any, *, enabled: bool = True, note: str = "") -> str:
    """A described top-level field with a scalar value; commented out unless enabled."""
    body = yaml.dump(
        {key: value}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=WIDTH
    ).rstrip("\n")
    return _described(key, body if enabled else _commented(body), note)


def _commented(text: str) -> str:
    """Every line of text commented out."""
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines())


def _block(key: str, entries: list[tuple[str, Any]]) -> str:
    """`key:` then one `name: value` line per entry."""
    return "\n".join([f"{key}:", *(f"  {_entry(name, value)}" for name, value in entries)])


def _entry(key: str, value: Any) -> str:
    """`key: value` on one line (a mapping value in flow style)."""
    flow = yaml.dump(
        {key: value}, Dumper=_Dumper, default_flow_style=True, sort_keys=False,
        allow_unicode=True, width=math.inf,
    )  # fmt: skip
    return flow.strip()[1:-1]


def _aligned(key: str | None, rows: list[tuple[str, str]]) -> str:
    """`key:` then its entry lines, notes aligned in one column (key None: the rows alone)."""
    width = max(len(entry) for entry, _ in rows) + 2
    indent = "" if key is None else "  "
    lines = [f"{indent}{entry.ljust(width)}# {note}" for entry, note in rows]
    return "\n".join(lines if key is None else [f"{key}:", *lines])


def _label(inputs: SpecInputs, role: str) -> str:
    """What provides a role: `depth.mp4`, or `the depth frames`."""
    provider = inputs.roles[role]
    return provider if inputs.kind == "videos" else f"the {provider} frames"


def _inputs_body(inputs: SpecInputs) -> str:
    found = ", ".join(inputs.roles.values())
    if inputs.kind == "videos":
        return _aligned(None, [(_entry("inputs", inputs.path), f"control videos: {found}")])
    return _aligned("inputs", [(_entry("frames", inputs.path), f"PNG sequences: {found}")])


def _controls_body(inputs: SpecInputs, weights: dict[str, float]) -> str:
    rows = []
    for control, weight in weights.items():
        source = CONTROL_SOURCES[control]
        value: Any = weight or DEFAULT_WEIGHT
        if source in inputs.roles:
            note = f"{'uses' if weight else 'off; would use'} {_label(inputs, source)}"
        elif control == "vis":
            note = "needs a color input"
        else:
            value = {"weight": value, "input": "auto"}
            note = f"no {source} input: NVIDIA {'computes' if weight else 'would compute'} it "
            note += "from the color video"
        entry = _entry(control, value)
        rows.append((entry, note) if weight else (f"# {entry}", note))
    return _aligned("controls", rows)


def _params_body(params: dict[str, Any]) -> str:
    spec_schema = schemas.schema("spec.schema.yaml")
    rows = []
    for key, about in spec_schema["$defs"]["params"]["properties"].items():
        note = about["description"]
        if about.get("$ref") == "#/$defs/preset":
            note += " " + " | ".join(spec_schema["$defs"]["preset"]["enum"])
        rows.append((_entry(key, params[key]), note))
    return _aligned("params", rows)
