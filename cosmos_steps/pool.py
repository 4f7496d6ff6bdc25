"""Where a GPU job runs: its host, or the best healthy host of a pool that has a free slot.

A slot is a lease in the database (table `leases`, one row per busy slot) with an expiry that the
holder renews while its job runs, so a crashed step frees its slot within LEASE_SECONDS. Among
healthy hosts that meet the job's requirements, the one already holding most of its input bytes
(content-addressed blobs) wins; a host that fails its health check is skipped with a warning and
checked again after HEALTH_RETRY_SECONDS.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from cosmos_steps import db
from cosmos_steps.hosts import Host, get_host
from cosmos_steps.hoststatus import check_gpus, check_runtime
from cosmos_steps.remote import HostSession
from cosmos_steps.transport import TransportError

LEASE_SECONDS = 90.0
HEALTH_RETRY_SECONDS = 60.0
WAIT_SECONDS = 2.0
CHECK_TIMEOUT = 20.0
SIMULATED_GPU_MEMORY_GB = 80.0


@dataclasses.dataclass
class Health:
    """What a health check learnt about a host."""

    ok: bool
    reason: str
    gpu_memory_gb: float | None = None
    gpus: int = 0
    checked_at: float = dataclasses.field(default_factory=time.monotonic)


def members(config: dict[str, Any], name: str) -> list[str]:
    """The hosts behind a spec's `host`: a pool's members, or the host itself."""
    return list(config.get("pools", {}).get(name, [name]))


def check_health(host: Host, session: HostSession) -> Health:
    """Reachable, runtime usable, GPUs present (a simulated host reports its configured GPUs)."""
    try:
        runtime = check_runtime(host, session.transport, CHECK_TIMEOUT)
        if not runtime["runtime_ok"]:
            return Health(False, f"runtime {host.runtime} not usable: {runtime['runtime_detail']}")
        if host.runtime == "simulate":
            memory = float(
                host.conf.get("simulate", {}).get("gpu_memory_gb", SIMULATED_GPU_MEMORY_GB)
            )
            return Health(True, "simulated GPUs", memory, host.num_gpus)
        gpus = check_gpus(host, session.transport, CHECK_TIMEOUT)["gpus"]
    except TransportError as exc:
        return Health(False, f"unreachable: {exc}")
    if not gpus:
        return Health(False, "no GPU (nvidia-smi found none)")
    memory = min(gpu["memory_total_mib"] or 0 for gpu in gpus) / 1024
    return Health(True, f"{len(gpus)} x {gpus[0]['name']}", memory, len(gpus))


def unmet(host: Host, health: Health, requirements: dict[str, Any]) -> str | None:
    """Why a healthy host cannot take the job (None when it can)."""
    need_memory = requirements.get("min_gpu_memory_gb")
    if need_memory and (health.gpu_memory_gb or 0) < need_memory:
        return f"{health.gpu_memory_gb:g} GB per GPU < {need_memory} GB required"
    need_gpus = requirements.get("gpus")
    if need_gpus and min(health.gpus, host.num_gpus) < need_gpus:
        return f"{min(health.gpus, host.num_gpus)} GPUs < {need_gpus} required"
    return None


class Lease:
    """One busy slot of a host, held while a job runs there."""

    def __init__(self, database: Any, host: str, slot: int):
        self.database = database
        self.host = host
        self.slot = slot

    def renew(self) -> None:
        """Push the expiry forward (called on every poll of the running job)."""
        with db.transaction(self.database):
            self.database.execute(
                "UPDATE leases SET expires_at = ? WHERE host = ? AND slot = ?",
                [time.time() + LEASE_SECONDS, self.host, self.slot],
            )

    def release(self) -> None:
        with db.transaction(self.database):
            self.database.execute(
                "DELETE FROM leases WHERE host = ? AND slot = ?", [self.host, self.slot]
            )


def try_lease(database: Any, hosts: list[Host], holder: str) -> Lease | None:
    """Take a free slot on the first of `hosts` (in preference order) that has one."""
    now = time.time()
    with db.transaction(database):
        database.execute("DELETE FROM leases WHERE expires_at < ?", [now])
        for host in hosts:
            busy = {row[0] for row in database.execute(
                "SELECT slot FROM leases WHERE host = ?", [host.name]
            )}  # fmt: skip
            free = [slot for slot in range(int(host.conf.get("slots", 1))) if slot not in busy]
            if free:
                database.execute(
                    "INSERT INTO leases (host, slot, holder, node, pid, acquired_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [host.name, free[0], holder, socket.gethostname(), os.getpid(), db.now(),
                     now + LEASE_SECONDS],
                )  # fmt: skip
                return Lease(database, host.name, free[0])
    return None


class Placement:
    """Chooses and holds a host for one job; remembers hosts that failed it."""

    def __init__(
        self,
        config: dict[str, Any],
        database: Any,
        job: dict[str, Any],
        held_bytes: Callable[[HostSession], int],
        say: Callable[[str], None],
        open_session: Callable[[Host], HostSession],
    ):
        self.config = config
        self.database = database
        self.job = job
        self.held_bytes = held_bytes
        self.say = say
        self.open_session = open_session
        self.names = members(config, job["host"])
        self.health: dict[str, Health] = {}
        self.excluded: dict[str, str] = {}
        self.held: dict[str, int] = {}
        self.min_memory_gb: float | None = None

    def exclude(self, name: str, reason: str) -> None:
        """Never place this job on `name` again (it died under it, or ran out of memory)."""
        self.excluded[name] = reason

    def need_more_memory_than(self, name: str) -> None:
        """After an out-of-memory failure: only hosts with more GPU memory than `name`."""
        health = self.health.get(name)
        self.min_memory_gb = (health.gpu_memory_gb or 0) if health else None
        self.exclude(name, "ran out of GPU memory")

    def candidates(self) -> list[Host]:
        """Hosts worth trying, best first: healthy, able, holding most input bytes."""
        scored = []
        for name in self.names:
            if name in self.excluded:
                continue
            host = get_host(self.config, name)
            health = self._health(host)
            if not health.ok:
                continue
            requirements = dict(self.job.get("requirements") or {})
            if self.min_memory_gb is not None:
                requirements["min_gpu_memory_gb"] = max(
                    requirements.get("min_gpu_memory_gb") or 0, self.min_memory_gb + 0.001
                )
            reason = unmet(host, health, requirements)
            if reason:
                self.say(f"host {name} cannot take this job: {reason}")
                continue
            scored.append((host, health))
        return [host for host, _ in sorted(scored, key=lambda pair: -self._held(pair[0]))]

    def _health(self, host: Host) -> Health:
        if len(self.names) == 1 and not self.job.get("requirements") and self.min_memory_gb is None:
            return Health(True, "the spec's only host")  # its failures surface when the job runs
        known = self.health.get(host.name)
        if known and (known.ok or time.monotonic() - known.checked_at < HEALTH_RETRY_SECONDS):
            return known
        try:
            session = self.open_session(host)
        except TransportError as exc:
            health = Health(False, f"unreachable: {exc}")
        else:
            try:
                health = check_health(host, session)
            finally:
                session.close()
        if not health.ok:
            self.say(f"warning: skipping host {host.name}: {health.reason}")
        self.health[host.name] = health
        return health

    def _held(self, host: Host) -> int:
        """Input bytes the host already holds (asked once per host; 0 for a lone host)."""
        if host.name not in self.held:
            self.held[host.name] = 0 if len(self.names) == 1 else self._ask_held(host)
        return self.held[host.name]

    def _ask_held(self, host: Host) -> int:
        try:
            session = self.open_session(host)
        except TransportError:
            return 0
        try:
            return self.held_bytes(session)
        except TransportError:
            return 0
        finally:
            session.close()

    def acquire(self) -> tuple[Host, Lease]:
        """Wait for a free slot on the best candidate; NoHost when no host can take the job."""
        waited = False
        while True:
            hosts = self.candidates()
            if not hosts:
                reasons = {
                    **{n: h.reason for n, h in self.health.items() if not h.ok},
                    **self.excluded,
                }
                detail = (
                    "; ".join(f"{name}: {why}" for name, why in reasons.items())
                    or "none configured"
                )
                raise NoHost(f"no host can run batch {self.job['batch']} ({detail})")
            lease = try_lease(self.database, hosts, self.job["batch"])
            if lease is not None:
                return next(host for host in hosts if host.name == lease.host), lease
            if not waited:
                self.say(f"all slots busy on {', '.join(h.name for h in hosts)}: waiting for one")
                waited = True
            time.sleep(WAIT_SECONDS)


class NoHost(Exception):
    """No configured host is healthy, able and not excluded."""
