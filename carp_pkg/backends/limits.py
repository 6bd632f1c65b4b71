"""What each backend cannot do with a valid config: the refusals validate and sync share, one function per backend.

Kept apart from the backends themselves so that `carp-pkg validate` (run by the pfSense GUI on every save) checks a
config for any backend without loading that backend's planning and observing code.
"""

from __future__ import annotations

from typing import Callable, Dict, List

from ..model import CarpConfig, Problem, VhidGroup


def label(interface: str, vhid: int) -> str:
    return f"vhid {vhid} on {interface}"


def _shared_addresses(config: CarpConfig, engine: str) -> List[Problem]:
    """ucarp and keepalived have no ARP load balancing: one address takes one vhid."""
    problems = []
    seen: Dict[object, VhidGroup] = {}
    for group in config.groups():
        for address in group.addresses:
            other = seen.setdefault((group.interface, address.ip), group)
            if other is not group:
                problems.append(Problem(config.where(group.interface, group.vhid),
                                        f"{address.ip} is on vhids {other.vhid} and {group.vhid} of {group.interface}; "
                                        f"{engine} has no ARP load balancing, one address takes one vhid"))
    return problems


def _linux_device(group: VhidGroup, where: str) -> List[Problem]:
    """Linux device names have no ':' (dev_valid_name()); `eth0:1` is an address label, not a device."""
    if ":" not in group.interface:
        return []
    return [Problem(f"{where}.interface", f"{group.interface!r} cannot be a Linux device (dev_valid_name() refuses "
                                          "':'; eth0:1 is an address label): name the device itself")]


def ignored_on_linux(config: CarpConfig, engine: str) -> List[str]:
    """What a Linux backend accepts but cannot do: warnings, not refusals."""
    warnings = []
    if config.pfsync is not None:
        warnings.append(f"pfsync ({config.pfsync.syncdev}) is ignored: Linux has no pfsync; "
                        "conntrackd is the Linux way to share connection state")
    if config.balancing:
        warnings.append(f"ARP balancing is ignored: {engine} has none, each VIP is plain failover")
    return warnings


def freebsd(config: CarpConfig) -> List[Problem]:
    """A VRRPv3 vhid has no unicast peer on FreeBSD: for a carpver 3 vhid ip_carp.c carp_ioctl_set() sets only the
    VRRP priority and interval, carp_nl_set() does not copy the peer, and ifconfig prints none on a `vrrp:` line;
    its advertisements always go to 224.0.0.18 / ff02::12."""
    return [Problem(f"{config.where(g.interface, g.vhid)}.{name}",
                    f"vhid {g.vhid} on {g.interface} is VRRPv3 (protocol vrrp) and asks for a unicast {name}, but "
                    "FreeBSD keeps no peer for a VRRPv3 vhid (ip_carp.c sets only vrrpprio and vrrpinterval for "
                    "carpver 3): its advertisements always go to the multicast group; remove "
                    f"{name}, or use protocol carp for unicast (unicast VRRP: the keepalived backend on Linux)")
            for g in config.groups() if g.vrrp for name in ("peer", "peer6") if getattr(g, name) is not None]


def freebsd_legacy(config: CarpConfig) -> List[Problem]:
    """Unicast CARP came with FreeBSD 14, VRRPv3 with 15: the carpN world only speaks CARP to 224.0.0.18 / ff02::12."""
    problems = [Problem(f"{config.where(g.interface, g.vhid)}.protocol",
                        f"vhid {g.vhid} on {g.interface} is VRRPv3 (protocol vrrp), but FreeBSD 5.4-9 (the "
                        "freebsd-legacy backend) speaks CARP only: VRRPv3 needs FreeBSD 15 (the freebsd backend, "
                        "`carpver 3`) or Linux (the keepalived backend); use protocol carp here")
                for g in config.groups() if g.vrrp]
    return problems + [Problem(f"{config.where(g.interface, g.vhid)}.{name}",
                               f"vhid {g.vhid} on {g.interface} asks for a unicast peer, but FreeBSD 5.4-9 (the "
                               "freebsd-legacy backend) has no unicast CARP (`peer`/`peer6` need FreeBSD 14 or "
                               "later); remove it to use multicast")
                       for g in config.groups() for name in ("peer", "peer6") if getattr(g, name) is not None]


def ucarp(config: CarpConfig) -> List[Problem]:
    problems: List[Problem] = []
    for index, vip in enumerate(config.vips):
        if vip.address.version == 6:
            problems.append(Problem(f"config[{index}].ipaddress",
                                    f"{vip.address.ip} is IPv6; ucarp speaks CARP over IPv4 only, so Linux cannot "
                                    "serve it (use a FreeBSD host for IPv6 VIPs, or remove this entry)"))
    for group in config.groups():
        where = config.where(group.interface, group.vhid)
        problems += _linux_device(group, where)
        if len(group.addresses) > 1:
            shown = ", ".join(str(a) for a in group.addresses)
            problems.append(Problem(where, f"{label(group.interface, group.vhid)} has {len(group.addresses)} "
                                           f"addresses ({shown}); ucarp serves exactly one address per vhid (its "
                                           "HMAC covers only that one, so it could not agree with a peer "
                                           "advertising several): give each address its own vhid"))
        if group.vrrp:
            problems.append(Problem(f"{where}.protocol", f"{label(group.interface, group.vhid)} is VRRPv3 "
                                    "(protocol vrrp); ucarp speaks CARP only: use --backend keepalived on Linux "
                                    "(or the freebsd backend on FreeBSD 15), or protocol carp"))
            continue
        if not group.password:
            problems.append(Problem(f"{where}.password", f"{label(group.interface, group.vhid)} has no password; "
                                                         "ucarp refuses to run without one (set the same on both hosts)"))
        for name in ("peer", "peer6"):
            if getattr(group, name) is not None:
                problems.append(Problem(f"{where}.{name}", f"{label(group.interface, group.vhid)} asks for a "
                                                           "unicast peer; ucarp has no unicast CARP (it always "
                                                           "advertises to 224.0.0.18): remove it"))
    return problems + _shared_addresses(config, "ucarp")


def suggested_prio(advskew: int) -> int:
    """A CARP advskew as a VRRPv3 priority: CARP prefers the lower advskew, VRRP the higher priority."""
    return max(1, min(254, 255 - advskew))


def conversion_hint(group: VhidGroup) -> str:
    interval = min(4095, group.advbase * 100)
    return (f"<protocol>vrrp</protocol>, <vrrpprio>{suggested_prio(group.advskew)}</vrrpprio> (255 - advskew "
            f"{group.advskew}: VRRP prefers the higher priority), <vrrpinterval>{interval}</vrrpinterval> "
            f"(advbase {group.advbase} s in centiseconds, or less for a faster failover)"
            + (" and no <password> (VRRPv3 has no authentication)" if group.password else ""))


def keepalived(config: CarpConfig) -> List[Problem]:
    from . import keepalived_conf as kc
    problems: List[Problem] = []
    for group in config.groups():
        where = config.where(group.interface, group.vhid)
        problems += _linux_device(group, where)
        if not group.vrrp:
            problems.append(Problem(f"{where}.protocol", f"{label(group.interface, group.vhid)} is a CARP entry, "
                                    "and keepalived speaks VRRPv3, not CARP (carp-pkg never reinterprets one as "
                                    f"the other): to use this backend give it {conversion_hint(group)}, on every "
                                    "host of the cluster (a CARP peer and a VRRP peer ignore each other); or keep "
                                    "CARP with --backend ucarp"))
            continue
        family = kc.advertised_family(group)
        unused = "peer6" if family == 4 else "peer"
        if getattr(group, unused) is not None:
            problems.append(Problem(f"{where}.{unused}", f"{label(group.interface, group.vhid)} is advertised over "
                                    f"IPv{family} only (keepalived gives an instance one address family: IPv4 when "
                                    f"the vhid has an IPv4 VIP), so its {unused} would never be used: remove it"))
    return problems + _shared_addresses(config, "keepalived") + _keepalived_vip_counts(config)


def _keepalived_vip_counts(config: CarpConfig) -> List[Problem]:
    """What keepalived -t refuses: more advertised VIPs than one advertisement carries (kc.max_advertised),
    located at the first entry over the limit."""
    from . import keepalived_conf as kc
    problems = []
    for group in config.groups():
        if not group.vrrp:
            continue
        family = kc.advertised_family(group)
        limit = kc.max_advertised(family)
        advertised = [a for a in group.addresses if a.version == family]
        if len(advertised) <= limit:
            continue
        excess = advertised[limit]
        index = next((i for i, v in enumerate(config.vips) if (v.interface, v.vhid, v.address) ==
                      (group.interface, group.vhid, excess)), None)
        where = f"config[{index}].ipaddress" if index is not None else config.where(group.interface, group.vhid)
        why = ("the address count is 8 bits" if family == 4 and limit == kc.MAX_COUNT else
               f"it must fit one frame: (MTU - {kc.HEADERS[family]}) / {kc.ADDRESS_BYTES[family]} addresses after "
               f"the Ethernet, IPv{family} and VRRP headers, {limit} at the {kc.ASSUMED_MTU}-byte MTU carp-pkg "
               "assumes")
        hint = (" (or give the vhid an IPv4 VIP: it then advertises in IPv4 and moves its IPv6 VIPs with it, "
                "unadvertised and unlimited)" if family == 6 else "")
        problems.append(Problem(where, f"{label(group.interface, group.vhid)} advertises {len(advertised)} "
                                f"IPv{family} VIPs and one keepalived advertisement carries at most {limit} "
                                f"({why}; keepalived -t refuses more): {excess.ip} is the first over the limit; "
                                f"split the addresses over more vhids{hint}"))
    return problems


BY_BACKEND: Dict[str, Callable[[CarpConfig], List[Problem]]] = {
    "freebsd": freebsd,
    "freebsd-legacy": freebsd_legacy,
    "ucarp": ucarp,
    "keepalived": keepalived,
}


def problems(backend_name: str, config: CarpConfig) -> List[Problem]:
    return BY_BACKEND[backend_name](config)
