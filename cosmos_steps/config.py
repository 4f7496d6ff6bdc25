"""Loading config.yaml: schema check, defaults, and how step processes get the same config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from cosmos_steps import nvidia, schemas

CONFIG_ENV = "COSMOS_CONFIG_JSON"
"""Set by rules/common.smk: step processes see the config Snakemake used (--config included)."""


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes ValidationFailed naming the file and line."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise schemas.ValidationFailed([f"{where}: not valid YAML: {exc}"]) from exc
    except OSError as exc:
        raise schemas.ValidationFailed([f"{path}: cannot be read: {exc.strerror}"]) from exc


def prepare(config: dict[str, Any], where: str = "config.yaml") -> dict[str, Any]:
    """Validate a config mapping, fill schema defaults and NVIDIA's defaults; return it."""
    if not isinstance(config, dict):
        raise schemas.ValidationFailed([f"{where}: expected a mapping of settings"])
    schemas.validate(config, "config.schema.yaml", where, fill_defaults=True)
    problems = pool_problems(config, where)
    if config["default_host"] not in targets(config):
        known = ", ".join(targets(config))
        problems.append(
            f"{where}: default_host: {config['default_host']!r} is not a host or pool ({known})"
        )
    if problems:
        raise schemas.ValidationFailed(problems)
    defaults = config["defaults"]
    defaults.setdefault("negative_prompt", nvidia.DEFAULT_NEGATIVE_PROMPT)
    defaults["params"] = {**nvidia.DEFAULT_PARAMS, **defaults.get("params", {})}
    return config


def targets(config: dict[str, Any]) -> list[str]:
    """Names a spec may run on: hosts and pools."""
    return sorted([*config["hosts"], *config.get("pools", {})])


def pool_problems(config: dict[str, Any], where: str) -> list[str]:
    """Pools must list existing hosts and not share a name with one."""
    problems = []
    for name, members in config.get("pools", {}).items():
        if name in config["hosts"]:
            problems.append(f"{where}: pools.{name}: a host has this name too")
        for index, member in enumerate(members):
            if member not in config["hosts"]:
                problems.append(f"{where}: pools.{name}[{index}]: {member!r} is not a host")
    return problems


def load(path: str | Path = "config.yaml") -> dict[str, Any]:
    """Read and prepare a config file."""
    path = Path(path)
    return prepare(read_yaml(path), str(path))


def for_step() -> dict[str, Any]:
    """The config inside a step process: the one Snakemake passed, else ./config.yaml."""
    if CONFIG_ENV in os.environ:
        return json.loads(os.environ[CONFIG_ENV])
    return load()
