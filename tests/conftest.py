"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.sshd import LoopbackSSHD, SSHDUnavailable


def _start_sshd() -> LoopbackSSHD:
    try:
        return LoopbackSSHD().start()
    except SSHDUnavailable as exc:
        pytest.skip(f"loopback OpenSSH server unavailable: {exc}")


@pytest.fixture(scope="session")
def sshd() -> Iterator[LoopbackSSHD]:
    """One loopback OpenSSH server shared by the whole session (do not break it: use fresh_sshd)."""
    server = _start_sshd()
    yield server
    server.stop()


@pytest.fixture
def fresh_sshd() -> Iterator[LoopbackSSHD]:
    """A loopback OpenSSH server of this test alone, free to kill, stop or re-key."""
    server = _start_sshd()
    yield server
    server.stop()


@pytest.fixture
def sshd_factory() -> Iterator[Callable[[], LoopbackSSHD]]:
    """Start as many extra loopback servers ("hosts") as a test needs; all stop at its end."""
    servers: list[LoopbackSSHD] = []

    def start() -> LoopbackSSHD:
        servers.append(_start_sshd())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
