"""Pure parsers: captured FreeBSD `ifconfig` / `sysctl net.inet.carp` text in, frozen RunningState out.

Formats follow sbin/ifconfig (carp.c, ifpfsync.c, af_inet*.c) of FreeBSD 5.4 to 15:

- 10+: VIPs sit on the parent interface, tagged ` vhid N`; one `\\tcarp: STATE vhid N advbase B
  advskew S` line per vhid (14+: followed by `\\t      peer A peer6 B`); 15+: a vhid switched to
  VRRPv3 (`carpver 3`) prints `\\tvrrp: STATE vrid N prio P interval I` instead.
- 5.4-9: one `carpN` interface per vhid; its addresses carry no vhid, its carp: line gives it.
- `ifconfig -k` appends ` key "PASSWORD"` to the carp: line; it is skipped, never kept.
- pfsync0: `pfsync: syncdev: ...` (<=9), `syncdev: ... defer: off` + `syncok: 1` (10-13),
  `... version: 1400` + `syncok: 1` (14+); syncdev/syncpeer are omitted when unset/default.

Unknown or damaged lines are skipped: a parser never raises on its input.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple, Union

from .running import CarpSysctls, IPInterface, RunningPfsync, RunningState, RunningVhid

IFF_UP = 0x1
CARP_SYSCTL_PREFIX = "net.inet.carp."
_LEGACY_CARP_IF = re.compile(r"^carp\d+$")
_HEADER = re.compile(r"^(?P<name>[^\s:]+): flags=(?P<bits>[0-9a-fA-F]+)")
_CARP = re.compile(r"^carp:\s+(?P<state>\S+)\s+vhid\s+(?P<vhid>\d+)\s+advbase\s+(?P<advbase>\d+)"
                   r"\s+advskew\s+(?P<advskew>\d+)(?:\s|$)")
_PEER = re.compile(r"^peer\s+(?P<peer>\S+)\s+peer6\s+(?P<peer6>\S+)\s*$")
_VRRP = re.compile(r"^vrrp:\s+(?P<state>\S+)\s+vrid\s+(?P<vhid>\d+)\s+prio\s+(?P<prio>\d+)\s+interval\s+(?P<interval>\d+)"
                   r"(?:\s|$)")
VRRP_PFSYNC_VERSION = 1500  # ifpfsync.c prints `version: 1500` only on FreeBSD 15 and later
_PFSYNC_KEYS = ("syncdev:", "syncpeer:", "maxupd:")


@dataclass
class _Carp:
    vhid: int
    state: str
    advbase: int
    advskew: int
    peer: Optional[str] = None
    peer6: Optional[str] = None
    vrrp: bool = False  # a FreeBSD 15 `vrrp:` line (no peer line follows it)
    prio: Optional[int] = None  # its VRRPv3 priority and interval (centiseconds)
    interval: Optional[int] = None


@dataclass
class _Block:
    """Everything printed under one interface header."""

    name: str
    up: bool
    addresses: List[Tuple[IPInterface, Optional[int]]] = field(default_factory=list)
    carps: List[_Carp] = field(default_factory=list)
    pfsync: Dict[str, object] = field(default_factory=dict)
    awaiting_peer: Optional[_Carp] = None


def parse_ifconfig(text: Union[str, bytes]) -> RunningState:
    """`ifconfig` (all interfaces, or one) as a RunningState; sysctls stay unknown (see parse_sysctls)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return RunningState()
    blocks: List[_Block] = []
    for raw in text.splitlines():
        header = _HEADER.match(raw)
        if header:
            blocks.append(_Block(header.group("name"), bool(int(header.group("bits"), 16) & IFF_UP)))
        elif blocks:
            _read_line(blocks[-1], raw.strip())
    return _assemble(blocks)


def _read_line(block: _Block, line: str) -> None:
    peer = _PEER.match(line)
    if peer and block.awaiting_peer is not None:
        block.awaiting_peer.peer, block.awaiting_peer.peer6 = peer.group("peer"), peer.group("peer6")
        block.awaiting_peer = None
        return
    block.awaiting_peer = None
    words = line.split()
    if not words:
        return
    if words[0] in ("inet", "inet6"):
        address = _address(words)
        if address is not None:
            block.addresses.append(address)
        return
    status = _CARP.match(line) or _VRRP.match(line)
    if status:
        _add_status(block, status)
        return
    if block.name.startswith("pfsync"):
        _read_pfsync(block.pfsync, words)


def _add_status(block: _Block, match: "re.Match[str]") -> None:
    vhid = int(match.group("vhid"))
    if any(carp.vhid == vhid for carp in block.carps):
        return
    groups = match.groupdict()
    # A VRRPv3 vhid (FreeBSD 15 `carpver 3`) reports prio/interval, not advbase/advskew: 0 marks "not CARP timing".
    vrrp = groups.get("advbase") is None
    carp = _Carp(vhid, match.group("state"), int(groups.get("advbase") or 0), int(groups.get("advskew") or 0),
                 vrrp=vrrp, prio=int(groups["prio"]) if vrrp else None,
                 interval=int(groups["interval"]) if vrrp else None)
    block.carps.append(carp)
    if groups.get("advbase") is not None:
        block.awaiting_peer = carp


def _address(words: List[str]) -> Optional[Tuple[IPInterface, Optional[int]]]:
    """`inet A [--> D] netmask M ... [vhid N]` or `inet6 A[%zone] prefixlen P ... [vhid N]` (or A/P forms)."""
    if len(words) < 2:
        return None
    token, _, cidr = words[1].partition("/")
    token = token.split("%", 1)[0]
    options = _pairs(words[2:])
    try:
        if words[0] == "inet":
            prefix = cidr or _mask_to_prefix(options.get("netmask"))
            address: IPInterface = ipaddress.IPv4Interface(f"{ipaddress.IPv4Address(token)}/{prefix}")
        else:
            prefix = cidr or options.get("prefixlen") or "128"
            address = ipaddress.IPv6Interface(f"{ipaddress.IPv6Address(token)}/{int(prefix)}")
        vhid = int(options["vhid"]) if "vhid" in options else None
    except (ValueError, TypeError):
        return None
    return address, vhid


def _pairs(words: List[str]) -> Dict[str, str]:
    """Keyword/value pairs of an address line (`netmask 0xffffff00 broadcast B vhid 1`); lone flags are skipped."""
    found: Dict[str, str] = {}
    for index, word in enumerate(words[:-1]):
        if word in ("netmask", "prefixlen", "vhid") and word not in found:
            found[word] = words[index + 1]
    return found


def _mask_to_prefix(mask: Optional[str]) -> str:
    if mask is None:
        return "32"
    value = int(mask, 16) if mask.lower().startswith("0x") else int(ipaddress.IPv4Address(mask))
    return str(ipaddress.IPv4Network(f"0.0.0.0/{ipaddress.IPv4Address(value)}").prefixlen)


def _read_pfsync(found: Dict[str, object], words: List[str]) -> None:
    if words[0] == "pfsync:":
        words = words[1:]
    if len(words) == 2 and words[0] == "syncok:":
        _store(found, "syncok", words[1])
        return
    if not words or words[0] not in _PFSYNC_KEYS:
        return
    for index in range(0, len(words) - 1):
        key = words[index]
        if key.endswith(":") and key[:-1] in ("syncdev", "syncpeer", "maxupd", "defer", "version"):
            _store(found, key[:-1], words[index + 1])


def _store(found: Dict[str, object], key: str, value: str) -> None:
    try:
        if key in ("maxupd", "version"):
            found[key] = int(value)
        elif key == "defer":
            if value in ("on", "off"):
                found[key] = value == "on"
        elif key == "syncok":
            found[key] = int(value) != 0
        else:
            found[key] = value
    except ValueError:
        pass


def _assemble(blocks: List[_Block]) -> RunningState:
    vhids: List[RunningVhid] = []
    hosts: List[Tuple[str, IPInterface]] = []
    pfsync: Optional[RunningPfsync] = None
    for block in blocks:
        legacy_vhid = block.carps[0].vhid if _LEGACY_CARP_IF.match(block.name) and block.carps else None
        members: Dict[int, List[IPInterface]] = {}
        for address, vhid in block.addresses:
            vhid = vhid if vhid is not None else legacy_vhid
            if vhid is not None:
                members.setdefault(vhid, [])
                if address not in members[vhid]:
                    members[vhid].append(address)
            elif not (address.is_link_local or address.is_loopback):
                hosts.append((block.name, address))
        # Addresses naming a vhid that printed no status line (truncated output) are dropped, not guessed.
        vhids += [RunningVhid(interface=block.name, vhid=c.vhid, state=c.state, advbase=c.advbase,
                              advskew=c.advskew, addresses=tuple(members.get(c.vhid, ())), peer=c.peer,
                              peer6=c.peer6, protocol="vrrp" if c.vrrp else "carp", vrrpprio=c.prio,
                              vrrpinterval=c.interval)
                  for c in block.carps]
        if pfsync is None and block.name.startswith("pfsync"):
            pfsync = _pfsync(block)
    unicast = _unicast_capable(blocks, pfsync)
    return RunningState(vhids=tuple(vhids), pfsync=pfsync, interfaces=tuple(b.name for b in blocks),
                        host_addresses=tuple(hosts), unicast_capable=unicast,
                        vrrp_capable=_vrrp_capable(blocks, pfsync, unicast))


def _unicast_capable(blocks: List[_Block], pfsync: Optional[RunningPfsync]) -> Optional[bool]:
    """What the output format says about `ifconfig ... peer` (FreeBSD 14+): sbin/ifconfig/carp.c prints
    `\t      peer A peer6 B` under every carp: line from 14.0 on, ifpfsync.c adds `version: V` from 14.0 on."""
    carps = [carp for block in blocks for carp in block.carps if not carp.vrrp]
    if any(carp.peer is not None for carp in carps) or (pfsync is not None and pfsync.version is not None):
        return True
    if carps or (pfsync is not None and (pfsync.syncok is not None or pfsync.maxupd is not None)):
        return False
    return None


def _vrrp_capable(blocks: List[_Block], pfsync: Optional[RunningPfsync], unicast: Optional[bool]) -> Optional[bool]:
    """What the output format says about `ifconfig ... carpver 3` (FreeBSD 15+): a `vrrp:` line (carp.c, 15.0 on) or
    pfsync `version: 1500` proves it; a format older than 14 rules it out; a 14-style output could be either."""
    if any(carp.vrrp for block in blocks for carp in block.carps):
        return True
    if pfsync is not None and pfsync.version is not None and pfsync.version >= VRRP_PFSYNC_VERSION:
        return True
    return False if unicast is False else None


def _pfsync(block: _Block) -> RunningPfsync:
    found = block.pfsync
    return RunningPfsync(
        syncdev=found.get("syncdev"),  # type: ignore[arg-type]
        syncpeer=found.get("syncpeer"),  # type: ignore[arg-type]
        maxupd=found.get("maxupd"),  # type: ignore[arg-type]
        defer=found.get("defer"),  # type: ignore[arg-type]
        version=found.get("version"),  # type: ignore[arg-type]
        syncok=found.get("syncok"),  # type: ignore[arg-type]
        up=block.up,
    )


def parse_sysctls(source: Union[str, bytes, Mapping[str, object]]) -> CarpSysctls:
    """CARP sysctls from `sysctl net.inet.carp` text ("name: value" lines) or from a name->value mapping."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    if isinstance(source, str):
        values: Dict[str, object] = {}
        for line in source.splitlines():
            name, separator, value = _split_sysctl_line(line)
            if separator:
                values.setdefault(name, value)
        return sysctls_from_mapping(values)
    if isinstance(source, Mapping):
        return sysctls_from_mapping(source)
    return CarpSysctls()


def _split_sysctl_line(line: str) -> Tuple[str, str, str]:
    colon, equals = line.find(":"), line.find("=")
    cut = min(i for i in (colon, equals) if i >= 0) if max(colon, equals) >= 0 else -1
    if cut < 0:
        return line.strip(), "", ""
    return line[:cut].strip(), line[cut], line[cut + 1:].strip()


def sysctls_from_mapping(values: Mapping[str, object]) -> CarpSysctls:
    """CarpSysctls from {"net.inet.carp.allow": "1", ...}; values that are not integers count as unknown."""
    def read(leaf: str) -> Optional[int]:
        value = values.get(CARP_SYSCTL_PREFIX + leaf)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return None
        return None

    return CarpSysctls(allow=read("allow"), preempt=read("preempt"), demotion=read("demotion"),
                       arpbalance=read("arpbalance"))


def vhid_rows(state: RunningState) -> List[dict]:
    """The JSON rows of `carp-pkg status --json`, one per vhid, in the order ifconfig printed them."""
    return [
        {
            "interface": vhid.interface,
            "vhid": vhid.vhid,
            "addresses": [str(address) for address in vhid.addresses],
            "state": vhid.state,
            "advbase": vhid.advbase,
            "advskew": vhid.advskew,
            "peer": vhid.peer,
            "peer6": vhid.peer6,
            "protocol": vhid.protocol,
            "vrrpprio": vhid.vrrpprio,
            "vrrpinterval": vhid.vrrpinterval,
        }
        for vhid in state.vhids
    ]


def pfsync_json(pfsync: Optional[RunningPfsync]) -> Optional[dict]:
    if pfsync is None:
        return None
    return {
        "syncdev": pfsync.syncdev,
        "syncpeer": pfsync.syncpeer,
        "maxupd": pfsync.maxupd,
        "defer": pfsync.defer,
        "version": pfsync.version,
        "syncok": pfsync.syncok,
        "up": pfsync.up,
    }
