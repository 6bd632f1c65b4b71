"""The validated configuration: frozen dataclasses built from raw config.xml entries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

from .running import IPInterface

MAINTENANCE_ADVSKEW = 254


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


@dataclass(frozen=True)
class PfsyncSettings:
    syncdev: str  # real interface
    friendly_interface: str = ""


@dataclass(frozen=True)
class CarpConfig:
    vips: Tuple[VirtualIP, ...] = ()
    pfsync: Optional[PfsyncSettings] = None
    host_addresses: Tuple[Tuple[str, IPInterface], ...] = ()  # (device, own address) from <interfaces>

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
            )
            for key in order
        )

    def in_maintenance(self) -> "CarpConfig":
        """Every vhid at the highest advskew, so a healthy peer takes over (persistent maintenance mode)."""
        return replace(self, vips=tuple(replace(v, advskew=MAINTENANCE_ADVSKEW) for v in self.vips))


@dataclass(frozen=True)
class Problem:
    """One validation finding, located like `config[2].vhid`."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_json(self) -> dict:
        return {"where": self.where, "message": self.message}
