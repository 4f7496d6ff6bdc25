"""SSHTransport against a real loopback OpenSSH server (no mocks)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from cosmos_steps import PROJECT_DIR, known_hosts
from cosmos_steps.known_hosts import HostKey
from cosmos_steps.ssh_transport import AuthError, HostKeyError, SSHSettings, SSHTransport
from cosmos_steps.transport import TransportError
from tests.sshd import LoopbackSSHD

pytestmark = pytest.mark.ssh

NASTY_ARGS = [
    "plain",
    "two words",
    "",
    "'single' \"double\" quotes",
    "$(id) `id` ${HOME} $HOME",
    "; rm -rf /nonexistent; echo x && false || true",
    "line one\nline two\r\n\ttab",
    "ünïcødé ✓ 日本語",
    "* ? [a-z] ~ # ! > < | &",
    "-n",
    "--",
    "back\\slash\\\\",
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def accepted_logins(server: LoopbackSSHD) -> int:
    return server.log.count("Accepted publickey")


def connect(server: LoopbackSSHD, tmp_path: Path, **overrides: object) -> SSHTransport:
    return SSHTransport.from_host_config("loop", server.host_config(str(tmp_path), **overrides))


@pytest.fixture
def ssh(sshd: LoopbackSSHD, tmp_path: Path) -> Iterator[SSHTransport]:
    transport = connect(sshd, tmp_path)
    yield transport
    transport.close()


@pytest.fixture
def random_file(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(6 * 1024 * 1024 + 123))
    return path


# Settings


def test_settings_apply_schema_defaults() -> None:
    settings = SSHSettings.from_host_config({"host": "gpu.example.com"})
    assert settings.port == 22
    assert settings.known_hosts == Path.home() / ".ssh/known_hosts"
    assert settings.host_key_policy == "strict"
    assert (settings.connect_timeout, settings.keepalive, settings.reconnect_seconds) == (
        15,
        15,
        60,
    )
    assert settings.key_file is None
    assert settings.user
    assert settings.known_hosts_name == "gpu.example.com"


def test_fixture_host_entry_matches_the_config_schema(sshd: LoopbackSSHD) -> None:
    schema = yaml.safe_load((PROJECT_DIR / "schemas/config.schema.yaml").read_text())
    entry = sshd.host_config("/srv/cosmos", reconnect_seconds=5)
    jsonschema.validate(entry, {**schema["$defs"]["host"], "$defs": schema["$defs"]})


def test_settings_reject_unknown_policy() -> None:
    with pytest.raises(TransportError, match="host_key_policy"):
        SSHSettings.from_host_config({"host": "h", "host_key_policy": "auto-add"})


def test_repr_does_not_show_the_key(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    text = repr(connect(sshd, tmp_path))
    assert "client_key" not in text
    assert "PRIVATE" not in text
    assert f"127.0.0.1:{sshd.port}" in text


# run


def test_run_returns_exit_code_stdout_and_stderr(ssh: SSHTransport) -> None:
    result = ssh.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert ssh.run(["true"]).returncode == 0


def test_argv_arrives_byte_identical(ssh: SSHTransport, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    args = [*NASTY_ARGS, f"$(touch {canary})", f"`touch {canary}`; touch {canary}"]
    result = ssh.run(["printf", "%s\\0", *args])
    assert result.returncode == 0
    assert result.stdout.split(b"\0")[:-1] == [arg.encode() for arg in args]
    assert not canary.exists()


def test_run_refuses_a_pre_joined_string(ssh: SSHTransport) -> None:
    with pytest.raises(TypeError):
        ssh.run("echo hi")  # type: ignore[arg-type]


def test_check_raises_with_the_last_stderr_line(ssh: SSHTransport) -> None:
    with pytest.raises(TransportError, match="boom"):
        ssh.check(["sh", "-c", "echo boom >&2; exit 1"])


def test_stdin_is_delivered(ssh: SSHTransport) -> None:
    data = os.urandom(3 * 1024 * 1024)
    result = ssh.run(["sha256sum"], stdin=data)
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_large_stdout_and_stderr_do_not_deadlock(ssh: SSHTransport) -> None:
    script = "head -c 5000000 /dev/zero >&2; head -c 6000000 /dev/zero; echo done >&2"
    result = ssh.run(["sh", "-c", script], timeout=60)
    assert len(result.stdout) == 6_000_000
    assert len(result.stderr) == 5_000_005


def test_large_stdin_while_command_writes_output(ssh: SSHTransport) -> None:
    data = os.urandom(5 * 1024 * 1024)
    assert ssh.run(["cat"], stdin=data, timeout=60).stdout == data


def test_timeout_raises_and_connection_stays_usable(ssh: SSHTransport) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError, match="timed out after 0.5s"):
        ssh.run(["sleep", "5"], timeout=0.5)
    assert time.monotonic() - start < 3
    assert ssh.run(["echo", "ok"]).stdout == b"ok\n"


# put / get / read


def test_put_and_get_round_trip(ssh: SSHTransport, random_file: Path, tmp_path: Path) -> None:
    remote = str(tmp_path / "remote.bin")
    random_file.chmod(0o750)
    uploads: list[tuple[int, int]] = []
    ssh.put(random_file, remote, progress=lambda done, total: uploads.append((done, total)))
    assert sha256(Path(remote)) == sha256(random_file)
    assert oct(Path(remote).stat().st_mode & 0o777) == oct(0o750)

    back = tmp_path / "back" / "copy.bin"
    downloads: list[tuple[int, int]] = []
    ssh.get(remote, back, progress=lambda done, total: downloads.append((done, total)))
    assert sha256(back) == sha256(random_file)

    size = random_file.stat().st_size
    for calls in (uploads, downloads):
        assert len(calls) >= 3  # reported along the way, not only at the end (6 MB, >= 1 MB steps)
        assert calls[0][0] <= 4 << 20 and calls[-1] == (size, size)
        assert [done for done, _ in calls] == sorted({done for done, _ in calls})
        assert max(b[0] - a[0] for a, b in zip(calls, calls[1:], strict=False)) <= 4 << 20


def test_empty_file_round_trip(ssh: SSHTransport, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    ssh.put(empty, str(tmp_path / "remote-empty"))
    calls: list[tuple[int, int]] = []
    ssh.get(
        str(tmp_path / "remote-empty"), tmp_path / "back-empty", progress=lambda *a: calls.append(a)
    )
    assert (tmp_path / "back-empty").read_bytes() == b""
    assert calls == [(0, 0)]


def test_get_of_a_missing_file_fails_at_once(ssh: SSHTransport, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError, match="nonexistent"):
        ssh.get(str(tmp_path / "nonexistent"), tmp_path / "x")
    assert time.monotonic() - start < 3
    assert not (tmp_path / "x").exists()


def test_put_into_a_missing_folder_fails_at_once(ssh: SSHTransport, random_file: Path) -> None:
    start = time.monotonic()
    with pytest.raises(TransportError, match="put"):
        ssh.put(random_file, "/nonexistent-dir/x.bin")
    assert time.monotonic() - start < 3


def test_read_by_offset(ssh: SSHTransport, tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"0123456789abcdef")
    assert ssh.read(str(log), 0, 4) == b"0123"
    assert ssh.read(str(log), 10) == b"abcdef"
    assert ssh.read(str(log), 14, 100) == b"ef"
    assert ssh.read(str(log), 16) == b""
    assert ssh.read(str(log), 3, 0) == b""
    assert ssh.read(str(tmp_path / "missing.log"), 0) == b""
    with log.open("ab") as handle:
        handle.write(b"ghi")
    assert ssh.read(str(log), 16) == b"ghi"


# Host keys


def test_unknown_key_is_refused_under_strict_with_the_fix(
    sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    transport = connect(sshd, tmp_path, known_hosts=str(known))
    start = time.monotonic()
    with pytest.raises(HostKeyError) as caught:
        transport.run(["true"])
    message = str(caught.value)
    assert "\n" not in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in message
    assert "host_key_policy: accept-new" in message
    assert "SHA256:" in message
    assert time.monotonic() - start < 3
    assert not known.exists()


def test_accept_new_records_the_key_for_openssh(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    known = tmp_path / "sub" / "known_hosts"
    with connect(sshd, tmp_path, known_hosts=str(known), host_key_policy="accept-new") as first:
        assert first.run(["true"]).returncode == 0
    assert known.read_text() == sshd.known_hosts_line()

    with connect(sshd, tmp_path, known_hosts=str(known)) as strict:
        assert strict.run(["echo", "again"]).stdout == b"again\n"
    assert known.read_text() == sshd.known_hosts_line()

    openssh = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(sshd.client_key),
            "-p",
            str(sshd.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            f"{sshd.user}@127.0.0.1",
            "echo",
            "openssh-ok",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert openssh.stdout.strip() == "openssh-ok", openssh.stderr


def test_hashed_known_hosts_entry_is_trusted(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("# comment\n\n" + sshd.known_hosts_line())
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "127.0.0.1" not in known.read_text()
    with connect(sshd, tmp_path, known_hosts=str(known)) as transport:
        assert transport.run(["true"]).returncode == 0


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
def test_changed_key_is_refused_loudly(
    fresh_sshd: LoopbackSSHD, tmp_path: Path, policy: str
) -> None:
    fresh_sshd.regenerate_host_key()
    before = fresh_sshd.known_hosts.read_bytes()
    transport = connect(fresh_sshd, tmp_path, host_key_policy=policy)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as caught:
        transport.run(["true"])
    assert "ssh-keygen -R" in str(caught.value)
    assert fresh_sshd.known_hosts.read_bytes() == before


def test_revoked_key_is_refused(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "@revoked " + sshd.known_hosts_line())
    with pytest.raises(HostKeyError, match="REVOKED"):
        connect(sshd, tmp_path, known_hosts=str(known)).run(["true"])


def test_known_hosts_patterns(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(
        "*.example.com,!bad.example.com ssh-ed25519 AAAAwild\n"
        "[gpu?]:2222 ssh-ed25519 AAAAport\n"
        "gpu1 ssh-ed25519 AAAAplain\n"
        "@cert-authority * ssh-ed25519 AAAAca\n"
    )
    assert set(known_hosts.lookup(known, "a.example.com").keys) == {
        HostKey("ssh-ed25519", "AAAAwild")
    }
    assert not known_hosts.lookup(known, "bad.example.com").keys
    assert set(known_hosts.lookup(known, "[gpu1]:2222").keys) == {
        HostKey("ssh-ed25519", "AAAAport")
    }
    assert set(known_hosts.lookup(known, "gpu1").keys) == {HostKey("ssh-ed25519", "AAAAplain")}
    assert known_hosts.host_name("GPU1", 22) == "gpu1"


# Authentication


def test_wrong_key_fails_at_once(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    connections = sshd.log.count("Connection from")
    start = time.monotonic()
    with pytest.raises(AuthError, match="refused key_file"):
        connect(sshd, tmp_path, key_file=str(other)).run(["true"])
    assert time.monotonic() - start < 3
    time.sleep(0.2)
    assert sshd.log.count("Connection from") - connections == 1  # tried once, not retried


def test_missing_key_file_fails_at_once(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="cannot load key_file"):
        connect(sshd, tmp_path, key_file=str(tmp_path / "nope")).run(["true"])


def test_agent_is_used_without_key_file(
    sshd: LoopbackSSHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], check=True, capture_output=True)
        entry = sshd.host_config(str(tmp_path))
        del entry["key_file"]
        with SSHTransport.from_host_config("agent", entry) as transport:
            assert transport.run(["echo", "agent"]).stdout == b"agent\n"
    finally:
        agent.terminate()
        agent.wait()


# Dropped connections and hosts going away


def test_run_reconnects_when_the_connection_drops_mid_command(
    fresh_sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    transport = connect(fresh_sshd, tmp_path)
    assert transport.run(["true"]).returncode == 0
    timer = threading.Timer(0.5, fresh_sshd.kill_sessions)
    timer.start()
    result = transport.run(["sh", "-c", "sleep 2; echo finished"])
    timer.join()
    assert (result.returncode, result.stdout) == (0, b"finished\n")
    assert accepted_logins(fresh_sshd) == 2
    transport.close()


def test_next_operation_reconnects_after_an_idle_drop(
    fresh_sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    transport = connect(fresh_sshd, tmp_path)
    assert transport.run(["true"]).returncode == 0
    assert fresh_sshd.kill_sessions() == 1
    assert transport.run(["echo", "back"]).stdout == b"back\n"
    assert accepted_logins(fresh_sshd) == 2
    transport.close()


def test_get_resumes_after_a_drop(
    fresh_sshd: LoopbackSSHD, tmp_path: Path, random_file: Path
) -> None:
    transport = connect(fresh_sshd, tmp_path)
    seen: list[int] = []
    cuts: list[int] = []

    def cut_once(done: int, total: int) -> None:
        if done >= 2 << 20 and not cuts:
            cuts.append(fresh_sshd.kill_sessions())
        seen.append(done)

    back = tmp_path / "back.bin"
    transport.get(str(random_file), back, progress=cut_once)
    assert cuts and cuts[0] >= 1
    assert sha256(back) == sha256(random_file)
    assert accepted_logins(fresh_sshd) == 2
    assert seen == sorted(seen)  # resumed from where it stopped, never restarted from zero
    transport.close()


def test_put_restarts_after_a_drop(
    fresh_sshd: LoopbackSSHD, tmp_path: Path, random_file: Path
) -> None:
    transport = connect(fresh_sshd, tmp_path)
    cuts: list[int] = []

    def cut_once(done: int, total: int) -> None:
        if done >= 2 << 20 and not cuts:
            cuts.append(fresh_sshd.kill_sessions())

    remote = tmp_path / "uploaded.bin"
    transport.put(random_file, str(remote), progress=cut_once)
    assert cuts and cuts[0] >= 1
    assert sha256(remote) == sha256(random_file)
    assert accepted_logins(fresh_sshd) == 2
    transport.close()


def test_host_back_within_the_budget(fresh_sshd: LoopbackSSHD, tmp_path: Path) -> None:
    transport = connect(fresh_sshd, tmp_path, reconnect_seconds=20)
    assert transport.run(["true"]).returncode == 0
    fresh_sshd.stop_listener()
    timer = threading.Timer(1.5, fresh_sshd.restart)
    timer.start()
    try:
        assert transport.run(["echo", "up"]).stdout == b"up\n"
    finally:
        timer.join()
    transport.close()


def test_host_down_longer_than_the_budget(fresh_sshd: LoopbackSSHD, tmp_path: Path) -> None:
    transport = connect(fresh_sshd, tmp_path, reconnect_seconds=1.5)
    assert transport.run(["true"]).returncode == 0
    fresh_sshd.stop_listener()
    start = time.monotonic()
    with pytest.raises(TransportError, match=r"gave up after 1.5s of reconnect attempts") as caught:
        transport.run(["true"])
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed < 6
    assert f"127.0.0.1:{fresh_sshd.port}" in str(caught.value)


def test_kill_sessions_touches_only_its_own_server(
    sshd_factory: Callable[[], LoopbackSSHD], tmp_path: Path
) -> None:
    first, second = sshd_factory(), sshd_factory()
    assert first.port != second.port
    with connect(first, tmp_path) as steady, connect(second, tmp_path) as cut:
        steady.run(["true"])
        cut.run(["true"])
        assert second.kill_sessions() == 1
        assert steady.run(["echo", "steady"]).stdout == b"steady\n"
        assert cut.run(["echo", "cut"]).stdout == b"cut\n"
        assert accepted_logins(first) == 1
        assert accepted_logins(second) == 2
