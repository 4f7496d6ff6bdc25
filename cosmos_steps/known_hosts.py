"""OpenSSH known_hosts files: look up a host's keys, verify a presented key, record a new one.

Keys are compared as (type, base64 blob) strings, so any key type OpenSSH writes is understood.
Supported: plain and hashed (`|1|salt|hash`) host names, `[host]:port` names, `*`/`?` wildcards,
`!` negation, `@revoked` lines. `@cert-authority` lines are ignored (no host certificates).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import re
import shlex
from pathlib import Path

from .transport import TransportError

POLICIES = ("strict", "accept-new")


class HostKeyError(TransportError):
    """A host key is unknown under the strict policy, changed, or revoked. Never retried."""


@dataclasses.dataclass(frozen=True)
class HostKey:
    """A public key as OpenSSH writes it: type name and base64 blob."""

    type: str
    blob: str

    @property
    def fingerprint(self) -> str:
        """The SHA256 fingerprint OpenSSH prints (`ssh-keygen -lf`)."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclasses.dataclass(frozen=True)
class KnownKeys:
    """What one known_hosts file says about one host name."""

    keys: dict[HostKey, int]
    """Trusted keys with their line numbers."""
    revoked: frozenset[HostKey]

    @property
    def types(self) -> set[str]:
        return {key.type for key in self.keys}


def host_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: `host`, or `[host]:port` for ports other than 22."""
    host = host.lower()
    return host if port == 22 else f"[{host}]:{port}"


def lookup(path: Path, name: str) -> KnownKeys:
    """Collect the keys of `name` in the known_hosts file at `path` (empty if it is missing)."""
    keys: dict[HostKey, int] = {}
    revoked: set[HostKey] = set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return KnownKeys(keys, frozenset())
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if len(fields) < 3 or marker == "@cert-authority" or not _names_match(fields[0], name):
            continue
        key = HostKey(fields[1], fields[2])
        if marker == "@revoked":
            revoked.add(key)
        elif marker is None:
            keys.setdefault(key, number)
    return KnownKeys(keys, frozenset(revoked))


def verify(path: Path, name: str, key: HostKey, policy: str, known: KnownKeys) -> None:
    """Accept `key` for `name`, record it (accept-new, unknown host) or raise HostKeyError."""
    if key in known.revoked:
        raise HostKeyError(
            f"REVOKED HOST KEY: {name} presented {key.type} {key.fingerprint}, "
            f"which {path} marks @revoked. Refusing to connect."
        )
    if key in known.keys:
        return
    if known.keys:
        raise HostKeyError(_changed_message(path, name, key, known))
    if policy == "accept-new":
        append(path, name, key)
        return
    raise HostKeyError(_unknown_message(path, name, key))


def append(path: Path, name: str, key: HostKey) -> None:
    """Append an unhashed `name type blob` line, creating the file and its folder if needed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{name} {key.type} {key.blob}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            line = b"\n" + line
        os.write(fd, line)
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _unknown_message(path: Path, name: str, key: HostKey) -> str:
    host, port = _split_name(name)
    port_flag = f"-p {port} " if port != 22 else ""
    target = shlex.quote(str(path))
    return (
        f"unknown host key for {name} ({key.type} {key.fingerprint}) and host_key_policy is "
        f"strict. If the fingerprint is right, trust it with: "
        f"ssh-keyscan {port_flag}{shlex.quote(host)} >> {target} "
        f"(or set host_key_policy: accept-new for this host)"
    )


def _changed_message(path: Path, name: str, key: HostKey, known: KnownKeys) -> str:
    lines = ", ".join(str(number) for number in sorted(known.keys.values()))
    return (
        f"@@@ WARNING: HOST KEY CHANGED FOR {name} @@@ It now presents {key.type} "
        f"{key.fingerprint}, but {path} (line {lines}) records a different key. Someone may be "
        f"intercepting the connection (man-in-the-middle), or the host was reinstalled. Refusing "
        f"to connect. If you know the change is legitimate, remove the old key with: "
        f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(path))}"
    )


def _split_name(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[(.+)\]:(\d+)", name)
    return (match[1], int(match[2])) if match else (name, 22)


def _names_match(field: str, name: str) -> bool:
    """OpenSSH host-field matching: hashed entry, or comma-separated patterns with `!` negation."""
    if field.startswith("|1|"):
        return _hashed_match(field, name)
    matched = False
    for pattern in field.lower().split(","):
        negated = pattern.startswith("!")
        if _pattern_match(pattern.removeprefix("!"), name):
            if negated:
                return False
            matched = True
    return matched


def _pattern_match(pattern: str, name: str) -> bool:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, name) is not None


def _hashed_match(field: str, name: str) -> bool:
    try:
        _, _, salt, digest = field.split("|")
        expected = base64.b64decode(digest)
        actual = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
