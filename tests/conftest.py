"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_project import CliResult, JobStarter, ProjectDir, seed
from tests.sshd import LoopbackSSHD, SSHDUnavailable


def _start_sshd(extra_config: str = "") -> LoopbackSSHD:
    try:
        return LoopbackSSHD(extra_config).start()
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

    def start(extra_config: str = "") -> LoopbackSSHD:
        """extra_config: more sshd_config lines, e.g. `SetEnv PATH=...` for the sessions."""
        servers.append(_start_sshd(extra_config))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cosmos_project(tmp_path: Path) -> ProjectDir:
    """An empty project folder (config.yaml with a local simulated host, a real database)."""
    return ProjectDir(tmp_path)


@pytest.fixture
def seeded(cosmos_project: ProjectDir) -> ProjectDir:
    """A project with three prompts and four runs (see tests/cli_project.seed)."""
    return seed(cosmos_project)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `cosmos --config <project>/config.yaml ARGS...` in this process: CliResult."""
    from cosmos_steps.cli import main

    def run(project: ProjectDir, *args: str) -> CliResult:
        code = main(["--config", str(project.config), *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def start_job(cosmos_project: ProjectDir) -> Iterator[JobStarter]:
    """start_job(job_id, bash_task, host="sim") -> RemoteJob; running jobs are stopped after."""
    starter = JobStarter(cosmos_project)
    yield starter
    starter.stop_all()
