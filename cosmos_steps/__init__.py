"""Cosmos Workflow: the step modules behind the Snakemake pipeline and the `cosmos` CLI."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The repository root (rules/, gpu_scripts/, schemas/ live here)."""

__version__ = "0.1.0"
