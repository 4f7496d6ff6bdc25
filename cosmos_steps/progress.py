"""What a long step tells the user: a detailed log file, and short progress lines on stderr."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from cosmos_steps.transport import ProgressFn

QUIET_BELOW = 8_000_000
"""Transfers smaller than this (bytes) show no progress lines."""


class Reporter:
    """Writes everything to the rule's log (and copies) and a prefixed summary to the terminal."""

    def __init__(
        self,
        log_path: Path | None,
        prefix: str,
        terminal: TextIO = sys.stderr,
        copies: tuple[Path, ...] = (),
    ):
        self.prefix = prefix
        self.terminal = terminal
        self.logs: list[TextIO] = []
        for path in ([log_path] if log_path else []) + list(copies):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.logs.append(path.open("a", encoding="utf-8"))
        self._partial = ""

    def _write(self, text: str) -> None:
        for log in self.logs:
            log.write(text)
            log.flush()

    def say(self, message: str) -> None:
        """A line for both the log and the terminal."""
        stamp = time.strftime("%H:%M:%S")
        self._write(f"[{stamp}] {message}\n")
        self.terminal.write(f"[{stamp}] {self.prefix}: {message}\n")
        self.terminal.flush()

    def remote_log(self, data: bytes) -> None:
        """Bytes of the job's own log: verbatim into the log file, line by line to the terminal."""
        text = data.decode("utf-8", "replace")
        self._write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.terminal.write(f"    {self.prefix} | {line.rstrip()}\n")
        self.terminal.flush()

    def transfer(self, label: str, total: int) -> ProgressFn:
        """A progress callback printing percent and MB/s about once a second (files over 8 MB)."""
        started = time.monotonic()
        last = [started]

        def report(done: int, size: int) -> None:
            now = time.monotonic()
            if total < QUIET_BELOW or (done < size and now - last[0] < 1.0):
                return
            last[0] = now
            rate = done / max(now - started, 1e-6) / 1e6
            percent = 100 * done / max(size or total, 1)
            self.terminal.write(f"    {self.prefix} | {label}: {percent:5.1f}% {rate:7.1f} MB/s\n")
            self.terminal.flush()

        return report

    def close(self) -> None:
        for log in self.logs:
            log.close()
