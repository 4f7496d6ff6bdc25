"""The Python API behind the `cosmos` commands: plain dicts in and out.

    from cosmos_steps import api
    api.list_runs(status="failed", since="2d")["runs"]
    api.show("rs_3f2a")            # a prompt or run, by id, unique prefix, spec name or run key
    api.search("neon", limit=10)
    api.cancel("street-73267210")  # a batch (or run) by id, prefix or name

Every function takes `project`: a Project or the path of its config.yaml (default ./config.yaml).
Wrong ids raise cosmos_steps.errors.NotFound / Ambiguous (both CosmosError).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cosmos_steps import db, details, queries
from cosmos_steps.errors import CosmosError
from cosmos_steps.project import Project
from cosmos_steps.timeutil import parse_since

ProjectRef = Project | str | os.PathLike[str]
DEFAULT_LIMIT = 50


@contextmanager
def _opened(project: ProjectRef) -> Iterator[Project]:
    """The Project to use; one opened here from a config path is closed afterwards."""
    if isinstance(project, Project):
        yield project
        return
    opened = Project(project)
    try:
        yield opened
    finally:
        opened.close()


def _limit(limit: int) -> int:
    if limit < 1:
        raise CosmosError(f"limit must be at least 1 (got {limit})")
    return limit


def list_prompts(
    *, model: str | None = None, limit: int = DEFAULT_LIMIT, project: ProjectRef = "config.yaml"
) -> dict[str, Any]:
    """Newest prompts (with their run count and latest run status) and how many there are."""
    if model is not None and model not in db.MODEL_TYPES:
        raise CosmosError(f"model must be one of {', '.join(db.MODEL_TYPES)} (got {model!r})")
    with _opened(project) as opened:
        rows, total = queries.list_prompts(opened.reader(), model, _limit(limit))
    return {"prompts": [db.decode(row) for row in rows], "total": total}


def list_runs(
    *,
    status: str | None = None,
    prompt: str | None = None,
    spec: str | None = None,
    host: str | None = None,
    since: str | datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    project: ProjectRef = "config.yaml",
) -> dict[str, Any]:
    """Newest runs matching every filter given (prompt by id, prefix or spec name; since `2d`)."""
    if status is not None and status not in db.STATUSES:
        raise CosmosError(f"status must be one of {', '.join(db.STATUSES)} (got {status!r})")
    try:
        threshold = parse_since(since) if since is not None else None
    except ValueError as exc:
        raise CosmosError(f"since: {exc}") from None
    with _opened(project) as opened:
        conn = opened.reader()
        prompt_id = queries.resolve(conn, prompt, ("prompt",))[1] if prompt is not None else None
        rows, total = queries.list_runs(
            conn,
            status=status,
            prompt_id=prompt_id,
            spec=spec,
            host=host,
            since=threshold,
            limit=_limit(limit),
        )
    return {"runs": [details.run_summary(row) for row in rows], "total": total}


def get_prompt(ref: str, *, project: ProjectRef = "config.yaml") -> dict[str, Any]:
    """One prompt row (by id, unique id prefix or spec name)."""
    with _opened(project) as opened:
        conn = opened.reader()
        _, prompt_id = queries.resolve(conn, ref, ("prompt",))
        return db.decode(queries.get_row(conn, "prompt", prompt_id) or {})


def get_run(ref: str, *, project: ProjectRef = "config.yaml") -> dict[str, Any]:
    """One run row (by id, unique id prefix or run key), with its duration."""
    with _opened(project) as opened:
        conn = opened.reader()
        _, run_id = queries.resolve(conn, ref, ("run",))
        return details.run_summary(queries.get_row(conn, "run", run_id) or {})


def search(
    query: str, *, limit: int = DEFAULT_LIMIT, project: ProjectRef = "config.yaml"
) -> dict[str, Any]:
    """Prompts whose name or text holds every word of `query`, newest first, with snippets."""
    from cosmos_steps import fulltext

    if not query.split():
        raise CosmosError("search needs at least one word")
    with _opened(project) as opened:
        rows, total, terms = fulltext.search(opened.reader(), query, _limit(limit))
    results = []
    for row in rows:
        text, spans = fulltext.snippet(row.pop("text"), terms)
        name_spans = fulltext.find_spans(row["name"] or "", terms)
        results.append({**row, "snippet": text, "highlights": spans, "name_highlights": name_spans})
    return {"query": query, "results": results, "total": total}


def show(ref: str, *, project: ProjectRef = "config.yaml") -> dict[str, Any]:
    """A prompt with all its runs, or a run with everything known about it (`type` says which)."""
    with _opened(project) as opened:
        conn = opened.reader()
        kind, row_id = queries.resolve(conn, ref, ("prompt", "run"))
        if kind == "prompt":
            return details.show_prompt(conn, row_id)
        return details.show_run(opened, conn, row_id)


def cancel(
    ref: str, *, project: ProjectRef = "config.yaml", say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Stop a batch job (given a batch or one of its runs) on its host; mark its runs cancelled."""
    from cosmos_steps import jobs

    with _opened(project) as opened:
        return jobs.cancel(opened, ref, say)


def preview_delete(kind: str, ref: str, *, project: ProjectRef = "config.yaml") -> dict[str, Any]:
    """What deleting a prompt or run would remove (rows, result folders, bytes)."""
    from cosmos_steps import deletion

    with _opened(project) as opened:
        return deletion.plan(opened, kind, ref)


def delete(
    kind: str,
    ref: str,
    *,
    keep_outputs: bool = False,
    preview: dict[str, Any] | None = None,
    project: ProjectRef = "config.yaml",
) -> dict[str, Any]:
    """Delete a prompt (and its runs) or a run, with its result folders unless keep_outputs.

    `preview`: what preview_delete returned for the same target, to delete exactly what the
    user confirmed (planned afresh when None).
    """
    from cosmos_steps import deletion

    with _opened(project) as opened:
        return deletion.execute(opened, preview or deletion.plan(opened, kind, ref), keep_outputs)


def verify(*, fix: bool = False, project: ProjectRef = "config.yaml") -> dict[str, Any]:
    """Database against files: missing outputs, checksum mismatches, orphaned result folders."""
    from cosmos_steps import verify as verifier

    with _opened(project) as opened:
        return verifier.verify(opened, fix)


def host_status(
    hosts: list[str] | None = None, *, timeout: float = 30.0, project: ProjectRef = "config.yaml"
) -> list[dict[str, Any]]:
    """One report per host: reachable, runtime, GPUs, jobs, orphans and zombies."""
    from cosmos_steps import hoststatus

    with _opened(project) as opened:
        return hoststatus.status(opened, hosts, timeout)
