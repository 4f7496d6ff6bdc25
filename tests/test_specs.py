"""Spec validation, sweep expansion, run naming and batch assignment (cosmos_steps.specs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_steps import config, schemas, specs
from tests.helpers import base_config, make_videos, write_yaml


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_videos(tmp_path / "videos", ("color", "depth", "edge"))
    return tmp_path


def plan_for(project: Path, **spec_files: dict) -> specs.Plan:
    for name, spec in spec_files.items():
        write_yaml(project / "specs" / f"{name}.yaml", spec)
    return specs.load_plan(config.prepare(base_config()), project)


def problems_for(project: Path, **spec_files: dict) -> list[str]:
    with pytest.raises(schemas.ValidationFailed) as caught:
        plan_for(project, **spec_files)
    return caught.value.problems


GOOD = {"prompt": "a city at night", "inputs": "videos", "controls": {"depth": 0.5}}


def test_single_spec_gives_one_run_named_after_the_file(project: Path) -> None:
    plan = plan_for(project, city=GOOD)
    assert list(plan.runs) == ["city"]
    run = plan.runs["city"]
    assert run["inputs"] == {
        "color": "videos/color.mp4",
        "depth": "videos/depth.mp4",
        "edge": "videos/edge.mp4",
    }
    assert run["controls"] == {"depth": {"weight": 0.5, "input": "videos/depth.mp4"}}
    assert run["params"]["num_steps"] == 35 and run["params"]["seed"] == 1
    assert run["negative_prompt"].startswith("The video captures a game playing")


def test_weight_out_of_range_is_reported_with_file_and_field(project: Path) -> None:
    bad = {**GOOD, "controls": {"depth": {"weight": 1.7}}}
    assert problems_for(project, x=bad) == [
        "specs/x.yaml: controls.depth.weight: 1.7 is greater than the maximum of 1"
    ]


def test_every_problem_of_every_spec_is_reported_at_once(project: Path) -> None:
    found = problems_for(
        project,
        a={"inputs": "videos", "controls": {"vis": 2}},
        b={**GOOD, "params": {"blur_strength": "extreme", "num_steps": 0}},
        c={**GOOD, "colour": 1},
    )
    assert "specs/a.yaml: (top level): 'prompt' is a required property" in found
    assert "specs/a.yaml: controls.vis: 2 is greater than the maximum of 1" in found
    assert any(
        p.startswith("specs/b.yaml: params.blur_strength: 'extreme' is not one of") for p in found
    )
    assert "specs/b.yaml: params.num_steps: 0 is less than the minimum of 1" in found
    assert any(p.startswith("specs/c.yaml: (top level): Additional properties") for p in found)


def test_prompt_limits(project: Path) -> None:
    found = problems_for(
        project, long={**GOOD, "prompt": "x" * 10_001}, ctrl={**GOOD, "prompt": "bell\x07"}
    )
    assert "specs/long.yaml: prompt: is 10001 characters long; the maximum is 10000" in found
    assert "specs/ctrl.yaml: prompt: contains a control character (U+0007) at position 4" in found


def test_newlines_and_unicode_in_prompts_are_fine(project: Path) -> None:
    plan = plan_for(project, ok={**GOOD, "prompt": 'line one\nline two — 東京, "quoted" $HOME `x`'})
    assert plan.runs["ok"]["prompt"].endswith("`x`")


def test_missing_files_are_named(project: Path) -> None:
    found = problems_for(
        project,
        a={**GOOD, "inputs": "nowhere"},
        b={**GOOD, "inputs": {"color": "videos/missing.mp4"}},
        c={**GOOD, "controls": {"edge": {"weight": 0.3, "input": "videos/nope.mp4"}}},
    )
    assert "specs/a.yaml: inputs.videos: folder 'nowhere' does not exist" in found
    assert "specs/b.yaml: inputs.color: file 'videos/missing.mp4' does not exist" in found
    assert "specs/c.yaml: controls.edge.input: file 'videos/nope.mp4' does not exist" in found


def test_spec_names_must_be_unique_and_safe(project: Path) -> None:
    found = problems_for(project, one={**GOOD, "name": "same"}, two={**GOOD, "name": "same"})
    assert found == ["specs/two.yaml: name: 'same' is already used by specs/one.yaml"]
    found = problems_for(project, x={**GOOD, "name": "../escape"})
    assert (
        "specs/x.yaml: name: '../escape' is not allowed here (expected letters, digits, _ . -"
        in " ".join(found)
    )


def test_unknown_host_is_reported(project: Path) -> None:
    found = problems_for(project, x={**GOOD, "host": "gpu9"})
    assert found == ["specs/x.yaml: host: 'gpu9' is not a host or pool of config.yaml (simulated)"]


def test_sweep_is_a_cartesian_product_with_readable_unique_names(project: Path) -> None:
    spec = {**GOOD, "sweep": {"controls.depth.weight": [0.2, 0.4, 0.6], "params.seed": [1, 2]}}
    plan = plan_for(project, city=spec)
    assert sorted(plan.runs) == [
        f"city/depth-{w}_seed-{s}" for w in ("0.2", "0.4", "0.6") for s in (1, 2)
    ]
    run = plan.runs["city/depth-0.4_seed-2"]
    assert run["controls"]["depth"]["weight"] == 0.4 and run["params"]["seed"] == 2
    assert run["sweep"] == {"depth": 0.4, "seed": 2}


def test_sweep_values_are_validated_like_the_field(project: Path) -> None:
    spec = {
        **GOOD,
        "sweep": {"controls.depth.weight": [0.5, 1.7], "params.canny_threshold": ["low", "odd"]},
    }
    found = problems_for(project, x=spec)
    assert (
        "specs/x.yaml: sweep.controls.depth.weight[1]: 1.7 is greater than the maximum of 1"
        in found
    )
    assert any(
        p.startswith("specs/x.yaml: sweep.params.canny_threshold[1]: 'odd' is not one of")
        for p in found
    )


def test_sweep_over_prompts_names_long_values_by_index(project: Path) -> None:
    spec = {**GOOD, "sweep": {"prompt": ["short", "a much longer prompt that does not fit a name"]}}
    assert sorted(plan_for(project, p=spec).runs) == ["p/prompt-short", "p/prompt-v1"]


def test_sweep_can_turn_a_control_on(project: Path) -> None:
    spec = {**GOOD, "sweep": {"controls.edge": [0, 0.3]}}
    runs = plan_for(project, e=spec).runs
    assert "edge" not in runs["e/edge-0"]["controls"]
    assert runs["e/edge-0.3"]["controls"]["edge"] == {"weight": 0.3, "input": "videos/edge.mp4"}


def test_controls_off_are_dropped_and_auto_means_nvidia_computes_it(project: Path) -> None:
    spec = {
        **GOOD,
        "controls": {"vis": 0.2, "seg": 0.3, "edge": {"weight": 0.4, "input": "auto"}, "depth": 0},
    }
    run = plan_for(project, x=spec).runs["x"]
    assert run["controls"] == {
        "edge": {"weight": 0.4, "input": "auto"},
        "seg": {"weight": 0.3, "input": "auto"},
        "vis": {"weight": 0.2, "input": "auto"},
    }


def test_control_only_run_needs_control_videos(project: Path) -> None:
    spec = {
        "prompt": "p",
        "inputs": {"depth": "videos/depth.mp4"},
        "controls": {"depth": 0.6, "edge": 0.2},
    }
    found = problems_for(project, x=spec)
    assert found == [
        "specs/x.yaml: controls.edge: input auto needs a color video (NVIDIA computes the control "
        "from it); give a control video"
    ]


def test_control_only_run_gets_a_note(project: Path) -> None:
    spec = {"prompt": "p", "inputs": {"depth": "videos/depth.mp4"}, "controls": {"depth": 0.6}}
    run = plan_for(project, x=spec).runs["x"]
    assert run["notes"] == [
        "no color video: control-only run, sigma_max set to 80 as NVIDIA requires"
    ]


def test_runs_agreeing_on_globals_and_controls_share_a_batch(project: Path) -> None:
    spec = {**GOOD, "sweep": {"controls.depth.weight": [0.2, 0.4], "params.seed": [1, 2]}}
    plan = plan_for(project, city=spec)
    assert len(plan.batches) == 2  # seed is batch-global: one batch per seed
    for keys in plan.batches.values():
        seeds = {plan.runs[k]["params"]["seed"] for k in keys}
        assert len(seeds) == 1 and len(keys) == 2
        assert [plan.runs[k]["line"] for k in keys] == [0, 1]


def test_a_batch_never_mixes_control_sets(project: Path) -> None:
    spec = {**GOOD, "controls": {"depth": 0.5}, "sweep": {"controls.edge": [0, 0.3]}}
    plan = plan_for(project, mix=spec)
    assert len(plan.batches) == 2
    for keys in plan.batches.values():
        assert len({tuple(plan.runs[k]["controls"]) for k in keys}) == 1


def test_batches_are_chunked_and_ids_stable(project: Path) -> None:
    spec = {**GOOD, "sweep": {"controls.depth.weight": [0.1, 0.2, 0.3, 0.4, 0.5]}}
    settings = config.prepare({**base_config(), "batching": {"max_runs": 2}})
    write_yaml(project / "specs" / "c.yaml", spec)
    first = specs.load_plan(settings, project)
    again = specs.load_plan(config.prepare({**base_config(), "batching": {"max_runs": 2}}), project)
    assert sorted(len(v) for v in first.batches.values()) == [1, 2, 2]
    assert first.batches == again.batches
    assert all(b.startswith("c-") for b in first.batches)


def test_specs_on_other_hosts_or_params_batch_apart(project: Path) -> None:
    plan = plan_for(project, a=GOOD, b={**GOOD, "params": {"guidance": 7}})
    assert len(plan.batches) == 2
