"""A real OpenSSH server on 127.0.0.1 for tests and benchmarks (its own keys, port and files).

Each LoopbackSSHD has a private folder with an ed25519 host key, a client key, authorized_keys,
sshd_config, a log and a known_hosts file that trusts the host key. Several can run at once.
Faults to inject: kill_sessions() (drop every open connection), stop_listener()/restart()
(host down, then back on the same port), regenerate_host_key() (the host key changes).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SSHD = Path("/usr/sbin/sshd")
READY_SECONDS = 10.0


class SSHDUnavailable(RuntimeError):
    """This machine cannot run the loopback server (tests skip with this reason)."""


class LoopbackSSHD:
    """One OpenSSH server on 127.0.0.1 at a free port, started as `sshd -D` and stopped by PID."""

    def __init__(self) -> None:
        if not SSHD.exists() or shutil.which("ssh-keygen") is None:
            raise SSHDUnavailable(
                f"{SSHD} or ssh-keygen is not installed (apt install openssh-server)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="cosmos-sshd-"))
        self.dir.chmod(0o700)
        self.host = "127.0.0.1"
        self.user = getpass.getuser()
        self.port = 0
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "client_key"
        self.known_hosts = self.dir / "known_hosts"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """What sshd wrote so far (for failure messages)."""
        path = self.dir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> LoopbackSSHD:
        """Create keys and config, start the listener and wait until it answers."""
        try:
            _keygen(self.host_key)
            _keygen(self.client_key)
            shutil.copy(self.client_key.with_suffix(".pub"), self.dir / "authorized_keys")
            (self.dir / "authorized_keys").chmod(0o600)
            self.port = _free_port()
            self._write_config()
            self.trust_host_key()
            self._start_listener()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the listener and every session, and delete the folder."""
        self.stop_listener()
        shutil.rmtree(self.dir, ignore_errors=True)

    def host_config(self, root: str, **overrides: Any) -> dict[str, Any]:
        """A config.yaml host entry that reaches this server over SSH."""
        entry: dict[str, Any] = {
            "transport": "ssh",
            "runtime": "simulate",
            "root": root,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "host_key_policy": "strict",
            "connect_timeout": 5,
        }
        entry.update(overrides)
        return entry

    def session_pids(self) -> list[int]:
        """PIDs of this server's per-connection sshd processes (not the listener, not commands)."""
        if self.process is None:
            return []
        return _descendants(self.process.pid, only_comm=("sshd", "sshd-session"))

    def kill_sessions(self) -> int:
        """SIGKILL the per-connection sshd processes of this server: every connection drops."""
        pids = self.session_pids()
        for pid in pids:
            _kill(pid, signal.SIGKILL)
        return len(pids)

    def stop_listener(self) -> None:
        """The host goes away: sessions are killed and the listener stops (port refuses)."""
        if self.process is None:
            return
        self.kill_sessions()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Start the listener again on the same port with the same keys."""
        self.stop_listener()
        self._start_listener()

    def regenerate_host_key(self) -> None:
        """Give the server a new host key (known_hosts keeps the old one) and restart it."""
        self.host_key.unlink()
        self.host_key.with_suffix(".pub").unlink()
        _keygen(self.host_key)
        self.restart()

    def known_hosts_line(self) -> str:
        """The known_hosts line OpenSSH would write for the current host key."""
        key_type, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {blob}\n"

    def trust_host_key(self) -> None:
        """Make the fixture's known_hosts file hold exactly the current host key."""
        self.known_hosts.write_text(self.known_hosts_line())

    def _write_config(self) -> None:
        d = self.dir
        (d / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.host}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "StrictModes no\n"
            "Subsystem sftp internal-sftp\n"
            "MaxStartups 100\n"
            "MaxSessions 100\n"
            "LogLevel VERBOSE\n"
        )

    def _start_listener(self) -> None:
        try:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as exc:
            raise SSHDUnavailable(f"cannot create /run/sshd (privilege separation): {exc}") from exc
        config = str(self.dir / "sshd_config")
        checked = subprocess.run([str(SSHD), "-t", "-f", config], capture_output=True, text=True)
        if checked.returncode != 0:
            raise SSHDUnavailable(f"sshd rejects its config: {checked.stderr.strip()}")
        with (self.dir / "sshd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", config], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Wait for the SSH banner on the port; fail loudly with the log if it never comes."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                break
            if _answers(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop_listener()
        raise RuntimeError(f"sshd on port {self.port} did not come up:\n{self.log}")


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cosmos-test", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _descendants(root: int, only_comm: tuple[str, ...]) -> list[int]:
    """All processes below `root` (from /proc/*/stat) whose command name is in `only_comm`."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid = int(text.split(" ", 1)[0])
        names[pid] = text[text.index("(") + 1 : text.rindex(")")]
        parents[pid] = int(text[text.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += [pid for pid in children if names[pid] in only_comm]
        frontier += children
    return found


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
