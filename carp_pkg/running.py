"""What is running on a host, as frozen data. Parsers (status.py) produce it; backends plan against it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Optional, Tuple, Union

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


@dataclass(frozen=True)
class RunningVhid:
    """One CARP vhid as the kernel (or ucarp) reports it."""

    interface: str  # parent interface on FreeBSD 10+ / Linux; carpN on FreeBSD 5.4-9
    vhid: int
    state: str  # MASTER, BACKUP, INIT (DISABLED when net.inet.carp.allow=0 is reported by status)
    advbase: int
    advskew: int
    addresses: Tuple[IPInterface, ...] = ()
    peer: Optional[str] = None  # FreeBSD 14+: unicast peer (224.0.0.18 = multicast default)
    peer6: Optional[str] = None
    pid: Optional[int] = None  # ucarp process id, when the backend runs one per vhid
    secret_digest: Optional[str] = None  # fingerprint of the password carp-pkg last applied (never the password)
    protocol: str = "carp"  # "vrrp": a VRRPv3 vhid (FreeBSD 15 `vrrp:` line, keepalived); advbase/advskew are then 0
    vrrpprio: Optional[int] = None  # VRRPv3 priority (1-254), for a vrrp vhid
    vrrpinterval: Optional[int] = None  # VRRPv3 advertisement interval in centiseconds, for a vrrp vhid


@dataclass(frozen=True)
class RunningPfsync:
    syncdev: Optional[str] = None
    syncpeer: Optional[str] = None  # None = multicast default 224.0.0.240
    maxupd: Optional[int] = None
    defer: Optional[bool] = None
    version: Optional[int] = None  # FreeBSD 14+
    syncok: Optional[bool] = None  # FreeBSD 10+
    up: bool = True


@dataclass(frozen=True)
class CarpSysctls:
    allow: Optional[int] = None
    preempt: Optional[int] = None
    demotion: Optional[int] = None
    arpbalance: Optional[int] = None  # FreeBSD 5.4-9 only


@dataclass(frozen=True)
class HostFacts:
    """What the host is, beyond its interfaces: who else sets CARP sysctls, and what carp-pkg found at install."""

    pfsense: bool = False  # pfSense's base system owns net.inet.carp.preempt (interfaces_sync_setup() sets it to 1)
    preempt_at_install: Optional[int] = None  # net.inet.carp.preempt when `carp-pkg install` ran (its manifest)
    unicast_capable: Optional[bool] = None  # what the observed host showed (for its boot plan): see RunningState
    vrrp_capable: Optional[bool] = None  # the same for `carpver 3` (FreeBSD 15+): see RunningState


@dataclass(frozen=True)
class RunningState:
    vhids: Tuple[RunningVhid, ...] = ()
    pfsync: Optional[RunningPfsync] = None
    interfaces: Tuple[str, ...] = ()  # every interface name seen, CARP or not
    host_addresses: Tuple[Tuple[str, IPInterface], ...] = ()  # (interface, address) that are not CARP VIPs
    sysctls: CarpSysctls = field(default_factory=CarpSysctls)
    password_salt: Optional[str] = None  # salt of the secret_digest values (from carp-pkg's applied record)
    # Whether ifconfig takes `peer`/`peer6` (FreeBSD 14+): True/False when the release or the output format shows
    # it (a `peer ... peer6 ...` line under each carp: line, pfsync's `version:`), None when nothing tells.
    unicast_capable: Optional[bool] = None
    # Whether ifconfig takes `carpver 3 vrrpprio P vrrpinterval I` (FreeBSD 15+): True when the release or the output
    # shows it (a `vrrp:` line, pfsync `version: 1500`), False when the format is older than 14, None otherwise.
    vrrp_capable: Optional[bool] = None
    host: HostFacts = field(default_factory=HostFacts)

    def vhid(self, interface: str, vhid: int) -> Optional[RunningVhid]:
        for entry in self.vhids:
            if entry.interface == interface and entry.vhid == vhid:
                return entry
        return None

    def with_sysctls(self, sysctls: CarpSysctls) -> "RunningState":
        return replace(self, sysctls=sysctls)


EMPTY = RunningState()
