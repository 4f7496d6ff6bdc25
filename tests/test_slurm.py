"""Running on a SLURM cluster: the profile, GPUs from the allocation, the database on NFS.

The real cluster run lives in CI (.ci/slurm-up.sh, .ci/slurm-demo.sh); these need no SLURM.
"""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

import pytest
import yaml

from cosmos_steps import PROJECT_DIR, db
from cosmos_steps.hosts import Host
from tests.helpers import base_config, make_project, snakemake

PROFILE = PROJECT_DIR / "profiles" / "slurm" / "config.yaml"
MEADOW = {
    "prompt": "A quiet meadow at dawn",
    "inputs": {"color": "videos/color.mp4"},
    "controls": {"edge": 0.7},
}


@pytest.fixture
def slurm_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a SLURM job that was given GPUs 2 and 3."""
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")


def host(transport: str = "local", gpus: int | list[int] = 1) -> Host:
    return Host("gpu", {"transport": transport, "runtime": "none", "root": "/tmp/h", "gpus": gpus})


def test_profile_submits_gpu_jobs_through_the_slurm_plugin() -> None:
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm" and profile["scheduler"] == "greedy"
    assert isinstance(profile["jobs"], int) and profile["jobs"] > 0
    resources = {"slurm_account", "slurm_partition", "runtime", "mem_mb"}
    assert set(profile["default-resources"]) == resources
    infer = profile["set-resources"]["cosmos_infer"]
    assert infer["gres"] == "gpu:1" and "gpu" not in infer  # --gres or --gpus, never both
    assert infer["cpus_per_gpu"] > 0 and infer["runtime"] > 0
    # Real clusters have accounting: the plugin's own status checks stay (CI passes squeue).
    assert not any(key.startswith("slurm-") for key in profile)


def test_slurm_plugin_is_pinned_where_gpu_jobs_run_once() -> None:
    extras = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    pins = extras["optional-dependencies"]["slurm"]
    assert pins == ["snakemake-executor-plugin-slurm>=2.7.1"]
    assert "2.7.1" in PROFILE.read_text()


def test_only_the_gpu_rule_is_submitted_to_the_cluster(tmp_path: Path) -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    project = make_project(tmp_path / "p", {"meadow": MEADOW})
    with SnakemakeApi(OutputSettings()) as api:
        settings = ResourceSettings(cores=1)
        api_workflow = api.workflow(settings, snakefile=PROJECT_DIR / "Snakefile", workdir=project)
        workflow = api_workflow._workflow  # no public accessor for the local rules
        remote = [rule.name for rule in workflow.rules if rule.name not in workflow._localrules]
    assert remote == ["cosmos_infer"]


def test_a_local_host_in_a_slurm_job_uses_the_allocated_gpus(slurm_job: None) -> None:
    local = host(gpus=1)
    assert local.gpu_ids == ["2", "3"] and local.num_gpus == 2
    env = local.job_env("transfer", "job-1", "/opt/cosmos")
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3" and env["NUM_GPUS"] == "2"
    note = local.allocation_note()
    assert note is not None and note.startswith("SLURM job 4242: using its GPUs 2,3 (2, while")
    assert host(gpus=2).allocation_note() == "SLURM job 4242: using its GPUs 2,3"


def test_an_ssh_host_keeps_its_configured_gpus_inside_a_slurm_job(slurm_job: None) -> None:
    remote = host("ssh", gpus=[0])
    assert remote.gpu_ids == ["0"] and remote.allocation_note() is None


@pytest.mark.parametrize(
    "env",
    [
        {"CUDA_VISIBLE_DEVICES": "2,3"},  # not in a SLURM job: a user's own setting
        {"SLURM_JOB_ID": "7"},  # a SLURM job without GPUs
        {"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "NoDevFiles"},
    ],
)
def test_without_a_slurm_gpu_allocation_the_configured_gpus_are_used(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert host(gpus=[1, 4]).gpu_ids == ["1", "4"] and host(gpus=[1]).allocation_note() is None


@pytest.mark.workflow
def test_the_gpu_job_gets_the_allocation_of_the_slurm_job_it_runs_in(tmp_path: Path) -> None:
    config = {**base_config(gpus=2), "journal_mode": "delete"}  # the project is on NFS
    project = make_project(tmp_path / "p", {"meadow": MEADOW}, config)
    done = snakemake(project, env={"SLURM_JOB_ID": "99", "CUDA_VISIBLE_DEVICES": "5"})
    assert done.returncode == 0, done.stderr[-3000:]
    (log,) = (project / "logs/infer/batches").glob("*.log")
    assert (
        "note: SLURM job 99: using its GPUs 5 (1, while config.yaml asks for 2" in log.read_text()
    )
    env = (project / "work/batches" / log.stem / "job.env").read_text()
    assert "CUDA_VISIBLE_DEVICES=5\n" in env and "NUM_GPUS=1\n" in env
    with sqlite3.connect(project / "cosmos.db") as conn:
        assert conn.execute("SELECT num_gpus, status FROM batches").fetchall() == [(1, "completed")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # no step chose WAL


@pytest.mark.parametrize(("mode", "synchronous"), [("wal", 1), ("delete", 2), ("truncate", 2)])
def test_each_journal_mode_is_used_as_configured(
    tmp_path: Path, mode: str, synchronous: int
) -> None:
    database = db.connect(tmp_path / "c.db", journal_mode=mode)
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == mode
    assert database.execute("PRAGMA synchronous").fetchone()[0] == synchronous  # 1 NORMAL, 2 FULL
    assert database.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS


def test_a_wal_database_moved_to_nfs_leaves_wal_when_delete_is_configured(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db.connect(path).conn.close()
    database = db.connect(path, journal_mode="delete")
    db.record_prompt(database, {"id": "ps_1", "name": "meadow", "text": "A quiet meadow"})
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not path.with_name("c.db-wal").exists()
