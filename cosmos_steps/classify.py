"""Why a job failed, from its exit code and the end of its log."""

from __future__ import annotations

import re

KINDS = ("oom", "guardrail", "checkpoint", "container", "killed", "cancelled", "unknown")
_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    (
        "oom",
        re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED"),
        "CUDA out of memory",
    ),
    (
        "guardrail",
        re.compile(r"Guardrail blocked generation|is not safe|failed safety checks"),
        "blocked by NVIDIA's guardrail (prompt or video judged unsafe)",
    ),
    (
        "checkpoint",
        re.compile(
            r"(No such file or directory|FileNotFoundError|not found).*"
            r"(checkpoint|\.pt\b|\.jit\b|safetensors)",
            re.IGNORECASE,
        ),
        "missing checkpoint file",
    ),
    (
        "container",
        re.compile(
            r"Unable to find image|pull access denied|Error response from daemon|"
            r"could not select device driver|FATAL:.*(image|container)|"
            r"docker: |apptainer: command not found|docker: command not found"
        ),
        "container or image error",
    ),
]


def last_line(log_tail: str) -> str:
    """The last non-empty line of a log (what a person reads first)."""
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("[cosmos-workflow]")] or lines
    return lines[-1] if lines else ""


def classify(exit_code: int | None, log_tail: str) -> tuple[str, str]:
    """(kind, one-line reason) of a failed job."""
    for kind, pattern, label in _PATTERNS:
        match = pattern.search(log_tail)
        if match:
            line = next(
                (ln.strip() for ln in log_tail.splitlines() if pattern.search(ln)), match.group(0)
            )
            return kind, f"{label}: {line[:300]}"
    if exit_code in (137, -9):
        return "killed", f"killed (exit code {exit_code}: out of host memory, or stopped)"
    detail = last_line(log_tail)[:300] or "no log output"
    return "unknown", f"exit code {exit_code}: {detail}"
