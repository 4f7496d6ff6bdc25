"""`cosmos delete prompt|run`: what would go (rows, result folders, sizes), then delete it.

Rows go in one transaction: the runs with their events and artifacts, a prompt with all its runs,
and batch rows left without runs. Result folders go afterwards unless outputs are kept; only
folders inside the project's results/ are ever deleted, and only when they hold the deleted run
(a later run of the same run key keeps its folder).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from cosmos_steps import db, queries
from cosmos_steps.errors import CosmosError
from cosmos_steps.project import Project


def folder_owner(folder: Path) -> str | None:
    """The run id recorded in a result folder's run.json (None if there is none)."""
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None


def inside(folder: Path, parent: Path) -> bool:
    """True when folder lies strictly inside parent (symlinks resolved)."""
    resolved, base = folder.resolve(), parent.resolve()
    return resolved != base and resolved.is_relative_to(base)


def folder_size(folder: Path) -> tuple[int, int]:
    """(files, bytes) under a folder."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def _folder_plan(
    project: Project, conn: sqlite3.Connection, run_key: str, run_ids: set[str]
) -> dict[str, Any] | None:
    folder = project.results / run_key
    if not folder.is_dir():
        return None
    files, size = folder_size(folder)
    entry = {
        "path": str(folder.relative_to(project.root)),
        "files": files,
        "bytes": size,
        "delete": True,
        "reason": None,
    }
    owner = folder_owner(folder)
    others = conn.execute(
        "SELECT id FROM runs WHERE run_key = ? ORDER BY created_at DESC", [run_key]
    ).fetchall()
    survivor = next((row["id"] for row in others if row["id"] not in run_ids), None)
    if not inside(folder, project.results):
        entry.update(delete=False, reason="outside the project's results/ folder")
    elif owner is not None and owner not in run_ids:
        entry.update(delete=False, reason=f"holds run {owner}")
    elif owner is None and survivor is not None:
        entry.update(delete=False, reason=f"run key also used by run {survivor}")
    return entry


def _count(conn: sqlite3.Connection, table: str, run_ids: set[str]) -> int:
    """Rows of `table` belonging to the runs (one index lookup per run)."""
    sql = f"SELECT COUNT(*) AS n FROM {table} WHERE run_id = ?"
    return sum(conn.execute(sql, [run_id]).fetchone()["n"] for run_id in run_ids)


def plan(project: Project, kind: str, ref: str) -> dict[str, Any]:
    """Everything `delete` would remove, without removing anything."""
    conn = project.reader()
    _, target = queries.resolve(conn, ref, (kind,))
    if kind == "prompt":
        prompt = queries.get_row(conn, "prompt", target)
        runs = queries.prompt_runs(conn, target)
    else:
        prompt, runs = None, [queries.get_row(conn, "run", target)]
    run_ids = {run["id"] for run in runs}
    batch_ids = sorted({run["batch_id"] for run in runs if run["batch_id"]})
    emptied = [
        batch_id
        for batch_id in batch_ids
        if all(run["id"] in run_ids for run in queries.batch_runs(conn, batch_id))
    ]
    folders = [
        entry
        for run_key in sorted({run["run_key"] for run in runs})
        if (entry := _folder_plan(project, conn, run_key, run_ids)) is not None
    ]
    going = [entry for entry in folders if entry["delete"]]
    return {
        "kind": kind,
        "id": target,
        "prompt": {key: prompt[key] for key in ("id", "name", "text")} if prompt else None,
        "runs": [{key: run[key] for key in ("id", "run_key", "status")} for run in runs],
        "active_runs": [run["id"] for run in runs if run["status"] in db.ACTIVE_STATUSES],
        "events": _count(conn, "events", run_ids),
        "artifacts": _count(conn, "artifacts", run_ids),
        "batches": emptied,
        "folders": folders,
        "files": sum(entry["files"] for entry in going),
        "bytes": sum(entry["bytes"] for entry in going),
    }


def execute(project: Project, preview: dict[str, Any], keep_outputs: bool) -> dict[str, Any]:
    """Delete what a plan lists (rows first, then folders unless keep_outputs)."""
    run_ids = [[run["id"]] for run in preview["runs"]]
    with project.writer() as writer, db.transaction(writer):
        for table, column in (("events", "run_id"), ("artifacts", "run_id"), ("runs", "id")):
            writer.conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", run_ids)
        for batch_id in preview["batches"]:
            if writer.execute("SELECT 1 FROM runs WHERE batch_id = ?", [batch_id]).fetchone():
                continue  # a run was added since the preview
            for table in ("events", "artifacts"):
                writer.execute(f"DELETE FROM {table} WHERE batch_id = ?", [batch_id])
            writer.execute("DELETE FROM batches WHERE id = ?", [batch_id])
        if preview["kind"] == "prompt":
            writer.execute("DELETE FROM prompts WHERE id = ?", [preview["id"]])
    removed = []
    if not keep_outputs:
        for entry in preview["folders"]:
            if entry["delete"]:
                remove_folder(project, project.root / entry["path"])
                removed.append(entry["path"])
    return {**preview, "deleted": True, "removed_folders": removed, "kept_outputs": keep_outputs}


def remove_folder(project: Project, folder: Path) -> None:
    """Delete a result folder, then its parents left empty (never results/ itself)."""
    if not inside(folder, project.results):
        raise CosmosError(f"refusing to delete {folder}: not inside {project.results}")
    shutil.rmtree(folder)
    parent = folder.parent
    while inside(parent, project.results) and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
