"""Read pfSense's config.xml safely: refuse DTDs and entities, then parse with a hardened lxml parser.

Returns raw strings only; model checks happen in validate.py.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from .errors import ConfigError
from .running import IPInterface

MAX_CONFIG_BYTES = 64 * 1024 * 1024
ROOT_TAGS = ("pfsense",)
CARP_PATH = ("installedpackages", "carp")


@dataclass(frozen=True)
class HostInterface:
    """One `<interfaces><NAME>` entry: friendly name, real device, and its own addresses."""

    name: str
    device: str
    description: str = ""
    addresses: Tuple[IPInterface, ...] = ()


@dataclass(frozen=True)
class RawEntry:
    """One `<config>` under installedpackages/carp, fields as text (None: the field has child elements)."""

    index: int
    fields: Dict[str, Optional[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RawConfig:
    source: str
    entries: Tuple[RawEntry, ...] = ()
    interfaces: Tuple[HostInterface, ...] = ()

    def interface_named(self, name: str) -> Optional[HostInterface]:
        for host_if in self.interfaces:
            if host_if.name == name:
                return host_if
        return None

    def interface_with_device(self, device: str) -> Optional[HostInterface]:
        for host_if in self.interfaces:
            if host_if.device == device:
                return host_if
        return None


class _StopAtRoot(Exception):
    pass


class _PrologTarget:
    """An ElementTree target that stops the parse at the root element: only the prolog is checked."""

    def start(self, tag, attrib):
        raise _StopAtRoot()

    def end(self, tag):
        pass

    def data(self, data):
        pass

    def close(self):
        return None


def refuse_dtd_and_entities(data: bytes, source: str) -> None:
    """DTDs can only appear before the root element, so checking the prolog is enough."""
    parser = defusedxml.ElementTree.DefusedXMLParser(
        target=_PrologTarget(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        for start in range(0, len(data), 65536):
            parser.feed(data[start:start + 65536])
        parser.close()
    except _StopAtRoot:
        return
    except defusedxml.DTDForbidden as exc:
        raise ConfigError(f"{source}: refusing the DTD <!DOCTYPE {exc.name} ...>: DTDs and entity declarations "
                          "are how XXE and entity-expansion attacks start, and config.xml never needs one") from None
    except defusedxml.EntitiesForbidden as exc:
        raise ConfigError(f"{source}: refusing the entity declaration {exc.name!r} (XXE / entity expansion)") from None
    except defusedxml.DefusedXmlException as exc:
        raise ConfigError(f"{source}: refusing unsafe XML: {exc}") from None
    except ParseError as exc:
        raise ConfigError(f"{source}: not well-formed XML: {exc}") from None


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def parse_document(data: bytes, source: str) -> etree._Element:
    if not data.strip():
        raise ConfigError(f"{source}: the file is empty")
    refuse_dtd_and_entities(data, source)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{source}: not well-formed XML: {exc}") from None
    if root.tag not in ROOT_TAGS:
        raise ConfigError(f"{source}: the root element is <{root.tag}>, expected <pfsense>: is this a pfSense config.xml?")
    return root


def _text(element) -> str:
    return (element.text or "").strip()


def _host_addresses(element) -> Tuple[IPInterface, ...]:
    found = []
    for addr_tag, prefix_tag in (("ipaddr", "subnet"), ("ipaddrv6", "subnetv6")):
        address, prefix = element.findtext(addr_tag), element.findtext(prefix_tag)
        if not address or not prefix:
            continue
        try:
            found.append(ipaddress.ip_interface(f"{address.strip()}/{prefix.strip()}"))
        except ValueError:
            continue  # dhcp, track6 and friends: no static address to match VIPs against
    return tuple(found)


def read_interfaces(root) -> Tuple[HostInterface, ...]:
    section = root.find("interfaces")
    if section is None:
        return ()
    interfaces = []
    for element in section:
        if not isinstance(element.tag, str):
            continue
        device = element.findtext("if")
        if not device or not device.strip():
            continue
        interfaces.append(HostInterface(
            name=element.tag,
            device=device.strip(),
            description=(element.findtext("descr") or "").strip(),
            addresses=_host_addresses(element),
        ))
    return tuple(interfaces)


def read_entries(root) -> Tuple[RawEntry, ...]:
    carp = root.find("/".join(CARP_PATH))
    if carp is None:
        return ()
    entries = []
    for index, element in enumerate(carp.findall("config")):
        fields: Dict[str, Optional[str]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if len(child):
                fields[child.tag] = None
            elif child.tag == "password":
                fields[child.tag] = child.text or ""
            else:
                fields[child.tag] = _text(child)
        entries.append(RawEntry(index=index, fields=fields))
    return tuple(entries)


def parse_config_bytes(data: bytes, source: str = "config.xml") -> RawConfig:
    root = parse_document(data, source)
    return RawConfig(source=source, entries=read_entries(root), interfaces=read_interfaces(root))


def read_config_xml(path: str, max_bytes: int = MAX_CONFIG_BYTES) -> RawConfig:
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise ConfigError(f"{path}: {size / 1048576:.0f} MiB is larger than the {max_bytes // 1048576} MiB "
                              "a config.xml may be; refusing to parse it")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (give the pfSense config with --config FILE)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config.xml") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied (run as root, or copy the file)") from None
    return parse_config_bytes(data, path)
