"""An in-memory FreeBSD 14 (or 15: `release=1500000`) host: `ifconfig` and `sysctl` as carp-pkg drives them, for tests.

`FakeFreeBSD.run(argv) -> (returncode, stdout, stderr)` accepts the forms of DESIGN.md §3 and answers
like the real tools (messages from sbin/ifconfig, sbin/sysctl and the kernel's errno strings):

    ifconfig [-a] [-k] [-l] [IF]                                  status, printed like FreeBSD 14
    ifconfig IF vhid V [advskew S] [advbase B] [pass P] [state MASTER|BACKUP]
                       [peer IP|mcast] [peer6 IP6|mcast6]
                       [carpver 2|3] [vrrpprio P] [vrrpinterval I]   (release 15: FakeFreeBSD(release=1500000))
    ifconfig IF inet IP/BITS alias [vhid V]      ifconfig IF inet IP -alias
    ifconfig IF inet6 ADDR prefixlen BITS alias [vhid V]          ifconfig IF inet6 ADDR -alias
    ifconfig pfsync0 syncdev IF|-syncdev [syncpeer IP|-syncpeer] [defer|-defer] [maxupd N]
                     [version 1301|1400|1500] [up|down]           (`syncif` is an alias of `syncdev`; 1500: 15 only)
    sysctl [-n] NAME[=VALUE] ...

Kernel behaviour modelled from sys/netinet/ip_carp.c and sys/netinet/in.c (FreeBSD 10+):
- a vhid exists from its first SIOCSVH (`ifconfig IF vhid V ...`), INIT until it has an address;
- `-alias` of a vhid's last address destroys the vhid (carp_detach with keep_cif false): its
  password, advskew and advbase are gone, and a later `alias vhid V` would silently re-create it
  with advbase 1, advskew 0 and no password; re-adding an existing address keeps the vhid (keep_cif);
- ifconfig has no command that deletes a vhid without addresses: it stays until reboot;
- `inet IP/BITS` without `alias` replaces the interface's first IPv4 address;
- net.inet.carp.demotion writes are added to the current value; allow=0 puts every vhid in INIT;
- the key given with `pass` is cut to 19 bytes (strlcpy into CARP_KEY_LEN 20) and printed only by `-k`;
- FreeBSD 14: every `ifconfig IF ... vhid V ...` command (an address added with `alias vhid V` too) sends
  the vhid's peers: the ones given with `peer`/`peer6`, else the multicast defaults 224.0.0.18 / ff02::12
  (carp_ctor() calls setcarp_mcast()), so a unicast peer survives only when each vhid command repeats it
  (sbin/ifconfig/carp.c); `mcast`/`mcast6` set the multicast group explicitly;
- FreeBSD 15 (release >= 1500000): carp_ctor() no longer presets the multicast group and the kernel keeps a
  vhid's peer unless given a non-zero address, so a vhid command that names no peer leaves it as it is; only
  `peer`/`peer6` or `mcast`/`mcast6` change it;
- FreeBSD 15: a vhid is created with a version (2 CARP, the default; 3 VRRPv3 with `carpver 3`) and keeps it:
  a `carpver` other than the vhid's own is refused with EINVAL (ip_carp.c carp_ioctl_set(): "If you want to
  switch from VRRP to CARP or vice versa, you'd need to recreate the VHID", commit a254d6870e88); for a
  VRRPv3 vhid the kernel sets only the priority and interval, never a peer; it prints
  `\tvrrp: STATE vrid N prio P interval I` and no peer line (sbin/ifconfig/carp.c); pfsync0 reports
  `version: 1500`; an older release reads `carpver`/`vrrpprio`/`vrrpinterval` as an address and fails with
  "bad value".

`strict=True` (the default) refuses `inet ... alias vhid V` while vhid V does not exist yet (the real
ifconfig would create it with no password; allowed for a `carpver 3` VRRPv3 vhid, which has none) and refuses real ifconfig forms this stand-in does not
model; those refusals say so in their message.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
Outcome = Tuple[int, str, str]

STATE_ENV = "CARP_FAKE_FREEBSD_STATE"
CARP_MAXVHID = 255
CARP_KEY_LEN = 20
CARP_DEFAULT_PEER = "224.0.0.18"
CARP_DEFAULT_PEER6 = "ff02::12"
CARP_STATES = ("INIT", "BACKUP", "MASTER")
PFSYNC_IF = "pfsync0"
PFSYNC_VERSIONS = (1301, 1400)
PFSYNC_VERSIONS_15 = (1301, 1400, 1500)  # FreeBSD 15 adds 1500, its default
IFNAMSIZ = 16

ENOENT = "No such file or directory"
EINVAL = "Invalid argument"
EOPNOTSUPP = "Operation not supported"
EADDRNOTAVAIL = "Can't assign requested address"

CARP_SYSCTL_DEFAULTS = (
    ("net.inet.carp.allow", 1),
    ("net.inet.carp.dscp", 56),
    ("net.inet.carp.preempt", 0),
    ("net.inet.carp.log", 1),
    ("net.inet.carp.demotion", 0),
    ("net.inet.carp.senderr_demotion_factor", 240),
    ("net.inet.carp.ifdown_demotion_factor", 240),
)
READ_ONLY_SYSCTLS = (("kern.ostype", "FreeBSD"), ("kern.osrelease", "14.1-RELEASE"), ("kern.osreldate", 1401000))
VRRP_RELEASE = 1500000  # kern.osreldate of FreeBSD 15.0: carpver, vrrpprio, vrrpinterval
VRRP_MAX_INTERVAL = 4095
CARP_VERSION_CARP, CARP_VERSION_VRRP = 2, 3

DEFAULT_INTERFACES: Mapping[str, Sequence[str]] = {
    "em0": ("198.51.100.2/24",),
    "em1": ("10.0.0.2/24",),
    "em2": ("172.16.0.1/30",),
}

IFCONFIG_USAGE = (
    "usage: ifconfig [-j jail] [-f type:format] [-k] interface address_family\n"
    "                [address [dest_address]] [parameters]\n"
    "       ifconfig [-j jail] interface create\n"
    "       ifconfig [-j jail] -a [-dkLmuv] [-f type:format] [address_family]\n"
    "       ifconfig [-j jail] -l [-du] [address_family]\n"
    "       ifconfig [-j jail] [-dkLmuv] [-f type:format]\n"
)
SYSCTL_USAGE = (
    "usage: sysctl [-j jail] [-bdehiNnoqTtWx] [ -B <bufsize> ] [-f filename] name[=value] ...\n"
    "       sysctl [-j jail] [-bdehNnoqTtWx] [ -B <bufsize> ] -a\n"
)

# Real ifconfig keywords this stand-in refuses rather than pretending to model them.
UNMODELLED_KEYWORDS = frozenset({
    "add", "delete", "remove", "broadcast", "mtu", "metric", "description", "descr", "-description",
    "name", "destroy", "media", "mediaopt", "-mediaopt", "lladdr", "link", "ether", "vnet", "-vnet",
    "group", "-group", "fib", "tunnelfib", "anycast", "tentative", "-tentative", "deprecated",
    "-deprecated", "autoconf", "-autoconf", "pltime", "vltime", "promisc", "-promisc", "monitor",
    "-monitor", "arp", "-arp", "staticarp", "-staticarp", "debug", "-debug", "prefixlen",
})
PFSYNC_KEYWORDS = frozenset({"syncdev", "syncif", "-syncdev", "-syncif", "syncpeer", "-syncpeer",
                             "defer", "-defer", "maxupd", "version"})


class _Exit(Exception):
    """errx()/err() of the real tool: exit status and the stderr text."""

    def __init__(self, message: str, code: int = 1, *, raw: bool = False):
        super().__init__(message)
        self.code = code
        self.text = message if raw else f"ifconfig: {message}\n"


def _refuse(message: str) -> _Exit:
    return _Exit(f"{message} [FreeBSD stand-in]")


@dataclass
class Vhid:
    vhid: int
    advbase: int = 1
    advskew: int = 0
    key: str = ""
    peer: str = CARP_DEFAULT_PEER
    peer6: str = CARP_DEFAULT_PEER6
    forced_state: Optional[str] = None
    version: int = CARP_VERSION_CARP
    vrrp_prio: int = 100
    vrrp_interval: int = 100


@dataclass
class Address:
    address: IPInterface
    vhid: Optional[int] = None


@dataclass
class Interface:
    name: str
    index: int
    addresses: List[Address] = field(default_factory=list)
    vhids: List[Vhid] = field(default_factory=list)
    up: bool = True

    @property
    def kind(self) -> str:
        if self.name.startswith("lo"):
            return "loopback"
        return "ether"

    def vhid(self, number: int) -> Optional[Vhid]:
        for entry in self.vhids:
            if entry.vhid == number:
                return entry
        return None

    def members(self, number: int) -> List[IPInterface]:
        return [a.address for a in self.addresses if a.vhid == number]


@dataclass
class Pfsync:
    exists: bool = True
    syncdev: str = ""
    syncpeer: Optional[str] = None  # None: the multicast default 224.0.0.240
    peer_family_set: bool = False  # the kernel stores AF_INET 224.0.0.240 after the first set
    maxupd: int = 128
    defer: bool = False
    version: int = 1400
    up: bool = False


@dataclass
class _Request:
    """What one `ifconfig IF ...` asked for, in the shape ifconfig's globals keep it."""

    family: str = "inet"
    address: Optional[IPInterface] = None
    remove: Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]] = None
    doalias: int = 0
    vhid: Optional[int] = None
    advskew: Optional[int] = None
    advbase: Optional[int] = None
    key: Optional[str] = None
    state: Optional[str] = None
    peer: Optional[str] = None
    peer6: Optional[str] = None
    version: Optional[int] = None
    vrrp_prio: Optional[int] = None
    vrrp_interval: Optional[int] = None
    prefixlen: Optional[int] = None
    netmask: Optional[int] = None
    mask_given: bool = False
    warnings: List[str] = field(default_factory=list)


class FakeFreeBSD:
    """A FreeBSD 14 host in memory. Host addresses come from `interfaces` ({"em0": ["198.51.100.2/24"]})."""

    def __init__(self, interfaces: Optional[Mapping[str, Iterable[str]]] = None, *, pfsync: bool = True,
                 strict: bool = True, release: int = 1401000):
        chosen = DEFAULT_INTERFACES if interfaces is None else interfaces
        self.host_config: Dict[str, List[str]] = {name: [str(ipaddress.ip_interface(a)) for a in addresses]
                                                  for name, addresses in chosen.items()}
        if not any(name.startswith("lo") for name in self.host_config):
            self.host_config["lo0"] = ["127.0.0.1/8"]
        self.has_pfsync = pfsync
        self.strict = strict
        self.release = release  # kern.osreldate: 1500000 and later take carpver/vrrpprio/vrrpinterval
        self.commands: List[Tuple[str, ...]] = []
        self.mutating_commands: List[Tuple[str, ...]] = []
        self.failures: List[Tuple[Tuple[str, ...], int, str]] = []
        self.boots = 0
        self._boot()

    # --- lifecycle ----------------------------------------------------------------------------------
    def _boot(self) -> None:
        self.interfaces: Dict[str, Interface] = {}
        for index, (name, addresses) in enumerate(self.host_config.items(), start=1):
            self.interfaces[name] = Interface(name, index, [Address(ipaddress.ip_interface(a)) for a in addresses])
        self.pfsync = Pfsync(exists=self.has_pfsync, version=self._pfsync_default_version())
        self.sysctls: Dict[str, Union[int, str]] = dict(CARP_SYSCTL_DEFAULTS)

    def _pfsync_default_version(self) -> int:
        return 1500 if self.release >= VRRP_RELEASE else 1400

    def reboot(self) -> None:
        """Every vhid, VIP, pfsync setting and sysctl is gone; the host addresses (rc.conf) come back."""
        self.boots += 1
        self._boot()

    @property
    def mutation_count(self) -> int:
        return len(self.mutating_commands)

    def set_state(self, interface: str, vhid: int, state: str) -> None:
        """What the election would decide (MASTER unless told otherwise)."""
        if state not in CARP_STATES:
            raise ValueError(f"state must be one of {CARP_STATES}, not {state!r}")
        entry = self._require_interface(interface).vhid(vhid)
        if entry is None:
            raise KeyError(f"vhid {vhid} is not configured on {interface}")
        entry.forced_state = state

    def key(self, interface: str, vhid: int) -> str:
        """The password the kernel holds for a vhid (what `ifconfig -k` would show)."""
        entry = self._require_interface(interface).vhid(vhid)
        if entry is None:
            raise KeyError(f"vhid {vhid} is not configured on {interface}")
        return entry.key

    def sysctl_value(self, name: str) -> Union[int, str]:
        return {**self.sysctls, **self.read_only_sysctls()}[name]

    def read_only_sysctls(self) -> Dict[str, Union[int, str]]:
        table: Dict[str, Union[int, str]] = dict(READ_ONLY_SYSCTLS)
        if self.release != table["kern.osreldate"]:
            table["kern.osreldate"] = self.release
            table["kern.osrelease"] = f"{self.release // 100000}.{self.release // 1000 % 100}-RELEASE"
        return table

    def _require_interface(self, name: str) -> Interface:
        if name not in self.interfaces:
            raise KeyError(f"no interface {name}")
        return self.interfaces[name]

    # --- the one entry point --------------------------------------------------------------------------
    def run(self, argv: Sequence[str]) -> Outcome:
        argv = tuple(str(a) for a in argv)
        tool = os.path.basename(argv[0]) if argv else ""
        if tool == "ifconfig":
            mutating = self._ifconfig_mutates(argv[1:])
            code, out, err = self._guard(lambda: self._ifconfig(argv[1:]))
        elif tool == "sysctl":
            mutating = any("=" in a for a in argv[1:] if not a.startswith("-"))
            code, out, err = self._sysctl(argv[1:])
        else:
            return 127, "", f"{tool or '(empty argv)'}: not found\n"
        if code == 0:
            self.commands.append(argv)
            if mutating:
                self.mutating_commands.append(argv)
        else:
            self.failures.append((argv, code, err))
        return code, out, err

    @staticmethod
    def _guard(action) -> Outcome:
        try:
            out, err = action()
            return 0, out, err
        except _Exit as failure:
            return failure.code, "", failure.text

    # --- ifconfig: listing ----------------------------------------------------------------------------
    @staticmethod
    def _ifconfig_mutates(args: Sequence[str]) -> bool:
        """`ifconfig [options] IF WORD...` changes something; listings (`ifconfig [-ak] [IF]`) do not."""
        index = 0
        while index < len(args) and args[index].startswith("-") and len(args[index]) > 1:
            index += 1
        return len(args) - index > 1

    def _ifconfig(self, args: Sequence[str]) -> Tuple[str, str]:
        keys, listing_names, everything, rest = self._ifconfig_options(args)
        if listing_names:
            if everything or rest:
                raise _Exit(IFCONFIG_USAGE, raw=True)
            return " ".join(self._names()) + "\n", ""
        if not rest:
            return self.ifconfig_output(keys=keys), ""
        if everything:
            raise _refuse("-a with an address family or interface is not modelled")
        name, words = rest[0], list(rest[1:])
        if name not in self._names():
            if words[:1] == ["create"]:
                return self._create(name, words[1:])
            raise _Exit(f"interface {name} does not exist")
        if not words:
            return self.ifconfig_output(name, keys=keys), ""
        if name == PFSYNC_IF:
            return self._configure_pfsync(words)
        return self._configure(self.interfaces[name], words)

    @staticmethod
    def _ifconfig_options(args: Sequence[str]) -> Tuple[bool, bool, bool, List[str]]:
        keys = listing = everything = False
        index = 0
        while index < len(args) and args[index].startswith("-") and len(args[index]) > 1:
            for letter in args[index][1:]:
                if letter == "k":
                    keys = True
                elif letter == "l":
                    listing = True
                elif letter == "a":
                    everything = True
                else:
                    raise _Exit(IFCONFIG_USAGE, raw=True)
            index += 1
        return keys, listing, everything, list(args[index:])

    def _names(self) -> List[str]:
        names = list(self.interfaces)
        if self.pfsync.exists:
            names.append(PFSYNC_IF)
        return names

    def ifconfig_output(self, interface: Optional[str] = None, *, keys: bool = False) -> str:
        """What `ifconfig` (or `ifconfig IF`; `-k` when keys) prints, in the FreeBSD 14 format."""
        names = [interface] if interface is not None else self._names()
        lines: List[str] = []
        for name in names:
            lines += self._pfsync_lines() if name == PFSYNC_IF else self._interface_lines(self.interfaces[name], keys)
        return "".join(line + "\n" for line in lines)

    def _interface_lines(self, iface: Interface, keys: bool) -> List[str]:
        if iface.kind == "loopback":
            lines = [f"{iface.name}: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384",
                     "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>"]
            lines += [self._address_line(a, broadcast=False) for a in iface.addresses if a.address.version == 4]
            lines += [self._address_line(a, broadcast=False) for a in iface.addresses if a.address.version == 6]
            return lines + ["\tgroups: lo"]
        lines = [f"{iface.name}: {self._ether_flags(iface)} metric 0 mtu 1500",
                 "\toptions=4e504bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,LRO,"
                 "VLAN_HWFILTER,VLAN_HWTSO,RXCSUM_IPV6,TXCSUM_IPV6,HWSTATS,MEXTPG>",
                 f"\tether 00:0c:29:aa:bb:{iface.index:02x}"]
        lines += [self._address_line(a, broadcast=True) for a in iface.addresses if a.address.version == 4]
        lines.append(f"\tinet6 fe80::20c:29ff:feaa:bb{iface.index:02x}%{iface.name} prefixlen 64 "
                     f"scopeid 0x{iface.index:x}")
        lines += [self._address_line(a, broadcast=True) for a in iface.addresses if a.address.version == 6]
        for entry in iface.vhids:
            if entry.version == CARP_VERSION_VRRP:
                lines.append(f"\tvrrp: {self._state(iface, entry)} vrid {entry.vhid} prio {entry.vrrp_prio} "
                             f"interval {entry.vrrp_interval}")
                continue
            carp = (f"\tcarp: {self._state(iface, entry)} vhid {entry.vhid} advbase {entry.advbase} "
                    f"advskew {entry.advskew}")
            if keys and entry.key:
                carp += f' key "{entry.key}"'
            lines += [carp, f"\t      peer {entry.peer} peer6 {entry.peer6}"]
        return lines + ["\tmedia: Ethernet autoselect (1000baseT <full-duplex>)", "\tstatus: active",
                        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>"]

    @staticmethod
    def _ether_flags(iface: Interface) -> str:
        # carp_alloc_if() puts the parent interface in promiscuous mode while it has a vhid.
        names = (["UP"] if iface.up else []) + ["BROADCAST"] + (["RUNNING"] if iface.up else [])
        names += (["PROMISC"] if iface.vhids else []) + ["SIMPLEX", "MULTICAST", "LOWER_UP"]
        bits = 0x1008802 | (0x41 if iface.up else 0) | (0x100 if iface.vhids else 0)
        return f"flags={bits:x}<{','.join(names)}>"

    @staticmethod
    def _address_line(entry: Address, broadcast: bool) -> str:
        address = entry.address
        suffix = f" vhid {entry.vhid}" if entry.vhid is not None else ""
        if address.version == 6:
            return f"\tinet6 {address.ip} prefixlen {address.network.prefixlen}{suffix}"
        line = f"\tinet {address.ip} netmask 0x{int(address.netmask):x}"
        if broadcast:
            # in_aifaddr_ioctl(): a /31 (RFC 3021) gets the limited broadcast address.
            cast = "255.255.255.255" if address.network.prefixlen == 31 else str(address.network.broadcast_address)
            line += f" broadcast {cast}"
        return line + suffix

    def _state(self, iface: Interface, entry: Vhid) -> str:
        if not iface.up or self.sysctls["net.inet.carp.allow"] == 0 or not iface.members(entry.vhid):
            return "INIT"
        return entry.forced_state or "MASTER"

    def _pfsync_lines(self) -> List[str]:
        sync = self.pfsync
        flags = "flags=1000041<UP,RUNNING,LOWER_UP>" if sync.up else "flags=0<>"
        fields = ""
        if sync.syncdev:
            fields += f"syncdev: {sync.syncdev} "
        if sync.syncpeer:
            fields += f"syncpeer: {sync.syncpeer} "
        fields += f"maxupd: {sync.maxupd} defer: {'on' if sync.defer else 'off'} version: {sync.version}"
        tab = "\t" if sync.syncdev or sync.peer_family_set else ""
        return [f"{PFSYNC_IF}: {flags} metric 0 mtu 1500", tab + fields, "\tsyncok: 1", "\tgroups: pfsync"]

    # --- ifconfig: configuring ------------------------------------------------------------------------
    def _create(self, name: str, words: Sequence[str]) -> Tuple[str, str]:
        if name == PFSYNC_IF and not self.pfsync.exists and not words:
            self.pfsync = Pfsync(exists=True, version=self._pfsync_default_version())
            return "", ""
        if re.fullmatch(r"carp\d+", name):
            raise _Exit(f"SIOCIFCREATE2: {EINVAL}")  # no carp cloner since FreeBSD 10
        raise _refuse(f"creating {name} is not modelled")

    def _configure_pfsync(self, words: List[str]) -> Tuple[str, str]:
        sync = self.pfsync
        index = 0
        while index < len(words):
            word = words[index]
            value = words[index + 1] if index + 1 < len(words) else None
            takes_value = word in ("syncdev", "syncif", "syncpeer", "maxupd", "version")
            if takes_value and value is None:
                raise _Exit(f"'{word}' requires argument")
            if word in ("syncdev", "syncif"):
                if len(value) > IFNAMSIZ:
                    raise _Exit(f"interface name {value} is too long")
                if value not in self.interfaces:
                    raise _Exit(f"SIOCSETPFSYNCNV: {EINVAL}")
                sync.syncdev = value
            elif word in ("-syncdev", "-syncif"):
                sync.syncdev = ""
            elif word == "syncpeer":
                sync.syncpeer = self._syncpeer(value)
            elif word == "-syncpeer":
                sync.syncpeer = None
            elif word in ("defer", "-defer"):
                sync.defer = word == "defer"
            elif word == "maxupd":
                number = self._decimal("maxupd", value)
                if not 0 <= number <= 255:
                    raise _Exit(f"maxupd {value}: out of range")
                sync.maxupd = number
            elif word == "version":
                number = self._decimal("version", value)
                if number not in (PFSYNC_VERSIONS_15 if self.release >= VRRP_RELEASE else PFSYNC_VERSIONS):
                    raise _Exit(f"SIOCSETPFSYNCNV: {EINVAL}")
                sync.version = number
            elif word in ("up", "down"):
                sync.up = word == "up"
            else:
                self._unknown(word, "inet")
            if word in PFSYNC_KEYWORDS:
                sync.peer_family_set = True
            index += 2 if takes_value else 1
        return "", ""

    @staticmethod
    def _syncpeer(value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _Exit("error in parsing address string: hostname nor servname provided, or not known") from None

    def _configure(self, iface: Interface, words: List[str]) -> Tuple[str, str]:
        request = _Request()
        if words[0] in ("inet", "inet6"):
            request.family = words.pop(0)
        index = 0
        while index < len(words):
            index = self._word(iface, request, words, index)
        before = iface.vhid(request.vhid) if request.vhid is not None else None
        if request.vhid is not None:
            self._check_new_vhid_address(iface, request, before)
            self._set_vhid(iface, request)
        if request.doalias < 0:
            self._remove_address(iface, request)
        elif request.address is not None:
            if request.family == "inet" and not request.mask_given and request.netmask is None:
                request.warnings.append("WARNING: setting interface address without mask is deprecated,\n"
                                        "default mask may not be correct.")
            if request.doalias == 0 and request.family == "inet":
                first = next((a for a in iface.addresses if a.address.version == 4), None)
                if first is not None:
                    self._detach(iface, first, keep_vhid=False)
            self._add_address(iface, request)
        return "", "".join(f"ifconfig: {w}\n" for w in request.warnings)

    def _word(self, iface: Interface, request: _Request, words: List[str], index: int) -> int:
        word = words[index]

        def value() -> str:
            if index + 1 >= len(words):
                raise _Exit(f"'{word}' requires argument")
            return words[index + 1]

        if word == "vhid":
            request.vhid = self._vhid_number(value())
            return index + 2
        if word in ("advskew", "advbase", "pass", "state"):
            if request.vhid is None:
                raise _Exit(f"{'passwd' if word == 'pass' else word} requires vhid")
            if word == "advskew":
                request.advskew = self._non_negative("advskew", value())
            elif word == "advbase":
                request.advbase = self._non_negative("advbase", value())
                if request.advbase == 0:
                    raise _refuse("advbase 0 is not valid (the real ifconfig silently keeps the old advbase)")
            elif word == "pass":
                # strlcpy(carpr_key, key, CARP_KEY_LEN): bytes, not characters
                request.key = value().encode("utf-8", "surrogateescape")[:CARP_KEY_LEN - 1].decode(
                    "utf-8", "surrogateescape")
            else:
                matches = [s for s in CARP_STATES if s.lower() == value().lower()]
                if not matches:
                    raise _Exit("unknown state")
                request.state = matches[0]
            return index + 2
        if word in ("carpver", "vrrpprio", "vrrpinterval") and self.release >= VRRP_RELEASE:
            number = _atoi(value())
            if word == "carpver":
                if number not in (CARP_VERSION_CARP, CARP_VERSION_VRRP):
                    raise _Exit(f"version must be {CARP_VERSION_CARP} or {CARP_VERSION_VRRP}")
                request.version = number
            elif word == "vrrpprio":
                if not 1 <= number <= 255:
                    raise _refuse(f"vrrpprio {value()!r} is outside 1-255 (the real ifconfig silently keeps the old one)")
                request.vrrp_prio = number
            else:
                if not 1 <= number <= VRRP_MAX_INTERVAL:
                    raise _Exit(f"vrrpinterval must be greater than 0 and less than {VRRP_MAX_INTERVAL}")
                request.vrrp_interval = number
            if request.vhid is None:
                raise _refuse(f"{word} needs vhid before it (the real ifconfig silently ignores it)")
            return index + 2
        if word in ("peer", "peer6", "mcast", "mcast6"):
            if request.vhid is None:
                raise _refuse(f"{word} needs vhid before it (the real ifconfig silently ignores it)")
            if word == "peer":
                request.peer = self._ipv4_peer(value())
            elif word == "peer6":
                request.peer6 = self._ipv6_peer(value())
            elif word == "mcast":
                request.peer = CARP_DEFAULT_PEER
            else:
                request.peer6 = CARP_DEFAULT_PEER6
            return index + (2 if word in ("peer", "peer6") else 1)
        if word in ("alias", "-alias"):
            if word == "-alias":
                if request.address is None:
                    raise _refuse("-alias needs the address before it")
                request.remove = request.address.ip
            request.doalias = 1 if word == "alias" else -1
            return index + 1
        if word == "netmask":
            if request.family != "inet":
                raise _Exit(f"{value()}: bad value")
            request.netmask = self._netmask(value())
            self._apply_mask(request)
            return index + 2
        if word == "prefixlen" and request.family == "inet6":
            bits = value()
            if not bits.isdigit() or int(bits) > 128:
                raise _Exit(f"{bits}: bad value")
            request.prefixlen = int(bits)
            self._apply_mask(request)
            return index + 2
        if word in ("up", "down"):
            iface.up = word == "up"
            return index + 1
        if word in PFSYNC_KEYWORDS:
            raise _Exit(f"SIOCGETPFSYNCNV: {EINVAL}")
        self._unknown(word, request.family, request)
        return index + 1

    def _unknown(self, word: str, family: str, request: Optional[_Request] = None) -> None:
        """A word that is no keyword is an address for ifconfig (setifaddr), or a bad value."""
        if word in UNMODELLED_KEYWORDS or word == "create":
            raise _refuse(f"'{word}' is not modelled")
        if request is None:
            raise _Exit(f"{word}: bad value")
        if request.address is not None:
            raise _refuse(f"a second address ({word}) is not modelled")
        address, cidr = word.partition("/")[0], word.partition("/")[2]
        try:
            ip = ipaddress.IPv4Address(address) if family == "inet" else ipaddress.IPv6Address(address)
            if cidr:
                if not cidr.isdigit():
                    raise ValueError(cidr)
                prefix = int(cidr)
            elif family == "inet":
                prefix = 8 if int(ip) >> 31 == 0 else 16 if int(ip) >> 30 == 2 else 24  # classful default
            else:
                prefix = 64
            request.address = ipaddress.ip_interface(f"{ip}/{prefix}")
        except ValueError:
            raise _Exit(f"{word}: bad value") from None
        request.mask_given = bool(cidr)
        self._apply_mask(request)

    @staticmethod
    def _apply_mask(request: _Request) -> None:
        if request.address is None:
            return
        if request.family == "inet" and request.netmask is not None:
            request.address = ipaddress.ip_interface(f"{request.address.ip}/{request.netmask}")
        if request.family == "inet6" and request.prefixlen is not None:
            request.address = ipaddress.ip_interface(f"{request.address.ip}/{request.prefixlen}")

    @staticmethod
    def _netmask(text: str) -> int:
        try:
            value = int(text, 16) if text.lower().startswith("0x") else int(ipaddress.IPv4Address(text))
            return ipaddress.IPv4Network(f"0.0.0.0/{ipaddress.IPv4Address(value)}").prefixlen
        except ValueError:
            raise _Exit(f"{text}: bad value") from None

    @staticmethod
    def _vhid_number(text: str) -> int:
        number = _atoi(text)
        if number <= 0 or number > CARP_MAXVHID:
            raise _Exit(f"vhid must be greater than 0 and less than {CARP_MAXVHID}")
        if not text.isdigit():
            raise _refuse(f"vhid {text!r} is not a decimal number (the real ifconfig reads it as {number})")
        return number

    @staticmethod
    def _decimal(keyword: str, text: str) -> int:
        if not re.fullmatch(r"-?\d+", text):
            raise _refuse(f"{keyword} {text!r} is not a decimal number (the real ifconfig reads it as {_atoi(text)})")
        return int(text)

    def _non_negative(self, keyword: str, text: str) -> int:
        number = self._decimal(keyword, text)
        if number < 0:
            raise _refuse(f"{keyword} {number} is negative (the real ifconfig silently ignores it)")
        return number

    @staticmethod
    def _ipv4_peer(text: str) -> str:
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise _refuse(f"peer {text!r} is not an IPv4 address "
                          "(the real ifconfig would send to 255.255.255.255)") from None

    @staticmethod
    def _ipv6_peer(text: str) -> str:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise _Exit(f"Invalid IPv6 address {text}") from None

    def _check_new_vhid_address(self, iface: Interface, request: _Request, before: Optional[Vhid]) -> None:
        adding = request.address is not None and request.doalias >= 0
        keyless = request.version == CARP_VERSION_VRRP  # a VRRPv3 vhid has no key: nothing is lost creating it here
        if self.strict and adding and before is None and not keyless:
            raise _refuse(f"vhid {request.vhid} is not configured on {iface.name}: configure it first with "
                          f"'ifconfig {iface.name} vhid {request.vhid} advskew S advbase B pass P' (the real "
                          "ifconfig would create it here with advbase 1, advskew 0 and no password)")

    def _set_vhid(self, iface: Interface, request: _Request) -> None:
        """setcarp_callback(): SIOCGVH for the current values, then SIOCSVH (carp_ioctl checks)."""
        if iface.kind != "ether":
            raise _Exit(f"SIOCSVH: {EOPNOTSUPP}")
        entry = iface.vhid(request.vhid)
        if entry is not None and request.version is not None and request.version != entry.version:
            # carp_ioctl_set(): `else if (sc->sc_version != carpr->carpr_version) return (EINVAL);`
            raise _Exit(f"SIOCSVH: {EINVAL}")
        if entry is None:
            # carp_ioctl() allocates the vhid before checking advbase/advskew: a rejected SIOCSVH
            # still leaves a new vhid behind, with the defaults.
            entry = Vhid(request.vhid)
            iface.vhids.append(entry)
        if request.advbase is not None:
            if request.advbase > 255:
                raise _Exit(f"SIOCSVH: {EINVAL}")
            entry.advbase = request.advbase
        if request.advskew is not None:
            if request.advskew >= 255:
                raise _Exit(f"SIOCSVH: {EINVAL}")
            entry.advskew = request.advskew
        if request.key:
            entry.key = request.key
        for name in ("version", "vrrp_prio", "vrrp_interval"):
            if getattr(request, name) is not None:  # setcarp_callback(): only what the command names changes
                setattr(entry, name, getattr(request, name))
        if self.release >= VRRP_RELEASE:
            # FreeBSD 15: the kernel keeps its peer unless given an address (mcast/mcast6 give the group), and
            # for a VRRPv3 vhid it sets only the priority and interval (carp_ioctl_set(), carp_nl_set())
            if entry.version != CARP_VERSION_VRRP:
                entry.peer = request.peer if request.peer is not None else entry.peer
                entry.peer6 = request.peer6 if request.peer6 is not None else entry.peer6
        else:
            # FreeBSD 14: setcarp_callback() sends the defaults for a peer the command does not name
            entry.peer = request.peer if request.peer is not None else CARP_DEFAULT_PEER
            entry.peer6 = request.peer6 if request.peer6 is not None else CARP_DEFAULT_PEER6
        if request.state in ("MASTER", "BACKUP") and self._state(iface, entry) != "INIT":
            entry.forced_state = request.state

    def _remove_address(self, iface: Interface, request: _Request) -> None:
        match = next((a for a in iface.addresses if a.address.ip == request.remove), None)
        if match is None:
            raise _Exit(f"ioctl (SIOCDIFADDR): {EADDRNOTAVAIL}")
        self._detach(iface, match, keep_vhid=False)

    def _detach(self, iface: Interface, entry: Address, keep_vhid: bool) -> None:
        iface.addresses.remove(entry)
        if entry.vhid is not None and not keep_vhid and not iface.members(entry.vhid):
            iface.vhids = [v for v in iface.vhids if v.vhid != entry.vhid]

    def _add_address(self, iface: Interface, request: _Request) -> None:
        address = request.address
        existing = next((a for a in iface.addresses if a.address.ip == address.ip), None)
        if request.vhid is not None and iface.vhid(request.vhid) is None:
            raise _Exit(f"ioctl (SIOCAIFADDR): {ENOENT}")
        if existing is not None and address.version == 6:
            # in6_update_ifa() keeps the address in place; carp_detach(keep_cif=true) keeps an emptied vhid.
            existing.address, existing.vhid = address, request.vhid
            return
        if existing is not None:
            # in_aifaddr_ioctl() deletes the old one (keep_cif=true) and appends the new one.
            self._detach(iface, existing, keep_vhid=True)
        iface.addresses.append(Address(address, request.vhid))

    # --- sysctl ---------------------------------------------------------------------------------------
    def _sysctl(self, args: Sequence[str]) -> Outcome:
        values_only = False
        index = 0
        while index < len(args) and args[index].startswith("-") and len(args[index]) > 1:
            if set(args[index][1:]) - {"n"}:
                return 1, "", SYSCTL_USAGE
            values_only = True
            index += 1
        names = list(args[index:])
        if not names:
            return 1, "", SYSCTL_USAGE
        out: List[str] = []
        err: List[str] = []
        failures = 0
        for word in names:
            try:
                out += self._sysctl_one(word, values_only)
            except _Exit as failure:
                failures += 1
                err.append(failure.text)
        return failures, "".join(line + "\n" for line in out), "".join(err)

    def _sysctl_one(self, word: str, values_only: bool) -> List[str]:
        name, assign, text = word.partition("=")
        table = {**self.sysctls, **self.read_only_sysctls()}
        leaves = [n for n in table if n == name or n.startswith(name + ".")]
        if not name or not leaves:
            raise _Exit(f"sysctl: unknown oid '{name}'\n", raw=True)
        if not assign:
            return [str(table[n]) if values_only else f"{n}: {table[n]}" for n in leaves]
        if leaves != [name]:
            raise _Exit(f"sysctl: oid '{name}' isn't a leaf node\n", raw=True)
        if name not in self.sysctls:
            raise _Exit(f"sysctl: oid '{name}' is read only\n", raw=True)
        try:
            number = int(text, 0) if text.strip() else None
        except ValueError:
            number = None
        if number is None:
            raise _Exit(f"sysctl: invalid integer '{text}'\n", raw=True)
        old = self.sysctls[name]
        if name == "net.inet.carp.dscp" and not 0 <= number <= 63:
            raise _Exit(f"sysctl: {word}: {EINVAL}\n", raw=True)
        # carp_demote_adj_sysctl(): the written value is an adjustment, added to the current demotion.
        self.sysctls[name] = int(old) + number if name == "net.inet.carp.demotion" else number
        shown = f"{old} -> {self.sysctls[name]}"
        return [shown if values_only else f"{name}: {shown}"]

    # --- persistence for the bin/ wrappers ------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "host_config": self.host_config,
            "has_pfsync": self.has_pfsync,
            "strict": self.strict,
            "release": self.release,
            "boots": self.boots,
            "interfaces": [
                {"name": i.name, "index": i.index, "up": i.up,
                 "addresses": [{"address": str(a.address), "vhid": a.vhid} for a in i.addresses],
                 "vhids": [vars(v) for v in i.vhids]}
                for i in self.interfaces.values()
            ],
            "pfsync": vars(self.pfsync),
            "sysctls": self.sysctls,
            "commands": [list(c) for c in self.commands],
            "mutating_commands": [list(c) for c in self.mutating_commands],
            "failures": [[list(a), code, err] for a, code, err in self.failures],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "FakeFreeBSD":
        fake = cls(data["host_config"], pfsync=data["has_pfsync"], strict=data["strict"],
                   release=data.get("release", 1401000))
        fake.boots = data["boots"]
        fake.interfaces = {
            i["name"]: Interface(i["name"], i["index"],
                                 [Address(ipaddress.ip_interface(a["address"]), a["vhid"]) for a in i["addresses"]],
                                 [Vhid(**v) for v in i["vhids"]], i["up"])
            for i in data["interfaces"]
        }
        fake.pfsync = Pfsync(**data["pfsync"])
        fake.sysctls = dict(data["sysctls"])
        fake.commands = [tuple(c) for c in data["commands"]]
        fake.mutating_commands = [tuple(c) for c in data["mutating_commands"]]
        fake.failures = [(tuple(a), code, err) for a, code, err in data["failures"]]
        return fake

    def save(self, path: str) -> None:
        temporary = f"{path}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str) -> "FakeFreeBSD":
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))


def _atoi(text: str) -> int:
    """C atoi(): optional blanks and sign, then leading digits; 0 when there are none."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def main(tool: str, args: Sequence[str]) -> int:
    """The bin/ wrappers: load the state named by $CARP_FAKE_FREEBSD_STATE, run one command, save."""
    path = os.environ.get(STATE_ENV)
    if not path:
        sys.stderr.write(f"{tool} (FreeBSD stand-in): set {STATE_ENV} to a state file written by FakeFreeBSD.save()\n")
        return 1
    if not os.path.exists(path):
        sys.stderr.write(f"{tool} (FreeBSD stand-in): no state file at {path}\n")
        return 1
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fake = FakeFreeBSD.load(path)
        code, out, err = fake.run((tool, *args))
        fake.save(path)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code
