"""`carp-pkg sniff`: show the CARP advertisements on a wire or in a capture, and check their HMAC."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import sys
from typing import BinaryIO, Iterable, Optional, Sequence, Tuple

from ..carpwire import HMAC_MISMATCH, HMAC_OK, Advertisement, MalformedPacket, NotCarp, decode, verify
from ..system import StreamingProcess
from ..errors import ConfigError, EnvironmentProblem, UsageError
from ..fs import open_input
from ..model import VhidGroup
from ..pcap import PcapError, PcapReader

NAME = "sniff"
HELP = "show CARP advertisements (live or from a pcap file) and check their HMAC"
DESCRIPTION = """\
Decode CARP advertisements (IP protocol 112) captured live with tcpdump or read
from a pcap/pcapng file, one line each: time, source, vhid, advskew, advbase,
demote, counter and whether the HMAC matches the password and VIPs of that vhid
in config.xml (ok / MISMATCH / unknown-vhid), or "unchecked" without a config.
A MISMATCH means the sender uses another password or another set of VIPs for
that vhid: the two hosts will both become MASTER. Passwords are never printed.

A running capture can be piped in:
  tcpdump -i em0 -U -w - 'ip proto 112' | carp-pkg sniff -r - --count 5

example: carp-pkg sniff -r examples/ucarp-adverts.pcap --count 4
example: carp-pkg --config /conf/config.xml sniff -r carp.pcap --json
example: carp-pkg sniff em0
"""

HMAC_UNCHECKED = "unchecked"
HMAC_UNKNOWN_VHID = "unknown-vhid"
TCPDUMP_FILTER = "ip proto 112 or ip6 proto 112"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("interface", nargs="?", help="capture live on this interface (needs tcpdump and root)")
    parser.add_argument("-r", "--read", metavar="FILE", help="read a pcap/pcapng file instead ('-' = standard input)")
    parser.add_argument("-c", "--count", type=int, metavar="N", help="stop after N advertisements")
    parser.add_argument("--json", action="store_true", help="one JSON object per advertisement, one per line")


def describe(
    adv: Advertisement, config_groups: Optional[Sequence[VhidGroup]], timestamp: Optional[float] = None
) -> dict:
    """One advertisement as a report row; the HMAC is checked against the groups of its vhid."""
    return {
        "time": timestamp,
        "source": str(adv.source),
        "destination": str(adv.destination),
        "vhid": adv.vhid,
        "advskew": adv.advskew,
        "advbase": adv.advbase,
        "demote": adv.demote,
        "counter": adv.counter,
        "version": adv.version,
        "type": adv.type,
        "ttl": adv.ttl,
        "checksum": "ok" if adv.checksum_ok else "bad",
        "hmac": hmac_status(adv, config_groups),
    }


def hmac_status(adv: Advertisement, config_groups: Optional[Sequence[VhidGroup]]) -> str:
    """ok / mismatch / unknown-vhid / unchecked (no config given).

    A vhid may be configured on several interfaces; one matching group is enough.
    """
    if config_groups is None:
        return HMAC_UNCHECKED
    candidates = [g for g in config_groups if g.vhid == adv.vhid]
    if not candidates:
        return HMAC_UNKNOWN_VHID
    for group in candidates:
        if verify(adv, group.password, group.addresses) == HMAC_OK:
            return HMAC_OK
    return HMAC_MISMATCH


def format_row(row: dict) -> str:
    hmac_word = "MISMATCH" if row["hmac"] == HMAC_MISMATCH else row["hmac"]
    parts = [
        format_time(row["time"]),
        f"{row['source']} > {row['destination']}",
        f"vhid {row['vhid']} advskew {row['advskew']} advbase {row['advbase']} demote {row['demote']}",
        f"counter {row['counter']}",
        f"hmac {hmac_word}",
    ]
    if row["checksum"] != "ok":
        parts.append("checksum BAD")
    if row["ttl"] != 255:
        parts.append(f"ttl {row['ttl']} (CARP needs 255)")
    if row["version"] != 2 or row["type"] != 1:
        parts.append(f"version {row['version']} type {row['type']}")
    return " ".join(parts)


def format_time(timestamp: Optional[float]) -> str:
    if timestamp is None:
        return "-"
    try:
        moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    except (OverflowError, ValueError, OSError):  # beyond what datetime (or this platform's time_t) can show
        return str(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _showable(timestamp: Optional[float]) -> Optional[float]:
    """None for a time that is no number (NaN, infinity): JSON has no way to write those."""
    return timestamp if timestamp is None or math.isfinite(timestamp) else None


def open_capture(interface: str) -> StreamingProcess:
    """tcpdump writing pcap to a pipe, through the system module's one subprocess door."""
    try:
        return StreamingProcess(["tcpdump", "-i", interface, "-U", "-n", "-w", "-", TCPDUMP_FILTER])
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(f"{exc.message}: live capture needs tcpdump (or use -r FILE)") from None


def _config_groups(args: argparse.Namespace, ctx) -> Optional[Tuple[VhidGroup, ...]]:
    """The configured vhids, or None when there is no config to check against.

    An explicit --config must load; the default config.xml is used when it
    exists, and a broken one only costs the HMAC check (with a warning).
    """
    if getattr(args, "config", None):
        return ctx.load_config().groups()
    default = getattr(getattr(ctx, "paths", None), "config_xml", None)
    if default is None or not os.path.exists(str(default)):
        return None
    try:
        return ctx.load_config().groups()
    except ConfigError as exc:
        ctx.warn(f"not checking HMACs: {exc}")
        return None


def _write(ctx, line: str) -> None:
    ctx.out.write(line + "\n")
    flush = getattr(ctx.out, "flush", None)
    if flush is not None:
        flush()


def show(
    frames: Iterable, config_groups: Optional[Sequence[VhidGroup]], ctx, as_json: bool, count: Optional[int]
) -> Tuple[int, int]:
    """Print each advertisement; returns (advertisements shown, packets skipped as not CARP)."""
    shown = skipped = 0
    if count is not None and count <= 0:
        return shown, skipped
    for timestamp, packet in frames:
        timestamp = _showable(timestamp)
        try:
            adv = decode(packet)
        except NotCarp:
            skipped += 1
            continue
        except MalformedPacket as exc:
            if as_json:
                _write(ctx, json.dumps({"time": timestamp, "error": exc.message}, sort_keys=True))
            else:
                _write(ctx, f"{format_time(timestamp)} malformed packet: {exc.message}")
            continue
        row = describe(adv, config_groups, timestamp)
        _write(ctx, json.dumps(row, sort_keys=True) if as_json else format_row(row))
        shown += 1
        if count is not None and shown >= count:
            break
    return shown, skipped


def run(args: argparse.Namespace, ctx) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError("--count needs a positive number")
    if bool(args.interface) == bool(args.read):
        raise UsageError("give either an interface to capture on or -r FILE, not both or neither")
    groups = _config_groups(args, ctx)
    if args.read:
        if args.read == "-":
            return _show_capture(sys.stdin.buffer, args, ctx, groups, source="standard input")
        with open_input(args.read, "pcap or pcapng capture") as stream:
            return _show_capture(stream, args, ctx, groups, source=args.read)
    capture = open_capture(args.interface)
    previous_handler = _interrupt_on_sigterm()
    try:
        reader = PcapReader(capture.stdout)
        try:
            frames = iter(reader)
        except PcapError:
            raise capture.failure(f"tcpdump could not capture on {args.interface}") from None
        try:
            show(frames, groups, ctx, args.json, args.count)
        except KeyboardInterrupt:
            pass  # the usual way to end a live capture, as with tcpdump
        except PcapError as exc:
            raise PcapError(f"tcpdump output on {args.interface}: {exc.message}") from None
    finally:
        capture.stop()
        _restore_sigterm(previous_handler)
    return 0


def _one_line(name: str) -> str:
    """A file name as it can be shown on one line (a name may hold newlines or escape sequences)."""
    return name if name.isprintable() else ascii(name)


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _interrupt_on_sigterm():
    """Let `kill PID` end a live capture like Ctrl-C does, so tcpdump is stopped rather than orphaned."""
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _show_capture(stream: BinaryIO, args: argparse.Namespace, ctx, groups, source: str) -> int:
    reader = PcapReader(stream)
    try:
        _shown, skipped = show(iter(reader), groups, ctx, args.json, args.count)
    except PcapError as exc:  # the header, or a block further on: either way one line naming the file
        raise PcapError(f"{_one_line(source)}: {exc.message}") from None
    if reader.truncated:
        ctx.warn(f"{_one_line(source)} ends in the middle of a packet (truncated capture)")
    if skipped:
        ctx.warn(f"skipped {skipped} packet(s) of IP protocol 112 that are not CARP (VRRP?)")
    return 0
