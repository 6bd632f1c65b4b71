"""Hypothesis strategies for installedpackages/carp entries: anything at all, and valid configs for the
FreeBSD stand-in's interfaces (em0 198.51.100.2/24 + 2001:db8:100::/64, em1 10.0.0.2/24, em2 172.16.0.1/30)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import List, Optional, Tuple

from hypothesis import strategies as st
from lxml import etree

from carp_pkg.configxml import RawConfig, RawEntry, parse_config_bytes
from carp_pkg.validate import PASSWORD_MAX_BYTES

INTERFACES_XML = (
    "<interfaces>"
    "<wan><if>em0</if><ipaddr>198.51.100.2</ipaddr><subnet>24</subnet>"
    "<ipaddrv6>2001:db8:100::2</ipaddrv6><subnetv6>64</subnetv6></wan>"
    "<lan><if>em1</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan>"
    "<opt1><descr>SYNC</descr><if>em2</if><ipaddr>172.16.0.1</ipaddr><subnet>30</subnet></opt1>"
    "</interfaces>"
)
STAND_IN_INTERFACES = {"em0": ["198.51.100.2/24", "2001:db8:100::2/64"], "em1": ["10.0.0.2/24"],
                       "em2": ["172.16.0.1/30"]}
HOST_INTERFACES = parse_config_bytes(f"<pfsense>{INTERFACES_XML}</pfsense>".encode()).interfaces

# --- anything: valid, invalid and odd values for every field -----------------------------------------

numbers = st.one_of(st.integers(-5, 300).map(str), st.sampled_from(["", " 1 ", "01", "1.0", "0x1", "１", "9" * 12]))
addresses = st.one_of(
    st.ip_addresses().map(str),
    st.builds(lambda a, b: f"10.0.{a}.{b}", st.integers(0, 300), st.integers(0, 300)),
    st.sampled_from(["", "10.0.0.01", "fe80::1%em1", "::ffff:10.0.0.1", "10.0.0.1/24", "localhost", "0.0.0.0"]),
    st.text(max_size=30),
)
flags = st.sampled_from(["on", "", "off", "yes", "no", "true", "1", "0", "ON", "maybe", "2"])
names = st.one_of(st.sampled_from(["lan", "wan", "opt1", "em0", "em1", "em2", "em9", "opt9", "", "lan "]),
                  st.text(max_size=16))
passwords = st.text(max_size=25)
FIELD_VALUES = {
    "ipaddress": addresses, "netmask": numbers, "vhid": numbers, "advskew": numbers, "advbase": numbers,
    "password": passwords, "interface": names, "synciface": names,
    "pfsync": flags, "balancing": flags, "preempt": flags, "premption": flags,
}
field_names = st.one_of(st.sampled_from(sorted(FIELD_VALUES)), st.sampled_from(["advksew", "colour", "preemption"]),
                        st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))


@st.composite
def raw_entries(draw, index: int) -> RawEntry:
    fields = {}
    for name in draw(st.lists(field_names, max_size=12)):
        nested = draw(st.integers(0, 19)) == 0  # now and then a field with child elements
        fields[name] = None if nested else draw(FIELD_VALUES.get(name, st.text(max_size=20)))
    repeated = tuple(draw(st.lists(st.sampled_from(sorted(fields) or ["vhid"]), max_size=1, unique=True)))
    return RawEntry(index=index, fields=fields, repeated=repeated if fields else ())


@st.composite
def raw_configs(draw) -> RawConfig:
    count = draw(st.integers(0, 6))
    entries = tuple(draw(raw_entries(i)) for i in range(count))
    interfaces = HOST_INTERFACES if draw(st.booleans()) else ()
    return RawConfig(source="fuzz.xml", entries=entries, interfaces=interfaces)


# --- valid configs ------------------------------------------------------------------------------------

def _printable_password(text: str) -> bool:
    return text.isprintable() and len(text.encode("utf-8")) <= PASSWORD_MAX_BYTES


valid_passwords = st.text(st.characters(blacklist_categories=("Cs",)), max_size=19).filter(_printable_password)
SUBNETS = {
    "wan": [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:100::/64")],
    "lan": [ipaddress.ip_network("10.0.0.0/24")],
    "opt1": [ipaddress.ip_network("172.16.0.0/30")],
}
DEVICES = {"wan": "em0", "lan": "em1", "opt1": "em2"}
HOST_ADDRESSES = {"198.51.100.2", "2001:db8:100::2", "10.0.0.2", "172.16.0.1"}


@dataclass(frozen=True)
class Group:
    interface: str  # friendly name
    vhid: int
    advskew: int
    advbase: int
    password: str
    addresses: Tuple[str, ...]  # "address/prefix"


@dataclass(frozen=True)
class ValidConfig:
    groups: Tuple[Group, ...]
    preempt: bool
    pfsync: bool
    device_names: bool  # <interface> given as em1 instead of lan

    def entries(self) -> List[dict]:
        out = []
        for group in self.groups:
            for address in group.addresses:
                ip, prefix = address.split("/")
                entry = {"interface": DEVICES[group.interface] if self.device_names else group.interface,
                         "ipaddress": ip, "netmask": prefix, "vhid": str(group.vhid),
                         "advskew": str(group.advskew), "advbase": str(group.advbase), "password": group.password}
                if self.preempt:
                    entry["preempt"] = "on"
                if self.pfsync:
                    entry.update(pfsync="on", synciface="opt1")
                out.append(entry)
        return out

    def xml(self) -> bytes:
        root = etree.fromstring(f"<pfsense>{INTERFACES_XML}<installedpackages><carp/></installedpackages></pfsense>")
        carp = root.find("installedpackages/carp")
        for entry in self.entries():
            element = etree.SubElement(carp, "config")
            for name, value in entry.items():
                etree.SubElement(element, name).text = value
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _host(network, index: int) -> Optional[str]:
    hosts = network.num_addresses - (2 if network.version == 4 else 1)
    if hosts <= 0:
        return None
    address = network.network_address + 1 + index % hosts
    return None if str(address) in HOST_ADDRESSES else f"{address}/{network.prefixlen}"


@st.composite
def valid_configs(draw, max_groups: int = 5) -> ValidConfig:
    groups: List[Group] = []
    used_vhids = set()
    used_addresses = set()
    for _ in range(draw(st.integers(1, max_groups))):
        interface = draw(st.sampled_from(sorted(SUBNETS)))
        vhid = draw(st.integers(1, 255))
        if (interface, vhid) in used_vhids:
            continue
        chosen = []
        for _ in range(draw(st.integers(1, 3))):
            network = draw(st.sampled_from(SUBNETS[interface]))
            address = _host(network, draw(st.integers(0, 2 ** 16)))
            if address is None or address.split("/")[0] in used_addresses:
                continue
            used_addresses.add(address.split("/")[0])
            chosen.append(address)
        if not chosen:
            continue
        used_vhids.add((interface, vhid))
        groups.append(Group(interface, vhid, draw(st.integers(0, 254)), draw(st.integers(1, 255)),
                            draw(valid_passwords), tuple(chosen)))
    if not groups:
        groups.append(Group("lan", 1, 0, 1, "fallback", ("10.0.0.1/24",)))
    return ValidConfig(tuple(groups), draw(st.booleans()), draw(st.booleans()), draw(st.booleans()))
