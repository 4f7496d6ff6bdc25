"""SSHTransport vs OpenSSH `sftp -b`: upload and download speed over a loopback OpenSSH server.

    python bench/transfer_bench.py [--size-mb 200] [--runs 5]

Each transfer opens its own connection (both tools pay the handshake), runs alternate between the
tools so background load hits both alike, and every copy is checked by sha256. Each tool uses its
own cipher defaults: SSHTransport prefers AES-GCM, OpenSSH negotiates chacha20-poly1305.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cosmos_steps.ssh_transport import SSHTransport  # noqa: E402
from tests.sshd import LoopbackSSHD  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "cosmos-bench"
MIB = 1 << 20


def source_file(size_mb: int) -> Path:
    """A random file of `size_mb` MiB, made once and kept in /tmp."""
    path = CACHE / f"random-{size_mb}M.bin"
    if not path.exists() or path.stat().st_size != size_mb * MIB:
        CACHE.mkdir(exist_ok=True)
        with path.open("wb") as out:
            for _ in range(size_mb):
                out.write(os.urandom(MIB))
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def openssh_sftp(server: LoopbackSSHD, command: str) -> None:
    """Run one `sftp -b` batch command against the server."""
    argv = [
        "sftp",
        "-q",
        "-F",
        "/dev/null",
        "-b",
        "-",
        "-i",
        str(server.client_key),
        "-P",
        str(server.port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={server.known_hosts}",
        f"{server.user}@{server.host}",
    ]
    subprocess.run(argv, input=command.encode(), check=True, stdout=subprocess.DEVNULL)


def paramiko_put(server: LoopbackSSHD, src: Path, dst: Path) -> None:
    with SSHTransport.from_host_config("bench", server.host_config(str(dst.parent))) as ssh:
        ssh.put(src, str(dst))


def paramiko_get(server: LoopbackSSHD, src: Path, dst: Path) -> None:
    with SSHTransport.from_host_config("bench", server.host_config(str(src.parent))) as ssh:
        ssh.get(str(src), dst)


def timed(action: Callable[[], None], dst: Path, expected: str) -> float:
    """Seconds one transfer took; the copy is checked and removed afterwards."""
    dst.unlink(missing_ok=True)
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    if sha256(dst) != expected:
        raise SystemExit(f"checksum mismatch after writing {dst}")
    dst.unlink()
    return seconds


def measure(server: LoopbackSSHD, src: Path, work: Path, runs: int) -> dict[str, list[float]]:
    """Seconds per run for each (tool, direction), alternating tools within each round."""
    expected = sha256(src)
    up, down = work / "uploaded.bin", work / "downloaded.bin"
    cases: dict[str, Callable[[], None]] = {
        "SSHTransport put": lambda: paramiko_put(server, src, up),
        "sftp put": lambda: openssh_sftp(server, f"put {src} {up}"),
        "SSHTransport get": lambda: paramiko_get(server, src, down),
        "sftp get": lambda: openssh_sftp(server, f"get {src} {down}"),
    }
    targets = {name: up if name.endswith("put") else down for name in cases}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(runs):
        order = list(cases) if round_number % 2 == 0 else list(reversed(cases))
        for name in order:
            times[name].append(timed(cases[name], targets[name], expected))
    return times


def report(times: dict[str, list[float]], size_mb: int) -> str:
    """A table of median and slowest MiB/s per case, and SSHTransport / sftp ratios."""
    rows = ["| case | median MiB/s | slowest MiB/s | all runs MiB/s |", "|---|---|---|---|"]
    rates = {name: [size_mb / s for s in seconds] for name, seconds in times.items()}
    for name, values in rates.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        rows.append(f"| {name} | {statistics.median(values):.0f} | {min(values):.0f} | {runs} |")
    for direction in ("put", "get"):
        ours, theirs = rates[f"SSHTransport {direction}"], rates[f"sftp {direction}"]
        median = statistics.median(ours) / statistics.median(theirs)
        slowest = min(ours) / min(theirs)
        rows.append(f"| ratio {direction} (SSHTransport / sftp) | {median:.2f} | {slowest:.2f} | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    src = source_file(args.size_mb)
    server = LoopbackSSHD().start()
    try:
        with tempfile.TemporaryDirectory(dir=CACHE) as work:
            times = measure(server, src, Path(work), args.runs)
    finally:
        server.stop()
    print(f"{args.size_mb} MiB, {args.runs} runs each, {os.cpu_count()} CPUs, loopback OpenSSH")
    print(report(times, args.size_mb))


if __name__ == "__main__":
    main()
