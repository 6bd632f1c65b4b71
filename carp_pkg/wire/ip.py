"""The IP layer around an advertisement of IP protocol 112, and the errors the wire decoders raise.

CARP and VRRP both travel as IP protocol 112 (IANA's number for VRRP; OpenBSD took it for CARP),
sent with TTL / hop limit 255 to 224.0.0.18 or ff02::12. carried() checks the IPv4 / IPv6 header,
skips IPv4 options and the IPv6 extension headers a sender may add, and hands back the protocol-112
bytes with the addresses and TTL the advertisement is judged by; ip_packet() builds the IP layer around
the advertisements the CARP and VRRP encoders make. Pure functions over bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Union

from ..errors import CarpError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
AddressLike = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface, ipaddress.IPv6Interface]

IPPROTO_CARP = 112  # also IPPROTO_VRRP
GROUP_V4 = ipaddress.IPv4Address("224.0.0.18")
GROUP_V6 = ipaddress.IPv6Address("ff02::12")

IPV4_HEADER_LEN = 20
IPV6_HEADER_LEN = 40
_IPV6_SKIPPABLE_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44


class PacketError(CarpError):
    """A captured packet cannot be read as an advertisement."""


class MalformedPacket(PacketError):
    """The packet claims to be IPv4/IPv6 (and CARP or VRRP) but its bytes do not add up."""


class NotCarp(PacketError):
    """A well-formed packet that is not a CARP advertisement (another protocol, VRRPv3)."""


class NotVrrp(PacketError):
    """A well-formed packet that is not a VRRPv3 advertisement (another protocol, CARP)."""


class OtherProtocol(NotCarp, NotVrrp):
    """A well-formed IP packet of another protocol than 112: neither CARP nor VRRP."""


@dataclass(frozen=True)
class Carried:
    """The protocol-112 bytes of a packet and the IP fields around them."""

    source: IPAddress
    destination: IPAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit
    payload: bytes  # from the CARP / VRRP header to the end the IP length gives


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, as in_cksum() / ucarp's cksum() compute it."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(source: IPAddress, destination: IPAddress, length: int, protocol: int = IPPROTO_CARP) -> bytes:
    """The pseudo-header an upper-layer checksum covers: RFC 768 / 793 for IPv4, RFC 8200 §8.1 for IPv6."""
    if source.version == 6:
        return source.packed + destination.packed + struct.pack("!I3xB", length, protocol)
    return source.packed + destination.packed + struct.pack("!xBH", protocol, length)


def carried(packet: bytes, name: str = "CARP") -> Carried:
    """The protocol-112 payload of an IPv4 or IPv6 packet (bytes starting at the IP header).

    Raises MalformedPacket for short or inconsistent packets and OtherProtocol for
    packets of another protocol; ``name`` is the protocol the messages speak of.
    """
    packet = bytes(packet)
    if not packet:
        raise MalformedPacket("empty packet")
    version = packet[0] >> 4
    if version == 4:
        return carried_ipv4(packet, name)
    if version == 6:
        return carried_ipv6(packet, name)
    raise MalformedPacket(f"not an IP packet (IP version field {version})")


def carried_ipv4(packet: bytes, name: str = "CARP") -> Carried:
    if len(packet) < IPV4_HEADER_LEN:
        raise MalformedPacket(f"IPv4 header needs {IPV4_HEADER_LEN} bytes, got {len(packet)}")
    ver_ihl, _tos, total_length, _ident, flags_offset, ttl, proto, _sum = struct.unpack_from("!BBHHHBBH", packet)
    if ver_ihl >> 4 != 4:
        raise MalformedPacket(f"not an IPv4 packet (IP version field {ver_ihl >> 4})")
    header_length = (ver_ihl & 0x0F) * 4
    if header_length < IPV4_HEADER_LEN:
        raise MalformedPacket(f"IPv4 header length {header_length} is below the minimum of {IPV4_HEADER_LEN}")
    if total_length < header_length:
        raise MalformedPacket(f"IPv4 total length {total_length} is shorter than its header ({header_length})")
    if total_length > len(packet):
        raise MalformedPacket(f"IPv4 packet truncated: total length {total_length}, captured {len(packet)} bytes")
    source = ipaddress.IPv4Address(packet[12:16])
    destination = ipaddress.IPv4Address(packet[16:20])
    if proto != IPPROTO_CARP:
        raise OtherProtocol(f"IPv4 protocol {proto} is not {name} ({IPPROTO_CARP})")
    if flags_offset & 0x3FFF:  # more-fragments flag or a fragment offset
        raise MalformedPacket(f"fragmented {name} packet ({name} advertisements always fit in one packet)")
    return Carried(source, destination, ttl, packet[header_length:total_length])


def carried_ipv6(packet: bytes, name: str = "CARP") -> Carried:
    if len(packet) < IPV6_HEADER_LEN:
        raise MalformedPacket(f"IPv6 header needs {IPV6_HEADER_LEN} bytes, got {len(packet)}")
    first_word, payload_length, next_header, hop_limit = struct.unpack_from("!IHBB", packet)
    if first_word >> 28 != 6:
        raise MalformedPacket(f"not an IPv6 packet (IP version field {first_word >> 28})")
    end = IPV6_HEADER_LEN + payload_length
    if end > len(packet):
        captured = len(packet) - IPV6_HEADER_LEN
        raise MalformedPacket(f"IPv6 packet truncated: payload length {payload_length}, captured {captured} bytes")
    source = ipaddress.IPv6Address(packet[8:24])
    destination = ipaddress.IPv6Address(packet[24:40])
    offset = IPV6_HEADER_LEN
    while next_header in _IPV6_SKIPPABLE_EXTENSIONS:
        if offset + 8 > end:
            raise MalformedPacket(f"IPv6 extension header {next_header} runs past the end of the packet")
        following, length_units = packet[offset], packet[offset + 1]
        offset += (length_units + 1) * 8
        next_header = following
    if offset > end:  # before the protocol checks: a broken chain says nothing trustworthy about the protocol
        raise MalformedPacket("IPv6 extension headers run past the end of the packet")
    if next_header == _IPV6_FRAGMENT:
        raise MalformedPacket(f"fragmented {name} packet ({name} advertisements always fit in one packet)")
    if next_header != IPPROTO_CARP:
        raise OtherProtocol(f"IPv6 next header {next_header} is not {name} ({IPPROTO_CARP})")
    return Carried(source, destination, hop_limit, packet[offset:end])


# --- encoding (the test packets of the CARP and VRRP builders) ---------------------------------------------------

def address_of(value: AddressLike) -> IPAddress:
    """An address from an address, an interface (its address) or text (a prefix or %zone dropped)."""
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return value.ip
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    text = str(value).split("/", 1)[0]
    return ipaddress.ip_address(text.split("%", 1)[0])


def ip_packet(source: IPAddress, destination: IPAddress, payload: bytes, *, ttl: int, tos: int = 0,
              traffic_class: int = 0, dont_fragment: bool = False, ip_id: int = 0) -> bytes:
    """An IPv4 (valid header checksum, no options) or IPv6 (no extension headers) packet of IP protocol 112."""
    if source.version == 6:
        first_word = 6 << 28 | (traffic_class & 0xFF) << 20
        return struct.pack("!IHBB", first_word, len(payload), IPPROTO_CARP, ttl) + source.packed + destination.packed \
            + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos & 0xFF, IPV4_HEADER_LEN + len(payload), ip_id,
                         0x4000 if dont_fragment else 0, ttl, IPPROTO_CARP, 0, source.packed, destination.packed)
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:] + payload
