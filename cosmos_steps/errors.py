"""Errors the `cosmos` commands and the Python API raise for things a user can fix."""

from __future__ import annotations


class CosmosError(Exception):
    """A one-line problem for the user (wrong id, unreachable host); `code` is the exit code."""

    code = 1


class NotFound(CosmosError):
    """Nothing matches the id, prefix or name given."""


class Ambiguous(CosmosError):
    """A prefix or name matches more than one row; `candidates` lists some of them."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates
