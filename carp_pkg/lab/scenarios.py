"""What the lab demonstrates: failover (kill or link down), preempt on return, maintenance handover."""

from __future__ import annotations

import signal
from typing import Callable, List, Optional, Sequence, Tuple

from ..backends.ucarp import CAPTURE_TIMEOUT_S, master_down_bound
from ..system import send_signal
from .lab import Lab, LabError, Measurement
from .layout import HOSTS

HOWS = ("kill", "link", "maintenance")
SLACK_S = 2.0  # probe start-up and polling, on top of ucarp's own worst case
RESTORE_WATCH_S = 4.0  # a returning host without preempt would have taken over by then
FLAP_WATCH_S = 8.0  # longer than ucarp's SIGUSR2 pause (3 s) plus a master-down interval


def other(host: str) -> str:
    return HOSTS[1 - HOSTS.index(host)]


def settle_timeout(lab: Lab) -> float:
    return max(master_down_bound(1, 255), 4.0) + CAPTURE_TIMEOUT_S + SLACK_S


def settle(lab: Lab) -> str:
    return lab.wait_for_single_master(settle_timeout(lab))


def preempting(lab: Lab, host: str) -> bool:
    vhids = lab.running(host).vhids
    return bool(vhids) and "-P" in vhids[0].argv


def failure_actions(lab: Lab, how: str, master: str) -> Tuple[str, Callable[[], object], str, Callable[[], object]]:
    """(event, fail, restore label, restore) for one way of losing the master."""
    if how == "kill":
        pid = lab.ucarp_pid(master)
        if pid is None:
            raise LabError(f"host {master} is MASTER but its ucarp pid is unknown")
        # SIGTERM: ucarp -z runs its down script (the VIP goes) and exits; sync starts it again
        return (f"kill ucarp on {master} (SIGTERM)", lambda: send_signal(pid, signal.SIGTERM),
                f"carp-pkg sync on {master}", lambda: lab.sync(master))
    if how == "link":
        # ucarp 1.5.2 exits when its link goes down (poll() reports POLLERR): link up, then sync restarts it
        return (f"link down on {master}", lambda: lab.set_link(master, False),
                f"link up + carp-pkg sync on {master}", lambda: (lab.set_link(master, True), lab.sync(master)))
    if how == "maintenance":
        return (f"carp-pkg maintenance on ({master})", lambda: lab.carp(master, "maintenance", "on", "--backend", "ucarp"),
                f"carp-pkg maintenance off ({master})", lambda: lab.carp(master, "maintenance", "off", "--backend", "ucarp"))
    raise LabError(f"unknown failover {how!r}; choose one of {', '.join(HOWS)}")


def failover(lab: Lab, how: str) -> List[Measurement]:
    """Fail the master `how`, time the backup's takeover, bring the master back and time what follows."""
    master = settle(lab)
    backup = other(master)
    event, fail, restore_label, restore = failure_actions(lab, how, master)
    takeover_timeout = 1.1 * lab.bound(backup) + SLACK_S
    results = [lab.measure(event, fail, master, backup, takeover_timeout)]
    if results[0].new_master is None:
        return results
    if how == "maintenance":
        answered, states = lab.hold(FLAP_WATCH_S)
        flapped = answered != [backup] or states.get(master) != "BACKUP"
        skew = lab.running(master).vhids[0].advskew
        results.append(Measurement(f"watch {FLAP_WATCH_S:.0f} s", backup, backup if not flapped else None, None, None,
                                   None, note=("FLAPPED: client saw " + ", ".join(answered)) if flapped
                                   else f"{master} stays BACKUP at advskew {skew}, no flap back"))
    if preempting(lab, master):
        timeout = 1.1 * lab.bound(master) + SLACK_S
        results.append(lab.measure(restore_label + " (preempt on)", restore, backup, master, timeout, bounded=False))
    else:
        restore()
        answered, states = lab.hold(RESTORE_WATCH_S)
        kept = answered == [backup] and states.get(master) == "BACKUP"
        results.append(Measurement(restore_label + " (preempt off)", backup, backup if kept else None, None, None, None,
                                   note=f"{master} stays BACKUP" if kept else f"client saw {', '.join(answered)}"))
    return results


def format_table(measurements: Sequence[Measurement]) -> str:
    header = ("EVENT", "FROM", "TO", "CLIENT", "HOST", "BOUND", "NOTE")
    rows = [(m.event, m.old_master or "-", m.new_master or "NONE", _seconds(m.client_s), _seconds(m.host_s),
             _seconds(m.bound_s), m.note) for m in measurements]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.append("CLIENT: from the event to the first ARP answer for the VIP from the new master, seen by the client")
    lines.append("HOST: to the new master's up script; BOUND: 3 x (advbase + advskew/256) + 1 s ucarp capture delay")
    return "\n".join(lines) + "\n"


def status_document(lab: Lab) -> dict:
    hosts = []
    for host in HOSTS:
        vhids = lab.running(host).vhids
        vhid = vhids[0] if vhids else None
        hosts.append({"host": host, "namespace": lab.layout.namespace(host), "address": lab.layout.address(host),
                      "state": vhid.state if vhid else None, "advskew": vhid.advskew if vhid else None,
                      "pid": vhid.pid if vhid else None})
    return {"vip": lab.layout.vip, "client": lab.layout.address("client"),
            "client_namespace": lab.layout.namespace("client"), "hosts": hosts}


def format_status(lab: Lab, document: Optional[dict] = None) -> str:
    document = document or status_document(lab)
    header = ("HOST", "NAMESPACE", "ADDRESS", "STATE", "ADVSKEW", "PID")
    rows = [(h["host"], h["namespace"], h["address"], h["state"] or "-",
             "-" if h["advskew"] is None else str(h["advskew"]), str(h["pid"]) if h["pid"] else "-")
            for h in document["hosts"]]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.append(f"VIP {lab.layout.vip}; client {lab.layout.address('client')} in {lab.layout.namespace('client')}")
    return "\n".join(lines) + "\n"


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f} s"
