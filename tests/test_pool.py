"""A pool of GPU hosts: slots as leases, health, requirements, OOM escalation, failover."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from cosmos_steps import config as config_module
from cosmos_steps import db, pool, schemas
from cosmos_steps.hosts import Host
from tests.helpers import base_config, make_project, snakemake, start_snakemake
from tests.sshd import LoopbackSSHD
from tests.test_remote import simulated, wait_for

MEADOW = {"prompt": "A quiet meadow", "inputs": "videos", "controls": {"edge": 0.5}}


def local_host(root: Path, **simulate: Any) -> dict[str, Any]:
    knobs = {"load_seconds": 0, "seconds_per_frame": 0, "scale": 0.1, **simulate}
    return {
        "transport": "local",
        "runtime": "simulate",
        "root": str(root),
        "poll_seconds": 0.2,
        "simulate": knobs,
    }


def rows(project: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(project / "cosmos.db") as conn:
        return conn.execute(sql, args).fetchall()


def test_leases_respect_slots_and_expire(tmp_path: Path) -> None:
    database = db.connect(tmp_path / "c.db")
    a = Host("a", {"slots": 2})
    b = Host("b", {"slots": 1})
    leases = [pool.try_lease(database, [a, b], f"job{n}") for n in range(3)]
    assert [(lease.host, lease.slot) for lease in leases] == [("a", 0), ("a", 1), ("b", 0)]
    assert pool.try_lease(database, [a, b], "job3") is None
    leases[1].release()
    again = pool.try_lease(database, [a, b], "job4")
    assert (again.host, again.slot) == ("a", 1)
    database.execute("UPDATE leases SET expires_at = 0 WHERE host = 'b'")  # a crashed holder
    late = pool.try_lease(database, [b], "job5")
    assert (late.host, late.slot) == ("b", 0)


def test_pools_are_validated(tmp_path: Path) -> None:
    config = base_config()
    config["pools"] = {"gpus": ["simulated", "nowhere"], "simulated": ["simulated"]}
    with pytest.raises(schemas.ValidationFailed) as caught:
        config_module.prepare(config)
    assert caught.value.problems == [
        "config.yaml: pools.gpus[1]: 'nowhere' is not a host",
        "config.yaml: pools.simulated: a host has this name too",
    ]


def test_requirements_pick_the_host_that_meets_them(tmp_path: Path) -> None:
    config = base_config()
    config["hosts"] = {
        "small": local_host(tmp_path / "small", gpu_memory_gb=24),
        "big": local_host(tmp_path / "big", gpu_memory_gb=80),
    }
    config["pools"] = {"gpus": ["small", "big"]}
    config["default_host"] = "gpus"
    project = make_project(
        tmp_path / "p", {"m": {**MEADOW, "requirements": {"min_gpu_memory_gb": 60}}}, config
    )
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert rows(project, "SELECT host, status FROM runs") == [("big", "completed")]
    assert "host small cannot take this job: 24 GB per GPU < 60 GB required" in done.stderr


def test_out_of_memory_escalates_to_offloading_then_to_a_larger_host(tmp_path: Path) -> None:
    config = base_config()
    # emulated model: 90 GB; offloading the text encoder and guardrail (the default) saves 38 GB,
    # the diffusion transformer 14 GB more. small (24 GB) cannot fit it at all, big (80 GB) can.
    config["hosts"] = {
        "small": local_host(tmp_path / "small", gpu_memory_gb=24, model_memory_gb=90),
        "big": local_host(tmp_path / "big", gpu_memory_gb=80, model_memory_gb=90),
    }
    config["hosts"]["big"]["slots"] = 1
    config["pools"] = {"gpus": ["small", "big"]}
    config["default_host"] = "gpus"
    project = make_project(tmp_path / "p", {"m": MEADOW}, config)
    # hold big's only slot for a moment so the job starts on small
    database = db.connect(project / "cosmos.db")
    blocker = pool.try_lease(database, [Host("big", config["hosts"]["big"])], "blocker")
    run = start_snakemake(project, cores=1)
    wait_for(lambda: any((tmp_path / "small").glob("jobs/*/state/launch")), what="a job on small")
    blocker.release()
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    assert "out of GPU memory on small: retrying with every offload flag" in output
    assert "looking for a host with more GPU memory" in output
    history = rows(project, "SELECT host, status, error_kind FROM runs ORDER BY created_at")
    assert history == [
        ("small", "failed", "oom"),
        ("small", "failed", "oom"),
        ("big", "completed", None),
    ]
    flags = json.loads(
        next((project / "work/batches").glob("*/out/simulator_record.json")).read_text()
    )["flags"]
    assert flags["offload_diffusion_transformer"] is False  # big fits it as configured


def test_offloading_alone_can_fix_out_of_memory(tmp_path: Path) -> None:
    config = base_config()
    config["hosts"] = {"gpu": local_host(tmp_path / "gpu", gpu_memory_gb=40, model_memory_gb=80)}
    config["default_host"] = "gpu"
    project = make_project(tmp_path / "p", {"m": MEADOW}, config)
    done = snakemake(project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r[0] for r in rows(project, "SELECT status FROM runs ORDER BY created_at")] == [
        "failed",
        "completed",
    ]
    record = json.loads(
        next((project / "work/batches").glob("*/out/simulator_record.json")).read_text()
    )
    assert record["flags"]["offload_diffusion_transformer"] is True


@pytest.mark.ssh
def test_two_ssh_hosts_share_a_sweep_and_survive_losing_one(sshd_factory, tmp_path: Path) -> None:  # noqa: ANN001
    servers: list[LoopbackSSHD] = [sshd_factory(), sshd_factory()]
    config = base_config()
    config["hosts"] = {
        name: server.host_config(
            str(tmp_path / name),
            poll_seconds=0.3,
            reconnect_seconds=3,
            cleanup=False,
            simulate=simulated(load_seconds=5),
        )
        for name, server in zip(("a", "b"), servers, strict=True)
    }
    config["pools"] = {"gpus": ["a", "b"]}
    config["default_host"] = "gpus"
    spec = {
        **MEADOW,
        "sweep": {"params.seed": list(range(1, 9))},
    }  # seed is batch-global: 8 batches
    project = make_project(tmp_path / "p", {"m": spec}, config)
    run = start_snakemake(project, cores=4)

    def a_busy_after_one_done() -> bool:
        done_on_a = len(list((tmp_path / "a").glob("jobs/*/state/exit_code")))
        started = [  # started a second ago or more (its model "loads" for 5 s)
            d
            for d in (tmp_path / "a").glob("jobs/*/state")
            if (d / "started_at").exists()
            and not (d / "exit_code").exists()
            and time.time() - (d / "started_at").stat().st_mtime > 1
        ]
        return done_on_a >= 1 and bool(started)

    wait_for(a_busy_after_one_done, seconds=300, what="host a to finish one job and run another")
    servers[0].stop_listener()  # host a goes away mid-job
    output, _ = run.communicate(timeout=900)
    assert run.returncode == 0, output[-4000:]
    final = rows(project, "SELECT run_key, host FROM runs WHERE status = 'completed'")
    assert len(final) == 8 and len({key for key, _ in final}) == 8  # no batch completed twice
    assert {host for _, host in final} == {"a", "b"}
    moved = rows(project, "SELECT error FROM runs WHERE status = 'failed'")
    assert moved and all("was lost" in error or "lost a" in error for (error,) in moved)
    launched_on_b = {
        p.parent.parent.name.rsplit("-", 1)[0] for p in (tmp_path / "b").glob("jobs/*/state/launch")
    }
    launched_on_a = {
        p.parent.parent.name.rsplit("-", 1)[0] for p in (tmp_path / "a").glob("jobs/*/state/launch")
    }
    assert len(launched_on_a & launched_on_b) == len(moved)  # only lost jobs ran again
