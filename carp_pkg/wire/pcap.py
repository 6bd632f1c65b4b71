"""Read IP packets out of pcap and pcapng captures, from a file or a pipe.

Classic pcap (both byte orders, microsecond magic a1b2c3d4 and nanosecond
magic a1b23c4d) and pcapng (section header, interface description, enhanced,
simple and obsolete packet blocks; several sections and interfaces; the
if_tsresol and if_tsoffset options). Link types: EN10MB (with 802.1Q /
802.1ad tags), RAW, IPV4, IPV6, NULL and LOOP (BSD loopback and
carp/pflog-style captures), LINUX_SLL and LINUX_SLL2 (``tcpdump -i any``).
Frames of other kinds (ARP, other link types) are skipped and counted.

Only sequential reads are used, so ``tcpdump -w -`` piped into stdin works.
A file cut short in the middle of a record (a capture killed mid-write) ends
the iteration cleanly and sets ``truncated``. Anything else that does not add
up raises PcapError (an InputError: exit code 3) with one line saying where
and what; no other exception escapes, and every read is bounded (MAX_RECORD,
MAX_BLOCK, MAX_INTERFACES), so no input can exhaust memory.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator, List, NamedTuple, Optional, Set, Tuple

from ..errors import InputError

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_VERSION_MAJOR = 2
PCAPNG_SECTION_HEADER = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_VERSION_MAJOR = 1

BLOCK_INTERFACE = 1
BLOCK_OBSOLETE_PACKET = 2  # "Packet Block", written by old Wireshark versions
BLOCK_SIMPLE_PACKET = 3
BLOCK_ENHANCED_PACKET = 6
BLOCK_NAMES = {
    PCAPNG_SECTION_HEADER: "section header",
    BLOCK_INTERFACE: "interface description block",
    BLOCK_OBSOLETE_PACKET: "obsolete packet block",
    BLOCK_SIMPLE_PACKET: "simple packet block",
    BLOCK_ENHANCED_PACKET: "enhanced packet block",
}

OPTION_END = 0
OPTION_IF_TSRESOL = 9
OPTION_IF_TSOFFSET = 14
OPTION_NAMES = {OPTION_IF_TSRESOL: "if_tsresol", OPTION_IF_TSOFFSET: "if_tsoffset"}

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_DLT_RAW_12 = 12  # DLT_RAW as some old writers stored it
LINKTYPE_DLT_RAW_14 = 14  # DLT_RAW on OpenBSD
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
_VLAN_ETHERTYPES = (0x8100, 0x88A8, 0x9100)
# BSD address-family values for IPv6 differ by system (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS; 10 Linux).
_AF_INET = 2
_AF_INET6 = (10, 24, 28, 30)

# A record larger than this is corruption, not a packet (libpcap's own ceiling is 256 KiB).
MAX_RECORD = 256 * 1024
MAX_BLOCK = 16 * 1024 * 1024
# Interfaces one pcapng section may declare; real captures have a handful, each costs memory until the section ends.
MAX_INTERFACES = 4096
# Finer if_tsresol steps cannot be counted in a 64-bit timestamp (the limits libpcap enforces).
MAX_TSRESOL_DECIMAL = 19
MAX_TSRESOL_BINARY = 63
DEFAULT_TICKS_PER_SECOND = 1_000_000
# 9999-12-31T23:59:59Z: the last second datetime can show; a later (or pre-1970) time is corruption.
LATEST_TIMESTAMP = 253402300799


class PcapError(InputError):
    """The input is not a capture file this reader understands, or is corrupt."""


class Frame(NamedTuple):
    timestamp: Optional[float]  # seconds since the epoch; None for pcapng simple packets, which carry no time
    packet: bytes  # starting at the IPv4 / IPv6 header


class Interface(NamedTuple):
    """What a pcapng interface description block says about the packets that refer to it."""

    linktype: int
    snaplen: int  # 0: no limit
    ticks_per_second: int  # from if_tsresol
    offset_seconds: int  # if_tsoffset, added to every timestamp


def ip_payload(linktype: int, frame: bytes) -> Optional[bytes]:
    """The IP packet inside one link-layer frame, or None when it carries something else."""
    if linktype == LINKTYPE_EN10MB:
        if len(frame) < 14:
            return None
        offset = 12
        ethertype = struct.unpack_from("!H", frame, offset)[0]
        while ethertype in _VLAN_ETHERTYPES:
            offset += 4
            if len(frame) < offset + 2:
                return None
            ethertype = struct.unpack_from("!H", frame, offset)[0]
        return _by_ethertype(ethertype, frame[offset + 2 :])
    if linktype in (LINKTYPE_RAW, LINKTYPE_DLT_RAW_12, LINKTYPE_DLT_RAW_14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return _by_version(frame)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 4:
            return None
        # NULL stores the family in the capturing host's byte order, LOOP in network order: accept either.
        family = struct.unpack_from("<I", frame)[0]
        if family > 0xFFFF:
            family = struct.unpack_from(">I", frame)[0]
        if family == _AF_INET or family in _AF_INET6:
            return _by_version(frame[4:])
        return None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return _by_ethertype(struct.unpack_from("!H", frame, 14)[0], frame[16:])
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        return _by_ethertype(struct.unpack_from("!H", frame, 0)[0], frame[20:])
    return None


def _by_ethertype(ethertype: int, payload: bytes) -> Optional[bytes]:
    if ethertype == ETHERTYPE_IPV4 or ethertype == ETHERTYPE_IPV6:
        return _by_version(payload)
    return None


def _by_version(payload: bytes) -> Optional[bytes]:
    if payload and payload[0] >> 4 in (4, 6):
        return payload
    return None


class PcapReader:
    """Iterate the IP packets of a capture: ``for timestamp, packet in PcapReader(stream)``.

    After iteration, ``truncated`` tells whether the input ended inside a
    record and ``skipped`` how many frames were not IP (or of an unknown link type).
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._position = 0  # bytes read so far, to say where a problem is
        self._linktypes: Set[int] = set()
        self.truncated = False
        self.skipped = 0
        self.format = ""

    @property
    def linktypes(self) -> Tuple[int, ...]:
        return tuple(sorted(self._linktypes))

    def __iter__(self) -> Iterator[Frame]:
        head = self._read(4)
        if not head:
            raise PcapError("empty capture: no pcap header (did the capture start?)")
        if len(head) < 4:
            raise PcapError("not a pcap file: shorter than its 4-byte magic number")
        if struct.unpack("<I", head)[0] == PCAPNG_SECTION_HEADER:
            self.format = "pcapng"
            return self._pcapng()
        self.format = "pcap"
        return self._pcap(head)

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes; short only at end of input (pipes may deliver less per read)."""
        chunks = []
        remaining = size
        while remaining > 0:
            try:
                chunk = self._stream.read(remaining)
            except OSError as exc:
                raise PcapError(f"cannot read the capture at byte {self._position}: {exc.strerror or exc}") from None
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            self._position += len(chunk)
        return b"".join(chunks)

    # --- classic pcap ---

    def _pcap(self, magic_bytes: bytes) -> Iterator[Frame]:
        """Check the 24-byte file header now; the records are read lazily."""
        for order in ("<", ">"):
            magic = struct.unpack(order + "I", magic_bytes)[0]
            if magic in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
                break
        else:
            raise PcapError(f"not a pcap or pcapng file (magic number {magic_bytes.hex()})")
        rest = self._read(20)
        if len(rest) < 20:
            raise PcapError("pcap file header truncated (24 bytes expected)")
        major, minor, _zone, _sigfigs, _snaplen, linktype_field = struct.unpack(order + "HHiIII", rest)
        if major != PCAP_VERSION_MAJOR:
            raise PcapError(f"pcap version {major}.{minor} is not supported ({PCAP_VERSION_MAJOR}.x expected)")
        linktype = linktype_field & 0x0FFFFFFF  # the top bits may carry FCS information
        self._linktypes = {linktype}
        return self._pcap_records(order, linktype, 10**9 if magic == PCAP_MAGIC_NSEC else 10**6)

    def _pcap_records(self, order: str, linktype: int, fractions_per_second: int) -> Iterator[Frame]:
        record_header = struct.Struct(order + "IIII")
        while True:
            start = self._position
            header = self._read(record_header.size)
            if not header:
                return
            if len(header) < record_header.size:
                self.truncated = True
                return
            seconds, fraction, captured, _original = record_header.unpack(header)
            if captured > MAX_RECORD:
                raise PcapError(
                    f"corrupt pcap record at byte {start}: captured length {captured} exceeds {MAX_RECORD} bytes"
                )
            data = self._read(captured)
            if len(data) < captured:
                self.truncated = True
                return
            yield from self._emit(linktype, seconds + fraction / fractions_per_second, data)

    # --- pcapng ---

    def _pcapng(self) -> Iterator[Frame]:
        """Check the first section header now; the blocks are read lazily."""
        order = self._section_header(start=0, eager=True)
        return self._pcapng_blocks(order or "<")

    def _section_header(self, start: int, eager: bool = False) -> Optional[str]:
        """Read the rest of a section header block; its byte order, or None when the input ends inside it."""
        head = self._read(8)
        if len(head) == 8:
            length_bytes, magic_bytes = head[:4], head[4:]
            try:
                order = section_byte_order(magic_bytes)
                length = struct.unpack(order + "I", length_bytes)[0]
                check_block_length(length, 28)
            except PcapError as exc:
                raise PcapError(f"pcapng section header at byte {start}: {exc.message}") from None
            rest = self._read(length - 12)
            if len(rest) == length - 12:
                self._check_trailer(start, PCAPNG_SECTION_HEADER, length_bytes, rest[-4:], order)
                major, minor = struct.unpack_from(order + "HH", rest)
                if major != PCAPNG_VERSION_MAJOR:
                    raise PcapError(
                        f"pcapng section header at byte {start}: version {major}.{minor} is not supported "
                        f"({PCAPNG_VERSION_MAJOR}.x expected)"
                    )
                return order
        if eager:
            raise PcapError("pcapng section header truncated")
        return None

    def _pcapng_blocks(self, order: str) -> Iterator[Frame]:
        interfaces: List[Interface] = []  # of the current section, by interface id
        while True:
            start = self._position
            type_bytes = self._read(4)
            if not type_bytes:
                return
            if len(type_bytes) < 4:
                self.truncated = True
                return
            if struct.unpack("<I", type_bytes)[0] == PCAPNG_SECTION_HEADER:  # palindromic: same in both orders
                next_order = self._section_header(start)
                if next_order is None:
                    self.truncated = True
                    return
                order, interfaces = next_order, []
                continue
            length_bytes = self._read(4)
            if len(length_bytes) < 4:
                self.truncated = True
                return
            block_type = struct.unpack(order + "I", type_bytes)[0]
            length = struct.unpack(order + "I", length_bytes)[0]
            try:
                check_block_length(length, 12)
            except PcapError as exc:
                raise PcapError(f"pcapng {block_name(block_type)} at byte {start}: {exc.message}") from None
            rest = self._read(length - 8)
            if len(rest) < length - 8:
                self.truncated = True
                return
            self._check_trailer(start, block_type, length_bytes, rest[-4:], order)
            try:
                captured = self._pcapng_block(block_type, rest[:-4], order, interfaces)
            except PcapError as exc:
                raise PcapError(f"pcapng {block_name(block_type)} at byte {start}: {exc.message}") from None
            if captured is not None:
                yield from self._emit(*captured)

    def _pcapng_block(
        self, block_type: int, body: bytes, order: str, interfaces: List[Interface]
    ) -> Optional[Tuple[int, Optional[float], bytes]]:
        """Take in one block; (linktype, timestamp, frame) when it carries a packet."""
        if block_type == BLOCK_INTERFACE:
            if len(interfaces) >= MAX_INTERFACES:
                raise PcapError(f"more than {MAX_INTERFACES} interfaces in one section")
            interface = parse_interface(body, order)
            interfaces.append(interface)
            self._linktypes.add(interface.linktype)
            return None
        if block_type in (BLOCK_ENHANCED_PACKET, BLOCK_OBSOLETE_PACKET):
            interface_id, ticks, frame = parse_packet_block(block_type, body, order)
            interface = _declared(interfaces, interface_id)
            return interface.linktype, packet_timestamp(ticks, interface), frame
        if block_type == BLOCK_SIMPLE_PACKET:  # no timestamp, always the first interface
            if not interfaces:
                raise PcapError("comes before any interface description")
            return interfaces[0].linktype, None, parse_simple_packet(body, order, interfaces[0].snaplen)
        return None  # name resolution, statistics, custom blocks... carry no packets

    @staticmethod
    def _check_trailer(start: int, block_type: int, length_bytes: bytes, trailer: bytes, order: str) -> None:
        if trailer != length_bytes:
            leading, trailing = struct.unpack(order + "I", length_bytes)[0], struct.unpack(order + "I", trailer)[0]
            raise PcapError(
                f"pcapng {block_name(block_type)} at byte {start}: length {leading} at its start "
                f"but {trailing} at its end"
            )

    def _emit(self, linktype: int, timestamp: Optional[float], data: bytes) -> Iterator[Frame]:
        packet = ip_payload(linktype, data)
        if packet is None:
            self.skipped += 1
            return
        yield Frame(timestamp, packet)


def _declared(interfaces: List[Interface], interface_id: int) -> Interface:
    if interface_id >= len(interfaces):
        raise PcapError(f"refers to undeclared interface {interface_id} ({len(interfaces)} declared in this section)")
    return interfaces[interface_id]


# --- pcapng fields: pure functions over one block's bytes ---


def block_name(block_type: int) -> str:
    return BLOCK_NAMES.get(block_type, f"block of type {block_type:#x}")


def check_block_length(length: int, minimum: int) -> None:
    if length < minimum or length % 4 or length > MAX_BLOCK:
        raise PcapError(f"corrupt length {length} (a multiple of 4 from {minimum} to {MAX_BLOCK} expected)")


def section_byte_order(magic_bytes: bytes) -> str:
    """The struct byte order a section header's byte-order magic announces."""
    for order in ("<", ">"):
        if struct.unpack(order + "I", magic_bytes)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            return order
    raise PcapError(f"bad byte-order magic ({magic_bytes.hex()})")


def pcapng_options(data: bytes, order: str) -> Iterator[Tuple[int, bytes]]:
    """(code, value) of each option up to opt_endofopt or the end of the data."""
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise PcapError(f"option header cut short: {len(data) - offset} bytes left in the block")
        code, length = struct.unpack_from(order + "HH", data, offset)
        if code == OPTION_END:
            return
        end = offset + 4 + length
        if end > len(data):
            name = f"{OPTION_NAMES[code]} option" if code in OPTION_NAMES else f"option {code}"
            raise PcapError(f"{name} of length {length} runs past the end of the block")
        yield code, data[offset + 4 : end]
        offset = end + (-length % 4)


def ticks_per_second(tsresol: bytes) -> int:
    """The if_tsresol option: a negative power of 10, or of 2 when the top bit is set."""
    if len(tsresol) != 1:
        raise PcapError(f"if_tsresol option of length {len(tsresol)} (1 expected)")
    exponent = tsresol[0] & 0x7F
    if tsresol[0] & 0x80:
        if exponent > MAX_TSRESOL_BINARY:
            raise PcapError(f"if_tsresol 2^-{exponent} s is finer than a 64-bit timestamp can count")
        return 1 << exponent
    if exponent > MAX_TSRESOL_DECIMAL:
        raise PcapError(f"if_tsresol 10^-{exponent} s is finer than a 64-bit timestamp can count")
    return 10**exponent


def offset_seconds(tsoffset: bytes, order: str) -> int:
    if len(tsoffset) != 8:
        raise PcapError(f"if_tsoffset option of length {len(tsoffset)} (8 expected)")
    return struct.unpack(order + "q", tsoffset)[0]


def parse_interface(body: bytes, order: str) -> Interface:
    """An interface description block, from its body (the bytes between block length and trailing length)."""
    if len(body) < 8:
        raise PcapError(f"too short: {len(body)} bytes of body, 8 needed")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    ticks, offset = DEFAULT_TICKS_PER_SECOND, 0
    for code, value in pcapng_options(body[8:], order):
        if code == OPTION_IF_TSRESOL:
            ticks = ticks_per_second(value)
        elif code == OPTION_IF_TSOFFSET:
            offset = offset_seconds(value, order)
    return Interface(linktype, snaplen, ticks, offset)


def parse_packet_block(block_type: int, body: bytes, order: str) -> Tuple[int, int, bytes]:
    """(interface id, timestamp in ticks, captured bytes) of an enhanced or obsolete packet block."""
    if len(body) < 20:
        raise PcapError(f"too short: {len(body)} bytes of body, 20 needed")
    if block_type == BLOCK_ENHANCED_PACKET:
        interface, high, low, captured, _original = struct.unpack_from(order + "IIIII", body)
    else:
        interface, _drops, high, low, captured, _original = struct.unpack_from(order + "HHIIII", body)
    data = body[20:]
    if captured > len(data):
        raise PcapError(f"captured length {captured} runs past the end of the block ({len(data)} bytes left)")
    return interface, (high << 32) | low, data[:captured]


def parse_simple_packet(body: bytes, order: str, snaplen: int) -> bytes:
    """The captured bytes of a simple packet block: the original length cut to the interface's snaplen."""
    if len(body) < 4:
        raise PcapError(f"too short: {len(body)} bytes of body, 4 needed for the packet length")
    original = struct.unpack_from(order + "I", body)[0]
    captured = min(original, snaplen) if snaplen else original
    data = body[4:]
    if captured > len(data):
        raise PcapError(f"packet length {captured} runs past the end of the block ({len(data)} bytes left)")
    return data[:captured]


def packet_timestamp(ticks: int, interface: Interface) -> float:
    """Seconds since the epoch; PcapError for a time no calendar date can show (corruption)."""
    # int / int is correctly rounded and cannot overflow, unlike ticks * (1 / ticks_per_second)
    seconds = interface.offset_seconds + ticks / interface.ticks_per_second
    if seconds < 0:
        raise PcapError(f"timestamp {ticks} (1/{interface.ticks_per_second} s ticks) is before 1970")
    if seconds > LATEST_TIMESTAMP:
        raise PcapError(f"timestamp {ticks} (1/{interface.ticks_per_second} s ticks) is after the year 9999")
    return seconds


def read_frames(stream: BinaryIO) -> Iterator[Frame]:
    """The IP packets of a capture as (timestamp, packet) pairs."""
    return iter(PcapReader(stream))
