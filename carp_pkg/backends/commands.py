"""Argv builders shared by the FreeBSD backends: one place spells each ifconfig/sysctl form."""

from __future__ import annotations

import ipaddress
from typing import List, Optional, Tuple

from ..model import CARP_DEFAULT_PEER, CARP_DEFAULT_PEER6, CarpConfig, PfsyncSettings, VhidGroup
from ..plan import PFSYNC_UNWANTED, Step
from ..running import IPInterface, RunningPfsync, RunningState, RunningVhid

IFCONFIG = "ifconfig"
SYSCTL = "sysctl"
PFSYNC_IF = "pfsync0"
PREEMPT = "net.inet.carp.preempt"
PFSYNC_DEFAULT_PEER = "224.0.0.240"  # sys/netinet/if_pfsync.h INADDR_PFSYNC_GROUP; ifpfsync.c prints no syncpeer then


Multicast = Tuple[bool, bool]  # (mcast, mcast6): say the keyword that sets the multicast group again
NO_MCAST: Multicast = (False, False)


def peer_words(peer: Optional[str], peer6: Optional[str], mcast: Multicast = NO_MCAST) -> List[str]:
    """`peer IP` / `peer6 IP6` (FreeBSD 14+), or `mcast` / `mcast6` where asked for.

    FreeBSD 14's sbin/ifconfig/carp.c sends its multicast defaults with every `vhid V` command that names no peer
    (carp_ctor() calls setcarp_mcast()), so there a unicast peer is kept only when every vhid command repeats it and
    leaving the peer out goes back to multicast. FreeBSD 15's carp_ctor() no longer does, and the kernel keeps its
    peer unless given a non-zero address: going back from a unicast peer to multicast needs `mcast` / `mcast6`
    (which 14 has too)."""
    words: List[str] = []
    if peer is not None:
        words += ["peer", peer]
    elif mcast[0]:
        words.append("mcast")
    if peer6 is not None:
        words += ["peer6", peer6]
    elif mcast[1]:
        words.append("mcast6")
    return words


def carp_params(target: str, vhid: int, advskew: int, advbase: int, password: Optional[str],
                peer: Optional[str] = None, peer6: Optional[str] = None,
                carpver: Optional[int] = None, mcast: Multicast = NO_MCAST) -> Tuple[Tuple[str, ...], frozenset]:
    """`ifconfig TARGET vhid V [carpver 2] advskew S advbase B [pass P] [peer IP|mcast] [peer6 IP6|mcast6]`: vhid
    must come first. carpver 2 (FreeBSD 15+) only where a vhid is created anew: a vhid keeps its version."""
    argv = [IFCONFIG, target, "vhid", str(vhid)]
    if carpver is not None:
        argv += ["carpver", str(carpver)]
    argv += ["advskew", str(advskew), "advbase", str(advbase)]
    secret = frozenset()
    if password is not None:
        argv += ["pass", password]
        secret = frozenset({len(argv) - 1})
    return tuple(argv + peer_words(peer, peer6, mcast)), secret


CARPVER_VRRP = 3  # CARP_VERSION_VRRPv3


def vrrp_params(target: str, vhid: int, prio: int, interval: int) -> Tuple[str, ...]:
    """`ifconfig TARGET vhid V carpver 3 vrrpprio P vrrpinterval I` (FreeBSD 15+, sbin/ifconfig/carp.c): a VRRPv3
    vhid, priority 1-254, interval in centiseconds; no password, and never a peer: for a carpver 3 vhid the kernel
    keeps no unicast peer (ip_carp.c carp_ioctl_set() sets only the VRRP priority and interval)."""
    return (IFCONFIG, target, "vhid", str(vhid), "carpver", str(CARPVER_VRRP), "vrrpprio", str(prio),
            "vrrpinterval", str(interval))


def unicast_of(address: Optional[str], default: str) -> Optional[str]:
    """A running peer as the config spells it: None for the multicast default (or nothing printed)."""
    if address is None:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return None if str(parsed) == default else str(parsed)


def running_peers(running: RunningVhid) -> Tuple[Optional[str], Optional[str]]:
    """The unicast peers a FreeBSD 14+ vhid runs with (None = multicast)."""
    return unicast_of(running.peer, CARP_DEFAULT_PEER), unicast_of(running.peer6, CARP_DEFAULT_PEER6)


def peer_differences(group: VhidGroup, running: RunningVhid) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """(peer|peer6, running, wanted) for every peer the running vhid shows differently (None = multicast);
    nothing when ifconfig shows no peers (before FreeBSD 14)."""
    if running.peer is None and running.peer6 is None:
        return []
    return [(name, have, want)
            for name, have, want in zip(("peer", "peer6"), running_peers(running), (group.peer, group.peer6))
            if have != want]


def peer_changes(group: VhidGroup, running: RunningVhid) -> List[str]:
    """`peer A -> B` for every peer the running vhid shows differently."""
    return [f"{name} {have or 'multicast'} -> {want or 'multicast'}"
            for name, have, want in peer_differences(group, running)]


def address_words(address: IPInterface) -> List[str]:
    if address.version == 6:
        return ["inet6", str(address.ip), "prefixlen", str(address.network.prefixlen)]
    return ["inet", str(address)]


def remove_address(target: str, address: IPInterface) -> Tuple[str, ...]:
    family = "inet6" if address.version == 6 else "inet"
    return (IFCONFIG, target, family, str(address.ip), "-alias")


def sysctl_step(name: str, wanted: int, current: Optional[int], why: str) -> List[Step]:
    if current == wanted:
        return []
    undo = (SYSCTL, f"{name}={current}") if current is not None else None
    return [Step((SYSCTL, f"{name}={wanted}"), why, undo=undo)]


# pfSense's interfaces_sync_setup() (src/etc/inc/interfaces.inc) sets preempt=1, configures pfsync0 from its own
# System > High Avail. Sync settings ($config['hasync']) and sets net.inet.carp.allow to 0 when pfSense has no CARP VIP
# of its own. It runs when System > High Avail. Sync is saved (system_hasync.php), on "Enable CARP" in Status > CARP
# (status_carp.php) and from interfaces_vips_configure() when pfSense configures a CARP VIP of its own.
PFSENSE_SYNC_SETUP = ("interfaces.inc interfaces_sync_setup(), which runs when System > High Avail. Sync is saved, "
                      "on \"Enable CARP\" in Status > CARP and when pfSense configures a CARP VIP of its own")
PFSENSE_OWNS_PREEMPT = ("no VIP asks for preemption, but this is pfSense: its base system sets net.inet.carp.preempt=1 "
                        f"({PFSENSE_SYNC_SETUP}), so carp-pkg never lowers it here and every vhid still preempts")
PFSENSE_OWNS_PFSYNC = ("pfsync is asked for, but this is pfSense: pfSense sets pfsync0 from System > High Avail. Sync "
                       f"({PFSENSE_SYNC_SETUP}), so carp-pkg never configures pfsync here and the package's pfsync, "
                       "synciface, syncpeer and defer fields are ignored; set pfsync in System > High Avail. Sync")
PFSENSE_CARP_DISALLOWED = ("net.inet.carp.allow is 0, so no vhid sends or accepts advertisements (every vhid is INIT): "
                           "this is pfSense, which sets it to 0 when it has no CARP VIP of its own "
                           f"({PFSENSE_SYNC_SETUP}); `carp-pkg enable` or a CARP VIP in pfSense (Firewall > Virtual IPs) "
                           "brings it back")


def pfsync_owned_by_pfsense(running: RunningState) -> bool:
    """On pfSense, pfsync0 is the base system's (System > High Avail. Sync): carp-pkg never plans a pfsync0 command."""
    return running.host.pfsense


def pfsense_warnings(config: CarpConfig, running: RunningState) -> List[str]:
    """What a FreeBSD backend says on pfSense about what pfSense owns: pfsync, and net.inet.carp.allow at 0."""
    if not running.host.pfsense:
        return []
    warnings = [PFSENSE_OWNS_PFSYNC] if config.pfsync is not None else []
    if config.vips and running.sysctls.allow == 0:
        warnings.append(PFSENSE_CARP_DISALLOWED)
    return warnings


def wanted_preempt(config: CarpConfig, running: RunningState) -> Optional[int]:
    """net.inet.carp.preempt as carp-pkg wants it; None = not carp-pkg's to set.

    1 when a VIP preempts. Otherwise: on pfSense nothing (the base system owns it and sets 1; lowering it would
    fight interfaces_sync_setup()); on plain FreeBSD the value found at install, or 0 when none was recorded."""
    if config.preempt:
        return 1
    if running.host.pfsense:
        return None
    found = running.host.preempt_at_install
    return found if found is not None else 0


def preempt_decision(config: CarpConfig, running: RunningState) -> Tuple[List[Step], List[str]]:
    """The preempt sysctl step (if any) and the warning for pfSense hosts that are asked for preemption off."""
    wanted = wanted_preempt(config, running)
    warnings = [PFSENSE_OWNS_PREEMPT] if wanted is None and config.vips else []
    if wanted is None:
        return [], warnings
    if config.preempt:
        why = "a VIP has preemption on: the host with the lowest advskew takes over"
    elif running.host.preempt_at_install is not None:
        why = f"no VIP asks for preemption: restore {wanted}, the value found when carp-pkg was installed"
    else:
        why = "no VIP asks for preemption"
    return sysctl_step(PREEMPT, wanted, running.sysctls.preempt, why), warnings


def pfsync_argv(syncdev: str, syncpeer: Optional[str], defer: Optional[bool],
                clear_peer: bool = True, say_defer: bool = True) -> Tuple[str, ...]:
    """`ifconfig pfsync0 syncdev IF [syncpeer IP|-syncpeer] [defer|-defer] up` (sbin/ifconfig/ifpfsync.c).

    clear_peer / say_defer: say `-syncpeer` and `defer`/`-defer` even when they are the defaults, as pfSense and
    OPNsense do (interfaces_sync_setup()), so a peer or defer left by someone else is cleared."""
    argv = [IFCONFIG, PFSYNC_IF, "syncdev", syncdev]
    if syncpeer is not None:
        argv += ["syncpeer", syncpeer]
    elif clear_peer:
        argv.append("-syncpeer")
    if defer is not None and (say_defer or defer):
        argv.append("defer" if defer else "-defer")
    return tuple(argv + ["up"])


PFSYNC_DOWN = (IFCONFIG, PFSYNC_IF, "-syncdev", "-syncpeer", "down")  # as pfSense and OPNsense take it down


def pfsync_restore(previous: Optional[RunningPfsync]) -> Tuple[str, ...]:
    """The command that puts pfsync back as it ran (the undo of a pfsync change)."""
    if previous is None or not previous.syncdev:
        peer = unicast_of(previous.syncpeer, PFSYNC_DEFAULT_PEER) if previous is not None else None
        return PFSYNC_DOWN if peer is None else (IFCONFIG, PFSYNC_IF, "-syncdev", "syncpeer", peer, "down")
    return pfsync_argv(previous.syncdev, unicast_of(previous.syncpeer, PFSYNC_DEFAULT_PEER), previous.defer,
                       clear_peer=previous.defer is not None, say_defer=previous.defer is not None)


def pfsync_changes(settings: PfsyncSettings, running: Optional[RunningPfsync]) -> List[str]:
    if running is None:
        return ["pfsync0 not configured"]
    changes = []
    if running.syncdev != settings.syncdev:
        changes.append(f"syncdev {running.syncdev or 'none'} -> {settings.syncdev}")
    have_peer = unicast_of(running.syncpeer, PFSYNC_DEFAULT_PEER)
    if have_peer != settings.syncpeer:
        changes.append(f"syncpeer {have_peer or 'multicast'} -> {settings.syncpeer or 'multicast'}")
    if running.defer is not None and running.defer != settings.defer:
        changes.append(f"defer {'on' if running.defer else 'off'} -> {'on' if settings.defer else 'off'}")
    if not running.up:
        changes.append("down -> up")
    return changes


def pfsync_up(settings: PfsyncSettings, previous: Optional[RunningPfsync] = None, explicit: bool = True) -> Step:
    """explicit=False (FreeBSD 5.4-9: 5.4-8 have no `defer`): `-syncpeer`/`-defer` only to clear what runs."""
    changes = pfsync_changes(settings, previous) if previous is not None else []
    detail = f" ({', '.join(changes)})" if changes else ""
    peer = f" to {settings.syncpeer}" if settings.syncpeer else ""
    running_peer = unicast_of(previous.syncpeer, PFSYNC_DEFAULT_PEER) if previous is not None else None
    clear_peer = explicit or running_peer is not None
    say_defer = explicit or (previous is not None and previous.defer is True)
    return Step(pfsync_argv(settings.syncdev, settings.syncpeer, settings.defer, clear_peer, say_defer),
                f"synchronise pf states over {settings.syncdev}{peer}{', defer on' if settings.defer else ''}{detail}",
                undo=pfsync_restore(previous))


def pfsync_down_steps(previous: Optional[RunningPfsync]) -> List[Step]:
    """Take pfsync off its sync device and unicast peer, when it has either (`-syncdev -syncpeer down`)."""
    if previous is None or not (previous.syncdev or unicast_of(previous.syncpeer, PFSYNC_DEFAULT_PEER)):
        return []
    return [Step(PFSYNC_DOWN, PFSYNC_UNWANTED, undo=pfsync_restore(previous))]


def pfsync_needs_setup(settings: PfsyncSettings, running: Optional[RunningPfsync]) -> bool:
    return bool(pfsync_changes(settings, running))


def group_label(group: VhidGroup) -> str:
    return f"vhid {group.vhid} on {group.interface}"
