"""Raw config.xml entries → a validated CarpConfig, reporting every problem at once."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from typing import Dict, List, Optional, Tuple

from .configxml import HostInterface, RawConfig, RawEntry, shorten
from .errors import ConfigError
from .model import (CARP, CARP_DEFAULT_PEER, CARP_MAXSKEW, PROTOCOLS, VRRP, VRRP_DEFAULT_INTERVAL, VRRP_DEFAULT_PRIO,
                    CarpConfig, PfsyncSettings, Problem, Validation, VirtualIP)

# sys/netinet/ip_carp.h CARP_KEY_LEN is 20; sbin/ifconfig/carp.c strlcpy()s `pass` into that buffer (19 bytes and
# the NUL) and ip_carp.c HMACs the whole zero-padded buffer: every FreeBSD host keys on the first 19 bytes.
MAX_PROBLEMS = 200  # reported at most; a file with more is not a config.xml with typos
PASSWORD_LIMIT_BYTES = 255  # longer is refused outright: no one types that, and it would travel into every file
PASSWORD_MAX_BYTES = 19
# pfSense and OPNsense (src/etc/inc/interfaces.inc, interface_carp_configure) run the GUI password through
# str_replace(" ", "", ...) and addslashes() before `ifconfig ... pass`: these characters change on such a peer.
REWRITTEN_BY_PEERS = ((" ", "a space"), ("'", "a single quote"), ('"', "a double quote"), ("\\", "a backslash"))
PFSYNC_DEFAULT_PEER = "224.0.0.240"  # sys/netinet/if_pfsync.h INADDR_PFSYNC_GROUP: the multicast default
TRUE_WORDS = frozenset({"on", "yes", "true", "1"})
FALSE_WORDS = frozenset({"", "off", "no", "false", "0"})
from .names import DEVICE_NAME, valid_device_name  # noqa: F401 (re-exported: the rule lives in names.py)
FIELD_ALIASES = {"premption": "preempt", "preemption": "preempt"}
# vrrpprio: RFC 5798 priority 1-254 (255 is the address owner); vrrpinterval: centiseconds in 12 bits (1-4095)
RANGES = {"vhid": (1, 255), "advskew": (0, 254), "advbase": (1, 255), "vrrpprio": (1, 254), "vrrpinterval": (1, 4095)}
DEFAULTS = {"vhid": 1, "advskew": 0, "advbase": 1, "vrrpprio": VRRP_DEFAULT_PRIO, "vrrpinterval": VRRP_DEFAULT_INTERVAL}
KNOWN_FIELDS = ("interface", "ipaddress", "netmask", "password", "vhid", "advbase", "advskew",
                "pfsync", "synciface", "syncpeer", "defer", "balancing", "preempt", "peer", "peer6",
                "protocol", "vrrpprio", "vrrpinterval")
CARP_ONLY = ("advskew", "advbase")  # fields a VRRP entry ignores (vrrpprio and vrrpinterval take their place)
VRRP_ONLY = ("vrrpprio", "vrrpinterval")
NO_VRRP_PASSWORD = ("VRRPv3 has no authentication: remove the password (a protocol vrrp entry cannot use one, and "
                    "carp-pkg will not silently drop it)")
SHOWN_INTERFACES = 12


def _shown(value: str) -> str:
    return shorten(repr(value))


class _Entry:
    """Collects the problems of one entry while reading its fields."""

    def __init__(self, entry: RawEntry, problems: List[Problem], warnings: List[Problem]):
        self.where = f"config[{entry.index}]"
        self.problems = problems
        self.warnings = warnings
        self.fields: Dict[str, Optional[str]] = {}
        self.vrrp = False  # a protocol vrrp entry: CARP's advskew warnings do not apply
        spelled: Dict[str, str] = {}
        for name in entry.repeated:
            self.problem(shorten(name), "is given more than once; keep one (which one counts would be a guess)")
        for name, value in entry.fields.items():
            canonical = FIELD_ALIASES.get(name, name)
            if canonical not in KNOWN_FIELDS:
                self._unknown(name)
            elif canonical in spelled:
                self.problem(canonical, f"is given twice, as <{spelled[canonical]}> and <{name}>; keep one")
            else:
                spelled[canonical] = name
                self.fields[canonical] = value

    def _unknown(self, name: str) -> None:
        import difflib  # only for a misspelt field: not worth its import on every run
        guess = difflib.get_close_matches(name.lower(), KNOWN_FIELDS + tuple(FIELD_ALIASES), n=1, cutoff=0.75)
        hint = f" (did you mean <{guess[0]}>?)" if guess else f" (known: {', '.join(KNOWN_FIELDS)})"
        self.problem(shorten(name), "is not a field of a CARP entry; a misspelt field would silently fall back "
                                    "to its default" + hint)

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(f"{self.where}.{name}", message))

    def warning(self, name: str, message: str) -> None:
        self.warnings.append(Problem(f"{self.where}.{name}", message))

    def given(self, name: str) -> bool:
        """The field is present with a value (an empty element is how a GUI leaves a field unset)."""
        return bool(self.fields.get(name))

    def text(self, name: str) -> Optional[str]:
        if name in self.fields and self.fields[name] is None:
            self.problem(name, "must be plain text, found nested elements")
            return None
        return self.fields.get(name)

    def number(self, name: str) -> Optional[int]:
        low, high = RANGES[name]
        value = self.text(name)
        if value is None:
            return DEFAULTS[name] if name not in self.fields else None
        if not re.fullmatch(r"[0-9]{1,6}", value):
            self.problem(name, f"{_shown(value)} is not a whole number" if value else f"is empty (give {low}-{high})")
            return None
        number = int(value)
        if not low <= number <= high:
            self.problem(name, f"{number} is outside {low}-{high}")
            return None
        if name == "advskew" and number >= CARP_MAXSKEW and not self.vrrp:
            self.warning(name, f"{number} advertises {CARP_MAXSKEW} on the wire, like every advskew from {CARP_MAXSKEW} "
                               f"to 254 (ip_carp.c caps it at CARP_MAXSKEW {CARP_MAXSKEW}): this host ties with a peer "
                               f"at {CARP_MAXSKEW} or more and with a master in maintenance mode (254), so no hand-over "
                               f"between them is reliable; use {CARP_MAXSKEW - 1} or less for a backup")
        return number

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return False
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word not in FALSE_WORDS:
            self.problem(name, f"{_shown(value)} is not a checkbox value (use on, or leave it out)")
        return False


def _protocol(entry: _Entry) -> Optional[str]:
    """carp (the default, also for an empty field) or vrrp; None when refused."""
    value = entry.text("protocol")
    if value is None:
        return CARP if "protocol" not in entry.fields else None
    word = value.strip().lower()
    if not word:
        return CARP
    if word not in PROTOCOLS:
        entry.problem("protocol", f"{_shown(value)} is not a protocol: give carp (the default) or vrrp (VRRPv3)")
        return None
    return word


def _protocol_fields(entry: _Entry, protocol: str, numbers: Dict[str, Optional[int]], password: Optional[str]) -> bool:
    """The fields that belong to the other protocol (a warning when set to anything but the default: the GUI
    stores every default), and a password on a VRRP entry (refused). False when the entry is refused."""
    ignored, use = (CARP_ONLY, "vrrpprio and vrrpinterval") if protocol == VRRP else (VRRP_ONLY, "protocol vrrp")
    for name in ignored:
        if numbers.get(name) is not None and numbers[name] != DEFAULTS[name] and entry.given(name):
            reason = (f"a VRRP entry (protocol vrrp) has no {name}: its priority and interval are {use}"
                      if protocol == VRRP else f"a CARP entry (protocol carp) has no {name}: it takes effect with {use}")
            entry.warning(name, f"has no effect: {reason}")
    if protocol == VRRP and password:
        entry.problem("password", NO_VRRP_PASSWORD)
        return False
    return True


def _address(entry: _Entry):
    value = entry.text("ipaddress")
    if value is None:
        if "ipaddress" not in entry.fields:
            entry.problem("ipaddress", "is missing: every entry needs the virtual IP address")
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        hint = " (leading zeros are ambiguous: write 192.168.1.1, not 192.168.001.001)" if re.search(r"(^|\.)0\d", value) else ""
        entry.problem("ipaddress", f"{_shown(value)} is not an IPv4 or IPv6 address{hint}")
        return None
    if getattr(address, "scope_id", None):
        entry.problem("ipaddress", f"{_shown(value)} has a zone id; give the address without %zone (the interface field picks the link)")
        return None
    if address.version == 6 and address.ipv4_mapped:
        entry.problem("ipaddress", f"{_shown(value)} is an IPv4-mapped IPv6 address; write {address.ipv4_mapped} instead")
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        ipv4, kind = embedded
        entry.problem("ipaddress", f"{_shown(value)} is an IPv6 address that embeds the IPv4 address {ipv4} "
                                   f"({kind}); write {ipv4} for an IPv4 VIP")
        return None
    if address.is_multicast or address.is_loopback or address.is_unspecified:
        entry.problem("ipaddress", f"{value} cannot be a virtual IP (multicast, loopback or unspecified)")
        return None
    return address


IPV4_EMBEDDING = (
    (ipaddress.ip_network("::/96"), "IPv4-compatible, deprecated by RFC 4291"),
    (ipaddress.ip_network("::ffff:0:0:0/96"), "IPv4-translated, RFC 2765"),
)


def _embedded_ipv4(address):
    """(IPv4 address, kind) for ::a.b.c.d and ::ffff:0:a.b.c.d, which no host configures as a VIP."""
    if address.version != 6 or int(address) <= 1:
        return None
    for network, kind in IPV4_EMBEDDING:
        if address in network:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), kind
    return None


def device_name_problem(name: str) -> str:
    return (f"{_shown(name)} is not a valid device name: at most 15 bytes of A-Z a-z 0-9 _ . : - , not starting with - "
            "(no spaces, slashes or control characters)")


def _interface_with_prefix(entry: _Entry, address):
    limit = 32 if address.version == 4 else 128
    raw = entry.text("netmask")
    if raw is None:
        if "netmask" in entry.fields:
            return None
        raw = "24" if address.version == 4 else "64"
    if not re.fullmatch(r"[0-9]{1,3}", raw):
        entry.problem("netmask", f"{_shown(raw)} is not a prefix length (give 1-{limit})" if raw else f"is empty (give 1-{limit})")
        return None
    prefix = int(raw)
    if not 1 <= prefix <= limit:
        entry.problem("netmask", f"{prefix} is outside 1-{limit} for IPv{address.version}")
        return None
    vip = ipaddress.ip_interface(f"{address}/{prefix}")
    network = vip.network
    if address.version == 4 and prefix <= 30:
        if address == network.network_address:
            entry.problem("ipaddress", f"{address} is the network address of {network}")
            return None
        if address == network.broadcast_address:
            entry.problem("ipaddress", f"{address} is the broadcast address of {network}")
            return None
    if address.version == 6 and prefix <= 126 and address == network.network_address:
        entry.problem("ipaddress", f"{address} is the subnet-router anycast address of {network}")
        return None
    return vip


def _password(entry: _Entry) -> Optional[str]:
    """The key CARP uses: the password, or its first 19 bytes when it is longer (with a warning)."""
    value = entry.text("password")
    if value is None:
        return "" if "password" not in entry.fields else None
    if not value.isprintable():
        entry.problem("password", "contains control characters (tabs, newlines, NUL); use printable characters only")
        return None
    _rewriting_warning(entry, value)
    encoded = value.encode("utf-8")
    if len(encoded) <= PASSWORD_MAX_BYTES:
        return value
    if len(encoded) > PASSWORD_LIMIT_BYTES:
        entry.problem("password", f"is {len(encoded)} bytes; only the first {PASSWORD_MAX_BYTES} count on any host, "
                                  f"and more than {PASSWORD_LIMIT_BYTES} is not a password but a mistake")
        return None
    kept = encoded[:PASSWORD_MAX_BYTES]
    try:
        key = kept.decode("utf-8")
    except UnicodeDecodeError:
        whole = len(kept.decode("utf-8", "ignore"))
        entry.problem("password", f"is {len(encoded)} bytes, and the {PASSWORD_MAX_BYTES} bytes every FreeBSD host keeps "
                                  f"(ifconfig strlcpy()s the key into CARP_KEY_LEN 20) end inside character {whole + 1}: "
                                  "that key is not text any other CARP implementation can be given; shorten the "
                                  f"password to at most {PASSWORD_MAX_BYTES} bytes on every host of the cluster")
        return None
    # Never the password itself: where the cut falls, in characters.
    entry.warning("password", f"is {len(encoded)} bytes; only the first {PASSWORD_MAX_BYTES} count (characters 1-{len(key)}): "
                              "ifconfig strlcpy()s the key into CARP_KEY_LEN 20 and the kernel HMACs that buffer, so "
                              f"every FreeBSD host ignores the last {len(value) - len(key)} "
                              f"character{'s' if len(value) - len(key) != 1 else ''}; carp-pkg gives every backend "
                              f"(ucarp too) exactly those {PASSWORD_MAX_BYTES} bytes")
    return key


def _rewriting_warning(entry: _Entry, value: str) -> None:
    found = [name for char, name in REWRITTEN_BY_PEERS if char in value]
    if found:
        listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} and {found[-1]}"
        entry.warning("password", f"contains {listed}: pfSense and OPNsense strip spaces and addslashes() a "
                                  "CARP password before `ifconfig ... pass` (interfaces.inc) while carp-pkg passes it "
                                  "verbatim, so a pfSense or OPNsense peer given the same password keys with another "
                                  "one and both hosts become MASTER; in a mixed cluster use a password without spaces, "
                                  "quotes or backslashes")


def _unicast_address(entry: _Entry, name: str, version: int, default: str) -> Optional[str]:
    """A unicast peer address (CARP peer/peer6, pfsync syncpeer), canonical; None when empty or refused."""
    value = entry.text(name)
    if not value:
        return None
    other = "peer6" if version == 4 else "peer"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        hint = " (leading zeros are ambiguous)" if re.search(r"(^|\.)0\d", value) else ""
        entry.problem(name, f"{_shown(value)} is not an IPv{version} address{hint}")
        return None
    if address.version != version:
        where = f"; an IPv{address.version} peer goes in <{other}>" if name in ("peer", "peer6") else ""
        entry.problem(name, f"{_shown(value)} is IPv{address.version}, not IPv{version}{where}")
        return None
    if getattr(address, "scope_id", None):
        entry.problem(name, f"{_shown(value)} has a zone id: ifconfig takes none here (a link-local peer is sent on "
                            "the vhid's own interface: ip_carp.c carp_send_ad_locked sets the scope); write it without %zone")
        return None
    if version == 6 and address.ipv4_mapped:
        entry.problem(name, f"{_shown(value)} is an IPv4-mapped IPv6 address")
        return None
    if address.is_multicast:
        entry.problem(name, f"{address} is multicast; leave {name} empty for the multicast default ({default})")
        return None
    if address.is_unspecified or address.is_loopback or (version == 4 and address == ipaddress.IPv4Address(
            "255.255.255.255")):
        entry.problem(name, f"{address} cannot be a peer (unspecified, loopback or broadcast)")
        return None
    return str(address)


def _known_names(raw: RawConfig) -> str:
    names = [f"{i.name} ({i.device})" for i in raw.interfaces[:SHOWN_INTERFACES]]
    if len(raw.interfaces) > SHOWN_INTERFACES:
        names.append(f"and {len(raw.interfaces) - SHOWN_INTERFACES} more")
    return ", ".join(names) or "none defined in <interfaces>"


def _resolve_device(raw: RawConfig, name: str) -> Tuple[Optional[HostInterface], Optional[str], str]:
    """A friendly name (lan) or a real device (em1) → (host interface if known, real device, problem)."""
    if not valid_device_name(name) and raw.interface_named(name) is None:
        return None, None, device_name_problem(name)
    by_name, by_device = raw.interface_named(name), raw.interface_with_device(name)
    if by_name is not None and by_device is not None and by_name is not by_device:
        return None, None, (f"{_shown(name)} is ambiguous: it is the name of <{by_name.name}> (device "
                            f"{by_name.device}) and the device of <{by_device.name}>; write {by_name.name} "
                            f"for {by_name.device} or {by_device.name} for {by_device.device}")
    host_if = by_name or by_device
    if host_if is not None:
        if not valid_device_name(host_if.device):
            return None, None, f"<{host_if.name}> has the device {device_name_problem(host_if.device)}"
        return host_if, host_if.device, ""
    if not raw.interfaces:
        return None, name, ""  # a bare config without <interfaces> names real devices directly
    return None, None, f"{_shown(name)} is not an interface of this host (known: {_known_names(raw)})"


def _interface(entry: _Entry, raw: RawConfig, address) -> Tuple[str, str]:
    name = entry.text("interface")
    if name:
        host_if, device, problem = _resolve_device(raw, name)
        if device is None:
            entry.problem("interface", problem)
            return "", ""
        return device, host_if.name if host_if else ""
    if address is None:
        return "", ""
    matches = [i for i in raw.interfaces if any(address in a.network for a in i.addresses)]
    if len(matches) == 1:
        if not valid_device_name(matches[0].device):
            entry.problem("interface", f"<{matches[0].name}> has the device {device_name_problem(matches[0].device)}")
            return "", ""
        return matches[0].device, matches[0].name
    if not matches:
        entry.problem("interface", f"no interface given and no interface's subnet contains {address}; "
                                   f"add <interface>NAME</interface> (known: {_known_names(raw)})")
    else:
        names = ", ".join(i.name for i in matches)
        entry.problem("interface", f"no interface given and {address} is in the subnet of several ({names}); "
                                   "add <interface>NAME</interface> to pick one")
    return "", ""


def _pfsync(entries: List[Tuple[_Entry, bool]], raw: RawConfig) -> Optional[PfsyncSettings]:
    """The one pfsync setting of the host: the sync device (every entry with pfsync on names the same), and the
    sync peer and defer flag (given on any of them; two entries that give them must agree)."""
    chosen: Optional[PfsyncSettings] = None
    chosen_where = ""
    syncpeer: Optional[str] = None
    peer_where = ""
    defer: Optional[bool] = None
    defer_where = ""
    for entry, wanted in entries:
        peer = _unicast_address(entry, "syncpeer", 4, PFSYNC_DEFAULT_PEER)
        defer_given = entry.given("defer")
        defer_value = entry.flag("defer")
        if not wanted:
            for name, used in (("syncpeer", peer is not None), ("defer", defer_given and defer_value)):
                if used:
                    entry.warning(name, "has no effect: pfsync is not on in this entry (pfsync's settings are read "
                                        "from the entries with pfsync on)")
            continue
        if peer is not None:
            if syncpeer is None:
                syncpeer, peer_where = peer, entry.where
            elif peer != syncpeer:
                entry.problem("syncpeer", f"pfsync has one sync peer: {peer_where} uses {syncpeer}, this uses {peer}")
        if defer_given:
            if defer is None:
                defer, defer_where = defer_value, entry.where
            elif defer != defer_value:
                entry.problem("defer", f"pfsync's defer is one setting: {defer_where} has it "
                                       f"{'on' if defer else 'off'}, this has it {'on' if defer_value else 'off'}")
        name = entry.text("synciface")
        if not name:
            entry.problem("synciface", "pfsync is on but no sync interface is set (the original wrote `syncif` with no device)")
            continue
        host_if, device, problem = _resolve_device(raw, name)
        if device is None:
            entry.problem("synciface", problem)
            continue
        settings = PfsyncSettings(syncdev=device, friendly_interface=host_if.name if host_if else "")
        if chosen is None:
            chosen, chosen_where = settings, entry.where
        elif chosen.syncdev != settings.syncdev:
            entry.problem("synciface", f"pfsync has one sync device: {chosen_where} uses {chosen.syncdev}, this uses {device}")
    if chosen is None:
        return None
    return replace(chosen, syncpeer=syncpeer, defer=bool(defer))


def _group_conflicts(vips: List[Tuple[str, VirtualIP]], problems: List[Problem], balancing: bool) -> None:
    first: Dict[Tuple[str, int], Tuple[str, VirtualIP]] = {}
    seen_address: Dict[object, Tuple[str, VirtualIP]] = {}
    for where, vip in vips:
        key = (vip.interface, vip.vhid)
        if key in first:
            other_where, other = first[key]
            for name in ("protocol", "advskew", "advbase", "password", "peer", "peer6", "vrrpprio", "vrrpinterval"):
                if name in CARP_ONLY and vip.protocol == other.protocol == VRRP:
                    continue  # no effect on a VRRP vhid (_protocol_fields warns): entries need not agree on it
                if getattr(vip, name) != getattr(other, name):
                    shown = ("differs" if name == "password" else
                             f"{_or_none(getattr(vip, name))} vs {_or_none(getattr(other, name))}")
                    problems.append(Problem(f"{where}.{name}", f"vhid {vip.vhid} on {vip.interface} is shared with "
                                                               f"{other_where}; {name} must match ({shown})"))
        else:
            first[key] = (where, vip)
        address = vip.address.ip
        if address in seen_address:
            other_where, other = seen_address[address]
            same_group = (other.interface, other.vhid) == key
            if same_group or not balancing:
                problems.append(Problem(f"{where}.ipaddress", f"{address} is already configured by {other_where}"
                                        + ("" if same_group else " (one address on several vhids is only for load balancing)")))
        else:
            seen_address[address] = (where, vip)


def _peer_problems(vips: List[Tuple[str, VirtualIP]], raw: RawConfig, problems: List[Problem]) -> None:
    """A unicast peer is the other host: never this host's own address (an address of <interfaces>, what keepalived
    would take as unicast_src_ip) nor a virtual IP of the config."""
    own = {a.ip: i.name for i in raw.interfaces for a in i.addresses}
    vip_addresses = {vip.address.ip for _, vip in vips}
    for where, vip in vips:
        for name in ("peer", "peer6"):
            value = getattr(vip, name)
            if value is None:
                continue
            address = ipaddress.ip_address(value)
            if address in own:
                problems.append(Problem(f"{where}.{name}", f"{address} is this host's own address (<{own[address]}>): "
                                                           "the peer is the other host of the cluster"))
            elif address in vip_addresses:
                problems.append(Problem(f"{where}.{name}", f"{address} is a virtual IP of this config: the peer is the "
                                                           "other host's own address, not a VIP"))


def _interface_problems(raw: RawConfig) -> List[Problem]:
    """Every <interfaces><NAME><if> must be a device name: it reaches file names, scripts and messages."""
    return [Problem(f"interfaces.{shorten(i.name)}.if", device_name_problem(i.device))
            for i in raw.interfaces if not valid_device_name(i.device)]


def _or_none(value) -> str:
    return "none" if value is None else str(value)


def _peer_warnings(config: CarpConfig, warnings: List[Problem]) -> None:
    """A unicast peer of a family the vhid does not advertise in is never used (ip_carp.c sends IPv4
    advertisements only for a vhid with IPv4 addresses, IPv6 ones only with IPv6 addresses)."""
    for group in config.groups():
        for name, version in (("peer", 4), ("peer6", 6)):
            if getattr(group, name) is not None and not any(a.version == version for a in group.addresses):
                warnings.append(Problem(f"{config.where(group.interface, group.vhid)}.{name}",
                                        f"has no effect: vhid {group.vhid} on {group.interface} has no IPv{version} "
                                        f"address, so it sends no IPv{version} advertisements"))


def examine(raw: RawConfig) -> Validation:
    """Every problem and warning of the raw config, and the CarpConfig (carrying its warnings) when there is no problem."""
    problems: List[Problem] = _interface_problems(raw)
    warnings: List[Problem] = []
    vips: List[Tuple[str, VirtualIP]] = []
    pfsync_wishes: List[Tuple[_Entry, bool]] = []
    for raw_entry in raw.entries:
        if len(problems) >= MAX_PROBLEMS:  # 65,536 entries of 64 misspelt fields would be 4 million lines
            problems.append(Problem(f"config[{raw_entry.index}]", f"not checked, nor the entries after it: more than "
                                    f"{MAX_PROBLEMS} problems already; fix those first"))
            break
        entry = _Entry(raw_entry, problems, warnings)
        address = _address(entry)
        vip_address = _interface_with_prefix(entry, address) if address is not None else None
        device, friendly = _interface(entry, raw, address)
        protocol = _protocol(entry)
        entry.vrrp = protocol == VRRP
        numbers = {name: entry.number(name) for name in RANGES}
        password = _password(entry)
        peers = {"peer": _unicast_address(entry, "peer", 4, CARP_DEFAULT_PEER),
                 "peer6": _unicast_address(entry, "peer6", 6, "ff02::12")}
        flags = {name: entry.flag(name) for name in ("preempt", "balancing", "pfsync")}
        pfsync_wishes.append((entry, flags["pfsync"]))
        refused_peer = any(entry.given(name) and value is None for name, value in peers.items())
        if protocol is None or not _protocol_fields(entry, protocol, numbers, password):
            continue
        if vip_address is None or not device or password is None or None in numbers.values() or refused_peer:
            continue
        vips.append((entry.where, VirtualIP(
            address=vip_address, interface=device, vhid=numbers["vhid"], advbase=numbers["advbase"],
            advskew=numbers["advskew"], password=password, preempt=flags["preempt"],
            balancing=flags["balancing"], friendly_interface=friendly, peer=peers["peer"], peer6=peers["peer6"],
            protocol=protocol, vrrpprio=numbers["vrrpprio"], vrrpinterval=numbers["vrrpinterval"],
        )))
    pfsync = _pfsync(pfsync_wishes, raw)
    _group_conflicts(vips, problems, balancing=any(v.balancing for _, v in vips))
    _peer_problems(vips, raw, problems)
    if problems:
        return Validation(None, tuple(problems), tuple(warnings))
    host_addresses = tuple((i.device, address) for i in raw.interfaces for address in i.addresses)
    config = CarpConfig(vips=tuple(v for _, v in vips), pfsync=pfsync, host_addresses=host_addresses)
    _peer_warnings(config, warnings)
    return Validation(replace(config, warnings=tuple(warnings)), (), tuple(warnings))


def check(raw: RawConfig) -> Tuple[Optional[CarpConfig], List[Problem]]:
    """Every problem of the raw config, and the CarpConfig when there are none (warnings: see examine())."""
    result = examine(raw)
    return result.config, list(result.problems)


def build_config(raw: RawConfig) -> CarpConfig:
    """The validated config (its warnings in config.warnings), or ConfigError listing every problem."""
    config, problems = check(raw)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise ConfigError(f"{raw.source}: {len(problems)} {noun} in installedpackages/carp",
                          tuple(str(p) for p in problems))
    return config
