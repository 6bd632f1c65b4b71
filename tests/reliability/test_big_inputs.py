"""Issue 7.1, the large cases: generated at test time into a temporary folder (never committed) and run in a
child process, so the time and the peak memory of carp-pkg itself are measured and bounded."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from tests.helpers import TESTS
from tests.reliability.figures import FIGURES, INPUTS
from tests.reliability.sandbox import PREVIOUS_SCRIPT, firewall_root, read_script

PROJECT = os.path.dirname(TESTS)
MIB = 1024 * 1024
MEMORY_BOUND_MIB = 512
TIME_BOUND_S = 10.0
ADDRESS_SPACE_LIMIT = 3 * 1024 * MIB  # a runaway child dies instead of taking the machine with it

HEAD = (b'<?xml version="1.0"?>\n<pfsense>\n<interfaces><lan><if>em1</if><ipaddr>10.0.0.2</ipaddr>'
        b'<subnet>8</subnet></lan></interfaces>\n')
ENTRY = b"<config><ipaddress>10.0.0.1</ipaddress><netmask>8</netmask><vhid>1</vhid><password>big-pw</password></config>"


def document(carp_body: bytes, filler: bytes = b"") -> bytes:
    return HEAD + filler + b"<installedpackages><carp>" + carp_body + b"</carp></installedpackages>\n</pfsense>\n"


@dataclass
class ChildRun:
    summary: dict
    stderr: str
    seconds: float
    peak_rss_mib: float


def run_child(root: str, config: str, feed_path: str = None, timeout: float = 60.0) -> ChildRun:
    """`sync` in a child; feed_path: stream this file into the child's stdin through a pipe."""
    out_path, err_path = os.path.join(root, "..", "child.out"), os.path.join(root, "..", "child.err")

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))

    started = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "tests.reliability.run_case", root, config], cwd=PROJECT,
                                 stdin=subprocess.PIPE if feed_path else subprocess.DEVNULL, stdout=out, stderr=err,
                                 preexec_fn=limit_memory)
    feeder = None
    if feed_path:
        feeder = threading.Thread(target=_feed, args=(feed_path, child.stdin), daemon=True)
        feeder.start()
    usage = None
    while usage is None:
        pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            usage = rusage
            child.returncode = os.waitstatus_to_exitcode(status)
        elif time.monotonic() - started > timeout:
            child.kill()
            os.wait4(child.pid, 0)
            child.returncode = -9
            pytest.fail(f"the child ran longer than {timeout} s")
        else:
            time.sleep(0.02)
    seconds = time.monotonic() - started
    if feeder is not None:
        feeder.join(5)
    with open(err_path, encoding="utf-8", errors="replace") as handle:
        stderr = handle.read()
    with open(out_path, encoding="utf-8") as handle:
        text = handle.read()
    assert child.returncode == 0 and text, f"the child failed: {stderr[-3000:]}"
    return ChildRun(json.loads(text), stderr, seconds, usage.ru_maxrss / 1024)


def _feed(path, pipe):
    try:
        with open(path, "rb") as source:
            while True:
                chunk = source.read(MIB)
                if not chunk:
                    break
                pipe.write(chunk)
    except (BrokenPipeError, ValueError):
        pass  # carp-pkg stopped reading: exactly what a size limit does
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def write_big(path, parts) -> str:
    with open(path, "wb") as handle:
        for part in parts:
            handle.write(part)
    return str(path)


def padded_100_mib(path):
    block = b"<filler>" + b"x" * (MIB - 20) + b"</filler>\n"
    return write_big(path, [HEAD, *(block for _ in range(100)), document(ENTRY)[len(HEAD):]])


def deep(depth: int, inside_value: bool) -> bytes:
    nest = b"<d>" * depth + b"</d>" * depth
    if inside_value:
        return document(b"<config><ipaddress>10.0.0.1</ipaddress><password>" + nest + b"</password></config>")
    return HEAD + nest + b"</pfsense>\n"


def many_vips(count: int, per_vhid: int) -> bytes:
    entries = []
    for i in range(count):
        value = (10 << 24) | (1 << 16) | (i + 10)
        address = ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))
        vhid = i // per_vhid + 1
        entries.append(f"<config><ipaddress>{address}</ipaddress><netmask>8</netmask><vhid>{vhid}</vhid>"
                       f"<password>pw{vhid}</password></config>".encode())
    return document(b"\n".join(entries))


def quadratic_blowup() -> bytes:
    prolog = b'<?xml version="1.0"?>\n<!DOCTYPE pfsense [<!ENTITY a "' + b"x" * 100_000 + b'">]>\n'
    return prolog + document(b"<config><password>" + b"&a;" * 50_000 + b"</password></config>")[len(b'<?xml version="1.0"?>\n'):]


@dataclass(frozen=True)
class BigCase:
    name: str
    build: object  # (tmp_path) -> config path, or (config path, feed path)
    exit: int
    message: str
    mutating: int = 0
    seconds: float = TIME_BOUND_S


def _bytes_case(data_fn):
    def build(tmp_path):
        return write_big(tmp_path / "config.xml", [data_fn()])
    return build


def _piped_100_mib(tmp_path):
    return "/dev/stdin", padded_100_mib(tmp_path / "big.xml")


BIG_CASES = [
    BigCase("100 MiB file (refused by its size before parsing)", lambda p: padded_100_mib(p / "big.xml"), 3,
            "is larger than the 64 MiB a config.xml may be"),
    BigCase("100 MiB through a pipe (size unknown up front)", _piped_100_mib, 3, "more than the 64 MiB"),
    BigCase("/dev/zero as config.xml (endless, size 0)", lambda p: "/dev/zero", 3, "is a device or special file, not a config.xml"),
    BigCase("100,000-deep nesting", _bytes_case(lambda: deep(100_000, False)), 3, "nested more than 256 levels deep"),
    BigCase("100,000-deep nesting inside a password", _bytes_case(lambda: deep(100_000, True)), 3,
            "nested more than 256 levels deep"),
    BigCase("quadratic blow-up, full size (100 kB entity x 50,000)", _bytes_case(quadratic_blowup), 3, "refusing the DTD"),
    BigCase("10,000 VIPs in 250 vhids", _bytes_case(lambda: many_vips(10_000, 40)), 0, "applied 10250 changes",
            mutating=10_250),
    BigCase("60 MB of tiny elements before the carp section", _bytes_case(
        lambda: document(ENTRY, b"<a/>" * (15 * 1000 * 1000))), 0, "applied 2 changes", mutating=2, seconds=30.0),
    BigCase("a 9 MB vhid value (the message stays short)", _bytes_case(
        lambda: document(b"<config><ipaddress>10.0.0.1</ipaddress><vhid>" + b"7" * 9_000_000 + b"</vhid></config>")),
        3, "config[0].vhid: '7777"),
    BigCase("an 11 MB password (never echoed, the message stays short)", _bytes_case(
        lambda: document(b"<config><password>" + b"p" * 11_000_000 + b"</password></config>")), 3,
        "config[0].password: is 11000000 bytes"),
    BigCase("65,537 entries", _bytes_case(lambda: document(b"<config/>" * 65_537)), 3,
            "more than 65536 entries in installedpackages/carp"),
    BigCase("100,000 different fields in one entry", _bytes_case(
        lambda: document(b"<config>" + b"".join(b"<f%d/>" % i for i in range(100_000)) + b"</config>")), 3,
        "has more than 64 fields"),
    BigCase("70,000 interfaces", _bytes_case(lambda: b'<?xml version="1.0"?>\n<pfsense><interfaces>' + b"".join(
        b"<opt%d><if>vlan%d</if></opt%d>" % (i, i, i) for i in range(70_000)) + b"</interfaces></pfsense>"), 3,
        "more than 65536 interfaces"),
    # issue 12.12, the pruned reader: what it keeps of the tree, and what it leaves to the streaming reference
    BigCase("60 MB of tiny elements in another package, next to the carp section", _bytes_case(
        lambda: HEAD + b"<installedpackages><haproxy>" + b"<a/>" * (15 * 1000 * 1000) + b"</haproxy><carp>" + ENTRY
        + b"</carp></installedpackages>\n</pfsense>\n"), 0, "applied 2 changes", mutating=2, seconds=30.0),
    BigCase("60 MB of tiny elements inside a carp password", _bytes_case(lambda: document(
        b"<config><ipaddress>10.0.0.1</ipaddress><password>" + b"<a/>" * (15 * 1000 * 1000) + b"</password></config>")),
        3, "config[0].password: must be plain text", seconds=30.0),
    BigCase("60 MB of tiny elements inside an interface field", _bytes_case(
        lambda: b'<?xml version="1.0"?>\n<pfsense>\n<interfaces><lan><if>em<a/>' + b"<a/>" * (15 * 1000 * 1000)
        + b"1</if><ipaddr>10.0.0.2</ipaddr><subnet>8</subnet></lan></interfaces>\n" + document(ENTRY)[len(HEAD):]),
        0, "applied 2 changes", mutating=2, seconds=30.0),
    BigCase("60 MB of comments before the carp section", _bytes_case(
        lambda: document(ENTRY, b"<!---->" * (60 * 1000 * 1000 // 7))), 0, "applied 2 changes", mutating=2,
        seconds=30.0),
    BigCase("a 12 MB base64 blob (over libxml2's 10 MB text node limit for trees)", _bytes_case(
        lambda: document(ENTRY, b"<rrddata><data>" + b"QUJD" * 3_000_000 + b"</data></rrddata>")), 0,
        "applied 2 changes", mutating=2),
]


@pytest.mark.parametrize("case", BIG_CASES, ids=[c.name for c in BIG_CASES])
def test_big_input_is_bounded_in_time_and_memory(case, tmp_path):
    with FIGURES.case(INPUTS):
        root = firewall_root(tmp_path / "root")
        built = case.build(tmp_path)
        config, feed = built if isinstance(built, tuple) else (built, None)

        run = run_child(root, config, feed_path=feed)

        summary = run.summary
        assert "Traceback" not in run.stderr + summary["err"]
        assert summary["code"] == case.exit, summary["err"]
        assert case.message in (summary["err"] if case.exit else summary["out"])
        assert summary["err_chars"] < 4096, "the message is not bounded"
        assert summary["mutating"] == case.mutating
        assert run.seconds < case.seconds, f"took {run.seconds:.1f} s"
        assert run.peak_rss_mib < MEMORY_BOUND_MIB, f"peak RSS {run.peak_rss_mib:.0f} MiB"
        if case.exit:
            assert read_script(root) == PREVIOUS_SCRIPT


def test_10000_vips_in_one_vhid_sync_in_bounded_time(tmp_path):
    with FIGURES.case(INPUTS):
        root = firewall_root(tmp_path / "root")
        config = write_big(tmp_path / "config.xml", [many_vips(10_000, 10_000)])
        run = run_child(root, config, timeout=TIME_BOUND_S)
        assert run.summary["code"] == 0 and run.summary["mutating"] == 10_001
        assert run.seconds < TIME_BOUND_S, f"took {run.seconds:.1f} s"
