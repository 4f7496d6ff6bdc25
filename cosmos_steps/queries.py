"""Read-only SQL behind `cosmos list|show|search|cancel`: indexed, LIMITed, never whole tables.

Every function takes a plain sqlite3 connection whose rows are dicts (Project.reader()).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cosmos_steps.errors import Ambiguous, NotFound

RUN_COLUMNS = (
    "id, run_key, prompt_id, spec, model_type, status, host, batch_id, line, parent_run_id, "
    "execution_config, outputs, error, error_kind, gpu_seconds, cost, "
    "created_at, started_at, completed_at, updated_at"
)
"""Columns of a run in listings (log_tail only in `show`)."""

KINDS = {
    "prompt": ("prompts", "spec"),
    "run": ("runs", "run_key"),
    "batch": ("batches", "batch"),
}
"""Kind -> (table, the name column that also identifies a row: spec, run key, batch name)."""

CANDIDATES = 5


def _prefix_range(prefix: str) -> tuple[str, str]:
    """Bounds [low, high) holding every text that starts with `prefix` (an index range scan)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def resolve(conn: sqlite3.Connection, ref: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """(kind, id) of what `ref` names: an exact id, a spec / run key / batch name, or an id prefix.

    Names pick the newest row. A prefix must be unique across the kinds asked for.
    """
    what = " or ".join(kinds)
    if not ref:
        raise NotFound(f"no {what} id given")
    for kind in kinds:
        table, _ = KINDS[kind]
        if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", [ref]).fetchone():
            return kind, ref
    for kind in kinds:
        table, name = KINDS[kind]
        row = conn.execute(
            f"SELECT id FROM {table} WHERE {name} = ? ORDER BY created_at DESC LIMIT 1", [ref]
        ).fetchone()
        if row:
            return kind, row["id"]
    found = [
        (kind, row["id"])
        for kind in kinds
        for row in conn.execute(
            f"SELECT id FROM {KINDS[kind][0]} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            [*_prefix_range(ref), CANDIDATES + 1],
        )
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no {what} matches {ref!r} (an id, id prefix, {_names(kinds)})")
    shown = [row_id for _, row_id in found[:CANDIDATES]]
    more = ", ..." if len(found) > CANDIDATES else ""
    raise Ambiguous(
        f"{ref!r} is ambiguous: it begins {'more than ' * bool(more)}{len(shown)} ids "
        f"({', '.join(shown)}{more}); give more characters",
        shown,
    )


def _names(kinds: tuple[str, ...]) -> str:
    labels = {"prompt": "spec name", "run": "run key", "batch": "batch name"}
    return " or ".join(labels[kind] for kind in kinds)


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def list_prompts(
    conn: sqlite3.Connection, model: str | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Newest prompts (those with runs of `model` if given), with run counts; and how many match."""
    clauses, params = [], []
    if model:
        clauses.append(
            "EXISTS (SELECT 1 FROM runs r WHERE r.model_type = ? AND r.prompt_id = p.id)"
        )
        params.append(model)
    rows = conn.execute(
        "SELECT p.*, (SELECT COUNT(*) FROM runs r WHERE r.prompt_id = p.id) AS run_count, "
        "(SELECT status FROM runs r WHERE r.prompt_id = p.id ORDER BY r.created_at DESC LIMIT 1)"
        f" AS last_status FROM prompts p {_where(clauses)} "
        "ORDER BY p.created_at DESC, p.rowid DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    if model:
        count_sql = "SELECT COUNT(DISTINCT prompt_id) FROM runs WHERE model_type = ?"
    else:
        count_sql = "SELECT COUNT(*) FROM prompts"
    total = conn.execute(count_sql, params).fetchone()
    return rows, next(iter(total.values()))


def list_runs(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    prompt_id: str | None = None,
    spec: str | None = None,
    host: str | None = None,
    since: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Newest runs matching every filter given; and how many match in all."""
    filters = {
        "status = ?": status,
        "prompt_id = ?": prompt_id,
        "spec = ?": spec,
        "host = ?": host,
        "created_at >= ?": since,
    }
    clauses = [clause for clause, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    where = _where(clauses)
    rows = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    total = conn.execute(f"SELECT COUNT(*) AS n FROM runs {where}", params).fetchone()["n"]
    return rows, total


def get_row(conn: sqlite3.Connection, kind: str, row_id: str) -> dict[str, Any] | None:
    """One prompt, run or batch row by exact id."""
    table, _ = KINDS[kind]
    return conn.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id]).fetchone()


def prompt_runs(conn: sqlite3.Connection, prompt_id: str) -> list[dict[str, Any]]:
    """Every run of a prompt, newest first."""
    return conn.execute(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE prompt_id = ? ORDER BY created_at DESC, rowid DESC",
        [prompt_id],
    ).fetchall()


def batch_runs(conn: sqlite3.Connection, batch_id: str) -> list[dict[str, Any]]:
    """The runs of a batch job, in line order."""
    return conn.execute(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE batch_id = ? ORDER BY line", [batch_id]
    ).fetchall()


def run_events(conn: sqlite3.Connection, run_id: str, batch_id: str | None) -> list[dict[str, Any]]:
    """A run's status changes and its batch's own events, oldest first."""
    # `+run_id`: look batch events up by batch_id; the run_id index would scan every batch event
    return conn.execute(
        "SELECT * FROM events WHERE run_id = ? "
        "UNION ALL SELECT * FROM events WHERE batch_id = ? AND +run_id IS NULL ORDER BY id",
        [run_id, batch_id],
    ).fetchall()


def run_artifacts(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """Files recorded for a run (path, kind, sha256, bytes)."""
    return conn.execute("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", [run_id]).fetchall()


def active_runs_on(conn: sqlite3.Connection, host: str, statuses: tuple[str, ...]) -> list[dict]:
    """Runs on a host whose status is one of `statuses`."""
    marks = ", ".join("?" for _ in statuses)
    return conn.execute(
        f"SELECT id, run_key, batch_id, status, updated_at FROM runs "
        f"WHERE status IN ({marks}) AND host = ? ORDER BY created_at",
        [*statuses, host],
    ).fetchall()


def batch_statuses(conn: sqlite3.Connection, batch_ids: list[str]) -> dict[str, str]:
    """Status of each batch id that has a row."""
    marks = ", ".join("?" for _ in batch_ids)
    rows = conn.execute(f"SELECT id, status FROM batches WHERE id IN ({marks})", batch_ids)
    return {row["id"]: row["status"] for row in rows}
