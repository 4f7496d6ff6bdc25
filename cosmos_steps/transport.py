"""How commands and files reach a GPU host: the local machine, or SSH (see ssh_transport.py).

Every remote command is an argv list. Transports that go through a shell (SSH) quote each
argument with shlex; the local transport runs argv directly. User text never travels in argv:
prompts live inside JSON files that are uploaded.
"""

from __future__ import annotations

import abc
import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

ProgressFn = Callable[[int, int], None]
"""Called with (bytes_done, bytes_total) while a file moves."""

CHUNK = 1 << 20


class TransportError(Exception):
    """A host could not be reached, or a command or transfer failed."""


@dataclasses.dataclass
class CommandResult:
    """What a remote command returned."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class Transport(abc.ABC):
    """Runs commands and moves files on one host. Paths on the host are POSIX strings."""

    label: str = "host"

    @abc.abstractmethod
    def run(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run argv on the host and wait for it."""

    @abc.abstractmethod
    def put(self, local: Path, remote: str, progress: ProgressFn | None = None) -> None:
        """Copy a local file to a path on the host (the caller picks temp names and renames)."""

    @abc.abstractmethod
    def get(self, remote: str, local: Path, progress: ProgressFn | None = None) -> None:
        """Copy a file from the host to a local path."""

    @abc.abstractmethod
    def read(self, remote: str, offset: int, limit: int = CHUNK) -> bytes:
        """Read up to `limit` bytes of a host file from `offset` (b'' if it is missing)."""

    def check(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run argv and raise TransportError with its stderr when it fails."""
        result = self.run(argv, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip().splitlines()
            tail = message[-1] if message else f"exit code {result.returncode}"
            raise TransportError(f"{self.label}: `{argv[0]}` failed: {tail}")
        return result

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release connections (no-op for the local transport)."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def copy_with_progress(src: Path, dst: Path, progress: ProgressFn | None) -> None:
    """Copy src to dst in chunks, reporting progress."""
    total = src.stat().st_size
    done = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    shutil.copymode(src, dst)


class LocalTransport(Transport):
    """The host is this machine (the simulator demo, or a SLURM GPU node running the job)."""

    label = "local"

    def run(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransportError(f"local: {argv[0]}: {exc}") from exc
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def put(self, local: Path, remote: str, progress: ProgressFn | None = None) -> None:
        copy_with_progress(Path(local), Path(remote), progress)

    def get(self, remote: str, local: Path, progress: ProgressFn | None = None) -> None:
        copy_with_progress(Path(remote), Path(local), progress)

    def read(self, remote: str, offset: int, limit: int = CHUNK) -> bytes:
        try:
            with open(remote, "rb") as handle:
                handle.seek(offset)
                return handle.read(limit)
        except FileNotFoundError:
            return b""
