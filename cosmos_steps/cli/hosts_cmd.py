"""`cosmos status [HOST]`, `cosmos status --stream RUN|BATCH`, `cosmos cancel RUN|BATCH`,
`cosmos gc [HOST...]`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cosmos_steps import api
from cosmos_steps.cli.common import add_json_flag, open_project, plural, positive_float
from cosmos_steps.cli.output import Fields, Section, Styled, Table, number, print_json, render
from cosmos_steps.errors import CosmosError

if TYPE_CHECKING:
    from cosmos_steps.project import Project

UNREACHABLE_EXIT = 2


def register(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status",
        help="hosts: reachable, runtime, GPUs, jobs, orphans and zombies (or --stream a job's log)",
    )
    status.add_argument(
        "target", nargs="?", metavar="HOST | RUN | BATCH", help="one host (with --stream: a job)"
    )
    status.add_argument(
        "--stream", action="store_true", help="follow the job's log live until it ends"
    )
    status.add_argument(
        "--timeout", type=positive_float, default=30.0, help="seconds per host (30)"
    )
    add_json_flag(status)
    status.set_defaults(handler=show_status)

    cancel = commands.add_parser("cancel", help="stop a batch job on its host, mark runs cancelled")
    cancel.add_argument("target", metavar="RUN|BATCH", help="run or batch: id, prefix, key or name")
    add_json_flag(cancel)
    cancel.set_defaults(handler=cancel_job)

    gc = commands.add_parser(
        "gc", help="delete uploaded inputs (blobs) on hosts that no job used for a while"
    )
    gc.add_argument("hosts", nargs="*", metavar="HOST", help="hosts (default: all)")
    gc.add_argument(
        "--older-than", type=int, default=30, metavar="DAYS", help="unused for DAYS (30)"
    )
    gc.add_argument("--dry-run", action="store_true", help="only say what would go")
    add_json_flag(gc)
    gc.set_defaults(handler=collect_garbage)


def show_status(args: argparse.Namespace) -> int:
    """Exit 0 when every host answered, 2 when one did not."""
    project = open_project(args)
    if args.stream:
        return stream_log(project, args)
    reports = api.host_status(
        [args.target] if args.target else None, timeout=args.timeout, project=project
    )
    if args.json:
        print_json(reports)
    else:
        render(
            [section for report in reports for section in host_sections(report)],
            status_summary(reports),
        )
    return 0 if all(report["reachable"] for report in reports) else UNREACHABLE_EXIT


def _state(value: bool | None, yes: str, no: str, detail: str | None = None) -> Styled:
    """`yes`/`no` in green/red (with the detail after it); `unknown` when not checked."""
    if value is None:
        return Styled("unknown", "dim")
    text = (yes if value else no) + (f" ({detail})" if detail else "")
    return Styled(text, "green" if value else "bold red")


def host_sections(report: dict[str, Any]) -> list[Section]:
    """A host's panel, then its GPUs, jobs and mismatches when there are any."""
    items = [("reachable", _state(report["reachable"], "yes", "NO"))]
    if report["error"]:
        items.append(("error", report["error"]))
    if report["reachable"]:
        runtime = _state(
            report["runtime_ok"], "available", "NOT available", report["runtime_detail"]
        )
        live = sum(job["state"] == "running" for job in report["jobs"])
        items += [
            ("runtime", runtime),
            ("GPUs", report["gpu_note"] or plural(len(report["gpus"]), "GPU")),
            ("jobs", f"{live} running, {len(report['jobs'])} on the host"),
        ]
    title = f"{report['host']} ({report['transport']}, {report['runtime']})"
    tables = [_gpu_table(report), _job_table(report), _mismatch_table(report)]
    return [Fields(items, title=title), *(table for table in tables if table.rows)]


def _gpu_table(report: dict[str, Any]) -> Table:
    rows = [
        [
            str(gpu["index"]),
            gpu["name"],
            f"{number(gpu['memory_used_mib'], 0)} / {number(gpu['memory_total_mib'], 0)} MiB",
            number(gpu["utilization_pct"], 0),
            number(gpu["temperature_c"], 0),
            number(gpu["power_w"]),
        ]
        for gpu in report["gpus"]
    ]
    columns = ["GPU", "NAME", "MEMORY", "UTIL %", "TEMP °C", "POWER W"]
    return Table(columns, rows, title=f"{report['host']}: GPUs")


def _job_table(report: dict[str, Any]) -> Table:
    rows = [
        [
            job["job_id"],
            Styled(job["state"], "cyan" if job["state"] == "running" else "dim"),
            None if job["heartbeat_age"] is None else f"{job['heartbeat_age']}s ago",
            job.get("db_status") or "no row",
            job.get("container"),
        ]
        for job in report["jobs"]
    ]
    columns = ["JOB", "STATE", "HEARTBEAT", "IN DATABASE", "CONTAINER"]
    return Table(columns, rows, title=f"{report['host']}: jobs")


def _mismatch_table(report: dict[str, Any]) -> Table:
    orphans = [
        [
            Styled("orphan", "bold yellow"),
            job["job_id"],
            f"running on the host; database: {job.get('db_status') or 'no batch row'}",
        ]
        for job in report["orphans"]
    ]
    zombies = [
        [
            Styled("zombie", "bold red"),
            f"{run['id']} ({run['run_key']})",
            f"{run['status']} in the database; job {run['batch_id']} is {run['host_state']}",
        ]
        for run in report["zombies"]
    ]
    columns = ["PROBLEM", "JOB / RUN", "DETAIL"]
    return Table(columns, orphans + zombies, title=f"{report['host']}: mismatches")


def status_summary(reports: list[dict[str, Any]]) -> str:
    reachable = sum(report["reachable"] for report in reports)
    orphans = sum(len(report["orphans"]) for report in reports)
    zombies = sum(len(report["zombies"]) for report in reports)
    return (
        f"{plural(len(reports), 'host')} checked: {reachable} reachable, "
        f"{plural(orphans, 'orphan')}, {plural(zombies, 'zombie')}"
    )


def stream_log(project: Project, args: argparse.Namespace) -> int:
    """Print the job's log as it grows; 0 when it finished OK, 1 otherwise (130 on Ctrl+C)."""
    from cosmos_steps import jobs

    if not args.target:
        raise CosmosError(
            "status --stream needs a run or batch (id, prefix, run key or batch name)"
        )
    if args.json:
        raise CosmosError("--stream prints the log as it comes: it has no --json form")

    def sink(chunk: bytes) -> None:
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    result = jobs.stream(project, args.target, sink)
    code = f", exit code {result['exit_code']}" if result["exit_code"] is not None else ""
    print(f"cosmos: job {result['batch_id']} {result['state']}{code}", file=sys.stderr)
    return 0 if result["ok"] else 1


def cancel_job(args: argparse.Namespace) -> int:
    result = api.cancel(args.target, project=open_project(args))
    if args.json:
        print_json(result)
        return 0
    runs = [Styled(f"{run['id']} ({run['run_key']})") for run in result["cancelled_runs"]]
    how = {
        "running": "stopped the running job",
        "absent": "the job had not started on the host: it will not start",
    }.get(result["host_state"], f"the job was already {result['host_state']} on the host")
    items = [
        ("batch", f"{result['batch']} (job {result['batch_id']})"),
        ("host", result["host"]),
        ("on the host", how),
    ] + [("cancelled", run) for run in runs]
    render([Fields(items)], f"cancelled {plural(len(runs), 'run')} of batch {result['batch']}")
    return 0


def collect_garbage(args: argparse.Namespace) -> int:
    """Per host: how many blobs (and bytes) were deleted, or would be with --dry-run."""
    from cosmos_steps import jobs

    project = open_project(args)
    if args.older_than < 0:
        raise CosmosError("--older-than: expected a number of days >= 0")
    results = jobs.prune_blobs(project, args.hosts or project.host_names(), args.older_than,
                               args.dry_run)  # fmt: skip
    if args.json:
        print_json(results)
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for result in results:
        size = result["bytes"] / 1e6
        print(f"{result['host']}: {verb} {plural(result['blobs'], 'blob')} ({size:.1f} MB)")
    total = sum(result["bytes"] for result in results) / 1e6
    print(f"{verb} {total:.1f} MB on {plural(len(results), 'host')}", file=sys.stderr)
    return 0
