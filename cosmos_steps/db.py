"""The project database (one SQLite file, sqlite-utils): prompts, runs, batches, artifacts, events.

Writes are short `BEGIN IMMEDIATE` transactions retried while another process holds the lock,
so concurrent Snakemake jobs (and cluster jobs on a shared filesystem) never fail with
"database is locked". WAL is used on local disks only: it keeps its index in shared memory, which
processes on different machines cannot share, so on NFS (a cluster's shared filesystem)
`journal_mode: delete` (or truncate) is configured and used as is, never switched to WAL, with
synchronous=FULL (NORMAL is only crash-safe in WAL mode). See docs/slurm.md.
Nothing here is called at Snakefile parse time.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: sqlite_utils pulls in pandas (~0.3 s), too slow for the CLI
    import sqlite_utils

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000
LOCK_RETRY_SECONDS = 120.0

STATUSES = ("pending", "uploading", "running", "downloading", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("pending", "uploading", "running", "downloading")
FINAL_STATUSES = ("completed", "failed", "cancelled")
MODEL_TYPES = ("transfer", "upscale", "enhance")
SYNCHRONOUS = {"wal": "NORMAL", "delete": "FULL", "truncate": "FULL"}
"""PRAGMA synchronous per journal mode: durable commits without WAL, fewer fsyncs with it."""

_TABLES: dict[str, dict[str, Any]] = {
    "prompts": {
        "columns": {
            "id": str,
            "name": str,
            "spec": str,
            "kind": str,
            "parent_id": str,
            "text": str,
            "negative_prompt": str,
            "inputs": str,
            "params": str,
            "spec_path": str,
            "created_at": str,
        },
        "pk": "id",
        "indexes": [["spec"], ["created_at"], ["parent_id"]],
    },
    "batches": {
        "columns": {
            "id": str,
            "batch": str,
            "spec": str,
            "model_type": str,
            "host": str,
            "mode": str,
            "status": str,
            "lines": str,
            "num_gpus": int,
            "remote_dir": str,
            "wall_seconds": float,
            "error": str,
            "created_at": str,
            "started_at": str,
            "completed_at": str,
            "updated_at": str,
        },
        "pk": "id",
        "indexes": [["batch"], ["status"], ["host"]],
    },
    "runs": {
        "columns": {
            "id": str,
            "run_key": str,
            "prompt_id": str,
            "spec": str,
            "model_type": str,
            "status": str,
            "host": str,
            "batch_id": str,
            "line": int,
            "parent_run_id": str,
            "execution_config": str,
            "outputs": str,
            "error": str,
            "error_kind": str,
            "log_tail": str,
            "gpu_seconds": float,
            "cost": float,
            "created_at": str,
            "started_at": str,
            "completed_at": str,
            "updated_at": str,
        },
        "pk": "id",
        "indexes": [
            ["created_at"],
            ["status", "created_at"],
            ["prompt_id", "created_at"],
            ["run_key", "created_at"],
            ["spec", "created_at"],
            ["host", "created_at"],
            ["batch_id"],
            ["parent_run_id"],
            ["model_type", "prompt_id"],
        ],
    },
    "artifacts": {
        "columns": {
            "id": int,
            "run_id": str,
            "batch_id": str,
            "kind": str,
            "path": str,
            "sha256": str,
            "bytes": int,
            "created_at": str,
        },
        "pk": "id",
        "indexes": [["run_id"], ["batch_id"], ["path"]],
    },
    "leases": {
        "columns": {
            "host": str,
            "slot": int,
            "holder": str,
            "node": str,
            "pid": int,
            "acquired_at": str,
            "expires_at": float,
        },
        "pk": ("host", "slot"),
        "indexes": [["expires_at"]],
    },
    "events": {
        "columns": {
            "id": int,
            "run_id": str,
            "batch_id": str,
            "status": str,
            "message": str,
            "at": str,
        },
        "pk": "id",
        "indexes": [["run_id", "id"], ["batch_id", "id"]],
    },
}


def now() -> str:
    """UTC timestamp as ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id() -> str:
    """A run id: one per execution."""
    return "rs_" + uuid.uuid4().hex


def to_json(value: Any) -> str:
    """Stable JSON for storing dicts and lists in a column."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def connect(path: str | Path, journal_mode: str = "wal") -> sqlite_utils.Database:
    """Open (and create or migrate) the database."""
    import sqlite_utils

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db = sqlite_utils.Database(conn)
    _retry_locked(lambda: _set_journal_mode(conn, journal_mode))
    conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[journal_mode]}")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        with transaction(db):
            _create_schema(db)
    return db


def _set_journal_mode(conn: sqlite3.Connection, journal_mode: str) -> None:
    """Switch to the configured journal mode (a no-op read when the file already uses it)."""
    current = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if current == journal_mode:
        return
    got = conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()[0]
    if got != journal_mode:
        raise sqlite3.OperationalError(
            f"journal_mode stayed {got}, not {journal_mode}: is the database on a filesystem "
            "without shared-memory or locking support?"
        )


def _create_schema(db: sqlite_utils.Database) -> None:
    if db.conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    for name, spec in _TABLES.items():
        table = db.table(name)
        table.create(spec["columns"], pk=spec["pk"], if_not_exists=True)
        for columns in spec["indexes"]:
            table.create_index(columns, if_not_exists=True)
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS prompts_fts USING fts5("
        "name, text, content='prompts', content_rowid='rowid')"
    )
    for trigger, body in {
        "prompts_ai": "AFTER INSERT ON prompts BEGIN "
        "INSERT INTO prompts_fts(rowid, name, text) VALUES (new.rowid, new.name, new.text); END",
        "prompts_ad": "AFTER DELETE ON prompts BEGIN "
        "INSERT INTO prompts_fts(prompts_fts, rowid, name, text) "
        "VALUES ('delete', old.rowid, old.name, old.text); END",
        "prompts_au": "AFTER UPDATE ON prompts BEGIN "
        "INSERT INTO prompts_fts(prompts_fts, rowid, name, text) "
        "VALUES ('delete', old.rowid, old.name, old.text); "
        "INSERT INTO prompts_fts(rowid, name, text) VALUES (new.rowid, new.name, new.text); END",
    }.items():
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {trigger} {body}")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _retry_locked(action: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A short write transaction (BEGIN IMMEDIATE), retried while the file is locked."""
    _retry_locked(lambda: db.conn.execute("BEGIN IMMEDIATE"))
    try:
        yield db
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    _retry_locked(lambda: db.conn.execute("COMMIT"))


def _insert(db: sqlite_utils.Database, table: str, record: dict[str, Any], replace: bool) -> None:
    columns = ", ".join(record)
    marks = ", ".join("?" for _ in record)
    conflict = "REPLACE" if replace else "IGNORE"
    db.execute(
        f"INSERT OR {conflict} INTO {table} ({columns}) VALUES ({marks})", list(record.values())
    )


def _update(db: sqlite_utils.Database, table: str, row_id: str, fields: dict[str, Any]) -> None:
    assignments = ", ".join(f"{column} = ?" for column in fields)
    db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*fields.values(), row_id])


def _event(
    db: sqlite_utils.Database,
    run_id: str | None,
    batch_id: str | None,
    status: str,
    message: str | None,
) -> None:
    _insert(
        db,
        "events",
        {"run_id": run_id, "batch_id": batch_id, "status": status, "message": message, "at": now()},
        replace=False,
    )


def record_prompt(db: sqlite_utils.Database, prompt: dict[str, Any]) -> str:
    """Insert a prompt row unless one with the same id exists; return its id."""
    row = {"created_at": now(), **prompt}
    for key in ("inputs", "params"):
        if not isinstance(row.get(key), str | None):
            row[key] = to_json(row[key])
    with transaction(db):
        _insert(db, "prompts", row, replace=False)
    return row["id"]


def create_batch(
    db: sqlite_utils.Database, batch: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    """Record a batch job and its runs (status pending), with an event each."""
    stamp = now()
    with transaction(db):
        row = {"created_at": stamp, "updated_at": stamp, "status": "pending", **batch}
        _insert(db, "batches", row, replace=True)
        _event(db, None, batch["id"], "pending", f"batch {batch['batch']} on {batch['host']}")
        for run in runs:
            row = {"created_at": stamp, "updated_at": stamp, "status": "pending", **run}
            row["execution_config"] = to_json(row.get("execution_config") or {})
            _insert(db, "runs", row, replace=True)
            _event(db, row["id"], batch["id"], "pending", None)


def _changes(status: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The columns a status change sets: status, timestamps, and the given fields (JSON encoded)."""
    assert status in STATUSES, status
    stamp = now()
    changes = {"status": status, "updated_at": stamp, **fields}
    if status == "running":
        changes.setdefault("started_at", stamp)
    if status in FINAL_STATUSES:
        changes.setdefault("completed_at", stamp)
    if not isinstance(changes.get("outputs"), str | None):
        changes["outputs"] = to_json(changes["outputs"])
    return changes


def set_status(
    db: sqlite_utils.Database,
    run_ids: Iterable[str],
    status: str,
    message: str | None = None,
    **fields: Any,
) -> None:
    """Move runs to a status, writing one event per run whose status changes."""
    changes = _changes(status, fields)
    with transaction(db):
        for run_id in run_ids:
            row = db.execute("SELECT status, batch_id FROM runs WHERE id = ?", [run_id]).fetchone()
            if row is None:
                continue
            _update(db, "runs", run_id, changes)
            if row[0] != status:
                _event(db, run_id, row[1], status, message)


def set_batch_status(
    db: sqlite_utils.Database, batch_id: str, status: str, message: str | None = None, **fields: Any
) -> None:
    """Move a batch job to a status (with an event when it changes)."""
    changes = _changes(status, fields)
    with transaction(db):
        row = db.execute("SELECT status FROM batches WHERE id = ?", [batch_id]).fetchone()
        _update(db, "batches", batch_id, changes)
        if row is not None and row[0] != status:
            _event(db, None, batch_id, status, message)


def add_artifacts(db: sqlite_utils.Database, artifacts: list[dict[str, Any]]) -> None:
    """Record files (path, kind, sha256, bytes) produced for a run or batch."""
    stamp = now()
    with transaction(db):
        for artifact in artifacts:
            db.execute(
                "DELETE FROM artifacts WHERE path = ? AND run_id IS ?",
                [artifact["path"], artifact.get("run_id")],
            )
            _insert(db, "artifacts", {"created_at": stamp, **artifact}, replace=False)


def get_run(db: sqlite_utils.Database, run_id: str) -> dict[str, Any] | None:
    """One run row as a dict (JSON columns decoded)."""
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    return decode(rows[0]) if rows else None


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """Decode the JSON columns of a row."""
    out = dict(row)
    for key in ("execution_config", "outputs", "inputs", "params", "lines"):
        if isinstance(out.get(key), str):
            with suppress(ValueError):
                out[key] = json.loads(out[key])
    return out
