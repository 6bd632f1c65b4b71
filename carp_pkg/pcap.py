"""Read IP packets out of pcap and pcapng captures, from a file or a pipe.

Classic pcap (both byte orders, microsecond magic a1b2c3d4 and nanosecond
magic a1b23c4d) and pcapng (section header, interface description, enhanced
and simple packet blocks; several sections and interfaces). Link types:
EN10MB (with 802.1Q / 802.1ad tags), RAW, IPV4, IPV6, NULL and LOOP (BSD
loopback and carp/pflog-style captures), LINUX_SLL and LINUX_SLL2
(``tcpdump -i any``). Frames of other kinds (ARP, other link types) are
skipped and counted.

Only sequential reads are used, so ``tcpdump -w -`` piped into stdin works.
A file cut short in the middle of a record (a capture killed mid-write) ends
the iteration cleanly and sets ``truncated``; a bad file header raises PcapError.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Dict, Iterator, NamedTuple, Optional, Tuple

from .errors import CarpError

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAPNG_SECTION_HEADER = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

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


class PcapError(CarpError):
    """The input is not a capture file this reader understands."""


class Frame(NamedTuple):
    timestamp: float  # seconds since the epoch
    packet: bytes  # starting at the IPv4 / IPv6 header


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes; short only at end of input (pipes may deliver less per read)."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


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
        self.truncated = False
        self.skipped = 0
        self.format = ""
        self.linktypes: Tuple[int, ...] = ()

    def __iter__(self) -> Iterator[Frame]:
        head = _read_exact(self._stream, 4)
        if not head:
            raise PcapError("empty capture: no pcap header (did the capture start?)")
        if len(head) < 4:
            raise PcapError("not a pcap file: shorter than its 4-byte magic number")
        if struct.unpack("<I", head)[0] == PCAPNG_SECTION_HEADER:
            self.format = "pcapng"
            return self._pcapng(head)
        self.format = "pcap"
        return self._pcap(head)

    # --- classic pcap ---

    def _pcap(self, magic_bytes: bytes) -> Iterator[Frame]:
        """Check the 24-byte file header now; the records are read lazily."""
        for order in ("<", ">"):
            magic = struct.unpack(order + "I", magic_bytes)[0]
            if magic in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
                break
        else:
            raise PcapError(f"not a pcap or pcapng file (magic number {magic_bytes.hex()})")
        rest = _read_exact(self._stream, 20)
        if len(rest) < 20:
            raise PcapError("pcap file header truncated (24 bytes expected)")
        _major, _minor, _zone, _sigfigs, _snaplen, linktype_field = struct.unpack(order + "HHiIII", rest)
        linktype = linktype_field & 0x0FFFFFFF  # the top bits may carry FCS information
        self.linktypes = (linktype,)
        return self._pcap_records(order, linktype, 1e9 if magic == PCAP_MAGIC_NSEC else 1e6)

    def _pcap_records(self, order: str, linktype: int, divisor: float) -> Iterator[Frame]:
        record_header = struct.Struct(order + "IIII")
        while True:
            header = _read_exact(self._stream, record_header.size)
            if not header:
                return
            if len(header) < record_header.size:
                self.truncated = True
                return
            seconds, fraction, captured, _original = record_header.unpack(header)
            if captured > MAX_RECORD:
                raise PcapError(f"corrupt pcap record: captured length {captured} exceeds {MAX_RECORD} bytes")
            data = _read_exact(self._stream, captured)
            if len(data) < captured:
                self.truncated = True
                return
            yield from self._emit(linktype, seconds + fraction / divisor, data)

    # --- pcapng ---

    def _pcapng(self, _block_type: bytes) -> Iterator[Frame]:
        """Check the first section header now; the blocks are read lazily."""
        order = self._section_header(eager=True)
        return self._pcapng_blocks(order or "<")

    def _section_header(self, eager: bool = False) -> Optional[str]:
        """Read the rest of a section header block; its byte order, or None when the input ends inside it."""
        head = _read_exact(self._stream, 8)
        if len(head) < 8:
            if eager:
                raise PcapError("pcapng section header truncated")
            return None
        length_bytes, magic_bytes = head[:4], head[4:]
        if struct.unpack("<I", magic_bytes)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            order = "<"
        elif struct.unpack(">I", magic_bytes)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            order = ">"
        else:
            raise PcapError(f"pcapng section header with a bad byte-order magic ({magic_bytes.hex()})")
        length = struct.unpack(order + "I", length_bytes)[0]
        self._check_block_length(length, 28)
        body = _read_exact(self._stream, length - 12)
        if len(body) < length - 12:
            if eager:
                raise PcapError("pcapng section header truncated")
            return None
        return order

    def _pcapng_blocks(self, order: str) -> Iterator[Frame]:
        interfaces: Dict[int, Tuple[int, float]] = {}  # interface id -> (linktype, seconds per tick)
        while True:
            type_bytes = _read_exact(self._stream, 4)
            if not type_bytes:
                return
            if len(type_bytes) < 4:
                self.truncated = True
                return
            if struct.unpack("<I", type_bytes)[0] == PCAPNG_SECTION_HEADER:  # palindromic: same in both orders
                next_order = self._section_header()
                if next_order is None:
                    self.truncated = True
                    return
                order, interfaces = next_order, {}
                continue
            length_bytes = _read_exact(self._stream, 4)
            if len(length_bytes) < 4:
                self.truncated = True
                return
            block_type = struct.unpack(order + "I", type_bytes)[0]
            length = struct.unpack(order + "I", length_bytes)[0]
            self._check_block_length(length, 12)
            body = _read_exact(self._stream, length - 8)
            if len(body) < length - 8:
                self.truncated = True
                return
            body = body[:-4]  # the trailing copy of the block length
            if block_type == 1:  # interface description
                if len(body) < 8:
                    raise PcapError("pcapng interface description block too short")
                linktype = struct.unpack_from(order + "H", body)[0]
                interfaces[len(interfaces)] = (linktype, _tsresol(body[8:], order))
                self.linktypes = tuple(sorted({*self.linktypes, linktype}))
            elif block_type == 6:  # enhanced packet
                if len(body) < 20:
                    raise PcapError("pcapng enhanced packet block too short")
                interface, high, low, captured, _original = struct.unpack_from(order + "IIIII", body)
                if interface not in interfaces:
                    raise PcapError(f"pcapng packet refers to undeclared interface {interface}")
                linktype, tick = interfaces[interface]
                yield from self._emit(linktype, ((high << 32) | low) * tick, body[20 : 20 + captured])
            elif block_type == 3:  # simple packet: no timestamp, first interface
                if 0 not in interfaces:
                    raise PcapError("pcapng simple packet block before any interface description")
                captured = min(struct.unpack_from(order + "I", body)[0], len(body) - 4)
                yield from self._emit(interfaces[0][0], 0.0, body[4 : 4 + captured])
            # other blocks (name resolution, statistics, custom) carry no packets

    def _emit(self, linktype: int, timestamp: float, data: bytes) -> Iterator[Frame]:
        packet = ip_payload(linktype, data)
        if packet is None:
            self.skipped += 1
            return
        yield Frame(timestamp, packet)

    @staticmethod
    def _check_block_length(length: int, minimum: int) -> None:
        if length < minimum or length % 4 or length > MAX_BLOCK:
            raise PcapError(f"corrupt pcapng block: length {length}")


def _tsresol(options: bytes, order: str) -> float:
    """Seconds per timestamp tick from an interface block's if_tsresol option (default microseconds)."""
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, offset)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[offset + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        offset += 4 + (length + 3) // 4 * 4
    return 1e-6


def read_frames(stream: BinaryIO) -> Iterator[Frame]:
    """The IP packets of a capture as (timestamp, packet) pairs."""
    return iter(PcapReader(stream))
