"""`cosmos prepare` (encode a render folder outside the pipeline), `cosmos new` (write a spec)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos_steps.cli.common import add_json_flag, open_project, plural
from cosmos_steps.cli.output import Block, Fields, Table, human_bytes, print_json, render
from cosmos_steps.errors import CosmosError

if TYPE_CHECKING:
    from cosmos_steps.frames import ValidationReport
    from cosmos_steps.scaffold import SpecInputs

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""A name that is one safe path component (as spec names are)."""


def register(commands: argparse._SubParsersAction) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="validate a render folder and encode its control videos (outside the pipeline)",
        description="Validate a render folder of PNG sequences (every problem at once) and "
        "encode one H.264 control video per pass, with meta.json, into work/prepared/NAME/.",
    )
    prepare.add_argument(
        "render_dir", type=Path, metavar="RENDER_DIR", help="folder of PNG sequences"
    )
    prepare.add_argument(
        "--fps", type=_fps, default=24, help="frame rate of the videos (default 24)"
    )
    prepare.add_argument(
        "--name", help="output folder name (default: the render folder's name, made safe)"
    )
    prepare.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: work/prepared/NAME)"
    )
    prepare.add_argument(
        "--crf", type=int, help="H.264 quality 1-51 (default: config.yaml encode.crf, else 18)"
    )
    prepare.add_argument(
        "--preset", help="x264 preset (default: config.yaml encode.preset, else medium)"
    )
    prepare.add_argument(
        "--dry-run", action="store_true", help="validate and show what would be encoded only"
    )
    add_json_flag(prepare)
    prepare.set_defaults(handler=prepare_render)

    new = commands.add_parser(
        "new",
        help="write specs/NAME.yaml for a prompt and a render or control-video folder",
        description="Write a commented run spec, ready to run, for a prompt and a render folder "
        "(PNG sequences) or a folder of control videos; checked like `cosmos validate`.",
    )
    new.add_argument("prompt", metavar="PROMPT", help="what to generate")
    new.add_argument(
        "folder",
        type=Path,
        metavar="RENDER_OR_VIDEO_DIR",
        help="a render folder of PNG sequences or a folder of control videos (color.mp4, ...)",
    )
    new.add_argument("--name", help="spec name (default: a smart name from the prompt)")
    new.add_argument(
        "--weights",
        nargs=4,
        type=_weight,
        metavar=("VIS", "EDGE", "DEPTH", "SEG"),
        help="control weights 0..1 (default: 0.25 for each control whose input exists, else 0)",
    )
    new.set_defaults(handler=new_spec)


def prepare_render(args: argparse.Namespace) -> int:
    """Validate, print the table, encode (unless --dry-run); exit 1 when the folder is invalid."""
    from cosmos_steps import encode, scaffold

    options = _encode_options(args)
    root = Path(args.config).resolve().parent
    outdir = args.out or root / "work" / "prepared" / _output_name(args)
    shown = scaffold.project_path(outdir, root)
    try:
        encode.check_settings(args.fps, options["crf"], options["preset"])
        report, rows = encode.prepare_table(args.render_dir, shown, args.fps)
    except (ValueError, FileNotFoundError) as exc:
        raise CosmosError(str(exc)) from None
    _print_problems(report)
    result = {
        "source": scaffold.project_path(args.render_dir, root),
        "output": shown,
        "dry_run": args.dry_run,
        "ok": report.ok,
        **{kind: getattr(report, kind) for kind in ("errors", "warnings", "notes")},
        "videos": rows,
        "meta": None,
        "seconds": None,
    }
    if report.ok and not args.dry_run:
        _encode(args, outdir, options, result)
    if args.json:
        print_json(result)
    if not report.ok:
        raise CosmosError(
            f"{args.render_dir} is not a usable render folder "
            f"({plural(len(report.errors), 'error')}); nothing encoded"
        )
    if not args.json:
        _show_prepared(result)
    return 0


def new_spec(args: argparse.Namespace) -> int:
    """Write specs/<name>.yaml, check it like `cosmos validate`, print the next step."""
    from cosmos_steps import scaffold

    _check_text(args.prompt, "/$defs/text", "prompt")
    if args.name is not None:
        _check_text(args.name, "/properties/name", "--name")
    project = open_project(args)
    settings = project.settings
    inputs = scaffold.find_inputs(args.folder, project.root)
    weights = _weights(args, inputs)
    if inputs.kind == "frames":
        _check_render(args.folder)
    specs_dir = project.path(settings["specs_dir"])
    names = [args.name] if args.name else scaffold.name_candidates(_smart_name(args.prompt))
    path = scaffold.create_spec(
        specs_dir,
        names,
        lambda name: scaffold.spec_text(args.prompt, name, inputs, weights, settings),
    )
    if path is None:
        folder = scaffold.project_path(specs_dir, project.root)
        raise CosmosError(
            f"{folder} already has a spec named {args.name}; nothing written "
            "(choose another --name)"
        )
    where = scaffold.project_path(path, project.root)
    if not _validates(path, where, settings, project.root):
        return 1
    _show_new(path.stem, where, inputs, weights, project.root)
    return 0


def _print_problems(report: ValidationReport) -> None:
    """Every error, then every warning and note of a render folder's validation, on stderr."""
    counts = [plural(len(items), kind) for kind, items in
              (("error", report.errors), ("warning", report.warnings)) if items]  # fmt: skip
    lines = [f"  {kind}: {item}" for kind in ("error", "warning", "note")
             for item in getattr(report, f"{kind}s")]  # fmt: skip
    if lines:
        print(f"{report.scan.folder}: {', '.join(counts) or 'notes'}", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)


def _fps(text: str) -> float:
    """argparse type: a frame rate above 0 (a whole number stays an int)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frame rate, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a frame rate above 0, got {text}")
    return int(value) if value.is_integer() else value


def _weight(text: str) -> float:
    """argparse type: a control weight from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a weight from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a weight from 0 to 1, got {text}")
    return value


def _encode_options(args: argparse.Namespace) -> dict[str, Any]:
    """CRF, preset and ffmpeg: the options, else config.yaml (when there is one), else defaults."""
    from cosmos_steps import encode

    options: dict[str, Any] = {
        "crf": encode.DEFAULT_CRF, "preset": encode.DEFAULT_PRESET, "ffmpeg": "auto"
    }  # fmt: skip
    if Path(args.config).is_file():
        settings = open_project(args).settings
        options.update(settings["encode"], ffmpeg=settings["ffmpeg"])
    given = {"crf": args.crf, "preset": args.preset}
    options.update((key, value) for key, value in given.items() if value is not None)
    return options


def _output_name(args: argparse.Namespace) -> str:
    """--name (checked), else the render folder's name with unsafe characters replaced."""
    if args.name is not None:
        if not SAFE_NAME.fullmatch(args.name):
            raise CosmosError(
                f"--name: {args.name!r} is not a safe folder name "
                "(letters, digits, _ . -; starting with a letter or digit)"
            )
        return args.name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", args.render_dir.resolve().name).strip("_.-")
    return safe or "render"


def _encode(
    args: argparse.Namespace, outdir: Path, options: dict[str, Any], result: dict[str, Any]
) -> None:
    """Encode into outdir with a line per finished video on stderr; fill result's facts."""
    from cosmos_steps import encode
    from cosmos_steps.ffmpeg import FfmpegError

    rows = {row["modality"]: row for row in result["videos"]}
    _remove_stale(outdir, {encode.VIDEO_NAMES[m] for m in rows})
    start = time.monotonic()

    def done(modality: str, facts: dict[str, Any]) -> None:
        rows[modality].update(bytes=facts["bytes"], sha256=facts["sha256"])
        position = list(rows).index(modality) + 1
        print(
            f"  {facts['file']} done ({position}/{len(rows)}, {human_bytes(facts['bytes'])}, "
            f"{time.monotonic() - start:.1f} s)",
            file=sys.stderr,
        )

    try:
        result["meta"] = encode.encode_render(
            args.render_dir, outdir, args.fps, **options, on_video=done
        )
    except FfmpegError as exc:
        raise CosmosError(f"encoding failed: {exc}") from None
    result["seconds"] = round(time.monotonic() - start, 2)


def _remove_stale(outdir: Path, produced: set[str]) -> None:
    """Delete control videos of an earlier encode that this one will not replace.

    A folder of videos is used as it is (`inputs: DIR`), so an old edge.mp4 left beside a new
    render's videos would be picked up with them.
    """
    from cosmos_steps.specs import FOLDER_VIDEOS

    for name in (n for names in FOLDER_VIDEOS.values() for n in names if n not in produced):
        if (outdir / name).is_file():
            (outdir / name).unlink()
            print(f"  removed {outdir / name} (from an earlier encode)", file=sys.stderr)


def _show_prepared(result: dict[str, Any]) -> None:
    """The table, how to use the videos, and the summary line."""
    encoded = result["meta"] is not None
    columns = ["MODALITY", "FRAMES", "COUNT", "SIZE", "VIDEO", "BITS", "FPS", "OUTPUT"]
    rows: list[list[Any]] = [
        [row["modality"], row["frames"], str(row["count"]), row["size"], row["video_size"],
         str(row["bit_depth"]), f"{row['fps']:g}", row["output"]]
        + ([human_bytes(row["bytes"])] if encoded else [])
        for row in result["videos"]
    ]  # fmt: skip
    first = result["videos"][0]
    shape = f"{first['count']} frames, {first['video_size']} @ {first['fps']:g} fps"
    videos = plural(len(rows), "video")
    output = result["output"]
    if not encoded:
        render([Table(columns, rows)], f"{result['source']} is valid: would encode {videos} "
               f"({shape}) to {output} (dry run: nothing written)")  # fmt: skip
        return
    hint = f'in a spec: `inputs: {output}`, or: cosmos new "PROMPT" {output}'
    summary = f"encoded {videos} ({shape}) to {output} in {result['seconds']:.1f} s"
    render([Table([*columns, "FILE SIZE"], rows), Block(hint, title="use them")], summary)


def _weights(args: argparse.Namespace, inputs: SpecInputs) -> dict[str, float]:
    """Control -> weight: --weights, else the defaults for what the inputs hold."""
    from cosmos_steps import scaffold

    if args.weights is None:
        return scaffold.default_weights(inputs)
    if not any(args.weights):
        raise CosmosError("every control weight is 0: give at least one a weight above 0")
    return dict(zip(scaffold.CONTROL_SOURCES, args.weights, strict=True))


def _check_text(value: str, pointer: str, label: str) -> None:
    """A CosmosError when value breaks the rule of spec.schema.yaml at pointer."""
    from cosmos_steps import schemas

    problems = schemas.subschema_problems(value, pointer)
    if problems:
        raise CosmosError(f"{label}: {problems[0]}")


def _check_render(folder: Path) -> None:
    """Validate a render folder (PNG headers); print its problems; a CosmosError when unusable."""
    from cosmos_steps.frames import scan_render, validate_render

    report = validate_render(scan_render(folder))
    _print_problems(report)
    if not report.ok:
        raise CosmosError(
            f"{folder} is not a usable render folder ({plural(len(report.errors), 'error')}); "
            "nothing written"
        )


def _smart_name(prompt: str) -> str:
    """naming.smart_name, saying so when it loads the model (a few seconds)."""
    from cosmos_steps import naming

    if naming.keybert_available():
        print("naming the spec from the prompt (KeyBERT)...", file=sys.stderr)
    return naming.smart_name(prompt)


def _validates(path: Path, where: str, settings: dict[str, Any], root: Path) -> bool:
    """Whether `cosmos validate` accepts the new spec; if not, remove it and say why.

    Other specs' problems are not the new spec's: they are only mentioned.
    """
    from cosmos_steps import schemas, specs

    try:
        specs.load_plan(settings, root)
    except schemas.ValidationFailed as exc:
        mine = [p for p in exc.problems if p.startswith(f"{where}:") or p.endswith(f" {where}")]
        if mine:
            path.unlink()
            schemas.report(mine, f"{where} was not kept")
            return False
        print("note: other specs have problems (cosmos validate lists them)", file=sys.stderr)
    return True


def _show_new(
    name: str, where: str, inputs: SpecInputs, weights: dict[str, float], root: Path
) -> None:
    """What was written and what to run next."""
    kind = "PNG sequences" if inputs.kind == "frames" else "control videos"
    on = [f"{control} {weight:g}" for control, weight in weights.items() if weight > 0]
    place = "" if root == Path.cwd().resolve() else f" (in {root})"
    fields = [
        ("spec", where),
        ("inputs", f"{inputs.path} ({kind}: {', '.join(inputs.roles.values())})"),
        ("controls", ", ".join(on)),
        ("run", f"snakemake --cores 2{place}"),
        ("this spec only", f"snakemake results/{name}/output.mp4"),
    ]
    render([Fields(fields)], f"wrote {where}: check or edit it, then run it")
