"""Issue 14: VRRPv3 advertisements on hostile input. VRRP messages built field by field with every field free
(version, type, count, interval, addresses, checksum, lengths), damaged (bytes flipped, cut, grown) or replaced by
random bytes, in IPv4 and IPv6 packets: the protocol-112 decoder returns a CARP or VRRPv3 advertisement or raises a
PacketError, nothing else, and `sniff -r` shows each packet as exactly one row or one malformed row, exit 0, no
traceback, valid JSON. Plus the real keepalived capture with every byte of its advertisements damaged."""

from __future__ import annotations

import ipaddress
import json
import os
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg.wire import protocol112
from carp_pkg.wire.carp import Advertisement
from carp_pkg.wire.ip import PacketError, internet_checksum, pseudo_header
from carp_pkg.wire.pcap import PcapReader
from carp_pkg.wire.vrrp import VrrpAdvertisement, build_advertisement

from tests.helpers import run_cli
from tests.reliability.figures import FIGURES, FUZZ
from tests.test_pcap import json_values

FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
KEEPALIVED_CAPTURE = Path(__file__).parent.parent / "fixtures" / "pcap" / "keepalived-vrrp3.pcap"
VRRP_KEYS = {"time", "protocol", "source", "destination", "vrid", "priority", "interval_cs", "addresses", "version",
             "type", "ttl", "checksum", "auth", "config", "config_differences"}

with open(KEEPALIVED_CAPTURE, "rb") as _stream:
    REAL_PACKETS = [frame.packet for frame in PcapReader(_stream)][:2]  # one IPv6 (vrid 9), one IPv4 (vrid 7)

# --- packets: an IP header of either family around VRRP bytes, independent of the module's encoder ---------------

V4_SOURCE, V4_GROUP = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18")
V6_SOURCE, V6_GROUP = ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("ff02::12")


def ip_packet(message: bytes, family: int, ttl: int = 255, hop_by_hop: bool = False) -> bytes:
    if family == 6:
        extension = bytes([112, 0, 1, 4, 0, 0, 0, 0]) if hop_by_hop else b""
        next_header = 0 if hop_by_hop else 112
        return (struct.pack("!IHBB", 6 << 28, len(extension) + len(message), next_header, ttl)
                + V6_SOURCE.packed + V6_GROUP.packed + extension + message)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(message), 0, 0, ttl, 112, 0, V4_SOURCE.packed,
                         V4_GROUP.packed)
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:] + message


FAULTS = ("version", "type", "count", "interval", "checksum", "cut", "trailing")


@st.composite
def vrrp_messages(draw):
    """(family, message): a VRRPv3 advertisement with any vrid, priority, addresses and reserved bits, and none,
    one or several faults: any version, type, count or interval word, a wrong checksum, cut short, bytes after."""
    family = draw(st.sampled_from([4, 6]))
    faults = set(draw(st.lists(st.sampled_from(FAULTS), max_size=3, unique=True)))
    size = 16 if family == 6 else 4
    addresses = draw(st.integers(0 if "count" in faults else 1, 6))  # how many are there, whatever the count says
    version = draw(st.integers(0, 15)) if "version" in faults else 3
    type_ = draw(st.integers(0, 15)) if "type" in faults else 1
    count = draw(st.integers(0, 255)) if "count" in faults else addresses
    word = draw(st.integers(0, 0xFFFF)) if "interval" in faults else draw(st.integers(0, 15)) << 12 | draw(
        st.integers(1, 0x0FFF))
    body = draw(st.binary(min_size=addresses * size, max_size=addresses * size))
    message = struct.pack("!BBBBHH", version << 4 | type_, draw(st.integers(0, 255)), draw(st.integers(0, 255)),
                          count, word, 0) + body
    source, destination = (V6_SOURCE, V6_GROUP) if family == 6 else (V4_SOURCE, V4_GROUP)
    checksum = internet_checksum(pseudo_header(source, destination, len(message)) + message)
    if "checksum" in faults:
        checksum ^= draw(st.integers(1, 0xFFFF))
    message = message[:6] + struct.pack("!H", checksum) + message[8:]
    if "cut" in faults:
        message = message[:draw(st.integers(0, len(message) - 1))]
    if "trailing" in faults:
        message += draw(st.binary(min_size=1, max_size=20))
    return family, message


packets = st.one_of(
    st.builds(lambda fm, ttl, hbh: ip_packet(fm[1], fm[0], ttl, hbh), vrrp_messages(), st.sampled_from([255, 1, 64]),
              st.booleans()),
    st.builds(lambda family, noise: ip_packet(b"\x31" + noise, family), st.sampled_from([4, 6]),
              st.binary(max_size=60)),
)


def damaged_real_packets():
    """A real keepalived advertisement with one byte of its VRRP message set to another value, or cut short."""
    def damage(index, position, value, cut):
        packet = bytearray(REAL_PACKETS[index])
        header = 40 if packet[0] >> 4 == 6 else 20
        position = header + position % (len(packet) - header)
        packet[position] = value
        packet = bytes(packet)
        return packet[:header + cut % (len(packet) - header + 1)] if cut is not None else packet

    return st.builds(damage, st.integers(0, len(REAL_PACKETS) - 1), st.integers(0, 1000), st.integers(0, 255),
                     st.one_of(st.none(), st.integers(0, 1000)))


# --- the properties --------------------------------------------------------------------------------------------


def decoded(packet: bytes):
    """The advertisement, or None for a PacketError; any other exception fails the test."""
    try:
        adv = protocol112.decode(packet)
    except PacketError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return None
    assert isinstance(adv, (Advertisement, VrrpAdvertisement))
    if isinstance(adv, VrrpAdvertisement):
        assert adv.version == 3 and adv.type == 1
        assert adv.count == len(adv.addresses) >= 1 and 1 <= adv.interval <= 4095
        assert all(a.version == adv.source.version for a in adv.addresses)
        expected = internet_checksum(pseudo_header(adv.source, adv.destination, 8 + adv.count * (16 if adv.source.version
                                                                                                  == 6 else 4)) +
                                     packet[-(8 + adv.count * (16 if adv.source.version == 6 else 4)):]) == 0
        assert adv.checksum_ok == expected
    return adv


def pcap_of(packets_) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101)
    for seconds, packet in enumerate(packets_, 1):
        out += struct.pack("<IIII", seconds, 0, len(packet), len(packet)) + packet
    return out


def sniff_shows_one_row_per_packet(packets_) -> None:
    """Text and JSON: exit 0, no traceback, one line per packet (every one is protocol 112), each a row or an error."""
    with tempfile.TemporaryDirectory() as workdir:
        path = os.path.join(workdir, "fuzzed.pcap")
        with open(path, "wb") as handle:
            handle.write(pcap_of(packets_))
        for as_json in (False, True):
            result = run_cli(["--root", workdir, "sniff", "-r", path, *(["--json"] if as_json else [])])
            assert result.code == 0, result
            assert "Traceback" not in result.out + result.err and result.err == ""
            lines = result.out.splitlines()
            assert len(lines) == len(packets_), result
            if as_json:
                rows = json_values(result.out)  # NaN / Infinity refused
                assert len(rows) == len(packets_)
                for row, packet in zip(rows, packets_):
                    adv = decoded(packet)
                    if adv is None:
                        assert set(row) == {"time", "error"} and isinstance(row["error"], str)
                    elif isinstance(adv, VrrpAdvertisement):
                        assert set(row) == VRRP_KEYS and row["protocol"] == "vrrp" and row["auth"] == "none"
                        assert row["checksum"] == ("ok" if adv.checksum_ok else "bad")
                        assert json.dumps(row)  # round-trips
                    else:
                        assert "vhid" in row and row["protocol"] == "carp"
            else:
                for line, packet in zip(lines, packets_):
                    adv = decoded(packet)
                    if adv is None:
                        assert " malformed packet: " in line
                    elif isinstance(adv, VrrpAdvertisement):
                        assert f" vrrp vrid {adv.vrid} prio {adv.priority} interval {adv.interval} cs," in line
                        assert ", auth none" in line


@settings(max_examples=500, **FUZZ_SETTINGS)
@given(packets)
def test_any_vrrp_packet_decodes_or_raises_a_packet_error(packet):
    with FIGURES.case(FUZZ):
        decoded(packet)


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(damaged_real_packets())
def test_damaged_real_keepalived_advertisements_decode_or_raise_a_packet_error(packet):
    with FIGURES.case(FUZZ):
        adv = decoded(packet)
        if isinstance(adv, VrrpAdvertisement) and packet not in REAL_PACKETS:
            assert adv.checksum_ok is False  # one changed byte of a good message always shows


@settings(max_examples=150, **FUZZ_SETTINGS)
@given(st.lists(st.one_of(packets, damaged_real_packets()), min_size=1, max_size=6))
def test_sniff_shows_every_fuzzed_packet_as_one_row(packets_):
    with FIGURES.case(FUZZ):
        sniff_shows_one_row_per_packet(packets_)


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(st.sampled_from([4, 6]), st.integers(0, 255), st.integers(0, 255), st.integers(1, 4095), st.integers(1, 30),
       st.integers(0, 255))
def test_every_valid_advertisement_round_trips_through_the_command_line(family, vrid, priority, interval, count, ttl):
    with FIGURES.case(FUZZ):
        source = V6_SOURCE if family == 6 else V4_SOURCE
        addresses = [source + 0x100 + n for n in range(count)]
        packet = build_advertisement(source, vrid, priority=priority, interval=interval, addresses=addresses, ttl=ttl)
        with tempfile.TemporaryDirectory() as workdir:
            path = os.path.join(workdir, "valid.pcap")
            with open(path, "wb") as handle:
                handle.write(pcap_of([packet]))
            result = run_cli(["--root", workdir, "sniff", "-r", path, "--json"])
        assert result.code == 0
        (row,) = json_values(result.out)
        assert (row["vrid"], row["priority"], row["interval_cs"], row["ttl"]) == (vrid, priority, interval, ttl)
        assert row["addresses"] == [str(a) for a in addresses] and row["checksum"] == "ok"
