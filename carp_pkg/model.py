"""The validated configuration: frozen dataclasses built from raw config.xml entries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from .running import IPInterface

MAINTENANCE_ADVSKEW = 254
# sys/netinet/ip_carp.c: `#define CARP_MAXSKEW 240` and `DEMOTE_ADVSKEW(sc)` = min(sc_advskew + V_carp_demotion,
# CARP_MAXSKEW), never below 0: whatever advskew is configured (0-254), at most 240 goes on the wire.
CARP_MAXSKEW = 240
# Multicast destinations a vhid uses when no unicast peer is set (ip_carp.c INADDR_CARP_GROUP, CARP6 ff02::12):
# FreeBSD 14+ `ifconfig` prints them on the `peer ... peer6 ...` line of every vhid.
CARP_DEFAULT_PEER = "224.0.0.18"
CARP_DEFAULT_PEER6 = "ff02::12"
# VRRPv3 (RFC 5798; FreeBSD 15 `carpver 3`, keepalived `version 3`): a higher priority wins, 255 is the address owner
# (carp-pkg never claims it), the advertisement interval counts centiseconds (12 bits). No authentication.
CARP = "carp"
VRRP = "vrrp"
PROTOCOLS = (CARP, VRRP)
VRRP_DEFAULT_PRIO = 100
VRRP_DEFAULT_INTERVAL = 100  # centiseconds: 1 s
MAINTENANCE_VRRPPRIO = 1  # the lowest priority a backup can have: every healthy peer (2-254) is preferred


def vrrp_master_down(interval_cs: int, prio: int) -> float:
    """RFC 5798 Master_Down_Interval in seconds: 3 x interval + Skew_Time, Skew_Time = (256 - prio) x interval / 256."""
    return (3 * interval_cs + (256 - prio) * interval_cs / 256) / 100


def advertised_skew(advskew: int, demotion: int = 0) -> int:
    """The skew a vhid puts on the wire (ip_carp.c DEMOTE_ADVSKEW): 241-254 all advertise 240."""
    return max(0, min(advskew + demotion, CARP_MAXSKEW))


@dataclass(frozen=True)
class VirtualIP:
    address: IPInterface  # the VIP with its prefix, e.g. 192.168.1.1/24
    interface: str  # real interface name (em0, vtnet1, eth0)
    vhid: int
    advbase: int = 1
    advskew: int = 0
    password: str = ""
    preempt: bool = False
    balancing: bool = False
    friendly_interface: str = ""  # the config.xml name (wan, lan, opt1) where known
    peer: Optional[str] = None  # FreeBSD 14+ unicast CARP peer (IPv4), None = multicast 224.0.0.18
    peer6: Optional[str] = None  # FreeBSD 14+ unicast CARP peer (IPv6), None = multicast ff02::12
    protocol: str = CARP  # carp (advskew/advbase/password) or vrrp (VRRPv3: vrrpprio/vrrpinterval, no password)
    vrrpprio: int = VRRP_DEFAULT_PRIO  # VRRPv3 priority 1-254, higher wins
    vrrpinterval: int = VRRP_DEFAULT_INTERVAL  # VRRPv3 advertisement interval, centiseconds 1-4095

    @property
    def family(self) -> str:
        return "inet6" if self.address.version == 6 else "inet"


@dataclass(frozen=True)
class VhidGroup:
    """Every VIP that shares one (interface, vhid): one CARP instance with its addresses."""

    interface: str
    vhid: int
    advbase: int
    advskew: int
    password: str
    addresses: Tuple[IPInterface, ...]
    friendly_interface: str = ""
    peer: Optional[str] = None
    peer6: Optional[str] = None
    protocol: str = CARP
    vrrpprio: int = VRRP_DEFAULT_PRIO
    vrrpinterval: int = VRRP_DEFAULT_INTERVAL

    @property
    def unicast(self) -> bool:
        return self.peer is not None or self.peer6 is not None

    @property
    def vrrp(self) -> bool:
        return self.protocol == VRRP


@dataclass(frozen=True)
class PfsyncSettings:
    syncdev: str  # real interface
    friendly_interface: str = ""
    syncpeer: Optional[str] = None  # unicast pfsync peer (IPv4); None = multicast 224.0.0.240
    defer: bool = False  # hold a new state's first packet until the peer acknowledges it (pfsync(4) defer)


@dataclass(frozen=True)
class CarpConfig:
    vips: Tuple[VirtualIP, ...] = ()
    pfsync: Optional[PfsyncSettings] = None
    host_addresses: Tuple[Tuple[str, IPInterface], ...] = ()  # (device, own address) from <interfaces>
    warnings: Tuple["Problem", ...] = ()  # what validation accepted but the user should know (never a failure)

    @property
    def preempt(self) -> bool:
        return any(v.preempt for v in self.vips)

    @property
    def balancing(self) -> bool:
        return any(v.balancing for v in self.vips)

    def groups(self) -> Tuple[VhidGroup, ...]:
        """VhidGroups in the order their first VIP appears in config.xml."""
        order: list = []
        members: dict = {}
        seen: dict = {}  # a set per group: membership in the list would be quadratic in its addresses
        for vip in self.vips:
            key = (vip.interface, vip.vhid)
            if key not in members:
                order.append(key)
                members[key] = []
                seen[key] = set()
            if vip.address not in seen[key]:
                seen[key].add(vip.address)
                members[key].append(vip.address)
        first = {}
        for vip in self.vips:
            first.setdefault((vip.interface, vip.vhid), vip)
        return tuple(
            VhidGroup(
                interface=key[0],
                vhid=key[1],
                advbase=first[key].advbase,
                advskew=first[key].advskew,
                password=first[key].password,
                addresses=tuple(members[key]),
                friendly_interface=first[key].friendly_interface,
                peer=first[key].peer,
                peer6=first[key].peer6,
                protocol=first[key].protocol,
                vrrpprio=first[key].vrrpprio,
                vrrpinterval=first[key].vrrpinterval,
            )
            for key in order
        )

    def where(self, interface: str, vhid: int) -> str:
        """`config[N]` of the first entry of a vhid, for messages located like validation's."""
        for index, vip in enumerate(self.vips):
            if (vip.interface, vip.vhid) == (interface, vhid):
                return f"config[{index}]"
        return "config"

    def in_maintenance(self) -> "CarpConfig":
        """Every vhid at the highest advskew (a VRRP vhid at the lowest priority), so a healthy peer takes over
        (persistent maintenance mode)."""
        return replace(self, vips=tuple(
            replace(v, advskew=MAINTENANCE_ADVSKEW, vrrpprio=MAINTENANCE_VRRPPRIO if v.protocol == VRRP else v.vrrpprio)
            for v in self.vips))


@dataclass(frozen=True)
class Problem:
    """One validation finding, located like `config[2].vhid`: an error (the config is refused) or, in
    Validation.warnings and CarpConfig.warnings, a warning (accepted, but worth knowing)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_json(self) -> dict:
        return {"where": self.where, "message": self.message}


@dataclass(frozen=True)
class Validation:
    """What validation found: the config (None when there is any problem), the problems that refuse it, and
    the warnings that do not."""

    config: Optional[CarpConfig]
    problems: Tuple[Problem, ...] = ()
    warnings: Tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
