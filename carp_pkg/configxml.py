"""Read pfSense's config.xml safely: refuse DTDs and entities, then stream it through a hardened lxml
parser that keeps only `<interfaces>` and installedpackages/carp (memory follows what is kept, not the
file), with bounds on size, nesting, entries and fields, and bounded excerpts of hostile text in messages.

Two readers, one verdict. `_Collector` is the reference: an lxml parser target that sees every start, end
and text chunk as a Python call (about 3.6x the time lxml takes to build the whole tree). Reading goes
through `_read_pruned` first: a pull parser with the same hardened options builds the tree in C, fed 64 KiB
at a time; after each chunk what is complete in `<interfaces>` and installedpackages/carp is replayed into a
`_Collector` (so every rule and message is the reference's own) and whatever is complete is deleted (so the
tree never holds much more than a chunk, whatever the file). Whenever libxml2 refuses the document, or
something is unusual (no `<pfsense>` root early, not ASCII-compatible, many comments), the reference reads it
again from the start and has the last word.

Returns raw strings only; model checks happen in validate.py.
"""

from __future__ import annotations

import codecs
import errno
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from .errors import ConfigError, InputError
from .fs import read_bounded

if TYPE_CHECKING:
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


HARDENED_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    recover=False,
)


def hardened_parser(target=None) -> etree.XMLParser:
    return etree.XMLParser(target=target, **HARDENED_OPTIONS)


def _xml_error(source: str, exc: Exception) -> ConfigError:
    text = str(exc)
    if "Excessive depth" in text:
        return ConfigError(f"{source}: elements are nested more than {MAX_DEPTH} levels deep; a pfSense config.xml "
                           "never is (refusing to parse it)")
    return ConfigError(f"{source}: not well-formed XML: {shorten(text, 200)}")


def parse_document(data: bytes, source: str, keep_comments: bool = False) -> etree._Element:
    """The whole document as a tree (for callers that rewrite config.xml; reading uses parse_config_bytes).
    keep_comments: keep comments and processing instructions, so a rewrite changes only what it means to."""
    if not data.strip():
        raise ConfigError(f"{source}: the file is empty")
    refuse_dtd_and_entities(data, source)
    options = {**HARDENED_OPTIONS, "remove_comments": not keep_comments, "remove_pis": not keep_comments}
    try:
        root = etree.fromstring(data, etree.XMLParser(**options))
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


_INTERFACES_PATH = ["interfaces"]
_CARP_PATH = list(CARP_PATH)


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
        return self.path[1:2] == _INTERFACES_PATH and self.section_count["interfaces"] == 1

    def _in_carp(self) -> bool:
        return self.path[1:3] == _CARP_PATH and self.section_count["carp"] == 1

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

    def text_fields(self, fields: List[Tuple[str, Optional[str]]]) -> None:
        """Complete fields of the open carp entry that hold text only, as (name, text): exactly what start,
        data and end would do for each of them, in one call (the pruned reader's usual case)."""
        for name, text in fields:
            self._start_entry_field(name)
            if self.field is not None:
                if text:
                    self.field.chunks.append(text)
                self.entry_fields[name] = _field_value(self.field)
                self.field = None

    def close(self) -> RawConfig:
        return RawConfig(source=self.source, entries=tuple(self.entries), interfaces=tuple(self.interfaces))


_INTERFACE_FIELDS = frozenset({"if", "descr", "ipaddr", "subnet", "ipaddrv6", "subnetv6"})


def _field_value(field: _Field) -> Optional[str]:
    if field.nested:
        return None
    text = "".join(field.chunks)
    return text if field.tag == "password" else text.strip()


CHUNK_BYTES = 64 * 1024  # fed to the pull parser at a time: the tree never holds much more than this
PROLOGUE_CHUNK_BYTES = 4096  # fed at a time until the root shows up
ROOT_WITHIN_BYTES = 64 * 1024  # no root element by then: left to the reference (a real prologue is one line)
MAX_OUTSIDE_COMMENTS = 1024  # comments before or after the root element: nothing can delete them from the tree
MAX_COMMENTS = 100_000  # comments anywhere: each is a parse event; past that the reference is faster (it has none)
# lxml hands out the tree it is building only through parse events. Element events call into Python for
# every element (that alone costs a third of the parse), comment events only for comments: an empty comment
# put between the XML declaration and the root is the one event needed, as a handle on the document.
# Comments stay in the tree for that; to the collector they are neither elements nor text (they never
# reach a parser target), and the replay treats them so.
_HANDLE = b"<!---->"
_PRUNED_OPTIONS = dict(HARDENED_OPTIONS, remove_comments=False)
_PARSE_ERRORS = (etree.LxmlError, LookupError, UnicodeError, ValueError)
_NO_ATTRIBUTES: Dict[str, str] = {}  # the collector never reads attributes (they are not fields)
_SKIP, _SHALLOW, _SECTION, _FIELD = range(4)
_TOP_SECTIONS = ("interfaces", "installedpackages")


class _Open:
    """An element replayed into the collector: its start sent, its end not yet."""

    __slots__ = ("elem", "tag", "kind", "wanted", "text_sent", "nested")

    def __init__(self, elem: etree._Element, tag: str, kind: int, wanted: Tuple[str, ...] = ()):
        self.elem = elem
        self.tag = tag
        self.kind = kind
        self.wanted = wanted  # only children with these tags can matter: the others are passed over in C
        self.text_sent = False
        self.nested = False  # a carp field with an element in it: nothing more in it counts


def _prune_below(elem: etree._Element) -> None:
    """Delete whatever is complete under elem: all but the last child, down the chain of last children.

    The last child at each level may still be open (libxml2 is appending to it), so it stays: deleting
    the earlier siblings of what is being built is the pattern lxml documents for iterparse."""
    while True:
        count = len(elem)
        if not count:
            return
        if count > 1:
            del elem[:-1]
        elem = elem[-1]


class _Replay:
    """Sends what is complete in the interesting parts of a tree still being parsed to a _Collector, in
    document order, then deletes whatever is complete.

    The collector sees what it would see from a plain parse, except what cannot change what it returns
    or raises: the other top-level sections and packages (never replayed), the elements in an interface
    field (only the text around them counts), what follows the start of the first element in a carp field
    (that start makes the field "not text"; nothing after it counts), text outside fields, and attributes.
    An element is complete when it has a next sibling or its parent is complete; the last child of an
    open element may still be growing, so it is replayed (and kept) only as far as it is complete.
    """

    def __init__(self, collector: _Collector, root: etree._Element):
        self.collector = collector
        collector.start(root.tag, _NO_ATTRIBUTES)
        self.chain = [_Open(root, root.tag, _SECTION, _TOP_SECTIONS)]  # started, not yet ended

    def _kind(self, depth: int, tag) -> int:
        if not isinstance(tag, str):  # a comment
            return _SKIP
        if depth == 1:
            return _SECTION if tag in _TOP_SECTIONS else _SKIP
        if self.chain[1].tag == "interfaces":
            if depth == 2:
                return _SECTION  # one interface
            return _FIELD if depth == 3 and tag in _INTERFACE_FIELDS else _SKIP
        if depth == 2:
            return _SECTION if tag == "carp" else _SKIP
        return (_SECTION, _FIELD, _SHALLOW)[depth - 3] if depth <= 5 else _SKIP  # config, field, in a field

    def advance(self, depth: int = 0, final: bool = False) -> None:
        """Replay what is complete of chain[depth] (all of it, and its end, when final), then prune it."""
        node = self.chain[depth]
        elem, collector = node.elem, self.collector
        if node.kind == _SHALLOW:
            if final:
                self.chain.pop()
                collector.end(node.tag)
            else:
                _prune_below(elem)
            return
        field = node.kind == _FIELD
        if field and not node.text_sent and (final or len(elem)):
            node.text_sent = True  # the text before the first child is complete once there is a child
            if elem.text:
                collector.data(elem.text)
        below = self.chain[depth + 1].elem if len(self.chain) > depth + 1 else None
        if node.nested:
            children = [below] if below is not None else []
        else:
            children = list(elem.iterchildren(*node.wanted) if node.wanted else elem)
        entry = depth == 3 and self.chain[1].tag == "installedpackages"  # a carp entry: children are fields
        text_fields: List[Tuple[str, Optional[str]]] = []  # replayed together, as they come
        last = len(children) - 1
        for index, child in enumerate(children):
            complete = final or index < last or child.getnext() is not None
            if entry and complete and child is not below and not len(child):
                tag = child.tag
                if isinstance(tag, str):  # not a comment
                    text_fields.append((tag, child.text))
                continue
            if text_fields:
                collector.text_fields(text_fields)
                text_fields = []
            if child is below:  # started in an earlier chunk
                self.advance(depth + 1, complete)
            elif node.nested:
                continue
            else:
                tag = child.tag
                kind = self._kind(depth + 1, tag)
                if kind == _SKIP:
                    pass
                elif complete and not len(child):  # a whole leaf: nothing to track
                    collector.start(tag, _NO_ATTRIBUTES)
                    if kind == _FIELD and child.text:
                        collector.data(child.text)
                    collector.end(tag)
                else:
                    collector.start(tag, _NO_ATTRIBUTES)
                    wanted = ("carp",) if depth == 0 and tag == "installedpackages" else ()
                    self.chain.append(_Open(child, tag, kind, wanted))
                    self.advance(depth + 1, complete)
                if kind == _SHALLOW:
                    node.nested = True  # its start made the field "not text"
            if complete and field and not node.nested and child.tail:
                collector.data(child.tail)
        if text_fields:
            collector.text_fields(text_fields)
        if final:
            self.chain.pop()
            collector.end(node.tag)
            return
        count = len(elem)
        if count > 1:
            del elem[:-1]
        if count:
            last_child = elem[-1]
            if len(self.chain) <= depth + 1 or self.chain[depth + 1].elem is not last_child:
                _prune_below(last_child)


def _handle_offset(data: bytes) -> Optional[int]:
    """Where the handle comment can go: after the XML declaration (and a UTF-8 byte order mark), or at the
    start. None: not an ASCII-compatible document (UTF-16, EBCDIC...), left to the reference reader."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if data.startswith(b"<?xml", start) and data[start + 5:start + 6].isspace():
        end = data.find(b"?>", start)
        return None if end < 0 else end + 2
    first = data[start:start + 1]
    return start if first == b"<" or first.isspace() else None


def _read_pruned(data: bytes, source: str, chunk_bytes: int = CHUNK_BYTES) -> Optional[RawConfig]:
    """The RawConfig of a well-formed document with a <pfsense> root; None: the reference must decide.

    Semantic errors (a section twice, a stray element in carp, a cap) are the collector's, raised at the
    first one in document order: everything replayed was parsed without error, and a libxml2 error in
    what follows cannot come first. libxml2 errors are left to the reference, which reads the document
    again from the start and reports the first problem, whichever kind it is; so is its 10 MB limit on
    one text node (tree building only: the reference has none)."""
    at = _handle_offset(data) if isinstance(data, bytes) else None
    if at is None:
        return None
    parser = etree.XMLPullParser(events=("comment",), **_PRUNED_OPTIONS)
    collector = _Collector(source)
    replay: Optional[_Replay] = None
    cursor = root = None  # the last node at document level looked at: the handle, the root, a comment after it
    outside = comments = 0
    try:
        parser.feed(data[:at] + _HANDLE)
    except _PARSE_ERRORS:
        return None
    offset, ended = at, False
    while not ended:
        step = chunk_bytes if root is not None else min(chunk_bytes, PROLOGUE_CHUNK_BYTES)
        try:
            if offset < len(data):
                parser.feed(data[offset:offset + step])
                offset += step
            else:
                parser.close()
                ended = True
        except _PARSE_ERRORS:
            return None
        events = parser.read_events()
        if cursor is None:
            cursor = next(events, (None, None))[1]  # the handle
        comments += sum(1 for _ in events)  # the document's own comments: nothing to do with them but count
        if comments > MAX_COMMENTS:
            return None
        if cursor is None:  # the handle is not parsed yet
            if ended or offset - at >= ROOT_WITHIN_BYTES:
                return None
            continue
        following = cursor.getnext()
        while following is not None and root is None and not isinstance(following.tag, str):
            cursor, following, outside = following, following.getnext(), outside + 1
        if root is None:
            if following is None:
                if ended or outside > MAX_OUTSIDE_COMMENTS or offset - at >= ROOT_WITHIN_BYTES:
                    return None
                continue
            cursor = root = following
            if root.tag not in ROOT_TAGS:
                return None  # the reference names it
            replay = _Replay(collector, root)
        replay.advance(final=ended)
        following = cursor.getnext()
        while following is not None:  # comments after the root
            cursor, following, outside = following, following.getnext(), outside + 1
            if outside > MAX_OUTSIDE_COMMENTS:
                return None
    return collector.close()


def _read_streamed(data: bytes, source: str) -> RawConfig:
    """The reference reader: every start, end and text chunk goes through _Collector as it is parsed."""
    parser = hardened_parser(target=_Collector(source))
    try:
        return etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, LookupError, UnicodeError) as exc:
        raise _xml_error(source, exc) from None
    except ValueError as exc:
        raise _encoding_refused(source, exc) from None


def parse_config_bytes(data: bytes, source: str = "config.xml") -> RawConfig:
    if not data or data.isspace():  # data.strip() without copying 10 MB
        raise ConfigError(f"{source}: the file is empty")
    refuse_dtd_and_entities(data, source)
    raw = _read_pruned(data, source)
    return raw if raw is not None else _read_streamed(data, source)


CONFIG_HINTS = {errno.ENOENT: " (give the pfSense config with --config FILE)",
                errno.EACCES: " (run as root, or copy the file)"}
ARGUMENT_HINTS = {errno.EACCES: CONFIG_HINTS[errno.EACCES]}  # a file named as an argument (compare A B): no --config


def read_config_xml(path: str, max_bytes: int = MAX_CONFIG_BYTES, hints=CONFIG_HINTS) -> RawConfig:
    return parse_config_bytes(read_config_bytes(path, max_bytes, hints), path)


def read_config_bytes(path: str, max_bytes: int = MAX_CONFIG_BYTES, hints=CONFIG_HINTS) -> bytes:
    """The file's bytes, refused with a clear message when missing, unreadable, not a file or too large."""
    try:
        return read_bounded(path, max_bytes, "config.xml", hints)
    except InputError as exc:
        raise ConfigError(exc.message) from None
