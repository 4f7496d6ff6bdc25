"""`cosmos list|search|show` and their Python API, on real database files."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from cosmos_steps import PROJECT_DIR, api, fulltext
from cosmos_steps.cli.output import Block, Fields, Styled, Table, render
from cosmos_steps.errors import Ambiguous, CosmosError, NotFound
from cosmos_steps.timeutil import parse_since
from tests.cli_project import (
    JOB_STREET,
    PROMPT_ALLEY,
    PROMPT_MEADOW,
    PROMPT_STREET,
    RUN_ALLEY,
    RUN_MEADOW,
    RUN_STREET_1,
    RUN_STREET_2,
)


def test_list_runs_json_newest_first_with_durations(seeded, cli):
    result = cli(seeded, "list", "runs", "--json")
    assert result.code == 0
    data = result.json()
    assert data["total"] == 4
    ids = [run["id"] for run in data["runs"]]
    assert ids == [RUN_ALLEY, RUN_STREET_2, RUN_STREET_1, RUN_MEADOW]
    street = next(run for run in data["runs"] if run["id"] == RUN_STREET_1)
    assert street["status"] == "completed"
    assert street["duration_seconds"] >= 0
    assert street["outputs"]["output.mp4"] == "results/street/seed-1/output.mp4"
    assert street["execution_config"] == {"params": {"seed": 1}}


def test_list_runs_table_has_status_error_and_summary(seeded, cli):
    result = cli(seeded, "list", "runs", "--limit", "2")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "RUN", "STATUS"]
    assert RUN_ALLEY[:13] in lines[1] and "running" in lines[1]
    assert "failed" in lines[2] and "CUDA out of memory" in lines[2]
    assert lines[-1] == "2 runs shown (of 4)"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--status", "failed"], [RUN_STREET_2]),
        (["--prompt", PROMPT_STREET[:8]], [RUN_STREET_2, RUN_STREET_1]),
        (["--prompt", "meadow"], [RUN_MEADOW]),
        (["--spec", "street", "--status", "completed"], [RUN_STREET_1]),
        (["--host", "sim", "--since", "2d"], [RUN_ALLEY]),
        (["--since", "2026-02-15"], [RUN_ALLEY, RUN_STREET_2, RUN_STREET_1]),
    ],
)
def test_list_runs_filters(seeded, cli, filters, expected):
    result = cli(seeded, "list", "runs", *filters, "--json")
    assert result.code == 0, result.err
    assert [run["id"] for run in result.json()["runs"]] == expected
    assert result.json()["total"] == len(expected)


def test_list_runs_empty_result_is_not_an_error(seeded, cli):
    result = cli(seeded, "list", "runs", "--status", "cancelled")
    assert (result.code, result.out.strip()) == (0, "no runs match")
    data = cli(seeded, "list", "runs", "--status", "cancelled", "--json").json()
    assert data == {"runs": [], "total": 0}


def test_list_on_an_empty_database(cosmos_project, cli):
    assert cli(cosmos_project, "list", "prompts").out.strip() == "no prompts yet"
    assert cli(cosmos_project, "list", "runs", "--json").json() == {"runs": [], "total": 0}


@pytest.mark.parametrize("value", ["3x", "yesterday", "2026-13-01", "-2d"])
def test_since_bad_value_names_the_option_and_format(seeded, cli, value):
    result = cli(seeded, "list", "runs", f"--since={value}")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("cosmos: since:") and "Nd" in result.err and "ISO" in result.err
    assert "Traceback" not in result.err


def test_parse_since_units_and_dates():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == "2026-03-10T10:30:00.000000+00:00"
    assert parse_since("2w", now) == "2026-02-24T12:00:00.000000+00:00"
    assert parse_since("2026-03-01T08:00:00+02:00") == "2026-03-01T06:00:00.000000+00:00"


def test_list_prompts_with_counts_and_model_filter(seeded, cli):
    data = cli(seeded, "list", "prompts", "--json").json()
    assert [p["id"] for p in data["prompts"]] == [PROMPT_ALLEY, PROMPT_STREET, PROMPT_MEADOW]
    street = data["prompts"][1]
    assert (street["run_count"], street["last_status"]) == (2, "failed")
    assert street["inputs"] is None or isinstance(street["inputs"], dict)
    assert cli(seeded, "list", "prompts", "--model", "upscale", "--json").json() == {
        "prompts": [],
        "total": 0,
    }
    table = cli(seeded, "list", "prompts", "--model", "transfer", "--limit", "1")
    assert table.code == 0
    assert PROMPT_ALLEY in table.out and table.out.splitlines()[-1] == (
        "1 prompt shown (of 3 matching)"
    )


def test_bad_limit_is_a_usage_error(seeded, cli):
    with pytest.raises(SystemExit) as exit_info:
        cli(seeded, "list", "runs", "--limit", "0")
    assert exit_info.value.code == 2


def test_search_words_match_prefixes_case_insensitively(seeded, cli):
    data = cli(seeded, "search", "NEON puddle", "--json").json()
    assert [hit["id"] for hit in data["results"]] == [PROMPT_STREET]
    hit = data["results"][0]
    highlighted = [hit["snippet"][start:end] for start, end in hit["highlights"]]
    assert highlighted == ["neon", "puddles"]


def test_search_matches_names_too(seeded, cli):
    data = cli(seeded, "search", "neon", "--json").json()
    assert {hit["id"] for hit in data["results"]} == {PROMPT_STREET, PROMPT_ALLEY}
    alley = next(hit for hit in data["results"] if hit["id"] == PROMPT_ALLEY)
    assert alley["name_highlights"] == [[0, 4]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("100%", [PROMPT_MEADOW]),
        ("%", [PROMPT_MEADOW]),
        ("0%", [PROMPT_MEADOW]),
        ("snake_case", [PROMPT_MEADOW]),
        ("_", [PROMPT_MEADOW]),
        ("e_c", [PROMPT_MEADOW]),
        ("it's", [PROMPT_MEADOW]),
        ('"quoted"', [PROMPT_MEADOW]),
        ('"', [PROMPT_MEADOW]),
        ("neon-signs", []),
        ("NOT", []),
        ("neon*", []),
        ("meadow OR street", []),
        ("50%", []),
    ],
)
def test_search_treats_special_characters_literally(seeded, cli, query, expected):
    result = cli(seeded, "search", query, "--json")
    assert result.code == 0, result.err
    assert [hit["id"] for hit in result.json()["results"]] == expected


def test_search_literal_highlight(seeded):
    hit = api.search("100%", project=seeded.config)["results"][0]
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["100%"]


def test_search_table_and_empty(seeded, cli):
    result = cli(seeded, "search", "meadow")
    assert result.code == 0
    assert "A quiet meadow at dawn" in result.out
    assert result.out.splitlines()[-1] == "1 prompt shown (of 1 matching)"
    nothing = cli(seeded, "search", "zebra")
    assert (nothing.code, nothing.out.strip()) == (0, "no prompts match")
    blank = cli(seeded, "search", "   ")
    assert blank.code == 1 and "at least one word" in blank.err


def test_snippet_cuts_around_the_match_at_spaces():
    words = [f"word{i}" for i in range(60)]
    text = " ".join(words[:30] + ["needle"] + words[30:])
    terms = fulltext.parse("needle")
    snippet, spans = fulltext.snippet(text, terms, width=60)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 62
    assert [snippet[a:b] for a, b in spans] == ["needle"]
    assert all(part.startswith("word") for part in snippet.strip("…").split() if part != "needle")


def test_match_expression_quotes_every_word():
    terms = fulltext.parse('neon "x" 100% OR')
    assert fulltext.match_expression(terms) == '"neon"* AND "OR"*'
    assert [term.text for term in terms if term.literal] == ['"x"', "100%"]


def test_show_prompt_json_has_all_runs(seeded, cli):
    data = cli(seeded, "show", PROMPT_STREET, "--json").json()
    assert data["type"] == "prompt"
    assert data["prompt"]["text"].startswith("A rainy street")
    runs = {run["id"]: run for run in data["runs"]}
    assert set(runs) == {RUN_STREET_1, RUN_STREET_2}
    assert runs[RUN_STREET_1]["gpu_seconds"] == 12.5
    assert runs[RUN_STREET_2]["error"] == "CUDA out of memory"


def test_show_prompt_table_by_spec_name(seeded, cli):
    result = cli(seeded, "show", "street")
    assert result.code == 0
    assert f"== prompt {PROMPT_STREET} ==" in result.out
    assert "results/street/seed-1/output.mp4" in result.out
    assert result.out.splitlines()[-1] == (
        f"prompt {PROMPT_STREET}: 2 runs (1 failed, 1 completed)"
    )


def test_show_run_json_by_prefix(seeded, cli):
    data = cli(seeded, "show", RUN_STREET_1[:11], "--json").json()
    assert data["type"] == "run"
    assert data["run"]["id"] == RUN_STREET_1
    assert data["nvidia"] == {
        "mode": "transfer",
        "spec": {"prompt": "prompt of street/seed-1", "seed": 1},
    }
    assert data["nvidia_source"].endswith("results/street/seed-1/run.json")
    assert [e["status"] for e in data["events"] if e["run_id"]] == [
        "pending",
        "running",
        "completed",
    ]
    assert any(e["run_id"] is None and e["status"] == "completed" for e in data["events"])
    artifacts = {a["path"]: a for a in data["artifacts"]}
    assert len(artifacts["results/street/seed-1/output.mp4"]["sha256"]) == 64
    assert data["batch"]["id"] == JOB_STREET
    assert data["prompt"]["id"] == PROMPT_STREET


def test_show_failed_run_has_its_log_tail(seeded, cli):
    result = cli(seeded, "show", "street/seed-2")
    assert result.code == 0
    assert "RuntimeError: CUDA out of memory" in result.out
    assert "== log tail (database) ==" in result.out
    assert re.search(r"^error kind +oom$", result.out, re.MULTILINE)
    assert "NVIDIA spec" in result.out and "not available" in result.out


def test_show_run_log_tail_from_the_infer_log(seeded, cli):
    log = seeded.root / "logs" / "infer" / "batches" / "meadow-5e6f7a8b.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    data = cli(seeded, "show", RUN_MEADOW, "--json").json()
    assert data["log"]["source"] == str(log)
    assert data["log"]["text"].splitlines() == [f"line {i}" for i in range(70, 100)]


def test_show_run_whose_folder_holds_a_later_run_has_no_nvidia_from_it(seeded, cli):
    run_json = seeded.root / "results" / "meadow" / "run.json"
    run_json.write_text(json.dumps({"run_id": "rs_someone_else", "nvidia": {"x": 1}}))
    assert cli(seeded, "show", RUN_MEADOW, "--json").json()["nvidia"] is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("rs_nothing", "no prompt or run matches 'rs_nothing'"),
        ("rs_aaaa000", "'rs_aaaa000' is ambiguous"),
        ("ps_2222", "'ps_2222' is ambiguous"),
        ("", "no prompt or run id given"),
    ],
)
def test_show_bad_ids_are_one_line_errors(seeded, cli, ref, message):
    result = cli(seeded, "show", ref, "--json")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"cosmos: {message}")
    assert len(result.err.strip().splitlines()) == 1


def test_ambiguous_prefix_lists_candidates(seeded):
    with pytest.raises(Ambiguous) as error:
        api.show("rs_aaaa000", project=seeded.config)
    assert error.value.candidates == [RUN_STREET_1, RUN_STREET_2]


def test_api_returns_plain_dicts(seeded):
    project = seeded.config
    assert api.get_run("street/seed-1", project=project)["id"] == RUN_STREET_1
    assert api.get_prompt("meadow", project=project)["id"] == PROMPT_MEADOW
    runs = api.list_runs(status="failed", project=project)
    assert [run["id"] for run in runs["runs"]] == [RUN_STREET_2]
    assert api.list_prompts(limit=1, project=project)["total"] == 3
    json.dumps([runs, api.show(PROMPT_STREET, project=project)])  # plain JSON types only
    with pytest.raises(NotFound):
        api.get_prompt(RUN_STREET_1, project=project)
    with pytest.raises(CosmosError, match="status must be one of"):
        api.list_runs(status="done", project=project)


def test_missing_database_and_config_are_one_line_errors(tmp_path, cli, cosmos_project):
    (cosmos_project.root / "cosmos.db").unlink()
    result = cli(cosmos_project, "list", "runs")
    assert result.code == 1 and "no database at" in result.err
    assert not (cosmos_project.root / "cosmos.db").exists()
    cosmos_project.config.unlink()
    result = cli(cosmos_project, "show", "x")
    assert result.code == 1 and "cannot be read" in result.err


def test_database_of_an_older_schema_is_migrated(seeded, cli):
    seeded.db.execute("DROP INDEX idx_runs_model_type_prompt_id")
    seeded.db.execute("PRAGMA user_version = 1")
    assert cli(seeded, "list", "prompts", "--model", "transfer", "--json").json()["total"] == 3
    indexes = {row[1] for row in seeded.db.execute("PRAGMA index_list(runs)").fetchall()}
    assert "idx_runs_model_type_prompt_id" in indexes


def test_rich_rendering_for_terminals():
    buffer = io.StringIO()
    sections = [
        Fields([("status", Styled("failed", "bold red"))], title="run"),
        Table(["ID", "MATCH"], [["ps_1", Styled("neon sign", highlights=[(0, 4)])]], title="hits"),
        Block("log text", title="log"),
    ]
    render(sections, "1 prompt shown", file=buffer, rich=True)
    text = buffer.getvalue()
    assert "neon sign" in text and "log text" in text and "1 prompt shown" in text
    assert "─" in text  # drawn by rich, not the plain renderer


def _cosmos(project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "cosmos_steps.cli", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_process_json_on_stdout_and_exit_codes(seeded):
    done = _cosmos(seeded, "list", "runs", "--status", "failed", "--json")
    assert done.returncode == 0 and done.stderr == ""
    assert [run["id"] for run in json.loads(done.stdout)["runs"]] == [RUN_STREET_2]
    wrong = _cosmos(seeded, "show", "rs_zzzz")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr


def test_read_commands_import_nothing_heavy(seeded):
    """rich, sqlite_utils (pandas), jsonschema, paramiko, snakemake stay unloaded when piped."""
    code = (
        "import sys\n"
        "from cosmos_steps.cli import main\n"
        "for args in (['list', 'runs'], ['search', 'neon', '--json'], ['show', 'street']):\n"
        "    main(args)\n"
        "heavy = {'rich', 'sqlite_utils', 'pandas', 'numpy', 'jsonschema', 'paramiko',\n"
        "         'snakemake'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=seeded.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


def test_since_excludes_older_runs(seeded):
    recent = datetime.now(UTC) - timedelta(hours=1)
    runs = api.list_runs(since=recent, project=seeded.config)["runs"]
    assert [run["id"] for run in runs] == [RUN_ALLEY]


def test_literal_search_folds_unicode_case(seeded):
    seeded.add_prompt("ps_3333dddd00000000", "cafe", "CAFÉ-TERRACE at night")
    hits = api.search("café-terrace", project=seeded.config)["results"]
    assert [hit["id"] for hit in hits] == ["ps_3333dddd00000000"]
