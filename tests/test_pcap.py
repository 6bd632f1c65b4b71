"""Reading pcap / pcapng captures (carp_pkg.pcap) and the `sniff` command on top of it."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg.carpwire import build_advertisement, decode, verify
from carp_pkg.wire import protocol112, vrrp
from carp_pkg.wire.vrrp import VrrpAdvertisement
from carp_pkg.commands import sniff
from carp_pkg.errors import CommandError, ConfigError, EnvironmentProblem, ExitCode, InputError, UsageError
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.pcap import LATEST_TIMESTAMP, MAX_BLOCK, PcapError, PcapReader, read_frames

from tests.helpers import run_cli
from tests.test_vrrpwire import host_config, vrrp_vip

FIXTURES = Path(__file__).parent / "fixtures" / "pcap"
REAL_CAPTURE = FIXTURES / "ucarp-real.pcap"
KEEPALIVED_CAPTURE = FIXTURES / "keepalived-vrrp3.pcap"  # make_keepalived_capture.sh: VRRPv3, vrids 7 (IPv4), 9 (IPv6)

PACKET = build_advertisement("192.0.2.7", 3, password="pw", addresses=["192.0.2.70"], counter=11)
PACKET6 = build_advertisement("2001:db8::7", 4, password="pw", addresses=["2001:db8::70"], counter=12)
MAC_DST = bytes.fromhex("01005e000012")
MAC_SRC = bytes.fromhex("00005e000103")


# --- capture builders (the formats written out with struct, independent of the reader) ---


def ethernet(packet: bytes, ethertype: int = 0x0800, tags=()) -> bytes:
    vlan = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in tags)
    return MAC_DST + MAC_SRC + vlan + struct.pack("!H", ethertype) + packet


def sll(packet: bytes, protocol: int = 0x0800) -> bytes:
    # packet type, ARPHRD, address length, 8-byte address, protocol
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_SRC, protocol) + packet


def sll2(packet: bytes, protocol: int = 0x0800) -> bytes:
    # protocol, reserved, ifindex, ARPHRD, packet type, address length, 8-byte address
    return struct.pack("!HHIHBB8s", protocol, 0, 2, 1, 0, 6, MAC_SRC) + packet


def classic_pcap(records, linktype: int, order: str = "<", nanoseconds: bool = False) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for (seconds, fraction), frame in records:
        out += struct.pack(order + "IIII", seconds, fraction, len(frame), len(frame)) + frame
    return out


def pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def ng_block(order: str, block_type: int, body: bytes) -> bytes:
    body = pad4(body)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def ng_section(order: str = "<") -> bytes:
    return ng_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_interface(order: str, linktype: int, tsresol=None, tsoffset=None, snaplen: int = 0) -> bytes:
    options = b""
    if tsresol is not None:
        options += struct.pack(order + "HH", 9, 1) + pad4(bytes([tsresol]))
    if tsoffset is not None:
        options += struct.pack(order + "HHq", 14, 8, tsoffset)
    if options:
        options += struct.pack(order + "HH", 0, 0)
    return ng_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def ng_packet(order: str, interface: int, ticks: int, frame: bytes) -> bytes:
    header = struct.pack(order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return ng_block(order, 6, header + pad4(frame))


def frames_of(data: bytes):
    reader = PcapReader(io.BytesIO(data))
    return list(reader), reader


# --- classic pcap -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "linktype, frame",
    [
        (1, ethernet(PACKET)),
        (1, ethernet(PACKET, tags=[(0x8100, 10)])),
        (1, ethernet(PACKET, tags=[(0x88A8, 100), (0x8100, 10)])),  # QinQ
        (101, PACKET),
        (12, PACKET),
        (228, PACKET),
        (0, struct.pack("<I", 2) + PACKET),  # NULL from a little-endian BSD
        (0, struct.pack(">I", 2) + PACKET),  # NULL from a big-endian BSD
        (108, struct.pack(">I", 2) + PACKET),  # LOOP (OpenBSD)
        (113, sll(PACKET)),
        (276, sll2(PACKET)),
    ],
    ids=["en10mb", "vlan", "qinq", "raw", "dlt-raw-12", "ipv4", "null-le", "null-be", "loop", "sll", "sll2"],
)
@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_every_link_type_yields_the_ip_packet_and_time(linktype, frame, order):
    frames, reader = frames_of(classic_pcap([((1700000000, 250000), frame)], linktype, order))
    assert frames == [(1700000000.25, PACKET)]
    assert (reader.truncated, reader.skipped, reader.format) == (False, 0, "pcap")


@pytest.mark.parametrize(
    "linktype, frame",
    [
        (1, ethernet(PACKET6, 0x86DD)),
        (229, PACKET6),
        (0, struct.pack("<I", 28) + PACKET6),  # FreeBSD AF_INET6
        (0, struct.pack("<I", 24) + PACKET6),  # OpenBSD / NetBSD
        (113, sll(PACKET6, 0x86DD)),
        (276, sll2(PACKET6, 0x86DD)),
    ],
)
def test_ipv6_frames_are_read_too(linktype, frame):
    frames, _ = frames_of(classic_pcap([((5, 0), frame)], linktype))
    assert frames == [(5.0, PACKET6)]
    assert decode(frames[0].packet).vhid == 4


def test_nanosecond_magic_scales_the_fraction():
    frames, _ = frames_of(classic_pcap([((1700000000, 123456789), PACKET)], 101, nanoseconds=True))
    assert frames[0].timestamp == pytest.approx(1700000000.123456789, abs=1e-6)
    frames_be, _ = frames_of(classic_pcap([((3, 500000000), PACKET)], 101, ">", nanoseconds=True))
    assert frames_be[0].timestamp == 3.5


def test_non_ip_frames_are_skipped_and_counted():
    arp = ethernet(bytes(28), 0x0806)
    records = [((1, 0), arp), ((2, 0), ethernet(PACKET)), ((3, 0), sll(bytes(20), 0x0806)), ((4, 0), b"\x00" * 5)]
    frames, reader = frames_of(classic_pcap(records, 1))
    assert [f.timestamp for f in frames] == [2.0]
    assert reader.skipped == 3


def test_unknown_link_type_skips_every_frame():
    frames, reader = frames_of(classic_pcap([((1, 0), PACKET)], 147))
    assert frames == [] and reader.skipped == 1


def test_real_tcpdump_capture_of_ucarp():
    with open(REAL_CAPTURE, "rb") as stream:
        reader = PcapReader(stream)
        frames = list(reader)
    assert reader.linktypes == (1,) and not reader.truncated
    assert len(frames) == 11
    advs = [decode(f.packet) for f in frames]
    assert {(str(a.source), a.vhid) for a in advs} == {("192.0.2.1", 7), ("192.0.2.2", 7), ("192.0.2.2", 9)}
    passwords = {7: ("S3cret pass!", "192.0.2.100"), 9: ("other", "192.0.2.101")}
    for adv in advs:
        password, address = passwords[adv.vhid]
        assert verify(adv, password, [address], style="ucarp") == "ok"
    assert all(f.timestamp > 1.6e9 for f in frames)


def keepalived_advertisements():
    with open(KEEPALIVED_CAPTURE, "rb") as stream:
        reader = PcapReader(stream)
        frames = list(reader)
    assert reader.linktypes == (1,) and not reader.truncated and reader.skipped == 0
    return frames, [protocol112.decode(f.packet) for f in frames]


def test_real_tcpdump_capture_of_keepalived_vrrp3():
    frames, advs = keepalived_advertisements()
    assert len(frames) == 67 and all(f.timestamp > 1.6e9 for f in frames)
    assert all(isinstance(a, VrrpAdvertisement) for a in advs)
    b_link_local = "fe80::4086:a2ff:fefd:dc69"
    seen = Counter((str(a.source), str(a.destination), a.vrid, a.priority) for a in advs)
    assert seen == {
        ("192.0.2.1", "224.0.0.18", 7, 150): 12,  # A, master of vrid 7
        ("192.0.2.1", "224.0.0.18", 7, 0): 1,  # A's keepalived stops: it resigns
        ("192.0.2.2", "224.0.0.18", 7, 100): 20,  # B takes vrid 7 over
        ("192.0.2.2", "224.0.0.18", 7, 0): 1,
        (b_link_local, "ff02::12", 9, 200): 32,  # B, master of vrid 9, from its link-local address
        (b_link_local, "ff02::12", 9, 0): 1,
    }
    for adv in advs:
        assert (adv.version, adv.type, adv.ttl, adv.interval, adv.reserved, adv.checksum_ok) == (3, 1, 255, 10, 0, True)
        vip = "192.0.2.100" if adv.vrid == 7 else "2001:db8::100"
        assert adv.addresses == (ipaddress.ip_address(vip),)
        assert adv.family == ("inet" if adv.vrid == 7 else "inet6")


# --- broken and truncated input --------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty capture"),
        (b"\xd4\xc3", "shorter than its 4-byte magic"),
        (b"GIF89a" + bytes(30), "not a pcap or pcapng file"),
        (classic_pcap([], 1)[:20], "header truncated"),
    ],
)
def test_bad_headers_raise_pcap_error(data, message):
    with pytest.raises(PcapError, match=message):
        list(PcapReader(io.BytesIO(data)))


def test_absurd_record_length_is_corruption():
    data = classic_pcap([], 1) + struct.pack("<IIII", 1, 0, 10_000_000, 10_000_000)
    with pytest.raises(PcapError, match="corrupt pcap record"):
        list(PcapReader(io.BytesIO(data)))


TWO_RECORDS = classic_pcap([((1, 0), ethernet(PACKET)), ((2, 0), ethernet(PACKET6, 0x86DD))], 1)


@settings(max_examples=200)
@given(st.integers(min_value=24, max_value=len(TWO_RECORDS)))
def test_a_capture_cut_anywhere_ends_cleanly_with_the_whole_records(cut):
    frames, reader = frames_of(TWO_RECORDS[:cut])
    first_end = 24 + 16 + 14 + len(PACKET)
    expected = [1.0] if cut >= first_end else []
    if cut == len(TWO_RECORDS):
        expected = [1.0, 2.0]
    assert [f.timestamp for f in frames] == expected
    assert reader.truncated == (cut not in (24, first_end, len(TWO_RECORDS)))


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out at most three bytes per read, like a slow pipe."""

    def __init__(self, data: bytes):
        self._data = data

    def readable(self):
        return True

    def read(self, size=-1):
        chunk, self._data = self._data[: min(size, 3)], self._data[min(size, 3) :]
        return chunk

    def seekable(self):
        return False


def test_short_reads_from_a_pipe_are_reassembled():
    frames = list(read_frames(Trickle(TWO_RECORDS)))
    assert [f.packet for f in frames] == [PACKET, PACKET6]


def test_reads_from_a_real_pipe_while_the_writer_is_still_writing():
    read_end, write_end = os.pipe()

    def writer():
        with os.fdopen(write_end, "wb", buffering=0) as out:
            for offset in range(0, len(TWO_RECORDS), 7):
                out.write(TWO_RECORDS[offset : offset + 7])

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        frames = list(read_frames(stream))
    thread.join()
    assert [f.timestamp for f in frames] == [1.0, 2.0]


# --- pcapng ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_enhanced_packets_with_default_and_nanosecond_resolution(order):
    data = (
        ng_section(order)
        + ng_interface(order, 1)
        + ng_interface(order, 101, tsresol=9)
        + ng_block(order, 4, b"\x00\x00\x00\x00")  # name resolution block: nothing to read
        + ng_packet(order, 0, 1700000000_500000, ethernet(PACKET))
        + ng_packet(order, 1, 1700000001_250000000, PACKET6)
    )
    frames, reader = frames_of(data)
    assert frames == [(1700000000.5, PACKET), (1700000001.25, PACKET6)]
    assert reader.format == "pcapng" and reader.linktypes == (1, 101)


def test_pcapng_power_of_two_resolution_and_simple_packets():
    order = "<"
    simple = ng_block(order, 3, struct.pack("<I", len(PACKET)) + pad4(PACKET))
    data = ng_section() + ng_interface(order, 101, tsresol=0x80 | 10) + ng_packet(order, 0, 3 * 1024, PACKET) + simple
    frames, _ = frames_of(data)
    assert frames == [(3.0, PACKET), (None, PACKET)]  # a simple packet carries no time


def test_pcapng_sections_may_change_byte_order():
    data = ng_section("<") + ng_interface("<", 101) + ng_packet("<", 0, 1_000000, PACKET)
    data += ng_section(">") + ng_interface(">", 1) + ng_packet(">", 0, 2_000000, ethernet(PACKET6, 0x86DD))
    frames, _ = frames_of(data)
    assert frames == [(1.0, PACKET), (2.0, PACKET6)]


def test_pcapng_cut_short_ends_cleanly():
    data = ng_section() + ng_interface("<", 101)
    data += ng_packet("<", 0, 1_000000, PACKET) + ng_packet("<", 0, 2_000000, PACKET)
    frames, reader = frames_of(data[:-10])
    assert [f.timestamp for f in frames] == [1.0] and reader.truncated


@pytest.mark.parametrize(
    "data, message",
    [
        (ng_section()[:8] + b"\x00\x00\x00\x00" + ng_section()[12:], "bad byte-order magic"),
        (ng_section() + ng_packet("<", 0, 1, PACKET), "undeclared interface 0"),
        (ng_section() + struct.pack("<II", 6, 13) + bytes(8), "enhanced packet block at byte 28: corrupt length 13"),
    ],
)
def test_pcapng_corruption_raises_pcap_error(data, message):
    with pytest.raises(PcapError, match=message):
        list(PcapReader(io.BytesIO(data)))


def test_pcapng_tsoffset_is_added_to_every_timestamp():
    data = ng_section() + ng_interface("<", 101, tsresol=0, tsoffset=1_700_000_000) + ng_packet("<", 0, 5, PACKET)
    assert frames_of(data)[0] == [(1_700_000_005.0, PACKET)]


def test_pcapng_obsolete_packet_blocks_are_read():
    header = struct.pack("<HHIIII", 0, 0, 0, 2_000000, len(PACKET), len(PACKET))
    data = ng_section() + ng_interface("<", 101) + ng_block("<", 2, header + pad4(PACKET))
    assert frames_of(data)[0] == [(2.0, PACKET)]


def test_pcapng_simple_packet_is_cut_to_the_snaplen_not_to_its_padding():
    frame = ethernet(PACKET)[:62]  # 62 bytes kept of 70: two padding bytes follow in the block
    simple = ng_block("<", 3, struct.pack("<I", len(ethernet(PACKET))) + pad4(frame))
    frames, _ = frames_of(ng_section() + ng_interface("<", 1, snaplen=62) + simple)
    assert frames == [(None, PACKET[:48])]


@pytest.mark.parametrize("tsresol, ticks", [(19, 10**19), (0x80 | 63, 1 << 63)])
def test_pcapng_finest_resolutions_libpcap_accepts_are_read(tsresol, ticks):
    data = ng_section() + ng_interface("<", 101, tsresol=tsresol) + ng_packet("<", 0, ticks, PACKET)
    assert frames_of(data)[0] == [(1.0, PACKET)]


def test_the_latest_accepted_timestamp_can_be_shown():
    data = ng_section() + ng_interface("<", 101, tsresol=0) + ng_packet("<", 0, LATEST_TIMESTAMP, PACKET)
    frames, _ = frames_of(data)
    assert sniff.format_time(frames[0].timestamp) == "9999-12-31T23:59:59.000000Z"
    with pytest.raises(PcapError, match="after the year 9999"):
        frames_of(ng_section() + ng_interface("<", 101, tsresol=0) + ng_packet("<", 0, LATEST_TIMESTAMP + 1, PACKET))


def test_a_time_datetime_cannot_show_is_printed_as_a_number():
    assert sniff.format_time(1e20) == "1e+20"
    assert sniff.format_time(float("nan")) == "nan"


def test_pcap_errors_are_input_errors_with_exit_code_3():
    assert issubclass(PcapError, InputError) and PcapError("x").exit_code == ExitCode.INVALID_CONFIG == 3


class FailingRead(io.RawIOBase):
    def readable(self):
        return True

    def read(self, size=-1):
        raise OSError(5, "Input/output error")


def test_a_read_error_is_a_pcap_error():
    with pytest.raises(PcapError, match="cannot read the capture at byte 0: Input/output error"):
        list(PcapReader(FailingRead()))


def test_a_huge_block_length_on_a_pipe_fails_at_once_without_waiting_for_the_bytes():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb", buffering=0) as writer, os.fdopen(read_end, "rb", buffering=0) as stream:
        writer.write(ng_section() + struct.pack("<II", 6, MAX_BLOCK + 4))  # and the writer stays open
        started = time.monotonic()
        with pytest.raises(PcapError, match=f"length {MAX_BLOCK + 4}"):
            list(PcapReader(stream))
        assert time.monotonic() - started < 5


# --- malformed captures through the command line (security report, item 6) -------------------------


def sniff_capture(tmp_path, data: bytes, *options: str):
    path = tmp_path / "crafted.pcapng"
    path.write_bytes(data)
    return str(path), run_cli(["--root", str(tmp_path), "sniff", "-r", str(path), *options])


def not_a_number(constant: str):
    raise AssertionError(f"JSON output holds {constant}, which is not JSON")


def json_values(text: str) -> list:
    """Every JSON value in the text, one after the other (rows one per line, an error document indented)."""
    decoder, values, position = json.JSONDecoder(parse_constant=not_a_number), [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)


def is_error_document(value) -> bool:
    """The command's {"error": {...}}, not a sniff row about a malformed packet ({"error": "...", "time": ...})."""
    return isinstance(value, dict) and isinstance(value.get("error"), dict)


def reported_errors(result, as_json: bool) -> list:
    """Each error the command reported: a stderr line, or with --json an {"error": ...} document on stdout."""
    prefix = "carp-pkg: error: "
    errors = [line[len(prefix):] for line in result.err.splitlines() if line.startswith(prefix)]
    if as_json:
        documents = [value["error"] for value in json_values(result.out) if is_error_document(value)]
        assert all(document["code"] == result.code for document in documents)
        errors += [document["message"] for document in documents]
    return errors


def assert_one_clear_error(result, path: str, *words: str, as_json: bool = False) -> str:
    assert result.code == 3
    assert "Traceback" not in result.out + result.err
    errors = reported_errors(result, as_json)
    assert len(errors) == 1, errors
    assert len(result.err.splitlines()) == (0 if as_json and not result.err else 1)
    message = errors[0]
    assert "\n" not in message and message.startswith(f"{path}: ")
    for word in words:
        assert word in message
    return message


@pytest.mark.parametrize("tsresol", [None, 0], ids=["microseconds", "seconds"])
@pytest.mark.parametrize("options", [(), ("--json",)], ids=["text", "json"])
def test_enhanced_packet_with_a_timestamp_beyond_any_date_is_malformed(tmp_path, tsresol, options):
    data = ng_section() + ng_interface("<", 101, tsresol=tsresol) + ng_packet("<", 0, (1 << 64) - 1, PACKET)
    path, result = sniff_capture(tmp_path, data, *options)
    message = assert_one_clear_error(result, path, "enhanced packet block at byte", "timestamp",
                                     "after the year 9999", as_json=bool(options))
    assert str((1 << 64) - 1) in message
    assert not [value for value in json_values(result.out) if not is_error_document(value)]  # no row shown


def test_simple_packet_block_of_total_length_12_is_malformed(tmp_path):
    data = ng_section() + ng_interface("<", 101) + struct.pack("<III", 3, 12, 12)
    path, result = sniff_capture(tmp_path, data)
    assert_one_clear_error(result, path, "simple packet block at byte 48", "too short")


def test_if_tsresol_option_cut_at_the_end_of_an_interface_block_is_malformed(tmp_path):
    cut_option = struct.pack("<HH", 9, 1)  # says one byte of value follows; the block ends instead
    data = ng_section() + ng_block("<", 1, struct.pack("<HHI", 101, 0, 0) + cut_option)
    data += ng_packet("<", 0, 1, PACKET)
    path, result = sniff_capture(tmp_path, data)
    assert_one_clear_error(result, path, "interface description block at byte 28", "if_tsresol", "past the end")


def test_a_block_broken_after_good_packets_still_names_the_file_once(tmp_path):
    data = ng_section() + ng_interface("<", 101) + ng_packet("<", 0, 1_000000, PACKET)
    data += ng_packet("<", 7, 2_000000, PACKET)
    path, result = sniff_capture(tmp_path, data, "--json")
    assert_one_clear_error(result, path, "undeclared interface 7", as_json=True)
    assert [value["time"] for value in json_values(result.out) if not is_error_document(value)] == [1.0]


def test_a_file_name_with_a_newline_stays_on_one_error_line(tmp_path):
    path = tmp_path / "two\nlines.pcap"
    path.write_bytes(b"GIF89a" + bytes(30))
    result = run_cli(["--root", str(tmp_path), "sniff", "-r", str(path)])
    assert result.code == 3 and len(result.err.splitlines()) == 1 and "two\\nlines.pcap" in result.err


# --- the sniff command ---------------------------------------------------------------------------

REAL_CONFIG = CarpConfig(
    vips=(
        VirtualIP(address=ipaddress.ip_interface("192.0.2.100/24"), interface="eth0", vhid=7, password="S3cret pass!"),
        VirtualIP(address=ipaddress.ip_interface("192.0.2.101/24"), interface="eth0", vhid=9, password="wrong one"),
    )
)


def make_ctx(tmp_path, config=None, config_error=None):
    def load_config():
        if config_error is not None:
            raise config_error
        return config

    err = io.StringIO()
    return SimpleNamespace(
        out=io.StringIO(),
        err=err,
        warn=lambda text: err.write(f"carp-pkg: warning: {text}\n"),
        paths=SimpleNamespace(config_xml=tmp_path / "conf" / "config.xml"),
        load_config=load_config,
    )


def args(**given):
    defaults = dict(interface=None, read=None, count=None, json=False, config=None)
    return SimpleNamespace(**{**defaults, **given})


def test_sniff_file_checks_hmacs_against_the_config(tmp_path):
    ctx = make_ctx(tmp_path, REAL_CONFIG)
    assert sniff.run(args(read=str(REAL_CAPTURE), config="config.xml"), ctx) == 0
    lines = ctx.out.getvalue().splitlines()
    assert len(lines) == 11
    assert sum("vhid 7 " in line and line.endswith("hmac ok") for line in lines) == 9
    assert sum("vhid 9 " in line and line.endswith("hmac MISMATCH") for line in lines) == 2
    assert "S3cret" not in ctx.out.getvalue() and "wrong one" not in ctx.out.getvalue()


def test_sniff_without_config_leaves_hmacs_unchecked(tmp_path):
    ctx = make_ctx(tmp_path)
    sniff.run(args(read=str(REAL_CAPTURE), count=2), ctx)
    lines = ctx.out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].split(" ", 1)[1] == (
        f"192.0.2.1 > 224.0.0.18 vhid 7 advskew 10 advbase 1 demote 0 counter {0x56EF44B6A5962DA7} hmac unchecked"
    )


def test_sniff_json_is_one_object_per_line(tmp_path):
    ctx = make_ctx(tmp_path, REAL_CONFIG)
    sniff.run(args(read=str(REAL_CAPTURE), json=True, count=3, config="config.xml"), ctx)
    rows = [json.loads(line) for line in ctx.out.getvalue().splitlines()]
    assert [(r["source"], r["vhid"], r["hmac"]) for r in rows] == [
        ("192.0.2.1", 7, "ok"),
        ("192.0.2.2", 7, "ok"),
        ("192.0.2.2", 7, "ok"),
    ]
    assert all(isinstance(r["time"], float) and r["checksum"] == "ok" for r in rows)


def test_sniff_uses_the_default_config_when_present_and_survives_a_broken_one(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text("<pfsense/>")
    ctx = make_ctx(tmp_path, config_error=ConfigError("config[0].vhid: missing"))
    sniff.run(args(read=str(REAL_CAPTURE), count=1), ctx)
    assert ctx.out.getvalue().rstrip().endswith("hmac unchecked")
    assert "warning: not checking HMACs: config[0].vhid: missing" in ctx.err.getvalue()
    with pytest.raises(ConfigError):  # an explicit --config must load
        sniff.run(args(read=str(REAL_CAPTURE), config="x.xml"), ctx)


def test_sniff_reports_malformed_packets_and_truncation(tmp_path):
    bad = PACKET[:30]
    udp = PACKET[:9] + b"\x11" + PACKET[10:]
    data = classic_pcap([((1, 0), bad), ((2, 0), udp), ((3, 0), PACKET)], 101)
    capture = tmp_path / "cut.pcap"
    capture.write_bytes(data + struct.pack("<IIII", 4, 0, 56, 56) + PACKET[:10])
    ctx = make_ctx(tmp_path)
    assert sniff.run(args(read=str(capture)), ctx) == 0
    lines = ctx.out.getvalue().splitlines()
    assert lines[0] == (
        "1970-01-01T00:00:01.000000Z malformed packet: IPv4 packet truncated: total length 56, captured 30 bytes"
    )
    assert lines[1].startswith("1970-01-01T00:00:03.000000Z 192.0.2.7 > 224.0.0.18 vhid 3 ")
    assert len(lines) == 2
    err = ctx.err.getvalue()
    assert "truncated capture" in err and "skipped 1 packet(s) that are not CARP or VRRP" in err


def test_sniff_reads_standard_input(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=io.BytesIO(REAL_CAPTURE.read_bytes())))
    ctx = make_ctx(tmp_path)
    sniff.run(args(read="-", count=1), ctx)
    assert "vhid 7" in ctx.out.getvalue()


def test_sniff_shows_keepalived_vrrp3_advertisements_without_a_config(tmp_path):
    ctx = make_ctx(tmp_path)
    assert sniff.run(args(read=str(KEEPALIVED_CAPTURE), count=2), ctx) == 0
    assert ctx.out.getvalue().splitlines() == [
        "2026-12-02T00:50:58.572249Z fe80::4086:a2ff:fefd:dc69 > ff02::12 vrrp vrid 9 prio 200 interval 10 cs, "
        "addresses 2001:db8::100, checksum ok, auth none",
        "2026-12-02T00:50:58.591087Z 192.0.2.1 > 224.0.0.18 vrrp vrid 7 prio 150 interval 10 cs, "
        "addresses 192.0.2.100, checksum ok, auth none",
    ]
    assert ctx.err.getvalue() == ""


def keepalived_config(interval7: int = 10) -> CarpConfig:
    """Host A's config.xml for the capture's cluster: vrid 7 at priority 150, vrid 9 at 100, 10 cs."""
    return host_config(vrrp_vip("192.0.2.100/24", 7, 150, interval7, "cpkva"),
                       vrrp_vip("2001:db8::100/64", 9, 100, 10, "cpkva"), host=("192.0.2.1/24", "2001:db8::1/64"))


def test_sniff_json_checks_vrrp_advertisements_against_the_config(tmp_path):
    ctx = make_ctx(tmp_path, keepalived_config())
    sniff.run(args(read=str(KEEPALIVED_CAPTURE), json=True, config="config.xml"), ctx)
    rows = [json.loads(line) for line in ctx.out.getvalue().splitlines()]
    assert len(rows) == 67
    for row in rows:
        assert {"protocol", "vrid", "priority", "interval_cs", "addresses", "checksum", "auth"} <= set(row)
        assert (row["protocol"], row["interval_cs"], row["checksum"], row["auth"]) == ("vrrp", 10, "ok", "none")
        assert (row["config"], row["config_differences"]) == ("ok", [])
        assert "hmac" not in row and "vhid" not in row
    assert Counter((r["vrid"], r["priority"]) for r in rows) == {(7, 150): 12, (7, 0): 2, (7, 100): 20, (9, 200): 32,
                                                                   (9, 0): 1}


def test_sniff_flags_a_vrrp_interval_that_differs_from_the_config(tmp_path):
    ctx = make_ctx(tmp_path, keepalived_config(interval7=100))
    sniff.run(args(read=str(KEEPALIVED_CAPTURE), config="config.xml"), ctx)
    lines = ctx.out.getvalue().splitlines()
    vrid7 = [line for line in lines if " vrrp vrid 7 " in line]
    assert len(vrid7) == 34
    assert all(line.endswith("auth none, config MISMATCH: interval 10 cs (config 100)") for line in vrid7)
    assert all(line.endswith("auth none, config ok") for line in lines if " vrrp vrid 9 " in line)


def test_sniff_shows_carp_and_vrrp_from_one_capture_in_order(tmp_path):
    with open(REAL_CAPTURE, "rb") as stream:
        carp_frames = list(PcapReader(stream))
    vrrp_frames, _ = keepalived_advertisements()
    records = [((1, 0), carp_frames[0].packet), ((2, 0), vrrp_frames[1].packet), ((3, 0), carp_frames[1].packet),
               ((4, 0), vrrp_frames[0].packet)]
    capture = tmp_path / "mixed.pcap"
    capture.write_bytes(classic_pcap(records, 101))
    ctx = make_ctx(tmp_path, REAL_CONFIG)
    sniff.run(args(read=str(capture), config="config.xml", count=3), ctx)
    lines = ctx.out.getvalue().splitlines()
    assert len(lines) == 3  # --count counts advertisements of either kind
    assert " vhid 7 " in lines[0] and lines[0].endswith("hmac ok")
    assert " vrrp vrid 7 prio 150 " in lines[1] and lines[1].endswith("auth none, config carp-vhid")
    assert " vhid 7 " in lines[2] and lines[2].endswith("hmac ok")
    ctx = make_ctx(tmp_path)
    sniff.run(args(read=str(capture), json=True), ctx)
    rows = [json.loads(line) for line in ctx.out.getvalue().splitlines()]
    assert [row.get("protocol", "carp") for row in rows] == ["carp", "vrrp", "carp", "vrrp"]


@pytest.mark.parametrize("options", [(), ("--json",)], ids=["text", "json"])
def test_malformed_vrrp_packets_are_one_row_each_through_the_command_line(tmp_path, options):
    good = vrrp.build_advertisement("192.0.2.1", 7, priority=150, interval=10, addresses=["192.0.2.100"])
    broken = [
        good[:20] + good[20:26],  # short (IP length fixed below)
        good[:23] + b"\x00" + good[24:],  # count 0
        good[:23] + b"\x05" + good[24:],  # count 5 for one address
        good[:24] + b"\x00\x00" + good[26:],  # interval 0
        good[:20] + b"\x32" + good[21:],  # type 2
    ]
    packets = [p[:2] + struct.pack("!H", len(p)) + p[4:] for p in broken]
    packets.append(good[:20] + b"\x41" + good[21:])  # version 4: the CARP decoder's, as ever: too short for CARP
    capture = tmp_path / "broken.pcap"
    capture.write_bytes(classic_pcap([((n, 0), p) for n, p in enumerate(packets, 1)] + [((9, 0), good)], 101))
    result = run_cli(["--root", str(tmp_path), "sniff", "-r", str(capture), *options])
    assert result.code == 0 and "Traceback" not in result.out + result.err
    lines = result.out.splitlines()
    assert len(lines) == len(packets) + 1
    if options:
        rows = [json.loads(line) for line in lines]
        assert all(set(row) == {"time", "error"} for row in rows[:-1])
        messages = [row["error"] for row in rows[:-1]]
        assert rows[-1]["protocol"] == "vrrp" and rows[-1]["checksum"] == "ok"
    else:
        assert all(" malformed packet: " in line for line in lines[:-1])
        messages = [line.split(" malformed packet: ", 1)[1] for line in lines[:-1]]
        assert " vrrp vrid 7 prio 150 " in lines[-1]
    assert messages == [
        "VRRPv3 header needs 8 bytes, got 6",
        "VRRPv3 advertisement with count 0 (it carries at least one address)",
        "VRRPv3 count 5 makes 28 bytes of IPv4 advertisement, got 12",
        "VRRPv3 max advertisement interval 0 (1 to 4095 centiseconds)",
        "VRRPv3 type 2 is not an advertisement (1)",
        "CARP header needs 36 bytes, got 12",
    ]


@pytest.mark.parametrize(
    "given, message",
    [
        (dict(), "either an interface"),
        (dict(interface="eth0", read="x.pcap"), "either an interface"),
        (dict(read="x.pcap", count=0), "--count"),
    ],
)
def test_sniff_usage_errors(tmp_path, given, message):
    with pytest.raises(UsageError, match=message):
        sniff.run(args(**given), make_ctx(tmp_path))


def test_sniff_missing_file_and_non_pcap_file(tmp_path):
    with pytest.raises(InputError, match="nope.pcap: no such file"):  # a missing input is invalid input (3)
        sniff.run(args(read=str(tmp_path / "nope.pcap")), make_ctx(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("hello world")
    with pytest.raises(PcapError, match="notes.txt: not a pcap or pcapng file"):
        sniff.run(args(read=str(text)), make_ctx(tmp_path))


class FakeTcpdump:
    """Stands in for the tcpdump process (the boundary): its pcap output and its exit."""

    instances: list = []

    def __init__(self, output: bytes, returncode: int = 0, stderr: bytes = b""):
        self.stdout = io.BytesIO(output)
        self._stderr = stderr
        self._returncode = returncode
        self.returncode = None
        self.terminated = False

    def poll(self):
        return self.returncode

    def terminate(self):
        self.terminated = True
        self.returncode = -15

    def wait(self, timeout=None):
        if self.returncode is None:
            self.returncode = self._returncode
        return self.returncode

    def communicate(self, timeout=None):
        self.wait()
        return b"", self._stderr


def test_live_sniff_runs_tcpdump_on_the_interface_and_stops_it(tmp_path, mocker):
    fake = FakeTcpdump(REAL_CAPTURE.read_bytes())
    popen = mocker.patch("subprocess.Popen", return_value=fake)
    ctx = make_ctx(tmp_path, REAL_CONFIG)
    assert sniff.run(args(interface="eth1", count=2, config="c.xml"), ctx) == 0
    argv = list(popen.call_args.args[0])
    assert argv == ["tcpdump", "-i", "eth1", "-U", "-n", "-w", "-", "ip proto 112 or ip6 proto 112"]
    assert len(ctx.out.getvalue().splitlines()) == 2
    assert fake.terminated


class InterruptedAfter(io.BytesIO):
    """tcpdump's pipe: hands out the capture, then the user presses Ctrl-C (or sends SIGTERM) while we wait."""

    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk:
            raise KeyboardInterrupt
        return chunk


def test_live_sniff_ends_cleanly_on_interrupt_and_stops_tcpdump(tmp_path, mocker):
    fake = FakeTcpdump(b"")
    fake.stdout = InterruptedAfter(REAL_CAPTURE.read_bytes())
    mocker.patch("subprocess.Popen", return_value=fake)
    handler_before = signal.getsignal(signal.SIGTERM)
    ctx = make_ctx(tmp_path)
    assert sniff.run(args(interface="eth1"), ctx) == 0
    assert len(ctx.out.getvalue().splitlines()) == 11
    assert fake.terminated
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_live_sniff_reports_tcpdump_failure_with_its_message(tmp_path, mocker):
    fake = FakeTcpdump(b"", returncode=1, stderr=b"tcpdump: eth9: No such device exists\n")
    mocker.patch("subprocess.Popen", return_value=fake)
    with pytest.raises(CommandError) as raised:
        sniff.run(args(interface="eth9"), make_ctx(tmp_path))
    assert "could not capture on eth9 (exit 1)" in str(raised.value)
    assert "No such device exists" in str(raised.value)


def test_live_sniff_without_tcpdump_is_an_environment_problem(tmp_path, mocker):
    mocker.patch("subprocess.Popen", side_effect=FileNotFoundError("tcpdump"))
    with pytest.raises(EnvironmentProblem, match="tcpdump is not installed"):
        sniff.run(args(interface="eth0"), make_ctx(tmp_path))


# --- real ucarp, end to end (root, ip, ucarp and tcpdump needed) ------------------------------------

LAB_TOOLS = ("ip", "ucarp", "tcpdump")


@pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in LAB_TOOLS),
    reason="needs root, ip, ucarp and tcpdump to record real advertisements",
)
def test_fresh_ucarp_capture_verifies(tmp_path):
    capture = tmp_path / "fresh.pcap"
    subprocess.run(["sh", str(FIXTURES / "make_ucarp_capture.sh"), str(capture)], check=True, timeout=60)
    with open(capture, "rb") as stream:
        advs = [decode(f.packet) for f in read_frames(stream)]
    assert len(advs) >= 5
    passwords = {7: ("S3cret pass!", "192.0.2.100"), 9: ("other", "192.0.2.101")}
    assert {a.vhid for a in advs} == {7, 9}
    for adv in advs:
        password, address = passwords[adv.vhid]
        assert adv.checksum_ok
        assert verify(adv, password, [address]) == "ok"
        assert verify(adv, password + "x", [address]) == "mismatch"


# --- real keepalived, end to end (root, ip, keepalived and tcpdump needed) ------------------------------

KEEPALIVED_TOOLS = ("ip", "keepalived", "tcpdump")


@pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}") for tool in KEEPALIVED_TOOLS),
    reason="needs root, ip, keepalived and tcpdump to record real VRRPv3 advertisements",
)
def test_fresh_keepalived_capture_decodes_and_leaves_nothing_behind(tmp_path):
    capture = tmp_path / "fresh.pcap"
    capture_id = f"t{os.getpid()}"  # its own namespaces: another run may be recording at the same time
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "CAPTURE_ID": capture_id}
    made = subprocess.run(["sh", str(FIXTURES / "make_keepalived_capture.sh"), str(capture)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert made.returncode == 0, made.stderr
    with open(capture, "rb") as stream:
        advs = [protocol112.decode(f.packet) for f in read_frames(stream)]
    seen = Counter((type(a).__name__, a.vrid, a.priority, a.interval, a.checksum_ok) for a in advs)
    assert len(advs) >= 20, seen
    assert all(isinstance(a, VrrpAdvertisement) and a.checksum_ok and a.interval == 10 for a in advs), seen
    assert {a.vrid for a in advs} == {7, 9}, seen
    assert {a.priority for a in advs if a.vrid == 7} >= {150, 0}, seen  # A masters vrid 7, then resigns it
    assert {a.priority for a in advs if a.vrid == 9} >= {200}, seen
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"cpkvrA{capture_id}" not in namespaces and f"cpkvrB{capture_id}" not in namespaces
