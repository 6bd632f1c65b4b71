"""VRRPv3 advertisements on the wire (RFC 5798): decode, encode and check their checksum.

Pure functions over bytes; no third-party dependencies.

Header (RFC 5798 §5.1; keepalived's ``struct vrrphdr``, FreeBSD 15's ``struct vrrpv3_header``),
8 bytes after the IP header, then the addresses, network byte order::

    byte 0      version (high nibble, 3) | type (low nibble, 1 = advertisement)
    byte 1      VRID (virtual router id, 1-255)
    byte 2      priority (0 = the master resigns, 255 = it owns the addresses, else 1-254; higher wins)
    byte 3      Count IPvX Addr (at least 1)
    bytes 4-5   4 reserved bits (0) | 12-bit Max Adver Int in centiseconds (1-4095)
    bytes 6-7   checksum: Internet checksum over the whole VRRP message and the IPv4 / IPv6
                pseudo-header (source, destination, VRRP length, protocol 112), RFC 5798 §5.2.8
    bytes 8-    Count addresses: 4 bytes each in an IPv4 packet, 16 in an IPv6 one

Sent with TTL / hop limit 255 to 224.0.0.18 or ff02::12 (or unicast peers), IP protocol 112,
which CARP shares (see wire/protocol112.py). There is no authentication in VRRPv3: the checksum
is all a receiver can verify.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple

from .ip import (
    GROUP_V4,
    GROUP_V6,
    IPPROTO_CARP,
    AddressLike,
    IPAddress,
    MalformedPacket,
    NotVrrp,
    carried,
    address_of,
    internet_checksum,
    ip_packet,
    pseudo_header,
)

IPPROTO_VRRP = IPPROTO_CARP
VRRP_GROUP_V4 = GROUP_V4
VRRP_GROUP_V6 = GROUP_V6
VRRP_VERSION = 3
VRRP_ADVERTISEMENT = 1
VRRP_TTL = 255
VRRP_HEADER_LEN = 8
VRRP_MAX_INTERVAL = 0x0FFF  # centiseconds: 40.95 s
VRRP_PRIORITY_STOP = 0  # "the current Master has stopped participating in VRRP" (RFC 5798 §5.2.4)
VRRP_PRIORITY_OWNER = 255
CARP_VERSION = 2  # CARP's version nibble, also VRRPv2's

_IPTOS_PREC_INTERNETCONTROL = 0xC0  # what keepalived puts in the IPv4 TOS / IPv6 traffic class


@dataclass(frozen=True)
class VrrpAdvertisement:
    source: IPAddress
    destination: IPAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit; VRRP senders use 255
    version: int
    type: int
    vrid: int
    priority: int
    count: int
    reserved: int  # the 4 bits before Max Adver Int: 0 from a conforming sender, ignored by receivers
    interval: int  # Max Adver Int, centiseconds
    checksum: int
    checksum_ok: bool  # over the pseudo-header and the whole VRRP message
    addresses: Tuple[IPAddress, ...]

    @property
    def family(self) -> str:
        return "inet6" if self.source.version == 6 else "inet"

    @property
    def interval_seconds(self) -> float:
        return self.interval / 100


def vrrp_checksum(source: IPAddress, destination: IPAddress, message: bytes) -> int:
    """The checksum field a sender puts in ``message`` (its own checksum bytes are taken as zero)."""
    unsummed = message[:6] + b"\x00\x00" + message[8:]
    return internet_checksum(pseudo_header(source, destination, len(message)) + unsummed)


# --- decoding ---------------------------------------------------------------


def decode(packet: bytes) -> VrrpAdvertisement:
    """Decode an IPv4 or IPv6 packet (bytes starting at the IP header) carrying VRRPv3.

    Raises MalformedPacket for short or inconsistent packets, NotVrrp for packets of
    another protocol and for version 2 (CARP, or VRRPv2: see wire/protocol112.py). A
    bad checksum is reported in ``checksum_ok``, not raised.
    """
    ip = carried(packet, name="VRRP")
    return decode_payload(ip.payload, ip.source, ip.destination, ip.ttl)


def decode_payload(payload: bytes, source: IPAddress, destination: IPAddress, ttl: int) -> VrrpAdvertisement:
    """The VRRPv3 advertisement in the protocol-112 bytes of a packet sent from ``source`` to ``destination``."""
    if not payload:
        raise MalformedPacket(f"VRRPv3 header needs {VRRP_HEADER_LEN} bytes, got 0")
    version, type_ = payload[0] >> 4, payload[0] & 0x0F
    if version == CARP_VERSION:
        raise NotVrrp("version 2 on IP protocol 112 is CARP (or VRRPv2), not VRRPv3")
    if version != VRRP_VERSION:
        raise MalformedPacket(f"VRRP version {version} is unknown (VRRPv3, RFC 5798, is version {VRRP_VERSION})")
    if len(payload) < VRRP_HEADER_LEN:
        raise MalformedPacket(f"VRRPv3 header needs {VRRP_HEADER_LEN} bytes, got {len(payload)}")
    if type_ != VRRP_ADVERTISEMENT:
        raise MalformedPacket(f"VRRPv3 type {type_} is not an advertisement ({VRRP_ADVERTISEMENT})")
    _first, vrid, priority, count, word, checksum = struct.unpack_from("!BBBBHH", payload)
    if count == 0:
        raise MalformedPacket("VRRPv3 advertisement with count 0 (it carries at least one address)")
    size = 16 if source.version == 6 else 4
    expected = VRRP_HEADER_LEN + count * size
    if len(payload) != expected:
        raise MalformedPacket(
            f"VRRPv3 count {count} makes {expected} bytes of IPv{source.version} advertisement, got {len(payload)}"
        )
    interval = word & VRRP_MAX_INTERVAL
    if interval == 0:
        raise MalformedPacket("VRRPv3 max advertisement interval 0 (1 to 4095 centiseconds)")
    address = ipaddress.IPv6Address if size == 16 else ipaddress.IPv4Address
    addresses = tuple(address(payload[offset : offset + size]) for offset in range(VRRP_HEADER_LEN, expected, size))
    return VrrpAdvertisement(
        source=source,
        destination=destination,
        ttl=ttl,
        version=version,
        type=type_,
        vrid=vrid,
        priority=priority,
        count=count,
        reserved=word >> 12,
        interval=interval,
        checksum=checksum,
        # over the pseudo-header of the addresses in the IP header (an IPv6 routing header, which would put the
        # final destination there instead, is something no VRRP sender adds to a link-local advertisement)
        checksum_ok=internet_checksum(pseudo_header(source, destination, len(payload)) + payload) == 0,
        addresses=addresses,
    )


# --- encoding ---------------------------------------------------------------


def build_advertisement(
    source: AddressLike,
    vrid: int,
    *,
    priority: int = 100,
    interval: int = 100,
    addresses: Iterable[AddressLike] = (),
    destination: Optional[AddressLike] = None,
    ttl: int = VRRP_TTL,
    version: int = VRRP_VERSION,
    type: int = VRRP_ADVERTISEMENT,
    count: Optional[int] = None,
    reserved: int = 0,
    checksum: Optional[int] = None,
    tos: int = _IPTOS_PREC_INTERNETCONTROL,
    ip_id: int = 0,
) -> bytes:
    """An IPv4 (or IPv6, when source is IPv6) packet carrying one VRRPv3 advertisement.

    The addresses are those of the packet's family, in the order given. Both
    checksums are valid unless ``checksum`` is given; ``count`` defaults to the
    number of addresses. The IP header is keepalived's (TOS 0xc0, no DF, TTL 255).
    """
    src = address_of(source)
    dst = address_of(destination) if destination is not None else (VRRP_GROUP_V6 if src.version == 6 else VRRP_GROUP_V4)
    vips = [address_of(a) for a in addresses]
    if any(a.version != src.version for a in vips):
        raise ValueError(f"an IPv{src.version} advertisement carries IPv{src.version} addresses only")
    count = len(vips) if count is None else count
    first = (version & 0x0F) << 4 | (type & 0x0F)
    word = (reserved & 0x0F) << 12 | (interval & VRRP_MAX_INTERVAL)
    message = struct.pack("!BBBBHH", first, vrid, priority, count, word, 0) + b"".join(a.packed for a in vips)
    if checksum is None:
        checksum = vrrp_checksum(src, dst, message)
    message = message[:6] + struct.pack("!H", checksum) + message[8:]
    return ip_packet(src, dst, message, ttl=ttl, tos=tos, traffic_class=tos, ip_id=ip_id)
