"""cosmos_jobspec: one run -> its resolved description (run.json) and NVIDIA spec (spec.json)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cosmos_steps import db, nvidia
from cosmos_steps.files import write_json


def prompt_id(spec: str, text: str, negative: str) -> str:
    """Prompts are identified by their content: `ps_` + hash of spec name and texts."""
    payload = json.dumps([spec, text, negative], ensure_ascii=False)
    return "ps_" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_prompts(database: Any, run: dict[str, Any], enhanced: str | None) -> str:
    """Record the spec's prompt (and its enhanced version); return the id the run uses."""
    common = {
        "spec": run["spec"],
        "negative_prompt": run["negative_prompt"],
        "inputs": run["inputs"],
        "params": run["params"],
        "spec_path": run["spec_path"],
    }
    original = prompt_id(run["spec"], run["prompt"], run["negative_prompt"])
    db.record_prompt(
        database,
        {"id": original, "name": run["spec"], "kind": "user", "text": run["prompt"], **common},
    )
    if enhanced is None:
        return original
    better = prompt_id(run["spec"], enhanced, run["negative_prompt"])
    db.record_prompt(
        database,
        {
            "id": better,
            "name": f"{run['spec']} (enhanced)",
            "kind": "enhanced",
            "parent_id": original,
            "text": enhanced,
            **common,
        },
    )
    return better


def write_jobspec(
    run: dict[str, Any],
    run_out: Path,
    spec_out: Path,
    database: Any,
    enhanced_prompt: Path | None = None,
) -> None:
    """Write run.json and spec.json for one run and record its prompt."""
    run = dict(run)
    enhanced = enhanced_prompt.read_text(encoding="utf-8").strip() if enhanced_prompt else None
    run["prompt_id"] = record_prompts(database, run, enhanced)
    if enhanced is not None:
        run["original_prompt"], run["prompt"] = run["prompt"], enhanced
    names = nvidia.batch_names([run])[0]
    write_json(spec_out, nvidia.single_spec(run, names))
    write_json(run_out, run)
