"""Shared pieces of the reliability tests: a firewall root, the FreeBSD stand-in as the Runner, a TCP
listener that must never be called, and snapshots of files to prove nothing changed."""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from carp_pkg.system import RecordingRunner, Result

from tests.fakes.freebsd import FakeFreeBSD

PREVIOUS_SCRIPT = "#!/bin/sh\n# the rc script of the previous sync: must survive every failure\n"
RC_SCRIPT = os.path.join("usr", "local", "etc", "rc.d", "carp.sh")
LOCK_FILE = os.path.join("tmp", "config.lock")
HOST_INTERFACES = {"em0": ["198.51.100.2/24"], "em1": ["10.0.0.2/24"], "em2": ["172.16.0.1/30"]}


def stand_in(interfaces=None) -> FakeFreeBSD:
    return FakeFreeBSD(HOST_INTERFACES if interfaces is None else interfaces)


def stand_in_runner(fake: FakeFreeBSD, fail=None) -> RecordingRunner:
    """The stand-in behind the Runner boundary; `fail(argv)` may return a Result to make a call fail instead."""

    def respond(argv):
        if fail is not None:
            failure = fail(argv)
            if failure is not None:
                return failure
        return Result(*fake.run(argv))

    return RecordingRunner(respond=respond)


def firewall_root(path, previous_script: Optional[str] = PREVIOUS_SCRIPT) -> str:
    """A --root with (by default) a previous rc script, mode 0700 like sync writes it."""
    os.makedirs(path, exist_ok=True)
    if previous_script is not None:
        script = os.path.join(path, RC_SCRIPT)
        os.makedirs(os.path.dirname(script), exist_ok=True)
        with open(script, "w") as handle:
            handle.write(previous_script)
        os.chmod(script, 0o700)
    return str(path)


def read_script(root) -> Optional[str]:
    try:
        with open(os.path.join(str(root), RC_SCRIPT)) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


Snapshot = Dict[str, Tuple[int, str]]


def snapshot(root, ignore=(LOCK_FILE,)) -> Snapshot:
    """Every file under root (but the lock file pfSense keeps anyway): mode and content digest."""
    found: Snapshot = {}
    for directory, _, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, str(root))
            if relative in ignore:
                continue
            with open(path, "rb") as handle:
                found[relative] = (os.stat(path).st_mode & 0o7777, hashlib.sha256(handle.read()).hexdigest())
    return found


@dataclass
class Listener:
    """A local TCP port standing in for an attacker's server: the XML must never connect to it."""

    sock: socket.socket

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, socket.timeout):
                return count
            conn.close()
            count += 1


def open_listener() -> Listener:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return Listener(sock)


class FaultyRunner(RecordingRunner):
    """The stand-in behind the Runner, with the Nth mutating calls (1-based) failing like a refusing kernel."""

    def __init__(self, fake: FakeFreeBSD, failing=(), reason: str = "ifconfig: SIOCAIFADDR: Device busy (injected)"):
        super().__init__()
        self.fake = fake
        self.failing = frozenset(failing)
        self.reason = reason

    def _execute(self, argv, *, mutating, input):
        self.calls.append(argv)
        if mutating:
            self.mutating_calls.append(argv)
            if len(self.mutating_calls) in self.failing:
                return Result(1, "", self.reason + "\n")
        if argv[0] == "mount":  # NanoBSD's /cf remount: not part of the kernel stand-in
            return Result()
        return Result(*self.fake.run(argv))


def host_facts(fake: FakeFreeBSD) -> Dict[tuple, object]:
    """Everything a sync can change on the stand-in, as comparable facts."""
    facts: Dict[tuple, object] = {}
    for iface in fake.interfaces.values():
        for vhid in iface.vhids:
            facts[("vhid", iface.name, vhid.vhid)] = (vhid.advbase, vhid.advskew, vhid.key, vhid.peer, vhid.peer6)
        for address in iface.addresses:
            facts[("address", iface.name, str(address.address))] = address.vhid
        facts[("up", iface.name)] = iface.up
    pfsync = fake.pfsync
    facts[("pfsync",)] = (pfsync.exists, pfsync.syncdev, pfsync.syncpeer, pfsync.maxupd, pfsync.defer, pfsync.up)
    for name, value in fake.sysctls.items():
        facts[("sysctl", name)] = value
    return facts


def changed_facts(before: Dict[tuple, object], after: Dict[tuple, object]):
    return sorted((key for key in set(before) | set(after) if before.get(key) != after.get(key)), key=repr)


def mentioned(fact: tuple, message: str) -> bool:
    """Does the error message name this leftover change?"""
    kind = fact[0]
    if kind == "vhid":
        return f"vhid {fact[2]} on {fact[1]}" in message or f"{fact[1]} vhid {fact[2]} " in message
    if kind == "address":
        return fact[2].split("/")[0] in message
    if kind == "pfsync":
        return "pfsync" in message
    if kind == "sysctl":
        return fact[1] in message
    return False
