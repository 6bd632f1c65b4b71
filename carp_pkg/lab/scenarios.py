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


def keepalived(lab: Lab) -> bool:
    return lab.layout.backend == "keepalived"


def settle_timeout(lab: Lab) -> float:
    if keepalived(lab):  # a master-down interval of at most 3 x 40.95 s, then the notify scripts; keepalived's
        # own start-up on a loaded 2-core machine took over 4 s once (a wait, not a measured bound)
        return 3 * lab.layout.vrrpinterval / 100 * 2 + SLACK_S + 8.0
    return max(master_down_bound(1, 255), 4.0) + CAPTURE_TIMEOUT_S + SLACK_S


def settle(lab: Lab) -> str:
    return lab.wait_for_single_master(settle_timeout(lab))


def preempting(lab: Lab, host: str) -> bool:
    running = lab.running(host)
    if keepalived(lab):
        return running.conf_text is not None and "nopreempt" not in running.conf_text
    return bool(running.vhids) and "-P" in running.vhids[0].argv


def preference(lab: Lab, host: str) -> str:
    """What keeps a host from taking over: its advskew (CARP) or its VRRP priority."""
    vhids = lab.running(host).vhids
    if not vhids:
        return "no vhid"
    return f"vrrpprio {vhids[0].vrrpprio}" if vhids[0].protocol == "vrrp" else f"advskew {vhids[0].advskew}"


def crash(lab: Lab, host: str, pids: Sequence[int]) -> Callable[[], object]:
    """A crash of the master: SIGKILL its keepalived (no priority-0 advert, no cleanup), and its kernel stops
    answering for the VIP as a dead host would (a killed keepalived leaves the VIP on the link).

    pids: the main process, then its VRRP child. The child asks for SIGTERM when its parent dies
    (PR_SET_PDEATHSIG) and would then resign with a priority-0 advert, and the parent restarts a dead
    child: so the parent is stopped first, the child killed, then the parent."""
    def act() -> None:
        main, children = pids[0], pids[1:]
        send_signal(main, signal.SIGSTOP)
        for pid in children:
            send_signal(pid, signal.SIGKILL)
        send_signal(main, signal.SIGKILL)
        lab.drop_vip(host)
    return act


def kill_keepalived(lab: Lab, host: str) -> Callable[[], object]:
    pids = lab.keepalived_pids(host)
    if not pids:
        raise LabError(f"host {host} is MASTER but its keepalived pid is unknown")
    return crash(lab, host, pids)


def failure_actions(lab: Lab, how: str, master: str) -> Tuple[str, Callable[[], object], str, Callable[[], object]]:
    """(event, fail, restore label, restore) for one way of losing the master."""
    if how == "kill" and keepalived(lab):
        return (f"crash {master} (SIGKILL keepalived, VIP gone)", kill_keepalived(lab, master),
                f"carp-pkg sync on {master}", lambda: lab.sync(master))
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
        backend = lab.layout.backend
        return (f"carp-pkg maintenance on ({master})", lambda: lab.carp(master, "maintenance", "on", "--backend", backend),
                f"carp-pkg maintenance off ({master})", lambda: lab.carp(master, "maintenance", "off", "--backend", backend))
    raise LabError(f"unknown failover {how!r}; choose one of {', '.join(HOWS)}")


def failover(lab: Lab, how: str) -> List[Measurement]:
    """Fail the master `how`, time the backup's takeover, bring the master back and time what follows."""
    master = settle(lab)
    backup = other(master)
    event, fail, restore_label, restore = failure_actions(lab, how, master)
    takeover_timeout = 1.1 * lab.bound(backup) + SLACK_S
    if how == "maintenance" and keepalived(lab):  # a planned handover: count the client's lost echo probes too
        results = [counting_lost_probes(lab, lambda: lab.measure(event, fail, master, backup, takeover_timeout))]
    else:
        results = [lab.measure(event, fail, master, backup, takeover_timeout)]
    if results[0].new_master is None:
        return results
    if how == "maintenance":
        answered, states = lab.hold(FLAP_WATCH_S)
        flapped = answered != [backup] or states.get(master) != "BACKUP"
        results.append(Measurement(f"watch {FLAP_WATCH_S:.0f} s", backup, backup if not flapped else None, None, None,
                                   None, note=("FLAPPED: client saw " + ", ".join(answered)) if flapped
                                   else f"{master} stays BACKUP at {preference(lab, master)}, no flap back"))
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


def counting_lost_probes(lab: Lab, measure: Callable[[], Measurement]) -> Measurement:
    """Run a measurement while the client pings the VIP every 10 ms: how many echo probes went unanswered."""
    from .ping import Pinger
    pinger = Pinger.start(lab, seconds=lab.bound("a") + lab.bound("b") + 6.0)
    try:
        measured = measure()
    finally:
        summary = pinger.stop()
    note = f"lost {len(summary.lost)} of {summary.sent} echo probes (every {summary.interval * 1000:g} ms)"
    return Measurement(measured.event, measured.old_master, measured.new_master, measured.client_s, measured.host_s,
                       measured.bound_s, note=note, lost=len(summary.lost), probes=summary.sent)


def format_table(measurements: Sequence[Measurement]) -> str:
    header = ("EVENT", "FROM", "TO", "CLIENT", "HOST", "BOUND", "NOTE")
    rows = [(m.event, m.old_master or "-", m.new_master or "NONE", _seconds(m.client_s), _seconds(m.host_s),
             _seconds(m.bound_s), m.note) for m in measurements]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.append("CLIENT: from the event to the first ARP answer for the VIP from the new master, seen by the client")
    if any(m.event.startswith("crash") or "echo probes" in m.note for m in measurements):
        lines.append("HOST: to the new master's notify record; BOUND: VRRPv3 master-down 3 x interval + "
                     "(256 - prio) x interval / 256")
    else:
        lines.append("HOST: to the new master's up script; BOUND: 3 x (advbase + advskew/256) + 1 s ucarp capture "
                     "delay")
    return "\n".join(lines) + "\n"


def status_document(lab: Lab) -> dict:
    hosts = []
    for host in HOSTS:
        running = lab.running(host)
        vhid = running.vhids[0] if running.vhids else None
        entry = {"host": host, "namespace": lab.layout.namespace(host), "address": lab.layout.address(host),
                 "state": vhid.state if vhid else None, "advskew": vhid.advskew if vhid else None,
                 "pid": (vhid.pid or getattr(running, "daemon_pid", None)) if vhid else None}
        if keepalived(lab):
            entry["vrrpprio"] = vhid.vrrpprio if vhid else None
        hosts.append(entry)
    return {"vip": lab.layout.vip, "client": lab.layout.address("client"),
            "client_namespace": lab.layout.namespace("client"), "hosts": hosts}


def format_status(lab: Lab, document: Optional[dict] = None) -> str:
    document = document or status_document(lab)
    preference = "VRRPPRIO" if keepalived(lab) else "ADVSKEW"
    header = ("HOST", "NAMESPACE", "ADDRESS", "STATE", preference, "PID")
    rows = [(h["host"], h["namespace"], h["address"], h["state"] or "-",
             "-" if h.get(preference.lower()) is None else str(h[preference.lower()]), str(h["pid"]) if h["pid"] else "-")
            for h in document["hosts"]]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.append(f"VIP {lab.layout.vip}; client {lab.layout.address('client')} in {lab.layout.namespace('client')}")
    return "\n".join(lines) + "\n"


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f} s"


def unicast_scenario(lab: Lab) -> List[Measurement]:
    """A keepalived lab built with multicast blocked on the bridge (not synced yet): a multicast-only keepalived on
    both hosts ends with both holding the VIP; carp-pkg's, with each host the other's unicast peer, settles on
    exactly one; killing that master hands the VIP to the other by unicast adverts."""
    from .raw import multicast_blocked
    if not (keepalived(lab) and lab.layout.unicast):
        raise LabError("the unicast scenario needs a keepalived lab built with --unicast")
    with lab.progress.phase("multicast-only keepalived on both hosts, multicast blocked on the bridge"):
        both = multicast_blocked(lab)
    rows = [Measurement("multicast only, multicast blocked", None, "+".join(both) or None, None, None, None,
                        note="each host hears nobody: both hold the VIP" if both == list(HOSTS)
                        else f"expected both to hold the VIP, held by {', '.join(both) or 'nobody'}")]
    for host in ("b", "a"):
        with lab.progress.phase(f"carp-pkg sync on host {host} (unicast peer {lab.layout.address(other(host))})"):
            lab.sync(host)
    master = settle(lab)
    holders = lab.holders()
    rows.append(Measurement("carp-pkg sync, unicast peers", None, master if holders == [master] else None, None, None,
                            None, note=f"exactly one holds the VIP: {master}" if holders == [master]
                            else f"held by {', '.join(holders) or 'nobody'}"))
    return rows + failover(lab, "kill")
