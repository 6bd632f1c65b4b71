"""Each lab host's config.xml, derived from the bundled example: its first VIP ucarp can serve, on eth0."""

from __future__ import annotations

import copy
import ipaddress
import os
from typing import Optional, Tuple

from lxml import etree

from ..configxml import parse_document
from ..errors import ConfigError
from .layout import LINK

CARP_ENTRIES = "installedpackages/carp/config"
DROPPED_FIELDS = ("pfsync", "synciface", "balancing", "premption", "preemption", "preempt", "interface")
VRRP_DROPPED = ("password", "advskew", "advbase", "peer", "peer6", "protocol", "vrrpprio", "vrrpinterval")


def default_example() -> str:
    """examples/config.xml of the source tree this package runs from."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "config.xml")


def _entry_vip(entry) -> Optional[ipaddress.IPv4Interface]:
    try:
        vip = ipaddress.ip_interface(f"{(entry.findtext('ipaddress') or '').strip()}/"
                                     f"{(entry.findtext('netmask') or '24').strip()}")
    except ValueError:
        return None
    return vip if vip.version == 4 else None


def pick_entry(root, need_password: bool = True) -> Tuple[int, ipaddress.IPv4Interface]:
    """The first entry the lab can serve: IPv4, with a password for ucarp (keepalived's VRRPv3 takes none)."""
    for index, entry in enumerate(root.findall(CARP_ENTRIES)):
        vip = _entry_vip(entry)
        if vip is not None and (not need_password or (entry.findtext("password") or "").strip()):
            return index, vip
    raise ConfigError("the example has no IPv4 CARP entry with a password, which the lab needs for ucarp")


def read_example(path: str):
    with open(path, "rb") as handle:
        return parse_document(handle.read(), path)


def example_vip(path: str) -> str:
    return str(pick_entry(read_example(path))[1])


def _set(parent, tag: str, text: str) -> None:
    element = parent.find(tag)
    if element is None:
        element = etree.SubElement(parent, tag)
    element.text = text


def host_config_xml(example_path: str, host: str, address: str, advskew: int, preempt: bool = True,
                    password: Optional[str] = None, vrrp: Optional[Tuple[int, int]] = None,
                    peer: Optional[str] = None) -> bytes:
    """The example with one `lan` interface (eth0 at `address`) and only the chosen VIP, at `advskew`; with
    vrrp=(vrrpprio, vrrpinterval), the same VIP as a VRRPv3 entry (keepalived: no password), with a unicast peer."""
    root = read_example(example_path)
    index, _ = pick_entry(root, need_password=vrrp is None)
    entries = root.findall(CARP_ENTRIES)
    chosen = copy.deepcopy(entries[index])
    carp = entries[0].getparent()
    for entry in entries:
        carp.remove(entry)
    for tag in DROPPED_FIELDS:
        for element in chosen.findall(tag):
            chosen.remove(element)
    _set(chosen, "interface", "lan")
    if vrrp is not None:
        for tag in VRRP_DROPPED:
            for element in chosen.findall(tag):
                chosen.remove(element)
        _set(chosen, "protocol", "vrrp")
        _set(chosen, "vrrpprio", str(vrrp[0]))
        _set(chosen, "vrrpinterval", str(vrrp[1]))
        if peer is not None:
            _set(chosen, "peer", peer)
    else:
        _set(chosen, "advskew", str(advskew))
    if preempt:
        _set(chosen, "preempt", "on")
    if password is not None:
        _set(chosen, "password", password)
    carp.append(chosen)

    interfaces = root.find("interfaces")
    if interfaces is None:
        interfaces = etree.SubElement(root, "interfaces")
    for child in list(interfaces):
        interfaces.remove(child)
    lan = etree.SubElement(interfaces, "lan")
    own = ipaddress.ip_interface(address)
    for tag, text in (("descr", "LAB"), ("if", LINK), ("ipaddr", str(own.ip)), ("subnet", str(own.network.prefixlen))):
        etree.SubElement(lan, tag).text = text
    system = root.find("system")
    if system is not None:
        _set(system, "hostname", f"lab-{host}")
    etree.indent(root, space="\t")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n"
