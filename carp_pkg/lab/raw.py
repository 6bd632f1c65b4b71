"""keepalived without carp-pkg, with carp-pkg's settings, in the same namespaces: the yardstick for its failover.

`bench` kills the master's keepalived (SIGKILL: a crash) `rounds` times with a hand-started keepalived on a
file holding only the vrrp_instance (no notify script, no script security), then as many times with the
keepalived `carp-pkg sync --backend keepalived` runs, and reports both side by side: the client's view (the
first ARP answer from the backup, asked every 5 ms) from the kill to the takeover.

`multicast_blocked` shows what the unicast lab is about: both hosts run a multicast-only keepalived for a
moment, and with multicast blocked on the bridge each one hears nobody and holds the VIP.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Sequence

from ..backends import keepalived_conf as kc
from ..configxml import read_config_xml
from ..model import vrrp_master_down
from ..system import send_signal
from ..validate import build_config
from .lab import Lab, LabError, NetnsRunner
from .layout import HOSTS

SETTLE_S = 8.0
STABLE_S = 0.4


@dataclass(frozen=True)
class RawFiles:
    directory: str

    @property
    def conf(self) -> str:
        return os.path.join(self.directory, "keepalived.conf")

    @property
    def pid(self) -> str:
        return os.path.join(self.directory, "keepalived.pid")

    @property
    def vrrp_pid(self) -> str:
        return os.path.join(self.directory, "vrrp.pid")


def host_instance(lab: Lab, host: str, unicast: bool = True) -> kc.Instance:
    """The host's vrrp_instance as carp-pkg writes it, without the notify script (and without peers if asked)."""
    config = build_config(read_config_xml(lab.layout.config_path(host)))
    group = config.groups()[0]
    instance = kc.build_instance(group, config.preempt, config.host_addresses, notify=None)
    return instance if unicast else replace(instance, peers=(), source=None)


def raw_conf(instance: kc.Instance) -> str:
    """carp-pkg's settings (global_defs without the script settings, the instance without its notify script)."""
    return ("# raw keepalived, the lab's yardstick: carp-pkg's settings, no notify script\n"
            + kc.global_defs([instance], scripts=False) + "\n" + kc.render_instance(instance))


class RawKeepalived:
    """A keepalived per host started by hand (files in HOSTDIR/raw)."""

    def __init__(self, lab: Lab, unicast: bool = True):
        self.lab = lab
        self.unicast = unicast

    def files(self, host: str) -> RawFiles:
        return RawFiles(os.path.join(self.lab.layout.root(host), "raw"))

    def start(self, host: str) -> None:
        files = self.files(host)
        os.makedirs(files.directory, mode=0o700, exist_ok=True)
        for path in (files.pid, files.vrrp_pid):
            if os.path.lexists(path):
                os.unlink(path)
        with open(files.conf, "w", encoding="utf-8") as handle:
            handle.write(raw_conf(host_instance(self.lab, host, self.unicast)))
        NetnsRunner(self.lab.layout.namespace(host), self.lab.runner).run(
            ("keepalived", "--vrrp", "-f", files.conf, "-p", files.pid, "-r", files.vrrp_pid))
        deadline = time.monotonic() + 3
        while not self.pids(host) and time.monotonic() < deadline:
            time.sleep(0.02)

    def pids(self, host: str) -> List[int]:
        found = []
        for path in (self.files(host).pid, self.files(host).vrrp_pid):
            try:
                with open(path, encoding="ascii") as handle:
                    text = handle.read(32).strip()
            except OSError:
                continue
            if text.isdigit():
                found.append(int(text))
        return found

    def kill(self, host: str) -> Callable[[], object]:
        from .scenarios import crash
        pids = self.pids(host)
        if not pids:
            raise LabError(f"raw keepalived on {host} has no pid file")
        return crash(self.lab, host, pids)

    def stop(self, host: str) -> None:
        pids = self.pids(host)
        for pid in pids:
            send_signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            send_signal(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            state = next((line for line in handle if line.startswith("State:")), "State: X")
    except OSError:
        return False
    return state.split(":", 1)[1].strip()[:1] not in ("Z", "X", "")


def wait_for_holders(lab: Lab, wanted: Sequence[str], timeout: float = SETTLE_S) -> None:
    """Until exactly `wanted` hold the VIP, and still do STABLE_S later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.holders() == list(wanted):
            time.sleep(STABLE_S)
            if lab.holders() == list(wanted):
                return
        time.sleep(0.05)
    raise LabError(f"the VIP is held by {lab.holders() or 'nobody'}, not {', '.join(wanted)}, after {timeout:.0f} s")


@dataclass(frozen=True)
class Series:
    name: str
    seconds: Sequence[float]
    missed: int = 0  # rounds in which the backup did not take over in time

    @property
    def median(self) -> Optional[float]:
        return statistics.median(self.seconds) if self.seconds else None

    def to_json(self) -> dict:
        return {"name": self.name, "runs": len(self.seconds), "missed": self.missed, "seconds": list(self.seconds),
                "median_s": self.median, "min_s": min(self.seconds, default=None),
                "max_s": max(self.seconds, default=None)}


@dataclass(frozen=True)
class Bench:
    raw: Series
    carp_pkg: Series
    bound_s: float
    interval_cs: int
    keepalived_version: str

    @property
    def ratio(self) -> Optional[float]:
        if self.raw.median is None or self.carp_pkg.median is None or not self.raw.median:
            return None
        return self.carp_pkg.median / self.raw.median

    def to_json(self) -> dict:
        return {"raw": self.raw.to_json(), "carp_pkg": self.carp_pkg.to_json(), "bound_s": self.bound_s,
                "interval_cs": self.interval_cs, "ratio": self.ratio, "goal_ratio": 1.25,
                "keepalived": self.keepalived_version}


def keepalived_version() -> str:
    try:
        found = subprocess.run(["keepalived", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "keepalived"
    first = (found.stderr or found.stdout).strip().splitlines()
    return first[0].split(" (")[0] if first else "keepalived"


def _rounds(lab: Lab, name: str, rounds: int, kill: Callable[[], Callable[[], object]],
            restart: Callable[[], object]) -> Series:
    timeout = 1.1 * vrrp_master_down(lab.layout.vrrpinterval, 1) + 2.0
    seconds: List[float] = []
    missed = 0
    for number in range(rounds):
        with lab.progress.phase(f"{name}: round {number + 1} of {rounds}"):
            measured = lab.measure(f"{name}: kill a", kill(), "a", "b", timeout, bounded=False)
            if measured.client_s is None:
                missed += 1
            else:
                seconds.append(measured.client_s)
            restart()
            wait_for_holders(lab, ["a"])
    return Series(name, tuple(seconds), missed)


def bench(lab: Lab, rounds: int = 7) -> Bench:
    """Raw keepalived first, then carp-pkg's, host a the master each time (priority 200, preempt on)."""
    if lab.layout.backend != "keepalived":
        raise LabError("bench compares keepalived with carp-pkg's keepalived: build the lab with --backend keepalived")
    raw = RawKeepalived(lab)
    for host in HOSTS:
        lab.carp(host, "stop", "--backend", "keepalived")
    try:
        for host in ("b", "a"):
            raw.start(host)
        wait_for_holders(lab, ["a"])
        raw_series = _rounds(lab, "raw keepalived", rounds, lambda: raw.kill("a"), lambda: raw.start("a"))
    finally:
        for host in HOSTS:
            raw.stop(host)
    for host in ("b", "a"):
        lab.sync(host)
    wait_for_holders(lab, ["a"])
    from .scenarios import kill_keepalived
    ours = _rounds(lab, "carp-pkg keepalived", rounds, lambda: kill_keepalived(lab, "a"), lambda: lab.sync("a"))
    backup = lab.running("b").vhids[0]
    return Bench(raw_series, ours, vrrp_master_down(backup.vrrpinterval or 0, backup.vrrpprio or 0),
                 lab.layout.vrrpinterval, keepalived_version())


def multicast_blocked(lab: Lab, seconds: float = 1.5) -> List[str]:
    """Both hosts with a multicast-only keepalived for `seconds`: who held the VIP at the end (with multicast
    blocked on the bridge: both)."""
    raw = RawKeepalived(lab, unicast=False)
    try:
        for host in HOSTS:
            raw.start(host)
        time.sleep(seconds)
        return lab.holders()
    finally:
        for host in HOSTS:
            raw.stop(host)


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def format_bench(result: Bench) -> str:
    rows = [("FAILOVER (crash: SIGKILL the master's keepalived, VIP gone)", "RUNS", "MEDIAN", "MIN", "MAX")]
    for series, label in ((result.raw, f"raw {result.keepalived_version}, same settings, same namespaces"),
                          (result.carp_pkg, "carp-pkg sync --backend keepalived")):
        runs = f"{len(series.seconds)}" + (f" ({series.missed} missed)" if series.missed else "")
        rows.append((label, runs, _ms(series.median), _ms(min(series.seconds, default=None)),
                     _ms(max(series.seconds, default=None))))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    ratio = "-" if result.ratio is None else f"{result.ratio:.2f}"
    lines.append(f"carp-pkg / raw (medians): {ratio} (goal <= 1.25); advertisements every {result.interval_cs * 10} ms; "
                 f"protocol bound (backup's master-down interval): {_ms(result.bound_s)}")
    lines.append("CLIENT view: from the kill to the first ARP answer for the VIP from the backup (asked every 5 ms)")
    return "\n".join(lines) + "\n"
