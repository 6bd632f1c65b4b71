"""VRRPv3 advertisements (carp_pkg.wire.vrrp), telling them from CARP (wire.protocol112), sniff's VRRP rows,
and a mixed cluster: what FreeBSD 15 (`carpver 3`) and keepalived put on the wire agree field by field."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg import carpwire
from carp_pkg.commands.sniff import describe_vrrp, format_vrrp_row, vrrp_config, vrrp_config_status
from carp_pkg.errors import CarpError
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.wire import protocol112, vrrp
from carp_pkg.wire.carp import Advertisement
from carp_pkg.wire.ip import MalformedPacket, NotCarp, NotVrrp, OtherProtocol, PacketError
from carp_pkg.wire.pcap import PcapReader
from carp_pkg.wire.vrrp import VrrpAdvertisement, build_advertisement, decode

FIXTURES = Path(__file__).parent / "fixtures" / "pcap"
KEEPALIVED_CAPTURE = FIXTURES / "keepalived-vrrp3.pcap"

# Real advertisements sent by keepalived 2.2.7 (Debian 12) between two network namespaces, IP header
# onwards (see tests/fixtures/pcap/make_keepalived_capture.sh: version 3, advert_int 0.1):
#   host A 192.0.2.1, vrid 7 priority 150, VIP 192.0.2.100/24 (frame 1 of the capture, IP id 1)
#   host B, vrid 9 priority 200, VIP 2001:db8::100/64, from its link-local address (frame 0)
#   host A resigning vrid 7 when its keepalived stops: priority 0 (frame 24)
REAL_V4 = bytes.fromhex("45c0002000010000ff701899c0000201e000001231079601000ad3f7c0000264")
REAL_V6 = bytes.fromhex(
    "6c0a863b001870fffe800000000000004086a2fffefddc69ff020000000000000000000000000012"
    "3109c801000a1b2620010db8000000000000000000000100"
)
REAL_V4_RESIGN = bytes.fromhex("45c00020000d0000ff70188dc0000201e000001231070001000a69f8c0000264")
B_LINK_LOCAL = "fe80::4086:a2ff:fefd:dc69"
# A real CARP advertisement (ucarp 1.5.2, tests/test_carpwire.py), to show the two side by side
REAL_CARP = bytes.fromhex(
    "45100038197c4000ff70bfb5c0000201e0000012"
    "21070a070001c79656ef44b6a5962da7672c1a5598083459c8cfe96e4907d3829c09e5c0"
)


def keepalived_frames():
    with open(KEEPALIVED_CAPTURE, "rb") as stream:
        return list(PcapReader(stream))


# --- an RFC 1071 / RFC 5798 checksum written out independently of the module --------------------


def ones_complement_checksum(data: bytes) -> int:
    """The complement of the one's-complement sum of the 16-bit words (0 over data that holds its checksum)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(data[index] << 8 | data[index + 1] for index in range(0, len(data), 2))
    folded = total % 0xFFFF  # end-around carry is arithmetic modulo 2^16 - 1 ...
    if folded == 0 and total:
        folded = 0xFFFF  # ... where a non-zero sum folds to 0xffff, "negative zero"
    return 0xFFFF - folded


def pseudo_v4(source: str, destination: str, length: int) -> bytes:
    """RFC 5798 §5.2.8 points at the IPv6 pseudo-header; for IPv4 it is the UDP/TCP one: src, dst, 0, 112, length."""
    return ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address(destination).packed + bytes([0, 112]) + \
        struct.pack("!H", length)


def pseudo_v6(source: str, destination: str, length: int) -> bytes:
    """RFC 8200 §8.1: src, dst, 32-bit upper-layer length, three zero bytes, next header 112."""
    return ipaddress.IPv6Address(source).packed + ipaddress.IPv6Address(destination).packed + \
        struct.pack("!I", length) + bytes([0, 0, 0, 112])


# --- real keepalived packets ------------------------------------------------------------------------


def test_real_keepalived_ipv4_advertisement_decodes_field_by_field():
    adv = decode(REAL_V4)
    assert (adv.source, adv.destination) == (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("224.0.0.18"))
    assert (adv.ttl, adv.version, adv.type, adv.vrid, adv.priority) == (255, 3, 1, 7, 150)
    assert (adv.count, adv.reserved, adv.interval, adv.interval_seconds) == (1, 0, 10, 0.1)
    assert adv.addresses == (ipaddress.IPv4Address("192.0.2.100"),)
    assert adv.checksum == 0xD3F7 and adv.checksum_ok
    assert adv.family == "inet"


def test_real_keepalived_ipv6_advertisement_decodes_field_by_field():
    adv = decode(REAL_V6)
    assert (adv.source, adv.destination) == (ipaddress.ip_address(B_LINK_LOCAL), ipaddress.ip_address("ff02::12"))
    assert (adv.ttl, adv.version, adv.type, adv.vrid, adv.priority, adv.count, adv.interval) == (255, 3, 1, 9, 200, 1,
                                                                                                 10)
    assert adv.addresses == (ipaddress.IPv6Address("2001:db8::100"),)
    assert adv.checksum == 0x1B26 and adv.checksum_ok
    assert adv.family == "inet6"


def test_a_resigning_master_advertises_priority_0():
    adv = decode(REAL_V4_RESIGN)
    assert (adv.vrid, adv.priority, adv.checksum_ok) == (7, vrrp.VRRP_PRIORITY_STOP, True)


def test_real_checksums_match_the_hand_computation_over_the_pseudo_headers():
    message4 = REAL_V4[20:]
    assert ones_complement_checksum(pseudo_v4("192.0.2.1", "224.0.0.18", len(message4)) + message4) == 0
    zeroed = message4[:6] + b"\x00\x00" + message4[8:]
    assert ones_complement_checksum(pseudo_v4("192.0.2.1", "224.0.0.18", 12) + zeroed) == 0xD3F7
    message6 = REAL_V6[40:]
    zeroed6 = message6[:6] + b"\x00\x00" + message6[8:]
    assert ones_complement_checksum(pseudo_v6(B_LINK_LOCAL, "ff02::12", 24) + zeroed6) == 0x1B26


def test_without_the_pseudo_header_the_real_checksum_does_not_verify():
    """VRRPv3 differs from CARP and VRRPv2 here: their checksum covers their own header only."""
    assert carpwire.internet_checksum(REAL_V4[20:]) != 0
    assert carpwire.internet_checksum(REAL_V6[40:]) != 0


@pytest.mark.parametrize("offset, new", [(12, bytes([192, 0, 2, 9])), (16, bytes([224, 0, 0, 19]))],
                         ids=["source", "destination"])
def test_the_ip_addresses_are_part_of_the_checksum(offset, new):
    forged = REAL_V4[:offset] + new + REAL_V4[offset + 4:]
    forged = forged[:10] + b"\x00\x00" + forged[12:]
    forged = forged[:10] + struct.pack("!H", carpwire.internet_checksum(forged[:20])) + forged[12:]
    assert decode(forged).checksum_ok is False


def test_encoder_reproduces_real_keepalived_packets():
    assert build_advertisement("192.0.2.1", 7, priority=150, interval=10, addresses=["192.0.2.100"], ip_id=1) == REAL_V4
    built6 = build_advertisement(B_LINK_LOCAL, 9, priority=200, interval=10, addresses=["2001:db8::100"])
    assert built6[40:] == REAL_V6[40:]  # keepalived's flow label aside, the same bytes
    assert built6[4:40] == REAL_V6[4:40]


def test_every_packet_of_the_real_capture_is_a_vrrpv3_advertisement_with_a_good_checksum():
    advs = [protocol112.decode(frame.packet) for frame in keepalived_frames()]
    assert len(advs) == 67
    assert all(isinstance(a, VrrpAdvertisement) and a.checksum_ok and a.ttl == 255 for a in advs)
    assert {(a.vrid, a.interval, a.addresses) for a in advs} == {
        (7, 10, (ipaddress.IPv4Address("192.0.2.100"),)),
        (9, 10, (ipaddress.IPv6Address("2001:db8::100"),)),
    }


# --- encode / decode ------------------------------------------------------------------------------

addresses_v4 = st.integers(min_value=1, max_value=0xFFFFFFFE).map(ipaddress.IPv4Address)
addresses_v6 = st.integers(min_value=1, max_value=(1 << 128) - 2).map(ipaddress.IPv6Address)
byte = st.integers(min_value=0, max_value=255)


@st.composite
def advertisements(draw):
    family = draw(st.sampled_from([addresses_v4, addresses_v6]))
    return dict(
        source=draw(family),
        vrid=draw(byte),
        priority=draw(byte),
        interval=draw(st.integers(min_value=1, max_value=4095)),
        reserved=draw(st.integers(min_value=0, max_value=15)),
        addresses=draw(st.lists(family, min_size=1, max_size=20)),
        ttl=draw(byte),
    )


@settings(max_examples=200)
@given(advertisements())
def test_build_then_decode_round_trips(fields):
    packet = build_advertisement(**fields)
    adv = decode(packet)
    group = vrrp.VRRP_GROUP_V6 if fields["source"].version == 6 else vrrp.VRRP_GROUP_V4
    assert (adv.source, adv.destination, adv.ttl) == (fields["source"], group, fields["ttl"])
    assert (adv.version, adv.type, adv.vrid, adv.priority) == (3, 1, fields["vrid"], fields["priority"])
    assert (adv.interval, adv.reserved) == (fields["interval"], fields["reserved"])
    assert adv.addresses == tuple(fields["addresses"]) and adv.count == len(fields["addresses"])
    assert adv.checksum_ok
    assert protocol112.decode(packet) == adv


@settings(max_examples=200)
@given(position=st.integers(min_value=20, max_value=31), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_the_message_fails_the_checksum_or_the_layout(position, flip):
    packet = bytearray(REAL_V4)
    packet[position] ^= flip
    try:
        adv = decode(bytes(packet))
    except PacketError:  # version, type, count or interval changed into something no advertisement has
        return
    assert adv.checksum_ok is False


def test_encoder_refuses_addresses_of_the_other_family():
    with pytest.raises(ValueError, match="IPv4 advertisement carries IPv4 addresses only"):
        build_advertisement("192.0.2.1", 1, addresses=["2001:db8::1"])


# --- malformed and foreign packets ----------------------------------------------------------------

GOOD = build_advertisement("192.0.2.1", 7, priority=150, interval=10, addresses=["192.0.2.100", "192.0.2.101"])
GOOD6 = build_advertisement("fe80::1", 9, priority=200, interval=10, addresses=["fe80::100", "2001:db8::100"])


def ipv4_with_message(message: bytes, source: str = "192.0.2.1") -> bytes:
    """GOOD's IP header (length fixed up) around other VRRP bytes."""
    header = bytearray(GOOD[:20])
    header[2:4] = struct.pack("!H", 20 + len(message))
    return bytes(header) + message


def ipv6_with_message(message: bytes) -> bytes:
    header = bytearray(GOOD6[:40])
    header[4:6] = struct.pack("!H", len(message))
    return bytes(header) + message


def with_message_byte(packet: bytes, offset: int, value: int, header: int = 20) -> bytes:
    return packet[:header + offset] + bytes([value]) + packet[header + offset + 1:]


MALFORMED = [
    ("empty", ipv4_with_message(b""), "VRRPv3 header needs 8 bytes, got 0"),
    ("short", ipv4_with_message(GOOD[20:27]), "VRRPv3 header needs 8 bytes, got 7"),
    ("short-ipv6", ipv6_with_message(GOOD6[40:44]), "VRRPv3 header needs 8 bytes, got 4"),
    ("count-0", with_message_byte(GOOD, 3, 0), "count 0"),
    ("count-too-big", with_message_byte(GOOD, 3, 3), "count 3 makes 20 bytes of IPv4 advertisement, got 16"),
    ("count-too-small", with_message_byte(GOOD, 3, 1), "count 1 makes 12 bytes of IPv4 advertisement, got 16"),
    ("count-255", with_message_byte(GOOD, 3, 255), "count 255 makes 1028 bytes"),
    ("address-cut", ipv4_with_message(GOOD[20:-1]), "count 2 makes 16 bytes of IPv4 advertisement, got 15"),
    ("trailing-bytes", ipv4_with_message(GOOD[20:] + b"\x00" * 4), "got 20"),
    ("ipv6-count-as-ipv4", with_message_byte(GOOD6, 3, 8, header=40), "count 8 makes 136 bytes of IPv6"),
    ("interval-0", ipv4_with_message(GOOD[20:24] + b"\x00\x00" + GOOD[26:]), "max advertisement interval 0"),
    ("interval-0-reserved-set", ipv4_with_message(GOOD[20:24] + b"\xf0\x00" + GOOD[26:]), "interval 0"),
    ("version-4", with_message_byte(GOOD, 0, 0x41), "VRRP version 4 is unknown"),
    ("version-0", with_message_byte(GOOD, 0, 0x01), "VRRP version 0 is unknown"),
    ("version-15", with_message_byte(GOOD, 0, 0xF1), "VRRP version 15 is unknown"),
    ("type-0", with_message_byte(GOOD, 0, 0x30), "VRRPv3 type 0 is not an advertisement"),
    ("type-2", with_message_byte(GOOD, 0, 0x32), "VRRPv3 type 2 is not an advertisement"),
    ("ip-truncated", GOOD[:30], "IPv4 packet truncated: total length 36, captured 30"),
    ("fragmented", GOOD[:6] + b"\x20\x00" + GOOD[8:], "fragmented VRRP packet"),
]


@pytest.mark.parametrize("packet, message", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_vrrp_packets_raise_a_clear_error(packet, message):
    with pytest.raises(MalformedPacket, match=message) as raised:
        decode(packet)
    assert isinstance(raised.value, CarpError)
    assert "\n" not in str(raised.value)


def test_reserved_bits_are_reported_not_refused():
    """RFC 5798 §5.2.6: sent as zero, ignored on receipt."""
    packet = build_advertisement("192.0.2.1", 7, interval=10, addresses=["192.0.2.100"], reserved=0xA)
    adv = decode(packet)
    assert (adv.reserved, adv.interval, adv.checksum_ok) == (0xA, 10, True)


def test_carp_and_other_protocols_are_not_vrrp():
    with pytest.raises(NotVrrp, match="version 2 on IP protocol 112 is CARP"):
        decode(REAL_CARP)
    udp = GOOD[:9] + b"\x11" + GOOD[10:]
    with pytest.raises(OtherProtocol, match="IPv4 protocol 17 is not VRRP"):
        decode(udp)


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_arbitrary_vrrp_bytes_decode_or_raise_a_packet_error(message):
    for packet in (ipv4_with_message(b"\x31" + message), ipv6_with_message(b"\x31" + message)):
        try:
            adv = decode(packet)
        except PacketError:
            continue
        assert isinstance(adv, VrrpAdvertisement)
        assert adv.count == len(adv.addresses) >= 1 and 1 <= adv.interval <= 4095


# --- CARP or VRRP: protocol 112 is told apart by the version nibble -----------------------------------


def vrrpv2(vrid: int, priority: int, addresses, interval: int = 1) -> bytes:
    """An RFC 3768 VRRPv2 advertisement (version 2, auth type 0, interval in seconds, 8 bytes of auth data)."""
    message = struct.pack("!BBBBBBH", 0x21, vrid, priority, len(addresses), 0, interval, 0)
    message += b"".join(ipaddress.IPv4Address(a).packed for a in addresses) + bytes(8)
    message = message[:6] + struct.pack("!H", carpwire.internet_checksum(message)) + message[8:]
    return ipv4_with_message(message)


def test_version_3_is_vrrp_and_version_2_is_carp():
    assert isinstance(protocol112.decode(REAL_V4), VrrpAdvertisement)
    assert isinstance(protocol112.decode(REAL_V6), VrrpAdvertisement)
    carp = protocol112.decode(REAL_CARP)
    assert isinstance(carp, Advertisement) and carp == carpwire.decode(REAL_CARP)


def test_vrrpv2_reads_as_carp_exactly_as_before():
    """VRRPv2 is version 2 like CARP: not told apart (wire/protocol112.py says why), and unchanged."""
    one_address = vrrpv2(7, 100, ["192.0.2.100"])
    with pytest.raises(MalformedPacket, match="CARP header needs 36 bytes, got 20"):
        protocol112.decode(one_address)
    with pytest.raises(MalformedPacket, match="CARP header needs 36 bytes, got 20"):
        carpwire.decode(one_address)
    five = vrrpv2(7, 100, [f"192.0.2.{n}" for n in range(100, 105)])
    as_carp = protocol112.decode(five)
    assert isinstance(as_carp, Advertisement) and as_carp == carpwire.decode(five)
    assert (as_carp.version, as_carp.vhid, as_carp.advskew, as_carp.authlen) == (2, 7, 100, 5)


def test_other_versions_stay_with_the_carp_decoder_as_before():
    packet = bytearray(carpwire.build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"]))
    packet[20] = 0x41  # version 4: shown as a CARP row that names its version, as ever
    assert protocol112.decode(bytes(packet)).version == 4


def test_the_carp_decoder_still_refuses_vrrpv3_and_other_protocols():
    with pytest.raises(NotCarp, match="VRRPv3"):
        carpwire.decode(REAL_V4)
    with pytest.raises(OtherProtocol) as raised:
        protocol112.decode(GOOD[:9] + b"\x06" + GOOD[10:])
    assert isinstance(raised.value, NotCarp) and isinstance(raised.value, NotVrrp)


def outcome(decoder, data: bytes):
    try:
        return decoder(data)
    except PacketError as exc:
        return type(exc), str(exc)


CARP_PACKET = carpwire.build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=1)


@settings(max_examples=500)
@given(st.one_of(st.binary(max_size=120), st.builds(lambda cut, noise: CARP_PACKET[:cut] + noise,
                                                    st.integers(0, len(CARP_PACKET)), st.binary(max_size=8))))
def test_anything_but_vrrpv3_decodes_exactly_as_the_carp_decoder_has_it(data):
    """The CARP path is unchanged: same advertisement, or the same error class and message."""
    carp = outcome(carpwire.decode, data)
    both = outcome(protocol112.decode, data)
    if isinstance(carp, tuple) and carp[0] is NotCarp and "VRRPv3" in carp[1]:
        assert isinstance(both, VrrpAdvertisement) or issubclass(both[0], MalformedPacket)
    else:
        assert both == carp


def test_the_old_module_names_are_the_new_modules():
    import carp_pkg.pcap
    import carp_pkg.wire.carp
    import carp_pkg.wire.pcap

    assert carpwire is carp_pkg.wire.carp and carp_pkg.pcap is carp_pkg.wire.pcap
    assert carpwire.MalformedPacket is MalformedPacket and carpwire.NotCarp is NotCarp


# --- a mixed cluster: FreeBSD 15 (carpver 3) and keepalived with the same vrid / prio / interval -------


def freebsd15_advertisement(source: str, destination: str, vrid: int, priority: int, interval: int, addresses,
                            ip_id: int = 0) -> bytes:
    """A VRRPv3 advertisement put together byte by byte from RFC 5798 §5.1, as FreeBSD 15's carp(4) sends it
    for ``ifconfig IF vhid N carpver 3 vrrpprio P vrrpinterval I`` (struct vrrpv3_header: version 3, type 1,
    vrid = vhid, vrrpprio, the count and the vhid's addresses of the packet's family, the 12-bit vrrpinterval
    in centiseconds, the checksum over the pseudo-header). The IP header is the one carp(4) gives every
    advertisement: TOS IPTOS_LOWDELAY, DF, TTL 255, protocol 112 (keepalived's differs: TOS 0xc0, no DF)."""
    is_v6 = ":" in source
    packed = [ipaddress.ip_address(a).packed for a in addresses]
    header = bytes([3 << 4 | 1, vrid, priority, len(packed)]) + (interval & 0x0FFF).to_bytes(2, "big") + bytes(2)
    message = header + b"".join(packed)
    pseudo = (pseudo_v6 if is_v6 else pseudo_v4)(source, destination, len(message))
    checksum = ones_complement_checksum(pseudo + message)
    message = message[:6] + checksum.to_bytes(2, "big") + message[8:]
    if is_v6:
        return (struct.pack("!IHBB", 6 << 28, len(message), 112, 255) + ipaddress.IPv6Address(source).packed
                + ipaddress.IPv6Address(destination).packed + message)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(message), ip_id, 0x4000, 255, 112, 0,
                     ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed)
    ip = ip[:10] + ones_complement_checksum(ip).to_bytes(2, "big") + ip[12:]
    return ip + message


def first_real(source: str, vrid: int, priority: int) -> bytes:
    for frame in keepalived_frames():
        adv = decode(frame.packet)
        if (str(adv.source), adv.vrid, adv.priority) == (source, vrid, priority):
            return frame.packet
    raise AssertionError(f"no advertisement from {source} for vrid {vrid} at priority {priority} in the capture")


@dataclass(frozen=True)
class VrrpVirtualIP(VirtualIP):
    """A config entry with the fields issue 14 adds (until carp_pkg.model has them)."""

    protocol: str = "vrrp"
    vrrpprio: int = 100
    vrrpinterval: int = 100


def vrrp_vip(address: str, vrid: int, prio: int = 100, interval: int = 100, interface: str = "eth0") -> VrrpVirtualIP:
    return VrrpVirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vrid,
                         vrrpprio=prio, vrrpinterval=interval)


@pytest.mark.parametrize(
    "source, destination, vrid, priority, vip",
    [
        ("192.0.2.1", "224.0.0.18", 7, 150, "192.0.2.100"),  # host A, master of vrid 7
        ("192.0.2.2", "224.0.0.18", 7, 100, "192.0.2.100"),  # host B after A resigned
        (B_LINK_LOCAL, "ff02::12", 9, 200, "2001:db8::100"),  # host B, master of vrid 9, IPv6
        ("192.0.2.1", "224.0.0.18", 7, 0, "192.0.2.100"),  # host A resigning
    ],
    ids=["ipv4-master", "ipv4-backup-taking-over", "ipv6", "resign"],
)
def test_freebsd15_and_keepalived_advertisements_agree_on_every_field(source, destination, vrid, priority, vip):
    keepalived = first_real(source, vrid, priority)
    freebsd = freebsd15_advertisement(source, destination, vrid, priority, 10, [vip])  # vrrpinterval 10 = 0.1 s
    header = 20 if ":" not in source else 40
    assert freebsd[header:] == keepalived[header:]  # the VRRP message, checksum included, byte for byte
    assert decode(freebsd) == decode(keepalived)  # every decoded field, IP addresses and TTL included
    assert protocol112.decode(freebsd) == protocol112.decode(keepalived)
    # and sniff says the same of both, against a config.xml entry with that vrid / prio / interval
    config = vrrp_config(CarpConfig(vips=(vrrp_vip(vip + ("/64" if ":" in vip else "/24"), vrid, priority or 100,
                                                    10),)))
    rows = [describe_vrrp(decode(packet), config, 1.0) for packet in (freebsd, keepalived)]
    assert rows[0] == rows[1]
    assert (rows[0]["checksum"], rows[0]["config"], rows[0]["auth"]) == ("ok", "ok", "none")


def test_a_freebsd15_advertisement_with_another_interval_is_a_config_mismatch():
    """vrrpinterval 100 (FreeBSD's default) against keepalived's advert_int 0.1: the backup would wait too long."""
    freebsd = decode(freebsd15_advertisement("192.0.2.3", "224.0.0.18", 7, 120, 100, ["192.0.2.100"]))
    assert freebsd.checksum_ok and freebsd.interval == 100
    config = vrrp_config(CarpConfig(vips=(vrrp_vip("192.0.2.100/24", 7, 150, 10),)))
    assert vrrp_config_status(freebsd, config) == ("mismatch", ["interval 100 cs (config 10)"])


# --- sniff's VRRP rows ------------------------------------------------------------------------------


def test_row_and_line_for_a_real_keepalived_advertisement():
    row = describe_vrrp(decode(REAL_V4), None, 0.5)
    assert row == {
        "time": 0.5,
        "protocol": "vrrp",
        "source": "192.0.2.1",
        "destination": "224.0.0.18",
        "vrid": 7,
        "priority": 150,
        "interval_cs": 10,
        "addresses": ["192.0.2.100"],
        "version": 3,
        "type": 1,
        "ttl": 255,
        "checksum": "ok",
        "auth": "none",
        "config": "unchecked",
        "config_differences": [],
    }
    assert format_vrrp_row(row) == (
        "1970-01-01T00:00:00.500000Z 192.0.2.1 > 224.0.0.18 vrrp vrid 7 prio 150 interval 10 cs, "
        "addresses 192.0.2.100, checksum ok, auth none"
    )


def test_line_flags_a_bad_checksum_a_ttl_and_a_mismatch():
    packet = build_advertisement("192.0.2.9", 7, priority=90, interval=20, addresses=["192.0.2.100", "192.0.2.101"],
                                 ttl=64, checksum=0x1234)
    config = vrrp_config(CarpConfig(vips=(vrrp_vip("192.0.2.100/24", 7, 150, 10),)))
    line = format_vrrp_row(describe_vrrp(decode(packet), config, 0.0))
    assert line == (
        "1970-01-01T00:00:00.000000Z 192.0.2.9 > 224.0.0.18 vrrp vrid 7 prio 90 interval 20 cs, "
        "addresses 192.0.2.100,192.0.2.101, checksum BAD, auth none, config MISMATCH: "
        "addresses 192.0.2.100,192.0.2.101 (config 192.0.2.100); interval 20 cs (config 10) ttl 64 (VRRP needs 255)"
    )


def host_config(*vips, host=("192.0.2.1/24",)) -> CarpConfig:
    return CarpConfig(vips=vips, host_addresses=tuple(("eth0", ipaddress.ip_interface(a)) for a in host))


@pytest.mark.parametrize(
    "config, status, differences",
    [
        (None, "unchecked", []),
        (host_config(vrrp_vip("192.0.2.100/24", 7, 150, 10)), "ok", []),
        # on host B (priority 100), A's advertisements (150) are not held to B's priority
        (host_config(vrrp_vip("192.0.2.100/24", 7, 100, 10), host=("192.0.2.2/24",)), "ok", []),
        (host_config(vrrp_vip("192.0.2.100/24", 7, 120, 10)), "mismatch", ["priority 150 from this host (config 120)"]),
        (host_config(vrrp_vip("192.0.2.100/24", 7, 150, 100)), "mismatch", ["interval 10 cs (config 100)"]),
        (host_config(vrrp_vip("192.0.2.100/24", 7, 150, 10), vrrp_vip("192.0.2.101/24", 7)), "mismatch",
         ["addresses 192.0.2.100 (config 192.0.2.100,192.0.2.101)"]),
        # the other family's VIPs of the vrid are another VRRP instance's business
        (host_config(vrrp_vip("192.0.2.100/24", 7, 150, 10), vrrp_vip("2001:db8::100/64", 7)), "ok", []),
        # a vrid on two interfaces: one agreeing entry is enough
        (host_config(vrrp_vip("192.0.2.100/24", 7, 1, 1, "eth1"), vrrp_vip("192.0.2.100/24", 7, 150, 10)), "ok", []),
        (host_config(vrrp_vip("192.0.2.100/24", 8)), "unknown-vrid", []),
        (host_config(VirtualIP(address=ipaddress.ip_interface("192.0.2.100/24"), interface="eth0", vhid=7)),
         "carp-vhid", []),
    ],
    ids=["no-config", "agrees", "peer-priority", "own-priority", "interval", "addresses", "other-family",
         "two-interfaces", "unknown-vrid", "carp-vhid"],
)
def test_config_check_of_a_real_advertisement(config, status, differences):
    assert vrrp_config_status(decode(REAL_V4), vrrp_config(config)) == (status, differences)


def test_config_check_accepts_a_resigning_own_advertisement_and_maintenance_mode():
    config = vrrp_config(host_config(vrrp_vip("192.0.2.100/24", 7, 150, 10)))
    assert vrrp_config_status(decode(REAL_V4_RESIGN), config) == ("ok", [])
    in_maintenance = build_advertisement("192.0.2.1", 7, priority=1, interval=10, addresses=["192.0.2.100"])
    assert vrrp_config_status(decode(in_maintenance), config) == ("ok", [])


def test_config_check_uses_defaults_when_the_model_has_no_vrrp_fields():
    """protocol / vrrpprio / vrrpinterval are read with getattr: an entry without them is CARP, one without
    vrrpprio / vrrpinterval gets the defaults (100, 100 cs)."""

    @dataclass(frozen=True)
    class OnlyProtocol(VirtualIP):
        protocol: str = "vrrp"

    entry = OnlyProtocol(address=ipaddress.ip_interface("192.0.2.100/24"), interface="eth0", vhid=7)
    (expectation,) = vrrp_config(CarpConfig(vips=(entry,))).expectations
    assert (expectation.vrid, expectation.priority, expectation.interval) == (7, 100, 100)
    assert vrrp_config(CarpConfig(vips=())).expectations == ()
    assert vrrp_config(None) is None
    from carp_pkg import model
    from carp_pkg.commands import sniff

    assert getattr(model, "VRRP_DEFAULT_PRIO", 100) == sniff.VRRP_DEFAULT_PRIORITY
    assert getattr(model, "VRRP_DEFAULT_INTERVAL", 100) == sniff.VRRP_DEFAULT_INTERVAL
    assert getattr(model, "MAINTENANCE_VRRPPRIO", 1) == sniff.VRRP_MAINTENANCE_PRIORITY


def test_the_keepalived_backend_writes_what_freebsd15_and_keepalived_put_on_the_wire():
    """The keepalived backend's vrrp_instance for a config.xml vhid (protocol vrrp, vrrpprio 150, vrrpinterval 10)
    advertises exactly the vrid / priority / interval / addresses that sniff decodes from FreeBSD 15 and from the
    real keepalived (which ran with advert_int 0.1, what the backend writes for 10 cs)."""
    keepalived_conf = pytest.importorskip("carp_pkg.backends.keepalived_conf")
    if "protocol" not in VirtualIP.__dataclass_fields__:
        pytest.skip("carp_pkg.model.VirtualIP has no protocol field yet")
    entry = VirtualIP(address=ipaddress.ip_interface("192.0.2.100/24"), interface="eth0", vhid=7,
                      protocol="vrrp", vrrpprio=150, vrrpinterval=10)
    (group,) = CarpConfig(vips=(entry,)).groups()
    instance = keepalived_conf.build_instance(group, True, (), None)
    assert keepalived_conf.advert_int(instance.interval) == "0.1"
    expected = (instance.vrid, instance.priority, instance.interval, tuple(a.ip for a in instance.addresses))
    freebsd = decode(freebsd15_advertisement("192.0.2.1", "224.0.0.18", 7, 150, 10, ["192.0.2.100"]))
    keepalived = decode(first_real("192.0.2.1", 7, 150))
    for adv in (freebsd, keepalived):
        assert (adv.vrid, adv.priority, adv.interval, adv.addresses) == expected
    assert vrrp_config_status(freebsd, vrrp_config(CarpConfig(vips=(entry,)))) == ("ok", [])
