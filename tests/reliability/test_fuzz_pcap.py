"""Issue 6: the pcap / pcapng reader on hostile input. Valid captures from a small writer, damaged (bytes flipped,
cut, inserted, blocks inserted, lengths rewritten) or replaced by random bytes: PcapReader yields frames or raises
PcapError, nothing else, in a bounded number of bounded reads, and `sniff -r` exits 0 or 3 with at most one error
line and valid JSON. Plus a corpus of hand-crafted malformed blocks, each one error line and exit 3."""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg.carpwire import build_advertisement
from carp_pkg.pcap import LATEST_TIMESTAMP, MAX_BLOCK, MAX_INTERFACES, MAX_RECORD, PcapError, PcapReader

from tests.helpers import run_cli
from tests.reliability.figures import FIGURES, FUZZ
from tests.test_pcap import json_values, reported_errors

CRAFTED = "crafted captures"
FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

PACKET4 = build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=11)
PACKET6 = build_advertisement("2001:db8::7", 4, password="pw", addresses=["2001:db8::70"], counter=12)

# --- a small capture writer, independent of the reader -------------------------------------------------------

def ethertype(packet: bytes) -> int:
    return 0x86DD if packet[:1] and packet[0] >> 4 == 6 else 0x0800


def bsd_family(packet: bytes) -> int:
    return 28 if packet[:1] and packet[0] >> 4 == 6 else 2


LINK_FRAMERS = {
    1: lambda packet: bytes(12) + struct.pack("!H", ethertype(packet)) + packet,
    101: lambda packet: packet,
    0: lambda packet: struct.pack("<I", bsd_family(packet)) + packet,
    113: lambda packet: struct.pack("!HHH8sH", 0, 1, 6, bytes(8), ethertype(packet)) + packet,
    276: lambda packet: struct.pack("!HHIHBB8s", ethertype(packet), 0, 2, 1, 0, 6, bytes(8)) + packet,
}


def pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def block(order: str, block_type: int, body: bytes) -> bytes:
    length = 12 + len(pad4(body))
    return struct.pack(order + "II", block_type, length) + pad4(body) + struct.pack(order + "I", length)


def section_header(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + pad4(value)


def interface_block(order: str, linktype: int, snaplen: int = 0, tsresol=None, tsoffset=None) -> bytes:
    options = b""
    if tsresol is not None:
        options += option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        options += option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += struct.pack(order + "HH", 0, 0)
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def enhanced_packet(order: str, interface: int, ticks: int, frame: bytes, captured=None) -> bytes:
    captured = len(frame) if captured is None else captured
    header = struct.pack(order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, captured, len(frame))
    return block(order, 6, header + pad4(frame))


def obsolete_packet(order: str, interface: int, ticks: int, frame: bytes) -> bytes:
    header = struct.pack(order + "HHIIII", interface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return block(order, 2, header + pad4(frame))


def simple_packet(order: str, frame: bytes, original=None) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(frame) if original is None else original) + pad4(frame))


def classic_header(order: str = "<", linktype: int = 101, major: int = 2, magic: int = 0xA1B2C3D4) -> bytes:
    return struct.pack(order + "IHHiIII", magic, major, 4, 0, 0, 262144, linktype)


def classic_record(order: str, seconds: int, fraction: int, frame: bytes, captured=None) -> bytes:
    captured = len(frame) if captured is None else captured
    return struct.pack(order + "IIII", seconds, fraction, captured, len(frame)) + frame


# --- strategies ------------------------------------------------------------------------------------------------

orders = st.sampled_from("<>")
linktypes = st.sampled_from(sorted(LINK_FRAMERS) + [147])  # 147: a link type the reader does not know
packets = st.sampled_from([PACKET4, PACKET6, PACKET4[:30], b""])
VALID_TSRESOLS = [None, 0, 6, 9, 19, 0x80 | 10, 0x80 | 63]
VALID_TSOFFSETS = [None, 0, 1_700_000_000]
HOSTILE_TSRESOLS = [20, 0x80 | 64]
HOSTILE_TSOFFSETS = [-1, (1 << 63) - 1]
HOSTILE_TICKS = [(1 << 64) - 1, 1 << 63]


def frame_for(linktype: int, packet: bytes) -> bytes:
    return LINK_FRAMERS.get(linktype, LINK_FRAMERS[101])(packet)


def ticks_per_second(tsresol) -> int:
    if tsresol is None:
        return 10 ** 6
    return 1 << (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def ticks_at(when, tsresol) -> int:
    unit, value = when
    return value if unit == "ticks" else value * ticks_per_second(tsresol) % (1 << 64)


@st.composite
def pcapng_sections(draw, hostile: bool):
    """(section bytes, packet blocks in it); hostile sections may hold values the reader must refuse."""
    order = draw(orders)
    tsresols = st.sampled_from(VALID_TSRESOLS + (HOSTILE_TSRESOLS if hostile else []))
    tsoffsets = st.sampled_from(VALID_TSOFFSETS + (HOSTILE_TSOFFSETS if hostile else []))
    times = st.integers(0, 2 ** 32).map(lambda seconds: ("seconds", seconds))
    if hostile:
        times = st.one_of(times, st.sampled_from(HOSTILE_TICKS).map(lambda ticks: ("ticks", ticks)))
    interfaces = draw(st.lists(st.tuples(linktypes, tsresols, tsoffsets, st.sampled_from([0, 64, 65535])),
                               min_size=1, max_size=3))
    interface_ids = st.integers(0, len(interfaces) - (0 if hostile else 1))  # hostile: now and then undeclared
    out = section_header(order)
    out += b"".join(interface_block(order, lt, snaplen, resol, offset) for lt, resol, offset, snaplen in interfaces)
    blocks = draw(st.lists(st.tuples(st.sampled_from(["enhanced", "obsolete", "simple", "name resolution"]),
                                     interface_ids, times, packets), max_size=5))
    for kind, interface, when, packet in blocks:
        linktype, tsresol = interfaces[min(interface, len(interfaces) - 1)][:2]
        frame = frame_for(linktype, packet)
        if kind == "enhanced":
            out += enhanced_packet(order, interface, ticks_at(when, tsresol), frame)
        elif kind == "obsolete":
            out += obsolete_packet(order, interface, ticks_at(when, tsresol), frame)
        elif kind == "simple":
            out += simple_packet(order, frame_for(interfaces[0][0], packet))
        else:
            out += block(order, 4, struct.pack(order + "HH", 0, 0))
    return out, sum(kind != "name resolution" for kind, *_ in blocks)


def pcapng_captures(hostile: bool):
    """(capture, packet blocks in it) of one or two sections."""
    return st.lists(pcapng_sections(hostile), min_size=1, max_size=2).map(
        lambda sections: (b"".join(data for data, _ in sections), sum(count for _, count in sections)))


@st.composite
def classic_captures(draw) -> bytes:
    order, linktype = draw(orders), draw(linktypes)
    magic = draw(st.sampled_from([0xA1B2C3D4, 0xA1B23C4D]))
    out = classic_header(order, linktype, magic=magic)
    for seconds, fraction, packet in draw(st.lists(
            st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 999_999), packets), max_size=5)):
        out += classic_record(order, seconds, fraction, frame_for(linktype, packet))
    return out


LENGTHS = st.one_of(st.sampled_from([0, 4, 8, 11, 12, 13, 16, 28, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFC, 0xFFFFFFFF,
                                     MAX_BLOCK, MAX_BLOCK + 4, MAX_RECORD, MAX_RECORD + 1]),
                    st.integers(0, 0xFFFFFFFF))
inserted_blocks = st.builds(lambda order, kind, body: block(order, kind, body), orders,
                            st.sampled_from([0, 1, 2, 3, 4, 5, 6, 0x0A0D0D0A, 0x80000001, 0xFFFFFFFF]),
                            st.binary(max_size=40))
mutations = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10 ** 6), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10 ** 6), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 10 ** 6), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("insert"), st.integers(0, 10 ** 6), inserted_blocks),
    st.tuples(st.just("length"), st.integers(0, 10 ** 6), LENGTHS),
    st.tuples(st.just("truncate"), st.integers(0, 10 ** 6), st.just(None)),
), min_size=1, max_size=4)


def damage(capture: bytes, changes) -> bytes:
    """The capture with the changes made after its 4-byte magic (damaged magic numbers are tried elsewhere)."""
    data = bytearray(capture[4:])
    for action, where, what in changes:
        position = where % (len(data) + 1)
        if action == "flip" and position < len(data):
            data[position] = what
        elif action == "cut":
            del data[position:position + what]
        elif action == "insert":
            data[position:position] = what
        elif action == "length":  # a 32-bit word on a 4-byte boundary: where block and record lengths live
            aligned = position - position % 4
            data[aligned:aligned + 4] = struct.pack("<I" if where % 2 else ">I", what)
        else:
            del data[position:]
    return capture[:4] + bytes(data)


# --- the property ----------------------------------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """Counts read calls and remembers the largest one asked for: the reader's progress and memory bounds."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads = 0
        self.largest_request = 0

    def read(self, size=-1):
        self.reads += 1
        self.largest_request = max(self.largest_request, size)
        assert size >= 0, "a read without a size would take the whole input"
        return super().read(size)


def read_capture(data: bytes):
    """(frames, PcapError or None, reader); any other exception fails the test."""
    stream = CountingStream(data)
    reader = PcapReader(stream)
    frames, error = [], None
    try:
        for frame in reader:
            frames.append(frame)
    except PcapError as exc:
        error = exc
    # each read but the last consumes bytes, and every record or block needs at most one read per 4 bytes
    assert stream.reads <= len(data) // 4 + 4
    assert stream.largest_request <= MAX_BLOCK
    for timestamp, packet in frames:
        assert timestamp is None or (math.isfinite(timestamp) and 0 <= timestamp <= LATEST_TIMESTAMP)
        assert isinstance(packet, bytes) and packet[0] >> 4 in (4, 6)
    if error is not None:
        assert "\n" not in str(error) and len(str(error)) < 300
    return frames, error, reader


def sniff_exits_0_or_3(data: bytes, workdir: str) -> None:
    """Text and JSON output: exit 0, or exit 3 with exactly one error naming the file; JSON stays JSON."""
    path = os.path.join(workdir, "fuzzed.pcap")
    with open(path, "wb") as handle:
        handle.write(data)
    for as_json in (False, True):
        result = run_cli(["--root", workdir, "sniff", "-r", path, *(["--json"] if as_json else [])])
        assert result.code in (0, 3), result
        assert "Traceback" not in result.out + result.err
        errors = reported_errors(result, as_json)  # in JSON mode this parses all of stdout, NaN refused
        assert len(errors) == (1 if result.code == 3 else 0), result
        if errors:
            assert errors[0].startswith(f"{path}: ") and "\n" not in errors[0]
        if result.code == 3 and not as_json:
            assert len(result.err.splitlines()) == 1


def check_capture(data: bytes):
    """The reader's and the command's properties on one capture; the frames and error, for more checks."""
    with FIGURES.case(FUZZ):
        outcome = read_capture(data)
        with tempfile.TemporaryDirectory() as workdir:
            sniff_exits_0_or_3(data, workdir)
    return outcome


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(pcapng_captures(hostile=False))
def test_valid_pcapng_captures_yield_every_packet_block(capture_and_count):
    capture, packet_blocks = capture_and_count
    frames, error, reader = check_capture(capture)
    assert error is None and not reader.truncated
    assert len(frames) + reader.skipped == packet_blocks


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(st.one_of(pcapng_captures(hostile=False), pcapng_captures(hostile=True)), mutations)
def test_damaged_pcapng_yields_frames_or_a_pcap_error(capture_and_count, changes):
    check_capture(damage(capture_and_count[0], changes))


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(classic_captures(), mutations)
def test_damaged_classic_pcap_yields_frames_or_a_pcap_error(capture, changes):
    check_capture(damage(capture, changes))


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(st.sampled_from([b"", section_header("<"), section_header(">"), classic_header("<"), classic_header(">")]),
       st.binary(max_size=300))
def test_random_bytes_yield_frames_or_a_pcap_error(prefix, noise):
    check_capture(prefix + noise)


# --- hand-crafted malformed captures ---------------------------------------------------------------------------

NG = section_header("<")
NG_RAW = NG + interface_block("<", 101)


def with_length(data: bytes, offset: int, length: int, order: str = "<") -> bytes:
    return data[:offset] + struct.pack(order + "I", length) + data[offset + 4:]


def many_interfaces(count: int) -> bytes:
    return NG + interface_block("<", 101) * count


CRAFTED_CAPTURES = [
    # (name, capture, words the one error line must hold)
    ("pcap-header-cut", classic_header()[:20], ["pcap file header truncated"]),
    ("pcap-bad-magic", b"\x0a\x0d\x0d" + bytes(30), ["not a pcap or pcapng file"]),
    ("pcap-archaic-version", classic_header(major=1), ["pcap version 1.4 is not supported"]),
    ("pcap-caplen-negative-looking", classic_header() + classic_record("<", 1, 0, PACKET4, 0xFFFFFFFF),
     ["pcap record at byte 24", "captured length 4294967295"]),
    ("pcap-caplen-over-max", classic_header() + classic_record("<", 1, 0, PACKET4, MAX_RECORD + 1),
     [f"captured length {MAX_RECORD + 1} exceeds"]),
    ("section-cut", NG[:20], ["pcapng section header truncated"]),
    ("section-bad-byte-order-magic", NG[:8] + b"\x4d\x3c\x2b\x1b" + NG[12:],
     ["section header at byte 0: bad byte-order magic (4d3c2b1b)"]),
    ("section-length-zero", with_length(NG, 4, 0), ["section header at byte 0", "corrupt length 0"]),
    ("section-length-huge", with_length(NG, 4, 0xFFFFFFFC), ["section header", "length 4294967292"]),
    ("section-length-odd", with_length(NG, 4, 30), ["section header", "length 30"]),
    ("section-version-2", NG[:12] + struct.pack("<HH", 2, 0) + NG[16:], ["version 2.0 is not supported"]),
    ("section-trailer-differs", NG[:-4] + struct.pack("<I", 32), ["length 28 at its start but 32 at its end"]),
    ("second-section-bad-magic", NG_RAW + NG[:8] + bytes(4) + NG[12:], ["section header at byte 48", "byte-order"]),
    ("block-length-zero", NG + struct.pack("<II", 1, 0), ["interface description block at byte 28", "length 0"]),
    ("block-length-8", NG + struct.pack("<III", 6, 8, 8), ["enhanced packet block", "length 8"]),
    ("block-length-odd", NG + struct.pack("<II", 4, 17) + bytes(9), ["block of type 0x4", "length 17"]),
    ("block-length-huge", NG_RAW + struct.pack("<II", 6, 0xFFFFFFF0), ["enhanced packet block at byte 48",
                                                                        "length 4294967280"]),
    ("block-trailer-differs", NG + interface_block("<", 101)[:-4] + struct.pack("<I", 24),
     ["interface description block", "length 20 at its start but 24 at its end"]),
    ("byte-order-switch-without-section", NG_RAW + enhanced_packet(">", 0, 1, PACKET4),
     ["block of type 0x6000000", "corrupt length 1476395008"]),
    ("interfaces-reset-by-new-section", NG_RAW + section_header(">") + enhanced_packet(">", 0, 1, PACKET4),
     ["enhanced packet block at byte 76", "undeclared interface 0 (0 declared in this section)"]),
    ("interface-too-short", NG + block("<", 1, bytes(4)), ["interface description block", "8 needed"]),
    ("interface-tsresol-cut", NG + block("<", 1, struct.pack("<HHI", 101, 0, 0) + struct.pack("<HH", 9, 1)),
     ["if_tsresol option of length 1 runs past the end"]),
    ("interface-tsresol-empty", NG + block("<", 1, struct.pack("<HHIHH", 101, 0, 0, 9, 0)),
     ["if_tsresol option of length 0 (1 expected)"]),
    ("interface-tsresol-10^-20", NG + interface_block("<", 101, tsresol=20), ["if_tsresol 10^-20 s"]),
    ("interface-tsresol-2^-64", NG + interface_block("<", 101, tsresol=0x80 | 64), ["if_tsresol 2^-64 s"]),
    ("interface-tsoffset-short", NG + block("<", 1, struct.pack("<HHI", 101, 0, 0) + option("<", 14, bytes(4))),
     ["if_tsoffset option of length 4 (8 expected)"]),
    ("interface-option-past-end", NG + block("<", 1, struct.pack("<HHIHH", 101, 0, 0, 2, 100)),
     ["option 2 of length 100 runs past the end"]),
    ("interfaces-too-many", many_interfaces(MAX_INTERFACES + 1), [f"more than {MAX_INTERFACES} interfaces"]),
    ("enhanced-too-short", NG_RAW + block("<", 6, bytes(16)), ["enhanced packet block", "16 bytes of body"]),
    ("enhanced-undeclared-interface", NG_RAW + enhanced_packet("<", 1, 1, PACKET4), ["undeclared interface 1"]),
    ("enhanced-captured-past-block", NG_RAW + enhanced_packet("<", 0, 1, PACKET4, 100),
     ["captured length 100 runs past the end of the block (56 bytes left)"]),
    ("enhanced-captured-negative-looking", NG_RAW + enhanced_packet("<", 0, 1, PACKET4, 0xFFFFFFFF),
     ["captured length 4294967295"]),
    ("enhanced-time-after-9999", NG_RAW + enhanced_packet("<", 0, (1 << 64) - 1, PACKET4),
     ["timestamp 18446744073709551615 (1/1000000 s ticks) is after the year 9999"]),
    ("enhanced-time-before-1970", NG + interface_block("<", 101, tsoffset=-10) + enhanced_packet("<", 0, 1, PACKET4),
     ["is before 1970"]),
    ("obsolete-captured-past-block", NG_RAW + with_length(obsolete_packet("<", 0, 1, PACKET4), 8 + 12, 200),
     ["obsolete packet block at byte 48", "captured length 200"]),
    ("simple-length-12", NG_RAW + struct.pack("<III", 3, 12, 12), ["simple packet block", "too short"]),
    ("simple-before-interface", NG + simple_packet("<", PACKET4), ["simple packet block", "before any interface"]),
    ("simple-length-past-block", NG_RAW + simple_packet("<", PACKET4, 1000),
     ["packet length 1000 runs past the end of the block"]),
    ("simple-length-negative-looking", NG_RAW + simple_packet("<", PACKET4, 0xFFFFFFFF), ["packet length 4294967295"]),
]


@pytest.mark.parametrize("capture, words", [case[1:] for case in CRAFTED_CAPTURES],
                         ids=[case[0] for case in CRAFTED_CAPTURES])
def test_crafted_malformed_capture_is_one_clear_error_and_exit_3(tmp_path, capture, words):
    with FIGURES.case(CRAFTED):
        path = tmp_path / "crafted.pcapng"
        path.write_bytes(capture)
        _frames, error, _reader = read_capture(capture)
        assert isinstance(error, PcapError)
        result = run_cli(["--root", str(tmp_path), "sniff", "-r", str(path)])
        assert result.code == 3
        assert "Traceback" not in result.out + result.err
        lines = result.err.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"carp-pkg: error: {path}: ")
        for word in words:
            assert word in lines[0], lines[0]
