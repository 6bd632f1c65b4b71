"""Config vs running, attribute by attribute (like ifupdown2's `ifquery --check`), graded the Nagios way.

Severity rule: CRITICAL when a configured VIP is not being served by CARP on this host whatever the
peer does (vhid or address missing, vhid not MASTER/BACKUP, net.inet.carp.allow=0, and what ucarp
reveals: a MASTER without its VIP, a peer failing the HMAC right now); WARNING when CARP
runs but differs from config.xml in a way that changes who becomes master, whether the peers agree,
or what survives a failover (advskew, advbase, password, extra addresses, preempt, demotion, pfsync,
vhids nobody configured). Maintenance mode is a WARNING of its own, never counted as drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import List, Optional, Sequence, Tuple

from .backends.commands import PFSYNC_DEFAULT_PEER, peer_differences, unicast_of, wanted_preempt
from .fingerprint import password_digest
from .model import CARP_MAXSKEW, MAINTENANCE_ADVSKEW, MAINTENANCE_VRRPPRIO, CarpConfig, VhidGroup, advertised_skew
from .running import RunningState, RunningVhid

_LEGACY_CARP_IF = re.compile(r"^carp\d+$")
HEALTHY_STATES = ("MASTER", "BACKUP")
MAINTENANCE = "maintenance"
HANDOVER = "handover"  # a configured advskew >= 240: maintenance mode on the peer cannot hand over (not drift)
NOT_DRIFT = frozenset({MAINTENANCE, HANDOVER})
MAINTENANCE_CARP = (f"set to advskew {MAINTENANCE_ADVSKEW}, which the kernel advertises as {CARP_MAXSKEW} (ip_carp.c "
                    f"CARP_MAXSKEW), so a healthy peer configured at advskew {CARP_MAXSKEW - 1} or less holds the VIPs; a "
                    f"peer at {CARP_MAXSKEW} or more ties with this host")
MAINTENANCE_VRRP = (f"set to vrrpprio {MAINTENANCE_VRRPPRIO}, the lowest VRRPv3 priority, so a healthy peer at vrrpprio "
                    f"{MAINTENANCE_VRRPPRIO + 1} or more (VRRP prefers the higher priority) holds the VIPs; a peer at "
                    f"{MAINTENANCE_VRRPPRIO} ties with this host")
MAINTENANCE_MESSAGE = f"maintenance mode is on: every vhid is {MAINTENANCE_CARP}"


def maintenance_message(groups: Sequence[VhidGroup]) -> str:
    """What maintenance mode does to these vhids: CARP ones go to advskew 254, VRRPv3 ones to vrrpprio 1."""
    vrrp = any(g.vrrp for g in groups)
    if not vrrp:
        return MAINTENANCE_MESSAGE
    if all(g.vrrp for g in groups):
        return f"maintenance mode is on: every vhid is VRRPv3 and {MAINTENANCE_VRRP}"
    return f"maintenance mode is on: every CARP vhid is {MAINTENANCE_CARP}; every VRRPv3 vhid is {MAINTENANCE_VRRP}"


class Status(IntEnum):
    """Nagios plugin states; the value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Finding:
    severity: Status
    interface: str  # config.xml's real device for a vhid, pfsync0, or "" for host-wide sysctls
    vhid: Optional[int]
    attribute: str  # vhid, address, prefix, advskew, advbase, password, state, syncdev, syncok, allow, ...
    expected: Optional[str]
    actual: Optional[str]
    message: str

    @property
    def subject(self) -> str:
        if self.vhid is not None:
            return f"{self.interface} vhid {self.vhid}"
        return self.interface

    @property
    def line(self) -> str:
        """`em0 vhid 10 advskew: expected 0, running 50`; a whole-vhid finding drops the attribute word."""
        label = " ".join(p for p in (self.subject, "" if self.attribute == "vhid" else self.attribute) if p)
        return f"{label}: {self.message}"

    @property
    def is_drift(self) -> bool:
        return self.severity >= Status.WARNING and self.attribute not in NOT_DRIFT

    def to_json(self) -> dict:
        return {"severity": self.severity.name, "interface": self.interface, "vhid": self.vhid,
                "attribute": self.attribute, "expected": self.expected, "actual": self.actual,
                "message": self.message}


@dataclass(frozen=True)
class CheckReport:
    findings: Tuple[Finding, ...] = ()
    vhids: int = 0  # configured vhids
    masters: int = 0  # running vhids in MASTER
    backups: int = 0
    maintenance: bool = False
    unknown: Optional[str] = None  # why nothing could be checked
    unknown_details: Tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        if self.unknown is not None:
            return Status.UNKNOWN
        return max((f.severity for f in self.findings), default=Status.OK)

    @property
    def drift(self) -> int:
        return sum(1 for f in self.findings if f.is_drift)

    @property
    def perfdata(self) -> str:
        return f"vhids={self.vhids};;; masters={self.masters};;; drift={self.drift};;;"

    def summary(self) -> str:
        if self.unknown is not None:
            return f"CARP UNKNOWN - {self.unknown}"
        status = self.status
        if status is Status.OK:
            if not self.vhids:
                text = "no vhid configured"
            else:
                text = (f"{_count(self.vhids, 'vhid')} as configured "
                        f"({self.masters} MASTER, {self.backups} BACKUP)")
        else:
            critical = sum(1 for f in self.findings if f.severity is Status.CRITICAL)
            warnings = sum(1 for f in self.findings if f.severity is Status.WARNING)
            counts = ", ".join(c for c in (_count(critical, "critical", "critical") if critical else "",
                                           _count(warnings, "warning") if warnings else "") if c)
            text = f"{counts}: {self.findings[0].line}"
        return f"CARP {status.name} - {text} | {self.perfdata}"

    def lines(self) -> List[str]:
        """The plugin output: status line first, then one line per finding (worst first)."""
        if self.unknown is not None:
            return [self.summary(), *self.unknown_details]
        return [self.summary(), *(f"{f.line} ({f.severity.name.lower()})" for f in self.findings)]

    def to_json(self) -> dict:
        return {
            "status": self.status.name,
            "exit_code": int(self.status),
            "summary": self.summary(),
            "maintenance": self.maintenance,
            "perfdata": None if self.unknown is not None else
            {"vhids": self.vhids, "masters": self.masters, "drift": self.drift},
            "unknown": self.unknown,
            "findings": [f.to_json() for f in self.findings],
        }


def _count(number: int, noun: str, plural: Optional[str] = None) -> str:
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"


def unknown_report(reason: str, details: Sequence[str] = ()) -> CheckReport:
    return CheckReport(unknown=reason, unknown_details=tuple(details))


def pair_vhids(groups: Sequence[VhidGroup], running: RunningState
               ) -> Tuple[List[Tuple[VhidGroup, Optional[RunningVhid]]], List[RunningVhid]]:
    """Each configured vhid with what runs for it, and the running vhids nobody configured.

    FreeBSD 10+ and ucarp report a vhid on its parent interface (em0); FreeBSD 5.4-9 on a cloned
    carpN that says nothing about the parent, so there a configured vhid matches a carpN by number.
    """
    unclaimed = list(running.vhids)
    pairs: List[Tuple[VhidGroup, Optional[RunningVhid]]] = []
    for group in groups:
        found = next((v for v in unclaimed if (v.interface, v.vhid) == (group.interface, group.vhid)), None)
        if found is None:
            found = next((v for v in unclaimed if _LEGACY_CARP_IF.match(v.interface) and v.vhid == group.vhid), None)
        if found is not None:
            unclaimed.remove(found)
        pairs.append((group, found))
    return pairs, unclaimed


def check(config: CarpConfig, running: RunningState, maintenance: bool = False) -> CheckReport:
    wanted = config.in_maintenance() if maintenance else config
    groups = wanted.groups()
    pairs, strays = pair_vhids(groups, running)
    findings: List[Finding] = []
    if maintenance and groups:
        findings.append(Finding(Status.WARNING, "", None, MAINTENANCE, None, None, maintenance_message(groups)))
    if groups:
        findings += _sysctl_findings(wanted, running)
    findings += _handover_findings(config.groups())
    for group, current in pairs:
        findings += _vhid_findings(group, current, running.password_salt, maintenance)
    for stray in strays:
        findings.append(Finding(Status.WARNING, stray.interface, stray.vhid, "vhid", "absent", "running",
                                f"running ({stray.state}) but not in config.xml; sync removes it"))
    findings += _pfsync_findings(wanted, running)
    findings.sort(key=lambda f: -f.severity)  # stable: worst first, config order within a severity
    return CheckReport(
        findings=tuple(findings),
        vhids=len(groups),
        masters=sum(1 for v in running.vhids if v.state == "MASTER"),
        backups=sum(1 for v in running.vhids if v.state == "BACKUP"),
        maintenance=maintenance,
    )


def _mismatch(severity: Status, group: VhidGroup, attribute: str, expected, actual, why: str = "") -> Finding:
    message = f"expected {expected}, running {actual}" + (f" ({why})" if why else "")
    return Finding(severity, group.interface, group.vhid, attribute, str(expected), str(actual), message)


def _vhid_findings(group: VhidGroup, current: Optional[RunningVhid], salt: Optional[str],
                   maintenance: bool) -> List[Finding]:
    if current is None:
        return [Finding(Status.CRITICAL, group.interface, group.vhid, "vhid", "present", "missing",
                        "configured, not running (its VIPs are served by nobody on this host)")]
    findings: List[Finding] = []
    if current.state not in HEALTHY_STATES:
        why = getattr(current, "last_error", None) or "the vhid takes no part in CARP: interface down or carp disabled"
        findings.append(_mismatch(Status.CRITICAL, group, "state", "MASTER or BACKUP", current.state, why))
    findings += _ucarp_findings(group, current)
    findings += _address_findings(group, current)
    if group.vrrp or current.protocol == "vrrp":
        return findings + _vrrp_findings(group, current, maintenance) + _peer_findings(group, current)
    if current.advskew != group.advskew:
        why = "maintenance mode" if maintenance else "changes which host is preferred as master"
        if advertised_skew(current.advskew) == advertised_skew(group.advskew):
            why = f"both advertise {CARP_MAXSKEW} on the wire"
        findings.append(_mismatch(Status.WARNING, group, "advskew", group.advskew, current.advskew, why))
    if current.advbase != group.advbase:
        findings.append(_mismatch(Status.WARNING, group, "advbase", group.advbase, current.advbase,
                                  "changes the advertisement interval and which host wins"))
    findings += _password_findings(group, current, salt)
    findings += _peer_findings(group, current)
    return findings


def _vrrp_findings(group: VhidGroup, current: RunningVhid, maintenance: bool) -> List[Finding]:
    """A VRRPv3 vhid (FreeBSD 15 carpver 3, keepalived): protocol, priority and interval; VRRPv3 has no password."""
    running = current.protocol or "carp"
    if group.protocol != running:
        return [_mismatch(Status.WARNING, group, "protocol", group.protocol, running,
                          "CARP and VRRPv3 peers do not understand each other's advertisements")]
    findings: List[Finding] = []
    if current.vrrpprio != group.vrrpprio:
        why = "maintenance mode" if maintenance else "changes which host is preferred as master (higher wins)"
        findings.append(_mismatch(Status.WARNING, group, "vrrpprio", group.vrrpprio, current.vrrpprio, why))
    if current.vrrpinterval != group.vrrpinterval:
        findings.append(_mismatch(Status.WARNING, group, "vrrpinterval", group.vrrpinterval, current.vrrpinterval,
                                  "changes the advertisement interval (centiseconds) and the failover time"))
    return findings


def _handover_findings(groups) -> List[Finding]:
    """A backup configured at advskew >= 240 advertises 240, like a master in maintenance mode (254, capped at
    240 by ip_carp.c): the two tie, so maintenance mode on the peer cannot hand the VIPs over reliably."""
    return [Finding(Status.WARNING, g.interface, g.vhid, HANDOVER, f"{CARP_MAXSKEW - 1} or less", str(g.advskew),
                    f"advskew {g.advskew} advertises {CARP_MAXSKEW}, the CARP maximum: a peer in maintenance mode "
                    f"(254, also advertised as {CARP_MAXSKEW}) ties with this host, so it cannot hand the VIPs over "
                    f"reliably; configure a backup at {CARP_MAXSKEW - 1} or less")
            for g in groups if g.advskew >= CARP_MAXSKEW and not g.vrrp]


def _peer_findings(group: VhidGroup, current: RunningVhid) -> List[Finding]:
    """FreeBSD 14+ prints each vhid's peers; a unicast peer nobody configured (or another one) is drift."""
    return [Finding(Status.WARNING, group.interface, group.vhid, name, want or "multicast", have or "multicast",
                    f"expected {want or 'multicast'}, running {have or 'multicast'} (advertisements go elsewhere than "
                    "config.xml says; sync sets it again)")
            for name, have, want in peer_differences(group, current)]


def _ucarp_findings(group: VhidGroup, current: RunningVhid) -> List[Finding]:
    """What only ucarp reveals (its RunningVhid subclass): a MASTER without its VIP, a peer failing the HMAC."""
    findings: List[Finding] = []
    held = getattr(current, "held", None)
    if held is not None and current.state == "MASTER" and not held:
        findings.append(Finding(Status.CRITICAL, group.interface, group.vhid, "held", "the VIP", "nothing",
                                "MASTER but the VIP is not on the interface (the up script failed?)"))
    if held and current.state not in HEALTHY_STATES:
        findings.append(Finding(Status.CRITICAL, group.interface, group.vhid, "held", "nothing", "the VIP",
                                f"{current.state} but the VIP is still on the interface: a killed ucarp left it "
                                "behind and the peer may answer for it too; run carp-pkg sync"))
    if getattr(current, "peer_mismatch", False):
        findings.append(Finding(Status.CRITICAL, group.interface, group.vhid, "peer", "verified", "bad digest",
                                "a peer's advertisements fail the HMAC just now (its password or VIP differs): "
                                "both hosts may be MASTER"))
    return findings


def _address_findings(group: VhidGroup, current: RunningVhid) -> List[Finding]:
    findings: List[Finding] = []
    running_by_ip = {a.ip: a for a in current.addresses}
    wanted_ips = {a.ip for a in group.addresses}
    for address in group.addresses:
        found = running_by_ip.get(address.ip)
        if found is None:
            findings.append(Finding(Status.CRITICAL, group.interface, group.vhid, "address", str(address), None,
                                    f"{address} missing (this VIP is not served)"))
        elif found.network.prefixlen != address.network.prefixlen:
            findings.append(Finding(Status.WARNING, group.interface, group.vhid, "prefix", str(address), str(found),
                                    f"{address.ip}: expected /{address.network.prefixlen}, "
                                    f"running /{found.network.prefixlen}"))
    for address in current.addresses:
        if address.ip not in wanted_ips:
            findings.append(Finding(Status.WARNING, group.interface, group.vhid, "address", None, str(address),
                                    f"{address} running but not configured (the CARP HMAC covers every address: "
                                    "a peer configured from config.xml rejects this host's advertisements)"))
    return findings


def _password_findings(group: VhidGroup, current: RunningVhid, salt: Optional[str]) -> List[Finding]:
    # The kernel never shows a key; sync remembers a salted digest of what it applied.
    if current.secret_digest is None or salt is None:
        return [Finding(Status.WARNING, group.interface, group.vhid, "password", None, None,
                        "cannot verify: carp-pkg has no record of applying a password to this vhid "
                        "(run `carp-pkg sync` once)")]
    if current.secret_digest != password_digest(salt, group.password):
        return [Finding(Status.WARNING, group.interface, group.vhid, "password", None, None,
                        "differs from config.xml (the password changed since the last sync; peers with "
                        "different passwords reject each other's advertisements and both become MASTER)")]
    return []


def _sysctl_findings(config: CarpConfig, running: RunningState) -> List[Finding]:
    sysctls = running.sysctls
    findings: List[Finding] = []
    if sysctls.allow is not None and sysctls.allow == 0:
        findings.append(Finding(Status.CRITICAL, "", None, "net.inet.carp.allow", "1", "0",
                                "expected 1, running 0 (carp disabled: no vhid sends or accepts advertisements)"))
    if sysctls.demotion is not None and sysctls.demotion > 0:
        findings.append(Finding(Status.WARNING, "", None, "net.inet.carp.demotion", "0", str(sysctls.demotion),
                                f"expected 0, running {sysctls.demotion} (every vhid advertises as less "
                                "preferred: an interface is down, pfsync is not in sync, or sends failed)"))
    preempt = wanted_preempt(config, running)  # None on pfSense when no VIP preempts: the base system owns it
    if sysctls.preempt is not None and preempt is not None and sysctls.preempt != preempt:
        findings.append(Finding(Status.WARNING, "", None, "net.inet.carp.preempt", str(preempt),
                                str(sysctls.preempt), f"expected {preempt}, running {sysctls.preempt}"))
    wanted_balance = 1 if config.balancing else 0
    if sysctls.arpbalance is not None and sysctls.arpbalance != wanted_balance:
        findings.append(Finding(Status.WARNING, "", None, "net.inet.carp.arpbalance", str(wanted_balance),
                                str(sysctls.arpbalance), f"expected {wanted_balance}, running {sysctls.arpbalance}"))
    return findings


PFSYNC_IF = "pfsync0"


def _pfsync_findings(config: CarpConfig, running: RunningState) -> List[Finding]:
    wanted, current = config.pfsync, running.pfsync
    running_dev = current.syncdev if current is not None else None
    if running.host.pfsense:
        # pfSense sets pfsync0 from System > High Avail. Sync (interfaces_sync_setup()): what runs is pfSense's, and
        # neither a difference from the package's fields nor pfsync off is drift sync would fix (it never touches it)
        if running_dev and current.syncok is False:
            return [Finding(Status.WARNING, PFSYNC_IF, None, "syncok", "1", "0",
                            "expected 1, running 0 (the bulk update from the peer has not finished; connections would "
                            "drop on failover)")]
        return []

    def finding(attribute: str, expected, actual, why: str) -> Finding:
        return Finding(Status.WARNING, PFSYNC_IF, None, attribute, expected, actual,
                       f"expected {expected or 'none'}, running {actual or 'none'} ({why})")

    running_peer = unicast_of(current.syncpeer, PFSYNC_DEFAULT_PEER) if current is not None else None
    if wanted is None:
        stale = []
        if running_dev:
            stale.append(finding("syncdev", None, running_dev, "pfsync is not configured; sync turns it off"))
        if running_peer:
            stale.append(finding("syncpeer", None, running_peer, "pfsync is not configured; sync clears the peer"))
        return stale
    if running_dev != wanted.syncdev:
        return [finding("syncdev", wanted.syncdev, running_dev, "pf states are not synchronised to the peer")]
    findings: List[Finding] = []
    if running_peer != wanted.syncpeer:
        findings.append(Finding(Status.WARNING, PFSYNC_IF, None, "syncpeer", wanted.syncpeer or "multicast",
                                running_peer or "multicast",
                                f"expected {wanted.syncpeer or 'multicast (224.0.0.240)'}, running "
                                f"{running_peer or 'multicast (224.0.0.240)'} (pf states go elsewhere than config.xml "
                                "says)"))
    if current.defer is not None and current.defer != wanted.defer:
        on_off = {True: "on", False: "off"}
        findings.append(Finding(Status.WARNING, PFSYNC_IF, None, "defer", on_off[wanted.defer], on_off[current.defer],
                                f"expected {on_off[wanted.defer]}, running {on_off[current.defer]} (defer holds a new "
                                "connection's first packet until the peer has its state)"))
    if not current.up:
        findings.append(finding("up", "up", "down", "pf states are not synchronised to the peer"))
    if current.syncok is False:
        findings.append(finding("syncok", "1", "0", "the bulk update from the peer has not finished; "
                                                   "connections would drop on failover"))
    return findings
