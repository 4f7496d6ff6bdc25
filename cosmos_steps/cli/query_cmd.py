"""`cosmos list prompts|runs`, `cosmos search`, `cosmos show`: reading the database."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cosmos_steps import api
from cosmos_steps.cli.common import add_json_flag, add_limit, count_summary, open_project, plural
from cosmos_steps.cli.output import (
    Block,
    Fields,
    Styled,
    Table,
    human_bytes,
    number,
    print_json,
    render,
    status_cell,
    truncate,
)
from cosmos_steps.db import MODEL_TYPES, STATUSES
from cosmos_steps.timeutil import format_duration, format_time

SHORT_ID = 13
"""Characters of a run id shown in tables (`rs_` + 10 hex); any unique prefix works as an id."""


def register(commands: argparse._SubParsersAction) -> None:
    lister = commands.add_parser("list", help="list prompts or runs, newest first")
    kinds = lister.add_subparsers(dest="what", required=True, metavar="prompts|runs")
    prompts = kinds.add_parser("prompts", help="prompts with their run count and latest status")
    prompts.add_argument(
        "--model", choices=MODEL_TYPES, help="only prompts with runs of this model"
    )
    add_limit(prompts)
    add_json_flag(prompts)
    prompts.set_defaults(handler=list_prompts)

    runs = kinds.add_parser("runs", help="runs with status, host, duration and error")
    runs.add_argument("--status", choices=STATUSES)
    runs.add_argument("--prompt", metavar="ID", help="runs of one prompt (id, prefix or spec name)")
    runs.add_argument("--spec", metavar="NAME", help="runs of one spec")
    runs.add_argument("--host", metavar="H", help="runs on one host")
    runs.add_argument("--since", metavar="WHEN", help="created since: 30m, 12h, 2d, 1w or a date")
    add_limit(runs)
    add_json_flag(runs)
    runs.set_defaults(handler=list_runs)

    search = commands.add_parser("search", help="full-text search over prompt names and texts")
    search.add_argument("query", help="words that must all match (case-insensitive)")
    add_limit(search)
    add_json_flag(search)
    search.set_defaults(handler=search_prompts)

    show = commands.add_parser("show", help="a prompt with its runs, or a run in full")
    show.add_argument("id", help="prompt or run id (or unique prefix), spec name or run key")
    add_json_flag(show)
    show.set_defaults(handler=show_one)


def list_prompts(args: argparse.Namespace) -> int:
    data = api.list_prompts(model=args.model, limit=args.limit, project=open_project(args))
    if args.json:
        return _json(data)
    rows = [
        [
            prompt["id"],
            prompt["name"],
            prompt["kind"],
            str(prompt["run_count"]),
            status_cell(prompt["last_status"]),
            format_time(prompt["created_at"]),
            truncate(prompt["text"], 60),
        ]
        for prompt in data["prompts"]
    ]
    columns = ["ID", "NAME", "KIND", "RUNS", "LATEST", "CREATED", "TEXT"]
    summary = count_summary(len(rows), data["total"], "prompt", args.model is not None)
    render([Table(columns, rows)] if rows else [], summary)
    return 0


def run_rows(runs: list[dict[str, Any]], output: bool = False) -> tuple[list[str], list[list]]:
    """Table columns and rows of runs (with the output path column when asked)."""
    columns = ["ID", "RUN", "STATUS", "MODEL", "HOST", "CREATED", "DURATION", "GPU-S"]
    columns += ["OUTPUT"] * output + ["ERROR"]
    rows = []
    for run in runs:
        outputs = run["outputs"] if isinstance(run["outputs"], dict) else {}
        row = [
            run["id"][:SHORT_ID],
            run["run_key"],
            status_cell(run["status"]),
            run["model_type"],
            run["host"],
            format_time(run["created_at"]),
            format_duration(run["duration_seconds"]),
            number(run["gpu_seconds"]),
        ]
        rows.append(row + [outputs.get("output.mp4")] * output + [truncate(run["error"], 50)])
    return columns, rows


def list_runs(args: argparse.Namespace) -> int:
    filters = {key: getattr(args, key) for key in ("status", "prompt", "spec", "host", "since")}
    data = api.list_runs(**filters, limit=args.limit, project=open_project(args))
    if args.json:
        return _json(data)
    columns, rows = run_rows(data["runs"])
    filtered = any(value is not None for value in filters.values())
    summary = count_summary(len(rows), data["total"], "run", filtered)
    render([Table(columns, rows)] if rows else [], summary)
    return 0


def search_prompts(args: argparse.Namespace) -> int:
    data = api.search(args.query, limit=args.limit, project=open_project(args))
    if args.json:
        return _json(data)
    rows = [
        [
            hit["id"],
            Styled(hit["name"] or "", highlights=hit["name_highlights"]),
            format_time(hit["created_at"]),
            Styled(hit["snippet"], highlights=hit["highlights"]),
        ]
        for hit in data["results"]
    ]
    summary = count_summary(len(rows), data["total"], "prompt", True)
    render([Table(["ID", "NAME", "CREATED", "MATCH"], rows)] if rows else [], summary)
    return 0


def show_one(args: argparse.Namespace) -> int:
    data = api.show(args.id, project=open_project(args))
    if args.json:
        return _json(data)
    if data["type"] == "prompt":
        _show_prompt(data)
    else:
        _show_run(data)
    return 0


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value is not None else ""


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _show_prompt(data: dict[str, Any]) -> None:
    prompt, runs = data["prompt"], data["runs"]
    fields = Fields(
        [
            ("id", prompt["id"]),
            ("name", prompt["name"]),
            ("spec", prompt["spec"]),
            ("kind", prompt["kind"]),
            ("parent", prompt["parent_id"]),
            ("created", format_time(prompt["created_at"])),
            ("spec file", prompt["spec_path"]),
            ("inputs", _compact(prompt["inputs"])),
            ("params", _compact(prompt["params"])),
            ("negative", truncate(prompt["negative_prompt"], 100)),
        ],
        title=f"prompt {prompt['id']}",
    )
    sections = [fields, Block(prompt["text"] or "", title="text")]
    if runs:
        columns, rows = run_rows(runs, output=True)
        sections.append(Table(columns, rows, title="runs"))
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    detail = ", ".join(f"{count} {status}" for status, count in counts.items())
    summary = f"prompt {prompt['id']}: {plural(len(runs), 'run')}"
    render(sections, summary + (f" ({detail})" if detail else ""))


def _run_fields(data: dict[str, Any]) -> Fields:
    run, prompt, batch = data["run"], data["prompt"], data["batch"]
    items = [("id", run["id"]), ("run key", run["run_key"]), ("status", status_cell(run["status"]))]
    if run["error"]:
        items += [("error", run["error"]), ("error kind", run["error_kind"])]
    if prompt:
        items += [
            ("prompt", f"{prompt['id']} ({prompt['name']})"),
            ("text", truncate(prompt["text"], 100)),
        ]
    job = f"{batch['batch']} (job {batch['id']}, {batch['status']})" if batch else run["batch_id"]
    items += [
        ("spec", run["spec"]),
        ("model", run["model_type"]),
        ("host", run["host"]),
        ("batch", job),
        ("line", None if run["line"] is None else str(run["line"])),
        ("created", format_time(run["created_at"])),
        ("started", format_time(run["started_at"])),
        ("completed", format_time(run["completed_at"])),
        ("duration", format_duration(run["duration_seconds"])),
        ("GPU-seconds", number(run["gpu_seconds"])),
    ]
    if run["cost"] is not None:
        items.append(("cost", number(run["cost"], 4)))
    return Fields(items, title=f"run {run['id']}")


def _show_run(data: dict[str, Any]) -> None:
    run = data["run"]
    sections = [_run_fields(data), Block(_pretty(run["execution_config"]), title="parameters")]
    if data["nvidia"] is not None:
        title = f"NVIDIA spec ({data['nvidia_source']})"
        sections.append(Block(_pretty(data["nvidia"]), title=title))
    else:
        missing = "not available (no run.json or batch files on disk)"
        sections.append(Block(missing, title="NVIDIA spec"))
    events = [
        [
            format_time(e["at"]),
            status_cell(e["status"]),
            "run" if e["run_id"] else "batch",
            e["message"],
        ]
        for e in data["events"]
    ]
    sections.append(Table(["TIME", "STATUS", "OF", "MESSAGE"], events, title="events"))
    if data["artifacts"]:
        artifacts = [
            [a["kind"], a["path"], human_bytes(a["bytes"]), a["sha256"]] for a in data["artifacts"]
        ]
        sections.append(Table(["KIND", "PATH", "SIZE", "SHA256"], artifacts, title="artifacts"))
    if data["log"]:
        sections.append(Block(data["log"]["text"], title=f"log tail ({data['log']['source']})"))
    took = format_duration(run["duration_seconds"])
    render(sections, f"run {run['id']}: {run['status']}" + (f" after {took}" if took else ""))


def _json(data: Any) -> int:
    print_json(data)
    return 0
