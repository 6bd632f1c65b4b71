"""`carp-pkg sniff`: show the CARP and VRRPv3 advertisements on a wire or in a capture, and check them."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import sys
from dataclasses import dataclass
from typing import BinaryIO, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from ..system import StreamingProcess
from ..errors import ConfigError, EnvironmentProblem, UsageError
from ..fs import open_input
from ..streams import gone
from ..model import CarpConfig, VhidGroup
from ..wire.carp import HMAC_MISMATCH, HMAC_OK, Advertisement, verify
from ..wire.ip import MalformedPacket, OtherProtocol
from ..wire.pcap import PcapError, PcapReader
from ..wire.protocol112 import decode
from ..wire.vrrp import VRRP_PRIORITY_STOP, VrrpAdvertisement

NAME = "sniff"
HELP = "show CARP and VRRPv3 advertisements (live or from a pcap file) and check them"
DESCRIPTION = """\
Decode CARP advertisements (IP protocol 112) captured live with tcpdump or read
from a pcap/pcapng file, one line each: time, source, vhid, advskew, advbase,
demote, counter and whether the HMAC matches the password and VIPs of that vhid
in config.xml (ok / MISMATCH / unknown-vhid), or "unchecked" without a config.
A MISMATCH means the sender uses another password or another set of VIPs for
that vhid: the two hosts will both become MASTER. Passwords are never printed.

VRRPv3 advertisements (keepalived, FreeBSD 15 carpver 3; same protocol number,
version 3) show vrid, priority, interval in centiseconds, addresses and whether
the checksum over the IP pseudo-header is ok, with "auth none" (VRRPv3 has no
authentication). For a vrid config.xml has as protocol vrrp, "config ok" or
"config MISMATCH" says whether the addresses, the interval and (for this host's
own advertisements) the priority agree with it.

A running capture can be piped in:
  tcpdump -i em0 -U -w - 'ip proto 112' | carp-pkg sniff -r - --count 5

A live capture ends with Ctrl-C or SIGTERM, exit 0 as with tcpdump (nothing is undone: sniff changes nothing).

example: carp-pkg sniff -r examples/ucarp-adverts.pcap --count 4
example: carp-pkg --config /conf/config.xml sniff -r carp.pcap --json
example: carp-pkg sniff em0
"""

HMAC_UNCHECKED = "unchecked"
HMAC_UNKNOWN_VHID = "unknown-vhid"
TCPDUMP_FILTER = "ip proto 112 or ip6 proto 112"

CONFIG_OK = "ok"
CONFIG_MISMATCH = "mismatch"
CONFIG_UNCHECKED = "unchecked"
CONFIG_UNKNOWN_VRID = "unknown-vrid"
CONFIG_CARP_VHID = "carp-vhid"  # config.xml has this id as a CARP vhid: on one link both would claim 00:00:5e:00:01:<id>
AUTH_NONE = "none"
# config.xml defaults of a `protocol vrrp` entry (issue 14); read with getattr so older models still load
VRRP_DEFAULT_PRIORITY = 100
VRRP_DEFAULT_INTERVAL = 100
VRRP_MAINTENANCE_PRIORITY = 1  # what `carp-pkg maintenance on` advertises instead of the configured priority


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
        "protocol": "carp",
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


# --- VRRPv3 rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VrrpExpectation:
    """What config.xml says one (interface, vrid) of protocol vrrp advertises."""

    interface: str
    vrid: int
    priority: int
    interval: int  # centiseconds
    addresses: FrozenSet  # the VIPs (plain addresses, both families)


@dataclass(frozen=True)
class VrrpConfig:
    """The part of config.xml a VRRPv3 row is checked against."""

    expectations: Tuple[VrrpExpectation, ...]
    carp_vhids: FrozenSet[int]
    own_addresses: FrozenSet  # this host's interface addresses: its own advertisements come from one


def vrrp_config(config: Optional[CarpConfig]) -> Optional[VrrpConfig]:
    """The VRRP entries of a config (``protocol``, ``vrrpprio``, ``vrrpinterval`` where the model has them)."""
    if config is None:
        return None
    expectations: dict = {}
    carp_vhids = set()
    for vip in config.vips:
        if getattr(vip, "protocol", "carp") != "vrrp":
            carp_vhids.add(vip.vhid)
            continue
        key = (vip.interface, vip.vhid)
        if key not in expectations:  # the first entry of a vrid sets its priority and interval, as groups() does
            priority = getattr(vip, "vrrpprio", None)
            interval = getattr(vip, "vrrpinterval", None)
            expectations[key] = VrrpExpectation(
                vip.interface,
                vip.vhid,
                VRRP_DEFAULT_PRIORITY if priority is None else priority,
                VRRP_DEFAULT_INTERVAL if interval is None else interval,
                frozenset(),
            )
        expectation = expectations[key]
        expectations[key] = VrrpExpectation(
            expectation.interface, expectation.vrid, expectation.priority, expectation.interval,
            expectation.addresses | {_plain(vip.address)},
        )
    own = frozenset(_plain(address) for _device, address in getattr(config, "host_addresses", ()))
    return VrrpConfig(tuple(expectations.values()), frozenset(carp_vhids), own)


def vrrp_differences(adv: VrrpAdvertisement, expectation: VrrpExpectation, own_addresses: FrozenSet) -> List[str]:
    """How an advertisement differs from one configured vrid; empty when they agree.

    Every router of a vrid advertises the same addresses (of the packet's family) and
    interval; priorities differ from host to host by design, so only this host's own
    advertisements are held to its configured priority (0, resigning, and 1, maintenance
    mode, always agree).
    """
    differences = []
    configured = {a for a in expectation.addresses if a.version == adv.source.version}
    if set(adv.addresses) != configured:
        shown = sorted(configured, key=lambda a: a.packed)
        differences.append(f"addresses {_join(adv.addresses)} (config {_join(shown) or 'none'})")
    if adv.interval != expectation.interval:
        differences.append(f"interval {adv.interval} cs (config {expectation.interval})")
    agreeing = (expectation.priority, VRRP_PRIORITY_STOP, VRRP_MAINTENANCE_PRIORITY)
    if adv.source in own_addresses and adv.priority not in agreeing:
        differences.append(f"priority {adv.priority} from this host (config {expectation.priority})")
    return differences


def vrrp_config_status(adv: VrrpAdvertisement, config: Optional[VrrpConfig]) -> Tuple[str, List[str]]:
    """ok / mismatch (and how) / unknown-vrid / carp-vhid / unchecked (no config given).

    A vrid may be configured on several interfaces; one agreeing entry is enough.
    """
    if config is None:
        return CONFIG_UNCHECKED, []
    candidates = [e for e in config.expectations if e.vrid == adv.vrid]
    if not candidates:
        return (CONFIG_CARP_VHID if adv.vrid in config.carp_vhids else CONFIG_UNKNOWN_VRID), []
    found = [vrrp_differences(adv, e, config.own_addresses) for e in candidates]
    if [] in found:
        return CONFIG_OK, []
    return CONFIG_MISMATCH, min(found, key=len)


def describe_vrrp(adv: VrrpAdvertisement, config: Optional[VrrpConfig], timestamp: Optional[float] = None) -> dict:
    """One VRRPv3 advertisement as a report row; there is no HMAC ("auth": "none")."""
    status, differences = vrrp_config_status(adv, config)
    return {
        "time": timestamp,
        "protocol": "vrrp",
        "source": str(adv.source),
        "destination": str(adv.destination),
        "vrid": adv.vrid,
        "priority": adv.priority,
        "interval_cs": adv.interval,
        "addresses": [str(a) for a in adv.addresses],
        "version": adv.version,
        "type": adv.type,
        "ttl": adv.ttl,
        "checksum": "ok" if adv.checksum_ok else "bad",
        "auth": AUTH_NONE,
        "config": status,
        "config_differences": differences,
    }


def format_vrrp_row(row: dict) -> str:
    parts = [
        format_time(row["time"]),
        f"{row['source']} > {row['destination']}",
        f"vrrp vrid {row['vrid']} prio {row['priority']} interval {row['interval_cs']} cs,",
        f"addresses {','.join(row['addresses'])},",
        f"checksum {'ok' if row['checksum'] == 'ok' else 'BAD'},",
        f"auth {row['auth']}",
    ]
    if row["config"] == CONFIG_MISMATCH:
        parts[-1] += ","
        parts.append(f"config MISMATCH: {'; '.join(row['config_differences'])}")
    elif row["config"] != CONFIG_UNCHECKED:
        parts[-1] += ","
        parts.append(f"config {row['config']}")
    if row["ttl"] != 255:
        parts.append(f"ttl {row['ttl']} (VRRP needs 255)")
    return " ".join(parts)


def _plain(address):
    """The address of an interface (192.0.2.1/24 → 192.0.2.1), whatever form config.xml gave it in."""
    return getattr(address, "ip", address)


def _join(addresses) -> str:
    return ",".join(str(a) for a in addresses)


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


def _config(args: argparse.Namespace, ctx) -> Optional[CarpConfig]:
    """The config to check against, or None when there is none.

    An explicit --config must load; the default config.xml is used when it
    exists, and a broken one only costs the HMAC check (with a warning).
    """
    if getattr(args, "config", None):
        return ctx.load_config()
    default = getattr(getattr(ctx, "paths", None), "config_xml", None)
    if default is None or not os.path.exists(str(default)):
        return None
    try:
        return ctx.load_config()
    except ConfigError as exc:
        ctx.warn(f"not checking HMACs: {exc}")
        return None


def _write(ctx, line: str) -> None:
    ctx.out.write(line + "\n")
    flush = getattr(ctx.out, "flush", None)
    if flush is not None:
        flush()


def show(
    frames: Iterable,
    config_groups: Optional[Sequence[VhidGroup]],
    ctx,
    as_json: bool,
    count: Optional[int],
    vrrp: Optional[VrrpConfig] = None,
) -> Tuple[int, int]:
    """Print each advertisement; returns (advertisements shown, packets skipped as neither CARP nor VRRP)."""
    shown = skipped = 0
    if count is not None and count <= 0:
        return shown, skipped
    for timestamp, packet in frames:
        timestamp = _showable(timestamp)
        try:
            adv = decode(packet)
        except OtherProtocol:
            skipped += 1
            continue
        except MalformedPacket as exc:
            if as_json:
                _write(ctx, json.dumps({"time": timestamp, "error": exc.message}, sort_keys=True))
            else:
                _write(ctx, f"{format_time(timestamp)} malformed packet: {exc.message}")
            continue
        if isinstance(adv, VrrpAdvertisement):
            row = describe_vrrp(adv, vrrp, timestamp)
            _write(ctx, json.dumps(row, sort_keys=True) if as_json else format_vrrp_row(row))
        else:
            row = describe(adv, config_groups, timestamp)
            _write(ctx, json.dumps(row, sort_keys=True) if as_json else format_row(row))
        shown += 1
        if (count is not None and shown >= count) or gone(ctx.out):  # `sniff em0 | head`: nobody reads on
            break
    return shown, skipped


def run(args: argparse.Namespace, ctx) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError("--count needs a positive number")
    if bool(args.interface) == bool(args.read):
        raise UsageError("give either an interface to capture on or -r FILE, not both or neither")
    config = _config(args, ctx)
    groups = None if config is None else config.groups()
    checks = (groups, vrrp_config(config))
    if args.read:
        if args.read == "-":
            return _show_capture(sys.stdin.buffer, args, ctx, checks, source="standard input")
        with open_input(args.read, "pcap or pcapng capture") as stream:
            return _show_capture(stream, args, ctx, checks, source=args.read)
    capture = open_capture(args.interface)
    previous_handler = _interrupt_on_sigterm()
    try:
        reader = PcapReader(capture.stdout)
        try:
            frames = iter(reader)
        except PcapError:
            raise capture.failure(f"tcpdump could not capture on {args.interface}") from None
        try:
            show(frames, groups, ctx, args.json, args.count, checks[1])
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


def _show_capture(stream: BinaryIO, args: argparse.Namespace, ctx, checks, source: str) -> int:
    reader = PcapReader(stream)
    groups, vrrp = checks
    try:
        _shown, skipped = show(iter(reader), groups, ctx, args.json, args.count, vrrp)
    except PcapError as exc:  # the header, or a block further on: either way one line naming the file
        raise PcapError(f"{_one_line(source)}: {exc.message}") from None
    if reader.truncated:
        ctx.warn(f"{_one_line(source)} ends in the middle of a packet (truncated capture)")
    if skipped:
        ctx.warn(f"skipped {skipped} packet(s) that are not CARP or VRRP (not IP protocol 112)")
    return 0
