"""`cosmos gc`: uploads (blobs) no job uses and no job used for a while are deleted on the host."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from cosmos_steps import PROJECT_DIR
from cosmos_steps.files import sha256_file
from tests.helpers import cosmos, make_project, snakemake

pytestmark = pytest.mark.workflow
MEADOW = {"prompt": "A quiet meadow", "inputs": "videos", "controls": {"edge": 0.5}}


def test_gc_deletes_only_old_unused_blobs(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"meadow": MEADOW})
    assert snakemake(project).returncode == 0
    blobs = project / "work/host/blobs"
    before = sorted(p.name for p in blobs.iterdir())
    old = time.time() - 40 * 86400
    for blob in blobs.iterdir():
        os.utime(blob, (old, old))
    fresh = sorted(blobs.iterdir())[0]
    os.utime(fresh, None)  # one used recently: kept
    linked = {
        Path(os.readlink(p)).name
        for p in (project / "work/host/simulator").rglob("*")
        if p.is_symlink()
    }

    dry = cosmos(project, "gc", "--older-than", "30", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)[0]
    jobctl = sha256_file(PROJECT_DIR / "gpu_scripts/jobctl.sh")  # used by gc itself: fresh
    expected = set(before) - linked - {fresh.name, jobctl}
    assert planned["host"] == "simulated" and planned["blobs"] == len(expected) > 0
    assert sorted(p.name for p in blobs.iterdir()) == before  # a dry run deletes nothing

    done = cosmos(project, "gc", "--older-than", "30")
    assert done.returncode == 0 and f"simulated: deleted {len(expected)} blobs" in done.stdout
    assert {p.name for p in blobs.iterdir()} == set(before) - expected
    # the next run uploads what is missing again and still works
    again = snakemake(project, "--forcerun", "cosmos_infer")
    assert again.returncode == 0, again.stderr[-2000:]
    manifest = json.loads(next((project / "work/batches").glob("*/manifest.json")).read_text())
    assert manifest["uploaded_bytes"] > 0
