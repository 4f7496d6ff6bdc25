"""`cosmos verify`: the database against the files in results/.

Problems: completed runs whose output files are missing, files whose sha256 no longer matches the
artifact recorded, and result folders no run in the database knows (orphans). A completed run whose
folder now holds a later run of the same run key is `superseded`, not a problem.
`--fix` marks broken runs failed and moves orphaned folders to results/.orphans/ (nothing deleted).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cosmos_steps import db
from cosmos_steps.deletion import folder_owner
from cosmos_steps.files import sha256_file
from cosmos_steps.project import Project

ORPHANS = ".orphans"
MISSING_ERROR = "output missing on disk"
CORRUPT_ERROR = "output changed on disk (sha256 mismatch)"


def result_folders(results: Path) -> Iterator[Path]:
    """Folders under results/ holding a run's files (run.json or output.mp4), except hidden."""
    for dirpath, dirnames, filenames in os.walk(results):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        if "run.json" in filenames or "output.mp4" in filenames:
            dirnames[:] = []
            yield Path(dirpath)


def _check_run(project: Project, run: dict[str, Any], artifacts: list[dict[str, Any]]) -> dict:
    """Missing and mismatched files of one completed run."""
    outputs = db.decode(run).get("outputs")
    paths = {
        **(outputs if isinstance(outputs, dict) else {}),
        **{Path(a["path"]).name: a["path"] for a in artifacts},
    }
    missing = sorted(name for name, path in paths.items() if not project.path(path).is_file())
    mismatched = []
    for artifact in artifacts:
        path = project.path(artifact["path"])
        if not artifact["sha256"] or not path.is_file():
            continue
        size = path.stat().st_size
        if size != artifact["bytes"] or sha256_file(path) != artifact["sha256"]:
            mismatched.append(artifact["path"])
    return {"missing": missing, "mismatched": mismatched}


def _move_orphan(project: Project, folder: Path) -> str:
    """Move an orphaned result folder under results/.orphans/ (a free name); return where to."""
    target = project.results / ORPHANS / folder.relative_to(project.results)
    candidate, attempt = target, 1
    while candidate.exists():
        attempt += 1
        candidate = target.with_name(f"{target.name}-{attempt}")
    candidate.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), candidate)
    return str(candidate.relative_to(project.root))


def verify(project: Project, fix: bool = False) -> dict[str, Any]:
    """Check every completed run and every result folder; fix what was found if asked."""
    conn = project.reader()
    missing, mismatched, superseded, checked = [], [], [], 0
    runs = conn.execute("SELECT id, run_key, outputs FROM runs WHERE status = 'completed'")
    for run in runs.fetchall():
        checked += 1
        owner = folder_owner(project.results / run["run_key"])
        if owner is not None and owner != run["id"]:
            superseded.append({"id": run["id"], "run_key": run["run_key"], "held_by": owner})
            continue
        artifacts = conn.execute(
            "SELECT path, sha256, bytes FROM artifacts WHERE run_id = ?", [run["id"]]
        ).fetchall()
        found = _check_run(project, run, artifacts)
        base = {"id": run["id"], "run_key": run["run_key"]}
        if found["missing"]:
            missing.append({**base, "files": found["missing"]})
        if found["mismatched"]:
            mismatched.append({**base, "files": found["mismatched"]})
    orphans = [
        str(folder.relative_to(project.root))
        for folder in result_folders(project.results)
        if not conn.execute(
            "SELECT 1 FROM runs WHERE run_key = ? LIMIT 1",
            [folder.relative_to(project.results).as_posix()],
        ).fetchone()
    ]
    report = {
        "checked_runs": checked,
        "missing_outputs": missing,
        "checksum_mismatches": mismatched,
        "orphaned_folders": orphans,
        "superseded": superseded,
        "problems": len(missing) + len(mismatched) + len(orphans),
        "fixed": False,
        "moved": {},
    }
    if fix and report["problems"]:
        _fix(project, report)
    return report


def _fix(project: Project, report: dict[str, Any]) -> None:
    """Mark broken runs failed (missing wins over corrupt) and move orphaned folders aside."""
    broken = {e["id"]: (CORRUPT_ERROR, "corrupt_output") for e in report["checksum_mismatches"]}
    broken.update({e["id"]: (MISSING_ERROR, "missing_output") for e in report["missing_outputs"]})
    with project.writer() as writer:
        for run_id, (error, kind) in broken.items():
            db.set_status(writer, [run_id], "failed", error, error=error, error_kind=kind)
    for folder in report["orphaned_folders"]:
        report["moved"][folder] = _move_orphan(project, project.root / folder)
    report["fixed"] = True
