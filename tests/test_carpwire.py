"""CARP advertisement decoding, encoding and HMAC checks (carp_pkg.carpwire, sniff's pure part)."""

from __future__ import annotations

import hashlib
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg import carpwire
from carp_pkg.carpwire import (
    Advertisement,
    MalformedPacket,
    NotCarp,
    PacketError,
    build_advertisement,
    decode,
    expected_hmac,
    verify,
)
from carp_pkg.commands.sniff import describe, format_row
from carp_pkg.errors import CarpError, ConfigError
from carp_pkg.model import CarpConfig, VirtualIP

# Real advertisements sent by ucarp 1.5.2 (Debian 12) between two network namespaces,
# IP header onwards (see tests/fixtures/pcap/make_ucarp_capture.sh):
#   ucarp -s 192.0.2.1 -v 7 -p 'S3cret pass!' -a 192.0.2.100 -b 1 -k 10
#   ucarp -s 192.0.2.2 -v 7 -p 'S3cret pass!' -a 192.0.2.100 -b 1 -k 50
UCARP_PASSWORD = "S3cret pass!"
UCARP_VIP = "192.0.2.100"
REAL_FROM_A = bytes.fromhex(
    "45100038197c4000ff70bfb5c0000201e0000012"
    "21070a070001c79656ef44b6a5962da7672c1a5598083459c8cfe96e4907d3829c09e5c0"
)
REAL_FROM_B = bytes.fromhex(
    "45100038036d4000ff70d5c3c0000202e0000012"
    "2107320700015ddbf7865c8fec6342798529bf8767a230b8c86aa21adcd2fa8a72483aea"
)


def hand_hmac(password: bytes, message: bytes) -> bytes:
    """HMAC-SHA1 spelled out as carp_hmac_prepare()/carp_hmac_generate() do it (not via the hmac module).

    sc_key is CARP_KEY_LEN (20) bytes; it is copied into a zeroed 64-byte pad,
    XORed with 0x36 for the inner hash and with 0x5c for the outer one.
    """
    key = password[:19].ljust(20, b"\x00")
    pad = key.ljust(64, b"\x00")
    ipad = bytes(b ^ 0x36 for b in pad)
    opad = bytes(b ^ 0x5C for b in pad)
    inner = hashlib.sha1(ipad + message).digest()
    return hashlib.sha1(opad + inner).digest()


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


# --- real packets ---------------------------------------------------------------


def test_real_ucarp_packet_decodes_field_by_field():
    adv = decode(REAL_FROM_A)
    assert adv.source == ipaddress.IPv4Address("192.0.2.1")
    assert adv.destination == ipaddress.IPv4Address("224.0.0.18")
    assert (adv.ttl, adv.version, adv.type, adv.vhid) == (255, 2, 1, 7)
    assert (adv.advskew, adv.authlen, adv.demote, adv.advbase) == (10, 7, 0, 1)
    assert adv.checksum == 0xC796 and adv.checksum_ok
    assert adv.counter == 0x56EF44B6A5962DA7
    assert adv.hmac == bytes.fromhex("672c1a5598083459c8cfe96e4907d3829c09e5c0")
    assert adv.family == "inet"


def test_real_ucarp_hmac_matches_the_hand_computation_from_ucarp_source():
    adv = decode(REAL_FROM_A)
    message = bytes([2, 1, 7]) + ip4(UCARP_VIP) + struct.pack("!II", adv.counter >> 32, adv.counter & 0xFFFFFFFF)
    assert hand_hmac(UCARP_PASSWORD.encode(), message) == adv.hmac


@pytest.mark.parametrize("packet", [REAL_FROM_A, REAL_FROM_B])
@pytest.mark.parametrize("style", ["freebsd", "ucarp"])
def test_real_ucarp_packets_verify_with_their_password_and_vip(packet, style):
    assert verify(decode(packet), UCARP_PASSWORD, [UCARP_VIP], style=style) == "ok"


@pytest.mark.parametrize(
    "password, addresses",
    [
        ("S3cret pass", [UCARP_VIP]),  # one character short
        ("s3cret pass!", [UCARP_VIP]),
        (UCARP_PASSWORD, ["192.0.2.101"]),  # another VIP
        (UCARP_PASSWORD, [UCARP_VIP, "192.0.2.101"]),  # an extra VIP (FreeBSD hashes all of them)
        (UCARP_PASSWORD, []),
    ],
)
def test_real_ucarp_packet_mismatches_other_password_or_vips(password, addresses):
    assert verify(decode(REAL_FROM_A), password, addresses) == "mismatch"


def test_real_packet_with_another_counter_no_longer_verifies():
    """The counter is inside the HMAC (scapy's helper leaves it out; ucarp and FreeBSD do not)."""
    real = decode(REAL_FROM_A)
    replayed = Advertisement(**{**real.__dict__, "counter": real.counter + 1})
    assert verify(replayed, UCARP_PASSWORD, [UCARP_VIP]) == "mismatch"
    without_counter = hand_hmac(UCARP_PASSWORD.encode(), bytes([2, 1, 7]) + ip4(UCARP_VIP))
    assert without_counter != real.hmac


def test_encoder_reproduces_a_real_ucarp_packet_byte_for_byte():
    real = decode(REAL_FROM_A)
    built = build_advertisement(
        "192.0.2.1",
        7,
        password=UCARP_PASSWORD,
        addresses=[UCARP_VIP],
        counter=real.counter,
        advbase=1,
        advskew=10,
        ip_id=0x197C,
    )
    assert built == REAL_FROM_A


# --- HMAC known answers (FreeBSD 10+ rules) ----------------------------------------


def test_freebsd_hmac_hashes_ipv4_ascending_then_ipv6_ascending():
    configured = ["2001:db8::20", "192.0.2.20", "2001:db8::3", "192.0.2.3", "10.0.0.1"]
    counter = 0x0102030405060708
    message = (
        bytes([2, 1, 42])
        + ip4("10.0.0.1")
        + ip4("192.0.2.3")
        + ip4("192.0.2.20")  # numeric order, not text order
        + ip6("2001:db8::3")
        + ip6("2001:db8::20")
        + bytes.fromhex("0102030405060708")
    )
    assert expected_hmac("pw", 42, configured, counter) == hand_hmac(b"pw", message)


def test_freebsd_hmac_does_not_depend_on_the_order_vips_are_listed():
    one = expected_hmac("pw", 3, ["192.0.2.9", "192.0.2.10", "2001:db8::1"], 77)
    other = expected_hmac("pw", 3, ["2001:db8::1", "192.0.2.10", "192.0.2.9"], 77)
    assert one == other


def test_freebsd_hmac_hashes_a_repeated_address_once():
    once = expected_hmac("pw", 3, ["192.0.2.9"], 5)
    assert expected_hmac("pw", 3, ["192.0.2.9", "192.0.2.9/24"], 5) == once


def test_freebsd_hmac_accepts_interfaces_and_scoped_addresses():
    plain = expected_hmac("pw", 1, ["192.0.2.9", "fe80::1"], 5)
    assert expected_hmac("pw", 1, [ipaddress.ip_interface("192.0.2.9/24"), "fe80::1%em0"], 5) == plain


def test_freebsd_truncates_the_password_to_19_bytes_like_ifconfig_strlcpy():
    long_password = "abcdefghijklmnopqrsTUVWXYZ"
    assert expected_hmac(long_password, 1, ["192.0.2.1"], 9) == expected_hmac(long_password[:19], 1, ["192.0.2.1"], 9)
    nineteen = expected_hmac(long_password[:19], 1, ["192.0.2.1"], 9)
    assert nineteen != expected_hmac(long_password[:18], 1, ["192.0.2.1"], 9)


def test_empty_password_is_an_all_zero_key():
    message = bytes([2, 1, 1]) + ip4("192.0.2.1") + bytes(8)
    assert expected_hmac("", 1, ["192.0.2.1"], 0) == hand_hmac(b"", message)


def test_vhid_and_counter_are_part_of_the_hmac():
    base = expected_hmac("pw", 1, ["192.0.2.1"], 1)
    assert expected_hmac("pw", 2, ["192.0.2.1"], 1) != base
    assert expected_hmac("pw", 1, ["192.0.2.1"], 2) != base
    assert expected_hmac("pw", 1, ["192.0.2.1"], 1 << 32) != base  # the high word counts too


def test_ucarp_style_equals_freebsd_style_for_one_ipv4_address():
    assert expected_hmac("pw", 5, ["192.0.2.5"], 123, style="ucarp") == expected_hmac("pw", 5, ["192.0.2.5"], 123)


@pytest.mark.parametrize("addresses", [["192.0.2.1", "192.0.2.2"], ["2001:db8::1"], []])
def test_ucarp_style_needs_exactly_one_ipv4_address(addresses):
    with pytest.raises(ConfigError, match="one IPv4 address"):
        expected_hmac("pw", 1, addresses, 0, style="ucarp")


def test_ucarp_style_refuses_passwords_ucarp_refuses():
    assert len(expected_hmac("x" * 19, 1, ["192.0.2.1"], 0, style="ucarp")) == 20
    with pytest.raises(ConfigError, match="20 bytes or more"):
        expected_hmac("x" * 20, 1, ["192.0.2.1"], 0, style="ucarp")


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown HMAC style"):
        expected_hmac("pw", 1, ["192.0.2.1"], 0, style="openbsd")


# --- encode / decode ------------------------------------------------------------------

addresses_v4 = st.integers(min_value=1, max_value=0xFFFFFFFE).map(ipaddress.IPv4Address)
addresses_v6 = st.integers(min_value=1, max_value=(1 << 128) - 2).map(ipaddress.IPv6Address)
byte = st.integers(min_value=0, max_value=255)


@settings(max_examples=200)
@given(
    source=st.one_of(addresses_v4, addresses_v6),
    vhid=byte,
    advskew=byte,
    advbase=byte,
    demote=byte,
    counter=st.integers(min_value=0, max_value=(1 << 64) - 1),
    password=st.text(max_size=25),
)
def test_build_then_decode_round_trips(source, vhid, advskew, advbase, demote, counter, password):
    vips = [source]
    packet = build_advertisement(
        source, vhid, password=password, addresses=vips, counter=counter,
        advbase=advbase, advskew=advskew, demote=demote,
    )
    adv = decode(packet)
    group = carpwire.CARP_GROUP_V6 if source.version == 6 else carpwire.CARP_GROUP_V4
    assert (adv.source, adv.destination, adv.ttl) == (source, group, 255)
    assert (adv.version, adv.type, adv.vhid) == (2, 1, vhid)
    assert (adv.advskew, adv.advbase, adv.demote) == (advskew, advbase, demote)
    assert (adv.authlen, adv.counter, adv.checksum_ok) == (7, counter, True)
    assert verify(adv, password, vips) == "ok"


def test_built_ipv4_header_has_a_valid_checksum_and_carp_fields():
    packet = build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=1)
    assert len(packet) == 56
    assert carpwire.internet_checksum(packet[:20]) == 0
    assert packet[0] == 0x45 and packet[8] == 255 and packet[9] == 112
    assert struct.unpack("!H", packet[2:4])[0] == 56
    assert packet[20] == 0x21  # version 2 in the high nibble, type 1 in the low one


def test_ipv6_advertisement_goes_to_ff02_12_with_hop_limit_255():
    packet = build_advertisement("2001:db8::7", 3, password="pw", addresses=["2001:db8::70"], counter=1)
    assert len(packet) == 40 + 36
    assert packet[6] == 112 and packet[7] == 255
    assert packet[24:40] == ip6("ff02::12")
    assert verify(decode(packet), "pw", ["2001:db8::70"]) == "ok"


def test_ipv6_hop_by_hop_header_is_skipped():
    plain = build_advertisement("2001:db8::7", 3, password="pw", addresses=["2001:db8::70"], counter=1)
    hop_by_hop = bytes([112, 0, 1, 4, 0, 0, 0, 0])  # next header CARP, 8 bytes, PadN
    header = bytearray(plain[:40])
    header[4:6] = struct.pack("!H", 36 + 8)
    header[6] = 0
    adv = decode(bytes(header) + hop_by_hop + plain[40:])
    assert adv.vhid == 3 and adv.checksum_ok


@given(position=st.integers(min_value=21, max_value=55), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_in_the_carp_header_fails_the_checksum(position, flip):
    # (byte 20 is left out: changing the version to 3 turns the packet into VRRPv3)
    packet = bytearray(build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=99))
    packet[position] ^= flip
    assert decode(bytes(packet)).checksum_ok is False


def test_decoder_reports_what_the_packet_says_even_when_unusual():
    packet = build_advertisement("192.0.2.7", 3, hmac=bytes(20), ttl=64, demote=5, destination="192.0.2.8")
    adv = decode(packet)
    assert (adv.ttl, adv.demote, adv.destination) == (64, 5, ipaddress.IPv4Address("192.0.2.8"))
    assert adv.hmac == bytes(20)


# --- malformed and foreign packets -------------------------------------------------------

GOOD = build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=1)
GOOD6 = build_advertisement("2001:db8::7", 3, password="pw", addresses=["2001:db8::70"], counter=1)


def with_bytes(packet: bytes, offset: int, new: bytes) -> bytes:
    return packet[:offset] + new + packet[offset + len(new) :]


@pytest.mark.parametrize(
    "packet, message",
    [
        (b"", "empty packet"),
        (b"\x45\x00", "IPv4 header needs 20 bytes, got 2"),
        (with_bytes(GOOD, 0, b"\x55"), "IP version field 5"),
        (with_bytes(GOOD, 0, b"\x44"), "header length 16 is below"),
        (GOOD[:40], "truncated: total length 56, captured 40"),
        (with_bytes(GOOD, 2, struct.pack("!H", 10)), "total length 10 is shorter than its header"),
        (with_bytes(GOOD, 2, struct.pack("!H", 40)), "CARP header needs 36 bytes, got 20"),
        (with_bytes(GOOD, 6, b"\x20\x00"), "fragmented"),
        (GOOD6[:30], "IPv6 header needs 40 bytes, got 30"),
        (GOOD6[:60], "IPv6 packet truncated"),
        (with_bytes(GOOD6, 6, b"\x2c"), "fragmented"),
        (with_bytes(GOOD6, 4, b"\x00\x04"), "CARP header needs 36 bytes, got 4"),
    ],
)
def test_malformed_packets_raise_a_clear_carp_error(packet, message):
    with pytest.raises(MalformedPacket, match=message) as raised:
        decode(packet)
    assert isinstance(raised.value, CarpError)


def test_other_protocols_are_not_carp():
    udp = with_bytes(GOOD, 9, b"\x11")
    with pytest.raises(NotCarp, match="protocol 17 is not CARP"):
        decode(udp)
    with pytest.raises(NotCarp, match="next header 58 is not CARP"):
        decode(with_bytes(GOOD6, 6, b"\x3a"))


def test_vrrpv3_on_protocol_112_is_not_mistaken_for_carp():
    vrrp = with_bytes(GOOD, 20, b"\x31")
    with pytest.raises(NotCarp, match="VRRPv3"):
        decode(vrrp)


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_decode_or_raise_a_packet_error(data):
    try:
        adv = decode(data)
    except PacketError:
        return
    assert isinstance(adv, Advertisement)


def ipv6_with_extensions(extensions: bytes, first_next_header: int, payload: bytes = GOOD6[40:]) -> bytes:
    """GOOD6 with the given extension header bytes put between its header and the CARP header."""
    header = bytearray(GOOD6[:40])
    header[4:6] = struct.pack("!H", len(extensions) + len(payload))
    header[6] = first_next_header
    return bytes(header) + extensions + payload


def with_ipv4_options(options: bytes) -> bytes:
    """GOOD with IPv4 options (a multiple of 4 bytes): IHL and total length grown to match."""
    ihl = (20 + len(options)) // 4
    header = bytes([0x40 | ihl]) + GOOD[1:2] + struct.pack("!H", len(GOOD) + len(options)) + GOOD[4:20]
    return header + options + GOOD[20:]


def test_ipv4_options_are_skipped():
    adv = decode(with_ipv4_options(bytes([148, 4, 0, 0])))  # router alert
    assert adv.vhid == 3 and adv.checksum_ok


def test_a_chain_of_ipv6_extension_headers_is_skipped():
    hop_by_hop = bytes([60, 0, 1, 4, 0, 0, 0, 0])  # then destination options
    destination = bytes([112, 1, 1, 12]) + bytes(12)  # then CARP; 16 bytes
    adv = decode(ipv6_with_extensions(hop_by_hop + destination, 0))
    assert adv.vhid == 3 and adv.checksum_ok


@pytest.mark.parametrize(
    "packet, message",
    [
        (with_bytes(GOOD, 0, b"\x40"), "header length 0 is below the minimum of 20"),
        (with_bytes(GOOD, 0, b"\x4f"), "total length 56 is shorter than its header \\(60\\)"),
        (with_bytes(GOOD, 2, struct.pack("!H", 0xFFFF)), "total length 65535, captured 56"),
        (with_bytes(GOOD, 2, struct.pack("!H", 0)), "total length 0 is shorter"),
        (with_bytes(with_ipv4_options(bytes(40)), 2, struct.pack("!H", 60)), "CARP header needs 36 bytes, got 0"),
        (with_bytes(GOOD6, 4, b"\xff\xff"), "payload length 65535, captured 36"),
        (with_bytes(GOOD6, 4, b"\x00\x00"), "CARP header needs 36 bytes, got 0"),
        # payload length 0 (a jumbogram) with a hop-by-hop header that is not there
        (with_bytes(with_bytes(GOOD6, 4, b"\x00\x00"), 6, b"\x00"), "extension header 0 runs past the end"),
        # an extension header that claims 2 KiB, of a chain that then names another protocol
        (ipv6_with_extensions(bytes([17, 255, 0, 0, 0, 0, 0, 0]), 60, b""), "run past the end of the packet"),
        (ipv6_with_extensions(bytes([112, 255, 0, 0, 0, 0, 0, 0]), 43), "run past the end of the packet"),
        (ipv6_with_extensions(bytes([44, 0]) + bytes(6), 0), "fragmented"),
        (ipv6_with_extensions(bytes([0, 0]) + bytes(6), 0, b""), "extension header 0 runs past the end"),
    ],
    ids=["ihl-0", "ihl-15-beyond-total", "total-length-too-long", "total-length-0", "options-fill-packet",
         "ipv6-payload-too-long", "ipv6-payload-0", "ipv6-jumbo-without-header", "ipv6-extension-too-long",
         "ipv6-routing-too-long", "ipv6-fragment-after-hop-by-hop", "ipv6-chain-without-end"],
)
def test_crafted_ip_headers_are_malformed_not_a_crash(packet, message):
    with pytest.raises(MalformedPacket, match=message):
        decode(packet)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1))
def test_every_truncation_of_a_good_packet_is_reported_as_malformed(length):
    with pytest.raises(MalformedPacket):
        decode(GOOD[:length])


# --- sniff's report rows ------------------------------------------------------------------


def config(*vips: VirtualIP) -> CarpConfig:
    return CarpConfig(vips=vips)


def vip(address: str, vhid: int, password: str, interface: str = "eth0") -> VirtualIP:
    return VirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vhid, password=password)


def test_describe_row_for_a_real_advertisement_with_matching_config():
    groups = config(vip("192.0.2.100/24", 7, UCARP_PASSWORD)).groups()
    row = describe(decode(REAL_FROM_A), groups, 1700000000.25)
    assert row == {
        "protocol": "carp",
        "time": 1700000000.25,
        "source": "192.0.2.1",
        "destination": "224.0.0.18",
        "vhid": 7,
        "advskew": 10,
        "advbase": 1,
        "demote": 0,
        "counter": 0x56EF44B6A5962DA7,
        "version": 2,
        "type": 1,
        "ttl": 255,
        "checksum": "ok",
        "hmac": "ok",
    }


@pytest.mark.parametrize(
    "configured, status",
    [
        (None, "unchecked"),
        ((vip("192.0.2.100/24", 8, UCARP_PASSWORD),), "unknown-vhid"),
        ((vip("192.0.2.100/24", 7, "wrong"),), "mismatch"),
        ((vip("192.0.2.100/24", 7, UCARP_PASSWORD), vip("192.0.2.101/24", 7, UCARP_PASSWORD)), "mismatch"),
        ((vip("192.0.2.100/24", 7, "wrong", "eth1"), vip("192.0.2.100/24", 7, UCARP_PASSWORD, "eth0")), "ok"),
    ],
)
def test_describe_checks_the_hmac_against_the_vhid_group(configured, status):
    groups = None if configured is None else config(*configured).groups()
    assert describe(decode(REAL_FROM_A), groups)["hmac"] == status


def test_human_row_shows_the_fields_and_never_the_password():
    groups = config(vip("192.0.2.100/24", 7, UCARP_PASSWORD)).groups()
    line = format_row(describe(decode(REAL_FROM_A), groups, 0.5))
    assert line == (
        "1970-01-01T00:00:00.500000Z 192.0.2.1 > 224.0.0.18 vhid 7 advskew 10 advbase 1 demote 0 "
        f"counter {0x56EF44B6A5962DA7} hmac ok"
    )
    assert UCARP_PASSWORD not in line


def test_human_row_flags_mismatch_bad_checksum_and_ttl():
    packet = bytearray(
        build_advertisement("192.0.2.7", 3, password="theirs", addresses=["192.0.2.70"], counter=4, ttl=1)
    )
    packet[-1] ^= 0xFF
    groups = config(vip("192.0.2.70/24", 3, "ours")).groups()
    line = format_row(describe(decode(bytes(packet)), groups, 0.0))
    assert "hmac MISMATCH" in line and "checksum BAD" in line and "ttl 1 (CARP needs 255)" in line
    assert "ours" not in line and "theirs" not in line
