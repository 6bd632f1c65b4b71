"""CARP advertisements on the wire: decode, encode and check their HMAC.

Pure functions over bytes; no third-party dependencies.

Header (FreeBSD sys/netinet/ip_carp.h ``struct carp_header``, the same in
ucarp's src/ip_carp.h), 36 bytes after the IP header, network byte order::

    byte 0      version (high nibble, 2) | type (low nibble, 1 = advertisement)
    byte 1      vhid
    byte 2      advskew
    byte 3      authlen  (size of counter + HMAC in 32-bit words: 7)
    byte 4      demote   (carp_pad1 "reserved" on FreeBSD; OpenBSD's demotion counter)
    byte 5      advbase  (seconds)
    bytes 6-7   checksum (Internet checksum over these 36 bytes only, no pseudo-header,
                          for IPv4 and IPv6 alike)
    bytes 8-15  counter  (carp_counter[0] = high 32 bits, [1] = low 32 bits)
    bytes 16-35 HMAC-SHA1 (carp_md)

Sent with TTL / hop limit 255 (CARP_DFLTTL) to 224.0.0.18 or ff02::12,
IP protocol 112, which VRRP shares: wire/protocol112.py says how the two are told apart,
wire/ip.py reads the IP layer both have in common.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import struct
from dataclasses import dataclass
from typing import Iterable, List, Optional

from ..errors import ConfigError
from .ip import (  # noqa: F401  (PacketError, MalformedPacket, NotCarp, internet_checksum: this module's API too)
    GROUP_V4,
    GROUP_V6,
    AddressLike,
    IPAddress,
    MalformedPacket,
    NotCarp,
    PacketError,
    Carried,
    carried,
    carried_ipv4,
    carried_ipv6,
    address_of,
    internet_checksum,
    ip_packet,
)

CARP_GROUP_V4 = GROUP_V4
CARP_GROUP_V6 = GROUP_V6
CARP_VERSION = 2
CARP_ADVERTISEMENT = 1
CARP_TTL = 255
CARP_HEADER_LEN = 36
CARP_AUTHLEN = 7
CARP_KEY_LEN = 20
VRRP_V3 = 3

HMAC_OK = "ok"
HMAC_MISMATCH = "mismatch"

STYLE_FREEBSD = "freebsd"
STYLE_UCARP = "ucarp"

_IPTOS_LOWDELAY = 0x10


@dataclass(frozen=True)
class Advertisement:
    source: IPAddress
    destination: IPAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit; CARP senders use 255
    version: int
    type: int
    vhid: int
    advskew: int
    authlen: int
    demote: int
    advbase: int
    checksum: int
    checksum_ok: bool  # the CARP header checksum (the IP header checksum is the kernel's business)
    counter: int  # 64-bit
    hmac: bytes  # 20 bytes

    @property
    def family(self) -> str:
        return "inet6" if self.source.version == 6 else "inet"


# --- decoding ---------------------------------------------------------------


def decode(packet: bytes) -> Advertisement:
    """Decode an IPv4 or IPv6 packet (bytes starting at the IP header) carrying CARP.

    Raises MalformedPacket for short or inconsistent packets and NotCarp for
    packets of another protocol (or VRRPv3: wire/protocol112.py decodes either). A
    bad CARP checksum is reported in ``checksum_ok``, not raised: showing it is the
    point of a sniffer.
    """
    return decode_carried(carried(packet))


def decode_ipv4(packet: bytes) -> Advertisement:
    return decode_carried(carried_ipv4(packet))


def decode_ipv6(packet: bytes) -> Advertisement:
    return decode_carried(carried_ipv6(packet))


def decode_carried(ip: Carried) -> Advertisement:
    """The CARP advertisement in the protocol-112 payload of a packet (see wire.ip.carried())."""
    return decode_payload(ip.payload, ip.source, ip.destination, ip.ttl)


def decode_payload(payload: bytes, source: IPAddress, destination: IPAddress, ttl: int) -> Advertisement:
    version = payload[0] >> 4 if payload else 0
    if version == VRRP_V3:
        raise NotCarp("VRRPv3 advertisement (IP protocol 112, version 3), not CARP")
    if len(payload) < CARP_HEADER_LEN:
        raise MalformedPacket(f"CARP header needs {CARP_HEADER_LEN} bytes, got {len(payload)}")
    header = payload[:CARP_HEADER_LEN]
    first, vhid, advskew, authlen, demote, advbase, checksum, high, low = struct.unpack_from("!BBBBBBHII", header)
    return Advertisement(
        source=source,
        destination=destination,
        ttl=ttl,
        version=first >> 4,
        type=first & 0x0F,
        vhid=vhid,
        advskew=advskew,
        authlen=authlen,
        demote=demote,
        advbase=advbase,
        checksum=checksum,
        checksum_ok=internet_checksum(header) == 0,
        counter=(high << 32) | low,
        hmac=header[16:36],
    )


# --- HMAC -------------------------------------------------------------------


def hashed_addresses(addresses: Iterable[AddressLike]) -> List[IPAddress]:
    """The addresses FreeBSD 10+ feeds to the HMAC, in the order it feeds them.

    carp_hmac_prepare() (sys/netinet/ip_carp.c since the 2011 rewrite) runs a
    selection loop: each pass picks the smallest address strictly greater than
    the previous one, so IPv4 addresses go in ascending numeric order with
    duplicates once, and 0.0.0.0 / 255.255.255.255 can never be picked; then the
    IPv6 addresses the same way by memcmp() of the 16 bytes (scope id zeroed,
    i.e. the plain address), never :: nor ffff:...:ffff.
    """
    parsed = [address_of(a) for a in addresses]
    v4 = sorted({a for a in parsed if a.version == 4})
    v6 = sorted({a for a in parsed if a.version == 6}, key=lambda a: a.packed)
    v4 = [a for a in v4 if 0 < int(a) < 0xFFFFFFFF]
    v6 = [a for a in v6 if 0 < int(a) < (1 << 128) - 1]
    return [*v4, *v6]


def carp_key(password: str, style: str = STYLE_FREEBSD) -> bytes:
    """The CARP_KEY_LEN (20) byte key the HMAC is keyed with.

    FreeBSD: ifconfig copies ``pass`` with strlcpy(carpr_key, pass, CARP_KEY_LEN),
    so at most 19 bytes survive and the rest is zero (longer passwords are
    silently truncated). ucarp: docarp() refuses a password of 20 bytes or more
    ("Password too long"), otherwise memcpy()s it with its NUL into sc_key.
    Either way the key is zero-padded to the 64-byte SHA-1 block, which is
    exactly what standard HMAC does with a short key.
    """
    raw = password.encode("utf-8")
    if style == STYLE_UCARP and len(raw) >= CARP_KEY_LEN:
        raise ConfigError(f"ucarp refuses passwords of {CARP_KEY_LEN} bytes or more (this one has {len(raw)})")
    return raw[: CARP_KEY_LEN - 1].ljust(CARP_KEY_LEN, b"\x00")


def expected_hmac(
    password: str,
    vhid: int,
    addresses: Iterable[AddressLike],
    counter: int,
    version: int = CARP_VERSION,
    type: int = CARP_ADVERTISEMENT,
    style: str = STYLE_FREEBSD,
) -> bytes:
    """The 20-byte carp_md a sender with this password and these VIPs puts in an advertisement.

    Both implementations compute HMAC-SHA1 by hand (ipad/opad over a 64-byte
    pad holding the 20-byte key, see carp_key()) over, in order:

    * one byte each: version (CARP_VERSION = 2), type (CARP_ADVERTISEMENT = 1),
      vhid. These are constants in carp_hmac_prepare(), not the packet's bytes;
    * the addresses:
      - ``style="freebsd"`` (FreeBSD 10+, OpenBSD likewise): every address of
        the vhid, IPv4 ascending then IPv6 ascending (see hashed_addresses());
      - ``style="ucarp"``: the one ``-a`` address, 4 bytes (IPv4 only);
    * the 8-byte counter as carried in the packet (high word first, both big-endian).

    For one IPv4 address both styles give the same digest, which is why ucarp
    and FreeBSD interoperate only in that case. (scapy's CARP helper leaves the
    counter out; it does not match real packets.)
    """
    if not 0 <= counter < (1 << 64):
        raise ValueError(f"counter {counter} does not fit in 64 bits")
    if not 0 <= vhid <= 255:
        raise ValueError(f"vhid {vhid} does not fit in one byte")
    if style == STYLE_FREEBSD:
        hashed = hashed_addresses(addresses)
    elif style == STYLE_UCARP:
        hashed = [address_of(a) for a in addresses]
        if len(hashed) != 1 or hashed[0].version != 4:
            raise ConfigError(f"ucarp hashes exactly one IPv4 address, got {', '.join(map(str, hashed)) or 'none'}")
    else:
        raise ValueError(f"unknown HMAC style {style!r} (expected {STYLE_FREEBSD!r} or {STYLE_UCARP!r})")
    message = bytes((version & 0xFF, type & 0xFF, vhid))
    message += b"".join(a.packed for a in hashed)
    message += struct.pack("!Q", counter)
    return _hmac.new(carp_key(password, style), message, hashlib.sha1).digest()


def verify(adv: Advertisement, password: str, addresses: Iterable[AddressLike], style: str = STYLE_FREEBSD) -> str:
    """HMAC_OK when the advertisement was made with this password and these VIPs, else HMAC_MISMATCH."""
    expected = expected_hmac(password, adv.vhid, addresses, adv.counter, style=style)
    return HMAC_OK if _hmac.compare_digest(expected, adv.hmac) else HMAC_MISMATCH


# --- encoding ---------------------------------------------------------------


def build_advertisement(
    source: AddressLike,
    vhid: int,
    *,
    password: str = "",
    addresses: Optional[Iterable[AddressLike]] = None,
    counter: int = 0,
    advbase: int = 1,
    advskew: int = 0,
    demote: int = 0,
    destination: Optional[AddressLike] = None,
    ttl: int = CARP_TTL,
    version: int = CARP_VERSION,
    type: int = CARP_ADVERTISEMENT,
    authlen: int = CARP_AUTHLEN,
    ip_id: int = 0,
    hmac: Optional[bytes] = None,
    style: str = STYLE_FREEBSD,
) -> bytes:
    """An IPv4 (or IPv6, when source is IPv6) packet carrying one CARP advertisement.

    The IPv4 header is laid out as FreeBSD's carp_send_ad_locked() and ucarp's
    carp_send_ad() build it (TOS lowdelay, DF, TTL 255); both checksums are
    valid. The HMAC is computed from password/addresses unless ``hmac`` is given.
    """
    src = address_of(source)
    if hmac is None:
        hmac = expected_hmac(password, vhid, addresses if addresses is not None else (), counter, style=style)
    if len(hmac) != 20:
        raise ValueError(f"a CARP HMAC has 20 bytes, got {len(hmac)}")
    fields = ((version & 0x0F) << 4 | (type & 0x0F), vhid, advskew, authlen, demote, advbase)
    unsummed = struct.pack("!6BHII", *fields, 0, counter >> 32, counter & 0xFFFFFFFF) + hmac
    carp = unsummed[:6] + struct.pack("!H", internet_checksum(unsummed)) + unsummed[8:]
    group = CARP_GROUP_V6 if src.version == 6 else CARP_GROUP_V4
    dst = address_of(destination) if destination is not None else group
    return ip_packet(src, dst, carp, ttl=ttl, tos=_IPTOS_LOWDELAY, dont_fragment=True, ip_id=ip_id)
