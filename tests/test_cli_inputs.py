"""`cosmos prepare` and `cosmos new` on real PNG sequences, real encodes and real spec checks."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cosmos_steps import PROJECT_DIR, naming
from cosmos_steps.demo_render import write_demo_render
from cosmos_steps.ffmpeg import probe
from tests.cli_project import CliResult, ProjectDir
from tests.helpers import make_videos, snakemake
from tests.render_helpers import flat, truncate, write_png

Cli = Callable[..., CliResult]
PASSES = ["color", "depth", "segmentation", "edge"]
STREET = "A rainy street at night, neon signs reflecting in puddles"
SPEC_SCHEMA = yaml.safe_load((PROJECT_DIR / "schemas" / "spec.schema.yaml").read_text())
needs_model = pytest.mark.skipif(
    not naming.keybert_available(), reason="KeyBERT or the model is missing"
)


@pytest.fixture
def project(cosmos_project: ProjectDir) -> ProjectDir:
    """A project with a 3-frame render folder renders/street (all four passes)."""
    write_demo_render(cosmos_project.root / "renders" / "street", frames=3, size=(32, 18))
    return cosmos_project


def set_encode_config(project: ProjectDir, **encode: object) -> None:
    config = yaml.safe_load(project.config.read_text())
    project.config.write_text(yaml.safe_dump({**config, "encode": encode}))


def spec_of(project: ProjectDir, name: str) -> dict:
    return yaml.safe_load((project.root / "specs" / f"{name}.yaml").read_text(encoding="utf-8"))


def spec_files(project: ProjectDir) -> list[str]:
    folder = project.root / "specs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_prepare_dry_run_shows_the_table_and_writes_nothing(project: ProjectDir, cli: Cli) -> None:
    result = cli(project, "prepare", str(project.root / "renders" / "street"), "--dry-run")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["MODALITY", "FRAMES", "COUNT", "SIZE", "VIDEO", "BITS", "FPS",
                                "OUTPUT"]  # fmt: skip
    for line, modality in zip(lines[1:5], PASSES, strict=True):
        output = f"work/prepared/street/{modality}.mp4"
        assert line.split() == [modality, "1-3", "3", "32x18", "32x18", "8", "24", output]
    assert lines[-1] == (
        "renders/street is valid: would encode 4 videos (3 frames, 32x18 @ 24 fps) "
        "to work/prepared/street (dry run: nothing written)"
    )
    assert "warning: only 3 frames" in result.err
    assert not (project.root / "work").exists()


def test_prepare_encodes_every_pass(project: ProjectDir, cli: Cli) -> None:
    set_encode_config(project, crf=30, preset="ultrafast")
    render = project.root / "renders" / "street"
    result = cli(project, "prepare", str(render), "--fps", "12")
    assert result.code == 0, result.err
    outdir = project.root / "work" / "prepared" / "street"
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        [f"{m}.mp4" for m in PASSES] + ["meta.json"]
    )
    info = probe(outdir / "segmentation.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (3, 12.0, 32, 18)
    meta = json.loads((outdir / "meta.json").read_text())
    assert (meta["crf"], meta["preset"], meta["fps"]) == (30, "ultrafast", 12)
    progress = [line.strip() for line in result.err.splitlines() if " done (" in line]
    assert [line.split()[0] for line in progress] == [f"{m}.mp4" for m in PASSES]
    assert progress[0].startswith("color.mp4 done (1/4, ")
    assert "FILE SIZE" in result.out.splitlines()[0]
    assert "`inputs: work/prepared/street`" in result.out
    assert 'cosmos new "PROMPT" work/prepared/street' in result.out
    assert re.fullmatch(
        r"encoded 4 videos \(3 frames, 32x18 @ 12 fps\) to work/prepared/street in \d+\.\d s",
        result.out.splitlines()[-1],
    )


def test_prepare_json_with_name_out_and_options(project: ProjectDir, cli: Cli) -> None:
    set_encode_config(project, crf=30, preset="ultrafast")
    render = project.root / "renders" / "street"
    out = project.root / "elsewhere" / "shot"
    result = cli(project, "prepare", str(render), "--out", str(out), "--crf", "20", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert (data["source"], data["output"], data["ok"]) == (
        "renders/street",
        "elsewhere/shot",
        True,
    )
    assert data["errors"] == [] and data["warnings"][0].startswith("only 3 frames")
    assert (data["meta"]["crf"], data["meta"]["preset"]) == (20, "ultrafast")
    assert isinstance(data["seconds"], float)
    for row, modality in zip(data["videos"], PASSES, strict=True):
        video = out / f"{modality}.mp4"
        assert row["output"] == f"elsewhere/shot/{modality}.mp4"
        assert row["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
        assert row["bytes"] == video.stat().st_size
    named = cli(project, "prepare", str(render), "--name", "take_2", "--dry-run", "--json")
    assert named.json()["output"] == "work/prepared/take_2" and named.json()["meta"] is None


def test_prepare_without_a_config_uses_the_default_encoding(tmp_path: Path) -> None:
    from cosmos_steps.cli import main

    write_demo_render(tmp_path / "my render!", frames=2, size=(32, 18))
    code = main(
        ["--config", str(tmp_path / "config.yaml"), "prepare", str(tmp_path / "my render!")]
    )
    assert code == 0
    meta = json.loads((tmp_path / "work" / "prepared" / "my_render" / "meta.json").read_text())
    assert (meta["crf"], meta["preset"]) == (18, "medium")


def test_prepare_replaces_the_videos_of_an_earlier_encode(project: ProjectDir, cli: Cli) -> None:
    out = project.root / "work" / "prepared" / "street"
    assert cli(project, "prepare", str(project.root / "renders" / "street")).code == 0
    color_only = project.root / "renders" / "street_v2"
    color_only.mkdir()
    for frame in (1, 2, 3):
        (color_only / f"color.{frame:04d}.png").write_bytes(
            (project.root / "renders" / "street" / f"color.{frame:04d}.png").read_bytes()
        )
    result = cli(project, "prepare", str(color_only), "--name", "street")
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["color.mp4", "meta.json"]
    assert f"removed {out / 'edge.mp4'}" in result.err


def test_prepare_lists_every_problem_of_an_invalid_folder(project: ProjectDir, cli: Cli) -> None:
    render = project.root / "renders" / "street"
    (render / "color.0002.png").unlink()
    truncate(render / "depth.0003.png", 60)
    (render / "edge_1.png").write_bytes((render / "edge.0001.png").read_bytes())
    write_png(render / "segmentation.0002.png", flat((32, 18), (1, 2, 3, 255)))
    result = cli(project, "prepare", str(render), "--json")
    assert result.code == 1
    assert "Traceback" not in result.err
    problems = [line.strip() for line in result.err.splitlines() if line.startswith("  ")]
    kinds = [line.split(":")[0] for line in problems]
    assert kinds == ["error"] * 3 + ["warning"] * 2
    assert "color: 1 missing frame(s) in 1-3: 2" in problems[0]
    assert "depth.0003.png: truncated" in problems[1]
    assert "edge.0001.png, edge_1.png" in problems[2]
    assert "segmentation: PNGs have an alpha channel" in problems[4]
    assert result.err.splitlines()[0] == f"{render}: 3 errors, 2 warnings"
    assert result.err.splitlines()[-1] == (
        f"cosmos: {render} is not a usable render folder (3 errors); nothing encoded"
    )
    assert result.json()["ok"] is False and len(result.json()["errors"]) == 3
    assert not (project.root / "work").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["renders/none"], "render folder not found"),
        (["renders/street", "--crf", "0"], "crf must be within 1..51"),
        (["renders/street", "--preset", "turbo"], "unknown x264 preset 'turbo'"),
        (["renders/street", "--name", "../up"], "'../up' is not a safe folder name"),
    ],
)
def test_prepare_refuses_bad_arguments(
    project: ProjectDir, cli: Cli, args: list[str], message: str
) -> None:
    result = cli(project, "prepare", str(project.root / args[0]), *args[1:])
    assert result.code == 1
    assert result.err.startswith("cosmos: ") and message in result.err
    assert not (project.root / "work").exists()


def test_new_from_a_render_folder(project: ProjectDir, cli: Cli) -> None:
    result = cli(project, "new", STREET, str(project.root / "renders" / "street"), "--name", "st")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "wrote specs/st.yaml: check or edit it, then run it"
    assert "snakemake results/st/output.mp4" in result.out
    text = (project.root / "specs" / "st.yaml").read_text()
    spec = yaml.safe_load(text)
    assert spec == {
        "prompt": STREET,
        "inputs": {"frames": "renders/street"},
        "controls": {"vis": 0.25, "edge": 0.25, "depth": 0.25, "seg": 0.25},
        "params": {"num_steps": 35, "guidance": 5.0, "seed": 1, "sigma_max": 70.0,
                   "blur_strength": "medium", "canny_threshold": "medium", "fps": 24},
        "upscale": False,
        "enhance": False,
    }  # fmt: skip
    for field in SPEC_SCHEMA["properties"]:  # every field is there, optional ones commented out
        assert re.search(rf"^(# )?{field}:", text, re.MULTILINE), field
    assert "# host: sim\n" in text and "#   params.seed: [1, 2]" in text
    assert cli(project, "validate").out.startswith("ok: 1 specs, 1 runs")


def test_new_from_a_video_folder_with_weights(project: ProjectDir, cli: Cli) -> None:
    make_videos(project.root / "footage", ("color", "depth"), frames=3, size="32x18")
    folder = str(project.root / "footage")
    result = cli(project, "new", STREET, folder, "--name", "a", "--weights", "0.5", "0", "0.3", "1")
    assert result.code == 0, result.err
    spec = spec_of(project, "a")
    assert spec["inputs"] == "footage"
    assert spec["controls"] == {"vis": 0.5, "depth": 0.3, "seg": {"weight": 1.0, "input": "auto"}}
    text = (project.root / "specs" / "a.yaml").read_text()
    assert re.search(r"^  # edge: \{weight: 0.25, input: auto\} +# no edge input: NVIDIA would "
                     r"compute it from the color video$", text, re.MULTILINE)  # fmt: skip
    assert cli(project, "new", STREET, folder, "--name", "b").code == 0
    assert spec_of(project, "b")["controls"] == {"vis": 0.25, "depth": 0.25}
    assert (
        "  # edge: {weight: 0.25, input: auto}" in (project.root / "specs" / "b.yaml").read_text()
    )


@pytest.mark.workflow
def test_a_new_spec_of_control_videos_passes_a_snakemake_dry_run(
    project: ProjectDir, cli: Cli
) -> None:
    make_videos(project.root / "footage", ("color", "edge"), frames=3, size="32x18")
    assert cli(project, "new", STREET, str(project.root / "footage"), "--name", "v").code == 0
    done = snakemake(project.root, "-n")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cosmos_jobspec" in done.stdout + done.stderr


@pytest.mark.workflow
def test_a_new_spec_of_a_render_folder_passes_a_snakemake_dry_run(
    project: ProjectDir, cli: Cli
) -> None:
    assert (
        cli(project, "new", STREET, str(project.root / "renders" / "street"), "--name", "r").code
        == 0
    )
    done = snakemake(project.root, "-n")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ffmpeg_encode_control" in done.stdout + done.stderr


@needs_model
def test_new_names_the_spec_with_keybert_and_never_overwrites(
    project: ProjectDir, cli: Cli
) -> None:
    name = naming.smart_name(STREET)
    assert set(name.split("_")) <= set(naming.content_words(STREET))
    specs_dir = project.root / "specs"
    specs_dir.mkdir()
    (specs_dir / f"{name}.yaml").write_text("# mine\n")
    (specs_dir / f"{name}_3.yml").write_text("# mine too\n")
    folder = str(project.root / "renders" / "street")
    for expected in (f"{name}_2", f"{name}_4"):
        result = cli(project, "new", STREET, folder)
        assert result.code == 0, result.err
        assert f"wrote specs/{expected}.yaml" in result.out
        assert spec_of(project, expected)["prompt"] == STREET
    assert (specs_dir / f"{name}.yaml").read_text() == "# mine\n"
    assert (specs_dir / f"{name}_3.yml").read_text() == "# mine too\n"


def test_new_never_overwrites_a_named_spec(project: ProjectDir, cli: Cli) -> None:
    (project.root / "specs").mkdir()
    (project.root / "specs" / "street.yaml").write_text("# mine\n")
    result = cli(
        project, "new", STREET, str(project.root / "renders" / "street"), "--name", "street"
    )
    assert result.code == 1
    assert "specs already has a spec named street; nothing written" in result.err
    assert (project.root / "specs" / "street.yaml").read_text() == "# mine\n"
    assert spec_files(project) == ["street.yaml"]


TRICKY = [
    "She said \"stop\": it's #1, isn't it?",
    "line one\nline two:\n  - indented # not a comment",
    "ends with a newline\n",
    "  leading spaces and\ttabs  ",
    "Ünïcødé 日本語 🎬 — “quotes” ‘too’",
    "odd breaks\x85here\u2028and\u2029there",
    "yes",
    "- a dash, ? a question, & an anchor, * an alias, ! a tag, % a directive, @ and `",
    "windows\r\nline ends\r\n\r\n",
    "{flow: [1, 2]}",
]


def test_tricky_prompts_round_trip_exactly(project: ProjectDir, cli: Cli) -> None:
    folder = str(project.root / "renders" / "street")
    for index, prompt in enumerate(TRICKY):
        result = cli(project, "new", prompt, folder, "--name", f"p{index}")
        assert result.code == 0, (prompt, result.err)
        assert spec_of(project, f"p{index}")["prompt"] == prompt, prompt
    assert cli(project, "validate").code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad\x01prompt", "renders/street"], "prompt: contains a control character (U+0001)"),
        (["x", "renders/street", "--name", "a b"], "--name: 'a b' is not allowed here"),
        (["x", "renders"], "renders holds neither PNG sequences (color.0001.png"),
        (["x", "renders/none"], "renders/none is not a folder"),
        (["x", "renders/street", "--weights", "0", "0", "0", "0"], "every control weight is 0"),
    ],
)
def test_new_refuses_bad_arguments(
    project: ProjectDir, cli: Cli, args: list[str], message: str
) -> None:
    result = cli(project, "new", args[0], str(project.root / args[1]), *args[2:])
    assert result.code == 1
    assert result.err.startswith("cosmos: ") and message in result.err
    assert spec_files(project) == []


def test_new_refuses_an_invalid_render_folder(project: ProjectDir, cli: Cli) -> None:
    render = project.root / "renders" / "street"
    truncate(render / "color.0001.png", 20)
    result = cli(project, "new", STREET, str(render), "--name", "x")
    assert result.code == 1
    assert "color.0001.png: truncated (ends inside the header)" in result.err
    assert result.err.endswith("is not a usable render folder (1 error); nothing written\n")
    assert spec_files(project) == []


def test_new_removes_a_spec_that_would_not_validate(project: ProjectDir, cli: Cli) -> None:
    make_videos(project.root / "footage", ("depth",), frames=3, size="32x18")
    folder = str(project.root / "footage")
    result = cli(project, "new", STREET, folder, "--name", "x", "--weights", "0.5", "0", "0.5", "0")
    assert result.code == 1
    assert "specs/x.yaml: controls.vis: input auto needs a color video" in result.err
    assert result.err.endswith("1 problem found; specs/x.yaml was not kept.\n")
    assert spec_files(project) == []


def test_weights_out_of_range_are_an_argument_error(project: ProjectDir, cli: Cli) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(project, "new", STREET, "renders/street", "--weights", "0.5", "1.5", "0", "0")
    assert exited.value.code == 2


def test_spec_text_parses_for_every_set_of_controls() -> None:
    from cosmos_steps import config, scaffold

    settings = config.prepare(yaml.safe_load((PROJECT_DIR / "config.yaml").read_text()))
    inputs = scaffold.SpecInputs("videos", "v", {"color": "color.mp4", "depth": "depth.mp4"})
    auto = {"weight": 1.0, "input": "auto"}
    for bits in range(1, 16):
        weights = {c: float(bits >> i & 1) for i, c in enumerate(scaffold.CONTROL_SOURCES)}
        spec = yaml.safe_load(scaffold.spec_text("p", "n", inputs, weights, settings))
        expected = {c: 1.0 if c in ("vis", "depth") else auto for c, w in weights.items() if w}
        assert spec["controls"] == expected


def test_a_spec_created_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    from cosmos_steps import scaffold

    def text_for(name: str) -> str:
        if name == "a":  # another process creates a.yaml between the check and the write
            (tmp_path / "a.yaml").write_text("# theirs\n")
        return f"# {name}\n"

    path = scaffold.create_spec(tmp_path, scaffold.name_candidates("a"), text_for)
    assert path == tmp_path / "a_2.yaml" and path.read_text() == "# a_2\n"
    assert (tmp_path / "a.yaml").read_text() == "# theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "a_2.yaml"]
