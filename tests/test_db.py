"""The project database: rows, events, full-text search, and concurrent writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from cosmos_steps import db


def make_batch(database, batch_id: str = "b-1", runs: int = 2) -> list[str]:
    ids = [db.new_run_id() for _ in range(runs)]
    db.create_batch(
        database,
        {
            "id": batch_id,
            "batch": "b",
            "spec": "s",
            "model_type": "transfer",
            "host": "h",
            "mode": "m",
        },
        [
            {"id": i, "run_key": f"s/{n}", "spec": "s", "model_type": "transfer", "line": n}
            for n, i in enumerate(ids)
        ],
    )
    return ids


def test_every_status_change_is_an_event(tmp_path: Path) -> None:
    database = db.connect(tmp_path / "c.db")
    ids = make_batch(database)
    for status in ("uploading", "running", "running", "downloading", "completed"):
        db.set_status(database, ids, status)
    rows = list(database.query("SELECT status FROM events WHERE run_id = ? ORDER BY id", [ids[0]]))
    assert [r["status"] for r in rows] == [
        "pending",
        "uploading",
        "running",
        "downloading",
        "completed",
    ]
    run = db.get_run(database, ids[0])
    assert run["status"] == "completed" and run["started_at"] and run["completed_at"]


def test_full_text_search_over_prompt_text_and_name(tmp_path: Path) -> None:
    database = db.connect(tmp_path / "c.db")
    db.record_prompt(
        database, {"id": "ps_1", "name": "harbour", "text": "Neon lights over a rainy street"}
    )
    db.record_prompt(database, {"id": "ps_2", "name": "desert_neon", "text": "Sand dunes"})
    hits = [
        r["rowid"]
        for r in database.query("SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH 'neon'")
    ]
    assert len(hits) == 2


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    database = db.connect(tmp_path / "c.db")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
    other = db.connect(tmp_path / "d.db", journal_mode="delete")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def _hammer(args: tuple[str, int]) -> int:
    path, worker = args
    database = db.connect(path)
    ids = make_batch(database, f"b-{worker}", runs=3)
    for _ in range(20):
        for status in ("uploading", "running", "downloading"):
            db.set_status(database, ids, status)
        db.add_artifacts(
            database,
            [
                {
                    "run_id": ids[0],
                    "kind": "output",
                    "path": f"/x/{worker}",
                    "sha256": "0",
                    "bytes": 1,
                }
            ],
        )
    db.set_status(database, ids, "completed")
    return worker


def test_concurrent_writers_never_see_database_locked(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    db.connect(path)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_hammer, [(path, n) for n in range(4)])) == [0, 1, 2, 3]
    database = db.connect(path)
    assert (
        database.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0] == 12
    )
    assert database.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 4
