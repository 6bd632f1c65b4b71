"""Lint two cluster members' configs against each other: what makes CARP peers disagree or collide.

Vhids are matched between the hosts by (friendly interface name, vhid) when every vhid on both
sides has a friendly name: pfSense's XMLRPC sync copies config.xml between members by those names
(wan, lan, opt1), while real devices follow each box's NICs (em1 on one, igb1 on the other). When
names are missing (bare configs listing devices), the vhid alone is the identity: it is what goes
on the wire (the virtual MAC 00:00:5e:00:01:VHID); a vhid used on several interfaces of one host
falls back to (device, vhid) there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from .model import CARP_MAXSKEW, MAINTENANCE_ADVSKEW, CarpConfig, VhidGroup, advertised_skew
from .validate import REWRITTEN_BY_PEERS

ERROR = "error"
WARNING = "warning"
INFO = "info"
LEVELS = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class Finding:
    level: str  # error, warning, info
    rule: str  # one-side, vips, prefix, password, password-rewrite, advbase, advskew-tie, maintenance, preferred,
    # preempt, pfsync, collision
    where: str  # "lan vhid 10", or "" for host-wide settings
    message: str

    @property
    def line(self) -> str:
        return f"{self.level}: {self.where + ': ' if self.where else ''}{self.message}"

    def to_json(self) -> dict:
        return {"level": self.level, "rule": self.rule, "where": self.where, "message": self.message}


Key = Tuple[str, int]


def _keys(groups: Sequence[VhidGroup], by_name: bool) -> Dict[Key, VhidGroup]:
    if by_name:
        return {(g.friendly_interface, g.vhid): g for g in groups}
    per_vhid: Dict[int, int] = {}
    for group in groups:
        per_vhid[group.vhid] = per_vhid.get(group.vhid, 0) + 1
    return {("" if per_vhid[g.vhid] == 1 else g.interface, g.vhid): g for g in groups}


def _label(a: Optional[VhidGroup], b: Optional[VhidGroup], by_name: bool) -> str:
    some = a or b
    if by_name:
        return f"{some.friendly_interface} vhid {some.vhid}"
    devices = [g.interface for g in (a, b) if g is not None]
    shown = devices[0] if len(set(devices)) == 1 else "/".join(devices)
    return f"{shown} vhid {some.vhid}"


def _ips(group: VhidGroup) -> FrozenSet:
    return frozenset(address.ip for address in group.addresses)


def _listed(addresses) -> str:
    return ", ".join(str(a) for a in sorted(addresses, key=lambda a: (a.version, a))) or "none"


def compare(a: CarpConfig, b: CarpConfig, a_name: str = "A", b_name: str = "B") -> List[Finding]:
    groups_a, groups_b = a.groups(), b.groups()
    by_name = all(g.friendly_interface for g in groups_a + groups_b)
    keyed_a, keyed_b = _keys(groups_a, by_name), _keys(groups_b, by_name)
    findings: List[Finding] = []
    for key in list(keyed_a) + [k for k in keyed_b if k not in keyed_a]:
        group_a, group_b = keyed_a.get(key), keyed_b.get(key)
        where = _label(group_a, group_b, by_name)
        if group_a is None or group_b is None:
            findings.append(_one_side(where, group_a or group_b, a_name if group_a else b_name,
                                      b_name if group_a else a_name, groups_b if group_a else groups_a))
            continue
        findings += _pair_findings(where, group_a, group_b, a_name, b_name)
    findings += _host_findings(a, b, a_name, b_name)
    findings += _collisions([(a_name, k, g) for k, g in keyed_a.items()] + [(b_name, k, g) for k, g in keyed_b.items()])
    return sorted(findings, key=lambda f: LEVELS.index(f.level))


def _one_side(where: str, group: VhidGroup, has: str, lacks: str, others: Sequence[VhidGroup]) -> Finding:
    same_vhid = [o for o in others if o.vhid == group.vhid]
    hint = ""
    if same_vhid:
        names = ", ".join(o.friendly_interface or o.interface for o in same_vhid)
        hint = f" ({lacks} uses vhid {group.vhid} on {names}: is the interface name different?)"
    return Finding(ERROR, "one-side", where, f"only in {has}: {lacks} has no peer for it, "
                                               f"so nothing takes its VIPs over{hint}")


def _pair_findings(where: str, a: VhidGroup, b: VhidGroup, a_name: str, b_name: str) -> List[Finding]:
    findings: List[Finding] = []
    ips_a, ips_b = _ips(a), _ips(b)
    if ips_a != ips_b:
        findings.append(Finding(ERROR, "vips", where,
                                f"VIP sets differ (only in {a_name}: {_listed(ips_a - ips_b)}; only in {b_name}: "
                                f"{_listed(ips_b - ips_a)}): the CARP HMAC covers every address, so each host "
                                "rejects the other's advertisements and both become MASTER"))
    prefixes_a = {x.ip: x.network.prefixlen for x in a.addresses}
    for address in b.addresses:
        prefix_a = prefixes_a.get(address.ip)
        if prefix_a is not None and prefix_a != address.network.prefixlen:
            findings.append(Finding(WARNING, "prefix", where,
                                    f"{address.ip} is /{prefix_a} on {a_name} but /{address.network.prefixlen} on "
                                    f"{b_name} (CARP still agrees; routes and ARP differ after a failover)"))
    if a.protocol != b.protocol:
        return findings + [Finding(ERROR, "protocol", where,
                                   f"protocol differs ({a_name} {a.protocol}, {b_name} {b.protocol}): CARP and "
                                   "VRRPv3 ignore each other's advertisements, so both hosts become MASTER")]
    if a.vrrp:
        return findings + _vrrp_pair(where, a, b, a_name, b_name)
    if a.password != b.password:
        findings.append(Finding(ERROR, "password", where,
                                "passwords differ (not shown): the HMAC does not verify, so each host ignores "
                                "the other and both become MASTER"))
    if a.advbase != b.advbase:
        findings.append(Finding(ERROR, "advbase", where,
                                f"advbase differs ({a_name} {a.advbase}, {b_name} {b.advbase}): the host with the "
                                "shorter interval always wins whatever the advskew, and failover timing differs"))
    elif advertised_skew(a.advskew) == advertised_skew(b.advskew):
        same = (f"advskew {a.advskew} on both" if a.advskew == b.advskew else
                f"advskew {a.advskew} ({a_name}) and {b.advskew} ({b_name}) both advertise {CARP_MAXSKEW} "
                f"(ip_carp.c caps the advertised skew at CARP_MAXSKEW {CARP_MAXSKEW})")
        findings.append(Finding(WARNING, "advskew-tie", where,
                                f"{same}: neither host is preferred (FreeBSD has no "
                                "tie-break: a MASTER hearing an equal advertisement steps down; ucarp prefers "
                                f"the lower source address); give the backup a higher advskew, at most {CARP_MAXSKEW - 1}"))
    else:
        findings += _handover(where, a, b, a_name, b_name)
    findings += _rewritten_password(where, a, b)
    if not [f for f in findings if f.level != WARNING or f.rule not in ("maintenance", "password-rewrite")]:
        preferred, other = (a_name, b_name) if a.advskew < b.advskew else (b_name, a_name)
        low, high = sorted((a.advskew, b.advskew))
        findings.append(Finding(INFO, "preferred", where,
                                f"{preferred} is the preferred master (advskew {low} < {high} on {other})"))
    return findings


def _vrrp_pair(where: str, a: VhidGroup, b: VhidGroup, a_name: str, b_name: str) -> List[Finding]:
    """Two VRRPv3 members: the same interval, and different priorities (the higher one is the master)."""
    if a.vrrpinterval != b.vrrpinterval:
        return [Finding(ERROR, "vrrpinterval", where,
                        f"vrrpinterval differs ({a_name} {a.vrrpinterval}, {b_name} {b.vrrpinterval} centiseconds): "
                        "failover timing differs and keepalived logs every advertisement as invalid")]
    if a.vrrpprio == b.vrrpprio:
        return [Finding(WARNING, "vrrpprio-tie", where,
                        f"vrrpprio {a.vrrpprio} on both: neither host is preferred (RFC 5798 breaks the tie by the "
                        "higher primary address); give the backup a lower vrrpprio")]
    (preferred, high), (other, low) = sorted(((a_name, a.vrrpprio), (b_name, b.vrrpprio)), key=lambda p: -p[1])
    return [Finding(INFO, "preferred", where, f"{preferred} is the preferred master (vrrpprio {high} > {low} on {other})")]


def _handover(where: str, a: VhidGroup, b: VhidGroup, a_name: str, b_name: str) -> List[Finding]:
    """Maintenance mode raises the master to 254, advertised as 240: a backup at 240 or more ties with it."""
    (master, master_name), (backup, backup_name) = sorted(((a, a_name), (b, b_name)), key=lambda p: p[0].advskew)
    if advertised_skew(backup.advskew) < CARP_MAXSKEW:
        return []
    return [Finding(WARNING, "maintenance", where,
                    f"{backup_name} backs up at advskew {backup.advskew}, advertised as {CARP_MAXSKEW}: maintenance "
                    f"mode on {master_name} ({MAINTENANCE_ADVSKEW}, also advertised as {CARP_MAXSKEW}) ties with it "
                    f"and cannot hand the VIPs over reliably; give {backup_name} {CARP_MAXSKEW - 1} or less")]


def has_rewritten_characters(password: str) -> bool:
    return any(char in password for char, _ in REWRITTEN_BY_PEERS)


def _rewritten_password(where: str, a: VhidGroup, b: VhidGroup) -> List[Finding]:
    """pfSense/OPNsense strip spaces and addslashes() the password before `ifconfig ... pass`: a mixed cluster
    (one member run by carp-pkg, the other by pfSense's own VIPs) disagrees on such a key."""
    if not (has_rewritten_characters(a.password) or has_rewritten_characters(b.password)):
        return []
    return [Finding(WARNING, "password-rewrite", where,
                    "the password (not shown) holds a space, quote or backslash: pfSense and OPNsense strip spaces "
                    "and addslashes() it before `ifconfig ... pass` while carp-pkg passes it verbatim, so if a "
                    "member of this cluster is configured by pfSense or OPNsense itself, the keys differ and both "
                    "hosts become MASTER")]


def _host_findings(a: CarpConfig, b: CarpConfig, a_name: str, b_name: str) -> List[Finding]:
    findings: List[Finding] = []
    if a.preempt != b.preempt:
        on, off = (a_name, b_name) if a.preempt else (b_name, a_name)
        findings.append(Finding(WARNING, "preempt", "",
                                f"preemption is on in {on} only: {on} takes the VIPs back when it has the lower "
                                f"advskew, {off} never does (net.inet.carp.preempt is host-wide)"))
    if (a.pfsync is None) != (b.pfsync is None):
        on, off = (a_name, b_name) if a.pfsync is not None else (b_name, a_name)
        findings.append(Finding(WARNING, "pfsync", "",
                                f"pfsync is on in {on} only: {off} neither sends nor receives pf states, "
                                "so connections drop on failover"))
    return findings


def _overlap(x: VhidGroup, y: VhidGroup) -> bool:
    return any(p.version == q.version and p.network.overlaps(q.network)
               for p in x.addresses for q in y.addresses)


def _collisions(nodes: List[Tuple[str, Key, VhidGroup]]) -> List[Finding]:
    """The same vhid on one segment for different VIP sets: both claim MAC 00:00:5e:00:01:VHID."""
    findings: List[Finding] = []
    reported = set()
    for index, (host_x, key_x, x) in enumerate(nodes):
        for host_y, key_y, y in nodes[index + 1:]:
            if x.vhid != y.vhid or (host_x != host_y and key_x == key_y):
                continue  # a matched pair of the two hosts is judged by the "vips" rule
            if _ips(x) == _ips(y) or not _overlap(x, y):
                continue
            identity = (x.vhid, frozenset((_ips(x), _ips(y))))
            if identity in reported:
                continue
            reported.add(identity)
            findings.append(Finding(
                ERROR, "collision", f"vhid {x.vhid}",
                f"used on one segment for different VIPs ({host_x} {x.friendly_interface or x.interface}: "
                f"{_listed(_ips(x))}; {host_y} {y.friendly_interface or y.interface}: {_listed(_ips(y))}): both "
                f"answer as MAC 00:00:5e:00:01:{x.vhid:02x} and reject each other's advertisements"))
    return findings
