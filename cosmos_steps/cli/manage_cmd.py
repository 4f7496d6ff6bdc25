"""`cosmos delete prompt|run ID`, `cosmos verify [--fix]`: changing what the database holds."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cosmos_steps import api
from cosmos_steps.cli.common import add_json_flag, open_project, plural
from cosmos_steps.cli.output import Fields, Section, Styled, Table, human_bytes, print_json, render
from cosmos_steps.errors import CosmosError


def register(commands: argparse._SubParsersAction) -> None:
    delete = commands.add_parser("delete", help="delete a prompt (with its runs) or a run")
    delete.add_argument("kind", choices=["prompt", "run"])
    delete.add_argument("id", help="id or unique prefix (prompt: or spec name; run: or run key)")
    delete.add_argument("--keep-outputs", action="store_true", help="keep results/ folders")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_json_flag(delete)
    delete.set_defaults(handler=delete_rows)

    verify = commands.add_parser("verify", help="database vs files: missing, corrupt, orphaned")
    verify.add_argument(
        "--fix",
        action="store_true",
        help="mark broken runs failed, move orphaned folders to results/.orphans/",
    )
    add_json_flag(verify)
    verify.set_defaults(handler=verify_files)


def preview_sections(preview: dict[str, Any], keep_outputs: bool) -> list[Section]:
    """What a delete removes: rows, then folders (with why a folder is kept)."""
    what = preview["prompt"]["name"] if preview["prompt"] else preview["runs"][0]["run_key"]
    items = [
        (preview["kind"], f"{preview['id']} ({what})"),
        ("runs", str(len(preview["runs"]))),
        ("events", str(preview["events"])),
        ("artifacts", str(preview["artifacts"])),
        ("batch rows", str(len(preview["batches"]))),
    ]
    if preview["active_runs"]:
        warning = f"{plural(len(preview['active_runs']), 'run')} still in progress"
        items.append(("warning", Styled(warning, "bold yellow")))
    sections: list[Section] = [Fields(items, title="to delete")]
    if preview["folders"]:
        rows = []
        for entry in preview["folders"]:
            if keep_outputs:
                action = Styled("keep (--keep-outputs)", "dim")
            elif entry["delete"]:
                action = Styled("delete", "bold red")
            else:
                action = Styled(f"keep: {entry['reason']}", "dim")
            rows.append([entry["path"], str(entry["files"]), human_bytes(entry["bytes"]), action])
        sections.append(Table(["FOLDER", "FILES", "SIZE", "ACTION"], rows, title="result folders"))
    return sections


def confirm(question: str) -> bool:
    """Ask on the terminal; refuse (CosmosError) when stdin is not one."""
    sys.stdout.flush()  # the preview first
    if not sys.stdin.isatty():
        raise CosmosError("nothing deleted: stdin is not a terminal, confirm with --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def delete_rows(args: argparse.Namespace) -> int:
    project = open_project(args)
    preview = api.preview_delete(args.kind, args.id, project=project)
    if args.json and not args.yes:
        print_json({**preview, "deleted": False})
        raise CosmosError("nothing deleted: with --json, confirm with --yes")
    if not args.json:
        render(preview_sections(preview, args.keep_outputs))
    if not args.yes and not confirm(f"Delete {args.kind} {preview['id']}?"):
        print("nothing deleted", file=sys.stderr)
        return 1
    result = api.delete(
        args.kind, args.id, keep_outputs=args.keep_outputs, preview=preview, project=project
    )
    if args.json:
        print_json(result)
        return 0
    print(delete_summary(args.kind, result))
    return 0


def delete_summary(kind: str, result: dict[str, Any]) -> str:
    rows = ", ".join(
        plural(count, noun)
        for count, noun in (
            (len(result["runs"]), "run"),
            (result["events"], "event"),
            (result["artifacts"], "artifact"),
        )
    )
    if result["kept_outputs"]:
        files = "outputs kept"
    else:
        folders = plural(len(result["removed_folders"]), "folder")
        files = f"{folders} removed ({plural(result['files'], 'file')}, "
        files += f"{human_bytes(result['bytes'])})"
    return f"deleted {kind} {result['id']}: {rows}; {files}"


def verify_files(args: argparse.Namespace) -> int:
    """Exit 1 when problems were found and not fixed."""
    report = api.verify(fix=args.fix, project=open_project(args))
    if args.json:
        print_json(report)
    else:
        render(verify_sections(report), verify_summary(report))
    return 1 if report["problems"] and not report["fixed"] else 0


def verify_sections(report: dict[str, Any]) -> list[Section]:
    sections: list[Section] = []
    fixed = report["fixed"]
    if report["missing_outputs"]:
        rows = [
            [e["id"], e["run_key"], ", ".join(e["files"]), "marked failed" if fixed else ""]
            for e in report["missing_outputs"]
        ]
        sections.append(Table(["RUN", "KEY", "MISSING", "FIX"], rows, title="missing outputs"))
    if report["checksum_mismatches"]:
        rows = [
            [e["id"], e["run_key"], ", ".join(e["files"]), "marked failed" if fixed else ""]
            for e in report["checksum_mismatches"]
        ]
        sections.append(Table(["RUN", "KEY", "CHANGED", "FIX"], rows, title="checksum mismatches"))
    if report["orphaned_folders"]:
        rows = [[folder, report["moved"].get(folder, "")] for folder in report["orphaned_folders"]]
        sections.append(Table(["FOLDER", "MOVED TO"], rows, title="orphaned result folders"))
    return sections


def verify_summary(report: dict[str, Any]) -> str:
    mismatches = len(report["checksum_mismatches"])
    found = (
        f"{plural(len(report['missing_outputs']), 'run')} with missing outputs, "
        f"{plural(mismatches, 'checksum mismatch', 'checksum mismatches')}, "
        f"{plural(len(report['orphaned_folders']), 'orphaned folder')}"
    )
    state = " (fixed)" if report["fixed"] else ("" if not report["problems"] else "; --fix repairs")
    superseded = len(report["superseded"])
    later = f", {superseded} superseded by later runs" if superseded else ""
    return f"checked {plural(report['checked_runs'], 'completed run')}{later}: {found}{state}"
