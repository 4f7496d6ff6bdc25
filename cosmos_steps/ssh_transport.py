"""SSH transport over paramiko: checked host keys, AES-GCM, transparent reconnects, fast transfers.

Transfers stream over exec channels of an AES-GCM connection with TCP_NODELAY (measured in
bench/transfer_bench.py, see docs/ssh.md). Uploads feed `cat > FILE` in pieces that fit one SSH
packet; downloads read `tail -c +N FILE` in 1 MiB reads and resume from N after a reconnect.
paramiko's SFTP is not used: its uploads split every write into two packets, and its download
prefetch slows down as its buffers grow and stalls on some runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import logging
import select
import shlex
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import paramiko

from . import known_hosts
from .known_hosts import HostKey, HostKeyError, KnownKeys
from .transport import CHUNK, CommandResult, ProgressFn, Transport, TransportError

__all__ = ["AuthError", "HostKeyError", "SSHSettings", "SSHTransport"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
RSA_SIGNATURES = {"rsa-sha2-512": "ssh-rsa", "rsa-sha2-256": "ssh-rsa"}
RECV_CHUNK = 1 << 20
PACKET_OVERHEAD = 64  # paramiko keeps this much of the peer's max packet size for headers
PROGRESS_STEP = 1 << 20
BACKOFF_START = 0.5
BACKOFF_CAP = 8.0
KEEPALIVE_PROBES = 3
SETTLE_SECONDS = 0.25
UPLOAD_SCRIPT = 'cat > "$1" && chmod "$2" "$1" && wc -c < "$1"'
DOWNLOAD_SCRIPT = 'wc -c < "$1" && exec tail -c +"$2" -- "$1"'
READ_SCRIPT = 'tail -c +"$1" -- "$2" 2>/dev/null | head -c "$3"'


class AuthError(TransportError):
    """The host refused our credentials, or the key could not be loaded. Never retried."""


class _Unreachable(Exception):
    """Connecting failed in a way that may pass (refused, timed out, reset)."""


class _ConnectionLost(Exception):
    """A channel ended without an exit status because the connection went away."""


class _Deadline(Exception):
    """A command ran past its timeout."""


@dataclasses.dataclass(frozen=True)
class SSHSettings:
    """One host entry of config.yaml with the schema defaults applied."""

    host: str
    port: int = 22
    user: str = dataclasses.field(default_factory=getpass.getuser)
    key_file: Path | None = None
    known_hosts: Path = Path("~/.ssh/known_hosts").expanduser()
    host_key_policy: str = "strict"
    connect_timeout: float = 15.0
    keepalive: float = 15.0
    reconnect_seconds: float = 60.0

    @classmethod
    def from_host_config(cls, host: dict[str, Any]) -> SSHSettings:
        """Read the SSH keys of a config.yaml host entry (other keys are ignored)."""
        if not host.get("host"):
            raise TransportError("ssh host entry has no `host`")
        policy = host.get("host_key_policy", cls.host_key_policy)
        if policy not in known_hosts.POLICIES:
            raise TransportError(f"host_key_policy must be one of {known_hosts.POLICIES}")
        key_file = host.get("key_file")
        return cls(
            host=str(host["host"]),
            port=int(host.get("port", cls.port)),
            user=str(host.get("user") or getpass.getuser()),
            key_file=Path(key_file).expanduser() if key_file else None,
            known_hosts=Path(host.get("known_hosts", "~/.ssh/known_hosts")).expanduser(),
            host_key_policy=policy,
            connect_timeout=float(host.get("connect_timeout", cls.connect_timeout)),
            keepalive=float(host.get("keepalive", cls.keepalive)),
            reconnect_seconds=float(host.get("reconnect_seconds", cls.reconnect_seconds)),
        )

    @property
    def known_hosts_name(self) -> str:
        """The name of this host in known_hosts (`[host]:port` off port 22)."""
        return known_hosts.host_name(self.host, self.port)

    @property
    def keepalive_interval(self) -> int:
        """Whole seconds between keepalives (0 = off)."""
        return max(1, round(self.keepalive)) if self.keepalive > 0 else 0

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class SSHTransport(Transport):
    """Runs commands and moves files on a host over one lazily opened, self-healing connection."""

    def __init__(self, label: str, settings: SSHSettings) -> None:
        self.label = label
        self.settings = settings
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None

    @classmethod
    def from_host_config(cls, name: str, host: dict[str, Any]) -> SSHTransport:
        """Build the transport of host `name` from its config.yaml entry."""
        return cls(name, SSHSettings.from_host_config(host))

    def __repr__(self) -> str:
        auth = "key_file" if self.settings.key_file else "agent"
        return f"SSHTransport({self.label!r}, {self.settings.destination}, auth={auth})"

    # Transport interface

    def run(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run argv (each argument shell-quoted) and collect its exit code, stdout and stderr."""
        if isinstance(argv, str) or not argv:
            raise TypeError("argv must be a non-empty list of arguments")
        return self._call(f"`{argv[0]}`", lambda t: self._exec(t, argv, stdin, timeout))

    def put(self, local: Path, remote: str, progress: ProgressFn | None = None) -> None:
        """Upload a file (streamed into `cat`) and copy its permission bits; restarts after a
        reconnect."""
        local = Path(local)
        mode = stat.S_IMODE(local.stat().st_mode)
        self._call(f"put {remote}", lambda t: self._upload(t, local, remote, mode, progress))

    def get(self, remote: str, local: Path, progress: ProgressFn | None = None) -> None:
        """Download a file by streaming it over an exec channel; resumes after a reconnect.
        A failed download leaves no partial file behind."""
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            with local.open("wb") as out:
                self._call(f"get {remote}", lambda t: self._download(t, remote, out, progress))
        except BaseException:
            local.unlink(missing_ok=True)
            raise

    def read(self, remote: str, offset: int, limit: int = CHUNK) -> bytes:
        """Read up to `limit` bytes from `offset` (b'' when the file is missing or shorter)."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        if limit == 0:
            return b""
        argv = ["sh", "-c", READ_SCRIPT, "sh", str(offset + 1), remote, str(limit)]
        return self.run(argv).stdout

    def close(self) -> None:
        """Close the connection (the next operation opens a new one)."""
        with self._lock:
            self._drop()

    # Connection handling

    def _call(self, what: str, operation: Callable[[paramiko.Transport], T]) -> T:
        """Run `operation` on a live connection, reconnecting with backoff when it drops."""
        delays: Iterator[float] | None = None
        while True:
            transport = None
            try:
                transport = self._connected()
                return operation(transport)
            except TransportError:
                raise
            except Exception as exc:
                if not _is_connection_loss(exc, transport):
                    raise TransportError(f"{self.label}: {what} failed: {exc}") from exc
                delays = delays or _backoff(self.settings.reconnect_seconds)
                self._forget(transport)
                self._wait_before_retry(what, exc, delays)

    def _forget(self, dead: paramiko.Transport | None) -> None:
        """Drop the connection that failed (not one another thread has opened since)."""
        with self._lock:
            if dead is not None and self._transport is dead:
                self._drop()

    def _wait_before_retry(self, what: str, exc: Exception, delays: Iterator[float]) -> None:
        """Sleep before the next attempt, or raise once the reconnect budget is spent."""
        delay = next(delays, None)
        reason = str(exc) or type(exc).__name__
        if delay is None:
            raise TransportError(
                f"{self.label}: {what} failed: cannot reach {self.settings.destination} "
                f"({reason}); gave up after {self.settings.reconnect_seconds:g}s of reconnect "
                f"attempts (reconnect_seconds)"
            ) from exc
        log.warning("%s: connection lost (%s); reconnecting in %.1fs", self.label, reason, delay)
        time.sleep(delay)

    def _connected(self) -> paramiko.Transport:
        """The live connection, opened on first use or after it was seen dead."""
        with self._lock:
            if self._transport is not None and not self._transport.is_active():
                self._drop()
            if self._transport is None:
                self._transport = self._open()
            return self._transport

    def _drop(self) -> None:
        """Close and forget the connection (caller holds the lock)."""
        if self._transport is not None:
            self._transport.close()
        self._transport = None

    def _open(self) -> paramiko.Transport:
        """Connect, check the host key and authenticate."""
        settings = self.settings
        known = known_hosts.lookup(settings.known_hosts, settings.known_hosts_name)
        transport = paramiko.Transport(_open_socket(settings))
        try:
            _tune(transport, settings, known)
            transport.start_client(timeout=settings.connect_timeout)
            self._check_host_key(transport, known)
            self._authenticate(transport)
        except paramiko.IncompatiblePeer as exc:
            transport.close()
            raise TransportError(f"{self.label}: cannot negotiate with the host: {exc}") from exc
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(settings.keepalive_interval)
        log.debug(
            "%s: connected to %s (%s)", self.label, settings.destination, transport.remote_cipher
        )
        return transport

    def _check_host_key(self, transport: paramiko.Transport, known: KnownKeys) -> None:
        remote = transport.get_remote_server_key()
        key = HostKey(remote.get_name(), remote.get_base64())
        settings = self.settings
        try:
            known_hosts.verify(
                settings.known_hosts,
                settings.known_hosts_name,
                key,
                settings.host_key_policy,
                known,
            )
        except HostKeyError as exc:
            raise HostKeyError(f"{self.label}: {exc}") from None

    def _authenticate(self, transport: paramiko.Transport) -> None:
        """Offer the key file, or each agent key, until one is accepted."""
        agent = None if self.settings.key_file else paramiko.Agent()
        try:
            keys = [self._load_key()] if agent is None else list(agent.get_keys())
            if not keys:
                raise AuthError(
                    f"{self.label}: no key_file set and the SSH agent offers no keys "
                    f"(is ssh-agent running and SSH_AUTH_SOCK set?)"
                )
            for key in keys:
                try:
                    transport.auth_publickey(self.settings.user, key)
                except paramiko.AuthenticationException:
                    continue
                if transport.is_authenticated():
                    return
            source = "key_file" if agent is None else f"{len(keys)} agent key(s)"
            raise AuthError(
                f"{self.label}: {self.settings.destination} refused {source} "
                f"(check user and that the public key is in the host's authorized_keys)"
            )
        finally:
            if agent is not None:
                agent.close()

    def _load_key(self) -> paramiko.PKey:
        path = self.settings.key_file
        assert path is not None
        try:
            return paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            raise AuthError(
                f"{self.label}: key_file {path} is passphrase-protected; load it into ssh-agent "
                f"and remove key_file from the host entry"
            ) from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise AuthError(f"{self.label}: cannot load key_file {path}: {exc}") from None

    # Operations (each runs on a live connection; `_call` retries them after a reconnect)

    def _exec(
        self,
        transport: paramiko.Transport,
        argv: list[str],
        stdin: bytes | None,
        timeout: float | None,
    ) -> CommandResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        channel = transport.open_session(timeout=self.settings.connect_timeout)
        try:
            channel.exec_command(shlex.join(argv))
            _feed(channel, stdin)
            stdout, stderr = _drain(channel, deadline)
            if not channel.status_event.wait(_remaining(deadline)):
                raise _Deadline
            return CommandResult(_exit_status(transport, channel), stdout, stderr)
        except _Deadline:
            raise TransportError(
                f"{self.label}: `{argv[0]}` timed out after {timeout:g}s"
            ) from None
        finally:
            channel.close()

    def _upload(
        self,
        transport: paramiko.Transport,
        local: Path,
        remote: str,
        mode: int,
        progress: ProgressFn | None,
    ) -> None:
        size = local.stat().st_size
        report = _Throttled(progress, size)
        channel = transport.open_session(timeout=self.settings.connect_timeout)
        try:
            channel.exec_command(shlex.join(["sh", "-c", UPLOAD_SCRIPT, "sh", remote, f"{mode:o}"]))
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):  # see exit status
                _send_file(channel, local, report)
                channel.shutdown_write()
            stdout, stderr = _drain(channel, None)
            status = _exit_status(transport, channel)
        finally:
            channel.close()
        if status != 0:
            raise TransportError(f"{self.label}: put {remote}: {_last_line(stderr, status)}")
        if int(stdout) != size:
            raise TransportError(
                f"{self.label}: put {remote}: host has {int(stdout)} of {size} bytes"
            )
        report.finish()

    def _download(
        self,
        transport: paramiko.Transport,
        remote: str,
        out: BinaryIO,
        progress: ProgressFn | None,
    ) -> None:
        start = out.tell()
        channel = transport.open_session(timeout=self.settings.connect_timeout)
        try:
            channel.exec_command(
                shlex.join(["sh", "-c", DOWNLOAD_SCRIPT, "sh", remote, str(start + 1)])
            )
            channel.shutdown_write()
            header, first = _read_line(channel)
            if header is None:
                reason = _stderr_tail(channel, _exit_status(transport, channel))
                raise TransportError(f"{self.label}: get {remote}: {reason}")
            total = int(header)
            report = _Throttled(progress, total)
            _copy_stream(channel, first, out, report)
            status = _exit_status(transport, channel)
            if status != 0:
                raise TransportError(f"{self.label}: get {remote}: {_stderr_tail(channel, status)}")
            if out.tell() != total:
                raise TransportError(
                    f"{self.label}: get {remote}: got {out.tell()} bytes, expected {total} "
                    f"(did the file change during the download?)"
                )
            report.finish()
        finally:
            channel.close()


def _open_socket(settings: SSHSettings) -> socket.socket:
    """TCP connection with TCP_NODELAY and keepalive probes that detect dead links.

    Socket buffers are left to the kernel's autotuning: a fixed SO_RCVBUF is capped by
    net.core.rmem_max (often 208 KiB) and would limit long-distance links."""
    try:
        sock = socket.create_connection((settings.host, settings.port), settings.connect_timeout)
    except OSError as exc:
        raise _Unreachable(f"connect to {settings.host}:{settings.port}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if settings.keepalive_interval:
        _set_tcp_keepalive(sock, settings.keepalive_interval)
    return sock


def _set_tcp_keepalive(sock: socket.socket, interval: int) -> None:
    """Drop the link after about 4 silent keepalive intervals (like ServerAliveCountMax=3)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    options = {
        "TCP_KEEPIDLE": interval,
        "TCP_KEEPINTVL": interval,
        "TCP_KEEPCNT": KEEPALIVE_PROBES,
        "TCP_USER_TIMEOUT": interval * (KEEPALIVE_PROBES + 1) * 1000,
    }
    for name, value in options.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _tune(transport: paramiko.Transport, settings: SSHSettings, known: KnownKeys) -> None:
    """Prefer AES-GCM, and host key types already recorded for this host (as OpenSSH does)."""
    transport.banner_timeout = settings.connect_timeout
    transport.handshake_timeout = settings.connect_timeout
    transport.auth_timeout = settings.connect_timeout
    options = transport.get_security_options()
    options.ciphers = _first(options.ciphers, lambda name: name in FAST_CIPHERS)
    options.key_types = _first(
        options.key_types, lambda name: RSA_SIGNATURES.get(name, name) in known.types
    )


def _first(names: tuple[str, ...], preferred: Callable[[str], bool]) -> tuple[str, ...]:
    """Reorder `names` so the preferred ones come first, keeping the order within each group."""
    return tuple(sorted(names, key=lambda name: not preferred(name)))


def _is_connection_loss(exc: Exception, transport: paramiko.Transport | None) -> bool:
    """Whether `exc` means the link is gone (worth a reconnect) rather than a real failure."""
    if isinstance(exc, _Unreachable | _ConnectionLost):
        return True
    if transport is None:
        return isinstance(exc, OSError | EOFError | paramiko.SSHException)
    return _is_dead(transport)


def _is_dead(transport: paramiko.Transport) -> bool:
    """Whether the connection is gone. paramiko closes its channels a moment before it marks
    the transport inactive, so give its thread a short while to finish first."""
    if transport.is_active():
        transport.join(SETTLE_SECONDS)
    return not transport.is_active()


def _backoff(budget: float) -> Iterator[float]:
    """Sleeps before each reconnect: none, then 0.5 s doubling up to 8 s, for `budget` seconds."""
    deadline = time.monotonic() + budget
    delay = 0.0
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(max(delay * 2, BACKOFF_START), BACKOFF_CAP)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Deadline
    return left


def _feed(channel: paramiko.Channel, data: bytes | None) -> None:
    """Send stdin from a thread (so output is read meanwhile), then signal EOF."""
    if not data:
        channel.shutdown_write()
        return

    def push() -> None:
        try:
            channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the channel closed early; the reader sees why

    threading.Thread(target=push, name="ssh-stdin", daemon=True).start()


def _drain(channel: paramiko.Channel, deadline: float | None) -> tuple[bytes, bytes]:
    """Read stdout and stderr together until the command closes them (no deadlock on either)."""
    stdout, stderr = bytearray(), bytearray()
    while True:
        select.select([channel], [], [], _remaining(deadline))
        while channel.recv_ready():
            stdout += channel.recv(RECV_CHUNK)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(RECV_CHUNK)
        ended = channel.eof_received or channel.closed
        if ended and not (channel.recv_ready() or channel.recv_stderr_ready()):
            return bytes(stdout), bytes(stderr)


def _exit_status(transport: paramiko.Transport, channel: paramiko.Channel) -> int:
    """The command's exit code; -1 if it died of a signal; _ConnectionLost if the link went."""
    channel.status_event.wait()
    if channel.exit_status != -1:
        return channel.exit_status
    if _is_dead(transport):
        raise _ConnectionLost("connection closed during the command")
    return -1


def _read_line(channel: paramiko.Channel) -> tuple[bytes | None, bytes]:
    """The first line of stdout (None if stdout ended first) and the bytes after it."""
    buffer = b""
    while b"\n" not in buffer:
        data = channel.recv(RECV_CHUNK)
        if not data:
            return None, buffer
        buffer += data
    line, rest = buffer.split(b"\n", 1)
    return line.strip(), rest


def _copy_stream(
    channel: paramiko.Channel, first: bytes, out: BinaryIO, report: _Throttled
) -> None:
    """Write `first`, then everything the channel sends until EOF."""
    data = first
    while True:
        out.write(data)
        report(out.tell())
        data = channel.recv(RECV_CHUNK)
        if not data:
            return


def _send_file(channel: paramiko.Channel, local: Path, report: _Throttled) -> None:
    """Send a file in pieces of one SSH packet each (paramiko would split larger writes)."""
    piece = channel.out_max_packet_size - PACKET_OVERHEAD
    done = 0
    with local.open("rb", buffering=RECV_CHUNK) as source:
        while data := source.read(piece):
            channel.sendall(data)
            done += len(data)
            report(done)


def _stderr_tail(channel: paramiko.Channel, status: int) -> str:
    data = channel.recv_stderr(RECV_CHUNK) if channel.recv_stderr_ready() else b""
    return _last_line(data, status)


def _last_line(stderr: bytes, status: int) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip() if lines else f"exit code {status}"


class _Throttled:
    """Progress reporting at most once per MiB (plus the final count)."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self.reported = -1

    def __call__(self, done: int) -> None:
        self.done = done
        if self.progress and done - self.reported >= PROGRESS_STEP:
            self.reported = done
            self.progress(done, self.total)

    def finish(self) -> None:
        if self.progress and self.reported != self.done:
            self.reported = self.done
            self.progress(self.done, self.total)
