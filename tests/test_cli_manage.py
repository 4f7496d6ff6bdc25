"""`cosmos delete` and `cosmos verify` on real database files and result folders."""

from __future__ import annotations

import io
import json
import sys

import pytest

from cosmos_steps import api
from tests.cli_project import (
    JOB_MEADOW,
    JOB_STREET,
    PROMPT_STREET,
    RUN_MEADOW,
    RUN_STREET_1,
    RUN_STREET_2,
)


def count(project, table: str, where: str = "1", params=()) -> int:
    return project.db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE {where}", list(params)
    ).fetchone()[0]


class FakeTerminal(io.StringIO):
    """stdin that claims to be a terminal, with the user's answer in it."""

    def isatty(self) -> bool:
        return True


def test_delete_run_preview_then_refuse_without_a_terminal(seeded, cli, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    result = cli(seeded, "delete", "run", "meadow")
    assert result.code == 1
    assert "stdin is not a terminal" in result.err and "--yes" in result.err
    assert "results/meadow" in result.out and "delete" in result.out
    assert count(seeded, "runs", "id = ?", [RUN_MEADOW]) == 1
    assert (seeded.root / "results" / "meadow" / "output.mp4").exists()


def test_delete_run_json_preview_needs_yes(seeded, cli):
    result = cli(seeded, "delete", "run", RUN_MEADOW, "--json")
    assert result.code == 1 and "--yes" in result.err
    preview = result.json()
    assert preview["deleted"] is False
    assert preview["runs"] == [{"id": RUN_MEADOW, "run_key": "meadow", "status": "completed"}]
    assert (preview["events"], preview["artifacts"], preview["batches"]) == (3, 3, [JOB_MEADOW])
    assert preview["folders"][0]["path"] == "results/meadow" and preview["files"] == 3
    assert count(seeded, "runs") == 4


def test_delete_run_confirmed_on_the_terminal(seeded, cli, monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    result = cli(seeded, "delete", "run", "meadow")
    assert result.code == 0, result.err
    assert "Delete run" in result.out
    assert f"deleted run {RUN_MEADOW}: 1 run, 3 events, 3 artifacts; 1 folder removed" in result.out
    assert count(seeded, "runs", "id = ?", [RUN_MEADOW]) == 0
    assert count(seeded, "events", "run_id = ? OR batch_id = ?", [RUN_MEADOW, JOB_MEADOW]) == 0
    assert count(seeded, "artifacts", "run_id = ?", [RUN_MEADOW]) == 0
    assert count(seeded, "batches", "id = ?", [JOB_MEADOW]) == 0
    assert not (seeded.root / "results" / "meadow").exists()
    assert (seeded.root / "results").is_dir()


def test_delete_answered_no_keeps_everything(seeded, cli, monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeTerminal("n\n"))
    result = cli(seeded, "delete", "run", "meadow")
    assert result.code == 1 and "nothing deleted" in result.err
    assert count(seeded, "runs", "id = ?", [RUN_MEADOW]) == 1


def test_delete_prompt_cascades_to_its_runs(seeded, cli):
    result = cli(seeded, "delete", "prompt", "street", "--yes", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["deleted"] is True
    assert {run["id"] for run in data["runs"]} == {RUN_STREET_1, RUN_STREET_2}
    assert data["removed_folders"] == ["results/street/seed-1"]
    assert count(seeded, "prompts", "id = ?", [PROMPT_STREET]) == 0
    assert count(seeded, "runs", "prompt_id = ?", [PROMPT_STREET]) == 0
    assert count(seeded, "batches", "id = ?", [JOB_STREET]) == 0
    assert not (seeded.root / "results" / "street").exists()  # emptied parent removed too
    assert api.search("rainy", project=seeded.config)["total"] == 0  # FTS row gone
    assert count(seeded, "runs") == 2


def test_delete_keep_outputs_keeps_folders(seeded, cli):
    result = cli(seeded, "delete", "run", "street/seed-1", "--yes", "--keep-outputs")
    assert result.code == 0
    assert "outputs kept" in result.out
    assert (seeded.root / "results" / "street" / "seed-1" / "output.mp4").exists()
    assert count(seeded, "runs", "id = ?", [RUN_STREET_1]) == 0
    assert count(seeded, "batches", "id = ?", [JOB_STREET]) == 1  # its other run remains


def test_delete_keeps_a_folder_that_holds_a_later_run(seeded, cli):
    later = seeded.root / "results" / "meadow" / "run.json"
    later.write_text(json.dumps({"run_id": "rs_later"}))
    preview = cli(seeded, "delete", "run", "meadow", "--yes", "--json").json()
    assert preview["folders"][0]["delete"] is False
    assert preview["folders"][0]["reason"] == "holds run rs_later"
    assert later.exists()


def test_delete_never_leaves_results(seeded, cli, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "precious.txt").write_text("keep me")
    link = seeded.root / "results" / "escape"
    link.symlink_to(outside, target_is_directory=True)
    seeded.add_batch("escape-00000000-000000000000", PROMPT_STREET, {"rs_escape": "escape"})
    preview = cli(seeded, "delete", "run", "rs_escape", "--yes", "--json").json()
    assert preview["folders"][0]["delete"] is False
    assert "outside" in preview["folders"][0]["reason"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_delete_bad_id(seeded, cli):
    result = cli(seeded, "delete", "run", "rs_nope", "--yes")
    assert result.code == 1 and "no run matches 'rs_nope'" in result.err
    ambiguous = cli(seeded, "delete", "run", "rs_aaaa", "--yes")
    assert ambiguous.code == 1 and "ambiguous" in ambiguous.err
    assert count(seeded, "runs") == 4


def test_delete_warns_about_runs_in_progress(seeded, cli):
    result = cli(seeded, "delete", "prompt", "neon-alley", "--yes")
    assert result.code == 0
    assert "1 run still in progress" in result.out


def test_verify_clean_project(seeded, cli):
    result = cli(seeded, "verify")
    assert result.code == 0
    assert result.out.strip() == (
        "checked 2 completed runs: 0 runs with missing outputs, 0 checksum mismatches, "
        "0 orphaned folders"
    )


def _break(project):
    (project.root / "results" / "meadow" / "output.mp4").unlink()
    (project.root / "results" / "street" / "seed-1" / "prompt.txt").write_text("edited")
    orphan = project.root / "results" / "street" / "seed-9"
    orphan.mkdir()
    (orphan / "output.mp4").write_bytes(b"unknown")
    (project.root / "results" / "report.html").write_text("not a run folder")


def test_verify_finds_missing_corrupt_and_orphaned(seeded, cli):
    _break(seeded)
    result = cli(seeded, "verify", "--json")
    assert result.code == 1
    report = result.json()
    assert report["missing_outputs"] == [
        {"id": RUN_MEADOW, "run_key": "meadow", "files": ["output.mp4"]}
    ]
    assert report["checksum_mismatches"] == [
        {
            "id": RUN_STREET_1,
            "run_key": "street/seed-1",
            "files": ["results/street/seed-1/prompt.txt"],
        }
    ]
    assert report["orphaned_folders"] == ["results/street/seed-9"]
    assert (report["problems"], report["fixed"]) == (3, False)
    assert seeded.run_status(RUN_MEADOW) == "completed"
    table = cli(seeded, "verify")
    assert table.code == 1 and "missing outputs" in table.out and "--fix repairs" in table.out


def test_verify_fix_marks_and_moves(seeded, cli):
    _break(seeded)
    result = cli(seeded, "verify", "--fix")
    assert result.code == 0, result.err
    assert "(fixed)" in result.out and "results/.orphans/street/seed-9" in result.out
    assert seeded.run_status(RUN_MEADOW) == "failed"
    error = seeded.db.execute("SELECT error FROM runs WHERE id = ?", [RUN_MEADOW]).fetchone()[0]
    assert error == "output missing on disk"
    assert seeded.run_status(RUN_STREET_1) == "failed"
    moved = seeded.root / "results" / ".orphans" / "street" / "seed-9" / "output.mp4"
    assert moved.read_bytes() == b"unknown"
    again = cli(seeded, "verify", "--json").json()
    assert again["problems"] == 0 and again["checked_runs"] == 0


def test_verify_superseded_run_is_not_a_problem(seeded, cli):
    seeded.add_batch(
        "meadow-00000000-111111111111", "ps_2222bbbb00000000", {"rs_meadow_2": "meadow"}
    )
    seeded.complete_run("rs_meadow_2", "meadow", video=b"newer video")
    report = cli(seeded, "verify", "--json").json()
    assert report["problems"] == 0
    assert report["superseded"] == [
        {"id": RUN_MEADOW, "run_key": "meadow", "held_by": "rs_meadow_2"}
    ]


@pytest.mark.parametrize("kind", ["prompt", "run"])
def test_delete_preview_api_changes_nothing(seeded, kind):
    ref = "street" if kind == "prompt" else "street/seed-1"
    preview = api.preview_delete(kind, ref, project=seeded.config)
    assert preview["kind"] == kind and preview["folders"]
    assert count(seeded, "runs") == 4
