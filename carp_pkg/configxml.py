"""Read pfSense's config.xml safely: refuse DTDs and entities, then stream it through a hardened lxml
parser that keeps only `<interfaces>` and installedpackages/carp (memory follows what is kept, not the
file), with bounds on size, nesting, entries and fields, and bounded excerpts of hostile text in messages.

Returns raw strings only; model checks happen in validate.py.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from .errors import ConfigError, InputError
from .fs import read_bounded
from .running import IPInterface

MAX_CONFIG_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 256  # libxml2's nesting limit without XML_PARSE_HUGE (huge_tree=False)
MAX_ENTRIES = 65536  # installedpackages/carp/config entries
MAX_FIELDS = 64  # distinct fields in one entry (carp.xml defines 11)
MAX_INTERFACES = 65536
SHOWN_CHARS = 60  # how much of a hostile name or value an error message repeats
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
    repeated: Tuple[str, ...] = ()  # field names given more than once (fields keeps the first)


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


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """A bounded excerpt of untrusted text for a message: a 10 MB value must not become a 10 MB error."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


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
        raise ConfigError(f"{source}: refusing the DTD <!DOCTYPE {shorten(str(exc.name))} ...>: DTDs and entity declarations "
                          "are how XXE and entity-expansion attacks start, and config.xml never needs one") from None
    except defusedxml.EntitiesForbidden as exc:
        raise ConfigError(f"{source}: refusing the entity declaration {shorten(repr(exc.name))} "
                          "(XXE / entity expansion)") from None
    except defusedxml.DefusedXmlException as exc:
        raise ConfigError(f"{source}: refusing unsafe XML: {shorten(str(exc), 200)}") from None
    except ParseError as exc:
        raise ConfigError(f"{source}: not well-formed XML: {shorten(str(exc), 200)}") from None
    except (LookupError, UnicodeError) as exc:  # expat: an encoding it does not know, bytes it cannot decode
        raise ConfigError(f"{source}: not well-formed XML: cannot decode it ({shorten(str(exc), 200)})") from None
    except ValueError as exc:  # expat: "multi-byte encodings are not supported" (Shift_JIS, GBK, Big5, ...)
        raise _encoding_refused(source, exc) from None


def _encoding_refused(source: str, exc: Exception) -> ConfigError:
    return ConfigError(f"{source}: cannot read this XML encoding ({shorten(str(exc), 120)}); pfSense writes "
                       "config.xml as UTF-8: convert it (iconv -t UTF-8) and fix the <?xml encoding=...?> line")


def hardened_parser(target=None) -> etree.XMLParser:
    return etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def _xml_error(source: str, exc: Exception) -> ConfigError:
    text = str(exc)
    if "Excessive depth" in text:
        return ConfigError(f"{source}: elements are nested more than {MAX_DEPTH} levels deep; a pfSense config.xml "
                           "never is (refusing to parse it)")
    return ConfigError(f"{source}: not well-formed XML: {shorten(text, 200)}")


def parse_document(data: bytes, source: str) -> etree._Element:
    """The whole document as a tree (for callers that rewrite config.xml; reading uses parse_config_bytes)."""
    if not data.strip():
        raise ConfigError(f"{source}: the file is empty")
    refuse_dtd_and_entities(data, source)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise _xml_error(source, exc) from None
    if root.tag not in ROOT_TAGS:
        raise _wrong_root(source, root.tag)
    return root


def _wrong_root(source: str, tag: str) -> ConfigError:
    return ConfigError(f"{source}: the root element is <{shorten(tag)}>, expected <pfsense>: "
                       "is this a pfSense config.xml?")


def _host_addresses(fields: Dict[str, str]) -> Tuple[IPInterface, ...]:
    found = []
    for addr_tag, prefix_tag in (("ipaddr", "subnet"), ("ipaddrv6", "subnetv6")):
        address, prefix = fields.get(addr_tag), fields.get(prefix_tag)
        if not address or not prefix:
            continue
        try:
            found.append(ipaddress.ip_interface(f"{address.strip()}/{prefix.strip()}"))
        except ValueError:
            continue  # dhcp, track6 and friends: no static address to match VIPs against
    return tuple(found)


class _Field:
    def __init__(self, tag: str):
        self.tag = tag
        self.chunks: List[str] = []
        self.nested = False


class _Collector:
    """An lxml parser target that keeps only `<interfaces>` and installedpackages/carp, never a whole tree.

    Memory stays proportional to what carp-pkg reads, not to the size of config.xml (a tree of
    60 MB of tiny elements takes about 2 GB).
    """

    def __init__(self, source: str):
        self.source = source
        self.path: List[str] = []
        self.section_count = {"interfaces": 0, "installedpackages": 0, "carp": 0}
        self.interfaces: List[HostInterface] = []
        self.interface_fields: Dict[str, str] = {}
        self.entries: List[RawEntry] = []
        self.entry_fields: Dict[str, Optional[str]] = {}
        self.repeated: List[str] = []
        self.field: Optional[_Field] = None

    # which part of the document the parser is in, from the stack of open elements
    def _in_interfaces(self) -> bool:
        return self.path[1:2] == ["interfaces"] and self.section_count["interfaces"] == 1

    def _in_carp(self) -> bool:
        return self.path[1:3] == list(CARP_PATH) and self.section_count["carp"] == 1

    def start(self, tag, attrib) -> None:
        depth = len(self.path)
        if depth == 0 and tag not in ROOT_TAGS:
            raise _wrong_root(self.source, tag)
        self.path.append(tag)
        if depth == 1 and tag in ("interfaces", "installedpackages"):
            self._count_section(tag, tag)
        elif depth == 2 and self.path[1] == "installedpackages" and tag == "carp":
            self._count_section("carp", "/".join(CARP_PATH))
        elif depth == 2 and self._in_interfaces():
            if len(self.interfaces) >= MAX_INTERFACES:
                raise ConfigError(f"{self.source}: more than {MAX_INTERFACES} interfaces in <interfaces>; refusing it")
            self.interface_fields = {}
        elif depth == 3 and self._in_interfaces() and tag in _INTERFACE_FIELDS:
            self.field = _Field(tag) if tag not in self.interface_fields else None
        elif depth == 3 and self._in_carp():
            if tag != "config":
                raise ConfigError(f"{self.source}: installedpackages/carp holds <{shorten(tag)}>, but only <config> "
                                  "entries belong there (a misspelt entry would silently be skipped)")
            if len(self.entries) >= MAX_ENTRIES:
                raise ConfigError(f"{self.source}: more than {MAX_ENTRIES} entries in installedpackages/carp; "
                                  "refusing it")
            self.entry_fields, self.repeated = {}, []
        elif depth == 4 and self._in_carp() and self.path[3] == "config":
            self._start_entry_field(tag)
        elif depth > 4 and self.field is not None and self._in_carp():
            self.field.nested = True

    def _count_section(self, key: str, name: str) -> None:
        self.section_count[key] += 1
        if self.section_count[key] > 1:
            raise ConfigError(f"{self.source}: <{name}> appears twice; pfSense writes it once, "
                              "so which one counts is ambiguous (merge them)")

    def _start_entry_field(self, tag: str) -> None:
        if tag in self.entry_fields:
            if tag not in self.repeated:
                self.repeated.append(tag)
            self.field = None
            return
        if len(self.entry_fields) >= MAX_FIELDS:
            raise ConfigError(f"{self.source}: installedpackages/carp/config[{len(self.entries)}] has more than "
                              f"{MAX_FIELDS} fields; refusing it")
        self.field = _Field(tag)

    def data(self, text) -> None:
        if self.field is not None and len(self.path) == (4 if self._in_interfaces() else 5):
            self.field.chunks.append(text)

    def end(self, tag) -> None:
        depth = len(self.path)
        if depth == 4 and self.field is not None and self._in_interfaces():
            self.interface_fields[self.field.tag] = "".join(self.field.chunks).strip()
            self.field = None
        elif depth == 3 and self._in_interfaces():
            device = self.interface_fields.get("if", "")
            if device:
                self.interfaces.append(HostInterface(
                    name=tag, device=device, description=self.interface_fields.get("descr", ""),
                    addresses=_host_addresses(self.interface_fields)))
        elif depth == 5 and self.field is not None and self._in_carp():
            self.entry_fields[self.field.tag] = _field_value(self.field)
            self.field = None
        elif depth == 4 and self._in_carp() and tag == "config":
            self.entries.append(RawEntry(index=len(self.entries), fields=self.entry_fields,
                                         repeated=tuple(self.repeated)))
        self.path.pop()

    def close(self) -> RawConfig:
        return RawConfig(source=self.source, entries=tuple(self.entries), interfaces=tuple(self.interfaces))


_INTERFACE_FIELDS = frozenset({"if", "descr", "ipaddr", "subnet", "ipaddrv6", "subnetv6"})


def _field_value(field: _Field) -> Optional[str]:
    if field.nested:
        return None
    text = "".join(field.chunks)
    return text if field.tag == "password" else text.strip()


def parse_config_bytes(data: bytes, source: str = "config.xml") -> RawConfig:
    if not data.strip():
        raise ConfigError(f"{source}: the file is empty")
    refuse_dtd_and_entities(data, source)
    parser = hardened_parser(target=_Collector(source))
    try:
        return etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, LookupError, UnicodeError) as exc:
        raise _xml_error(source, exc) from None
    except ValueError as exc:
        raise _encoding_refused(source, exc) from None


def read_config_xml(path: str, max_bytes: int = MAX_CONFIG_BYTES) -> RawConfig:
    return parse_config_bytes(read_config_bytes(path, max_bytes), path)


CONFIG_HINTS = {errno.ENOENT: " (give the pfSense config with --config FILE)",
                errno.EACCES: " (run as root, or copy the file)"}


def read_config_bytes(path: str, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
    """The file's bytes, refused with a clear message when missing, unreadable, not a file or too large."""
    try:
        return read_bounded(path, max_bytes, "config.xml", CONFIG_HINTS)
    except InputError as exc:
        raise ConfigError(exc.message) from None
