"""FreeBSD 10 and later: vhids live on the parent interface (`ifconfig em0 vhid 1 ...`)."""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from ..errors import ConfigError
from ..fingerprint import password_digest, password_to_set
from ..model import CarpConfig, VhidGroup
from ..plan import NO_LONGER_CONFIGURED, Plan, Step
from ..running import HostFacts, RunningState, RunningVhid
from . import commands as cmd
from .base import Backend

BALANCING_GONE = ("ARP balancing was requested, but FreeBSD 10 and later have no ARP balancing "
                  "(net.inet.carp.arpbalance was removed); the VIPs work as plain failover")
PEERS_NEED_14 = ("unicast CARP peers need FreeBSD 14 or later (`ifconfig ... peer`/`peer6` came with 14.0, "
                 "sbin/ifconfig/carp.c)")
VRRP_NEEDS_15 = ("protocol vrrp needs FreeBSD 15.0 or later (`ifconfig ... carpver 3 vrrpprio P vrrpinterval I` came "
                 "with 15.0, sbin/ifconfig/carp.c)")
VRRP = "vrrp"


def peers_label(group: VhidGroup) -> str:
    shown = [f"{name} {value}" for name, value in (("peer", group.peer), ("peer6", group.peer6)) if value]
    return (", " + ", ".join(shown)) if shown else ""


def timing_label(group: VhidGroup) -> str:
    if group.vrrp:
        return f"VRRPv3, vrrpprio {group.vrrpprio}, vrrpinterval {group.vrrpinterval}"
    return f"advskew {group.advskew}, advbase {group.advbase}"


def vhid_argv(group: VhidGroup, password: Optional[str], mcast: cmd.Multicast = cmd.NO_MCAST):
    """The vhid command for the group: VRRPv3 (carpver 3, never a peer) or CARP."""
    if group.vrrp:
        return cmd.vrrp_params(group.interface, group.vhid, group.vrrpprio, group.vrrpinterval), frozenset()
    return cmd.carp_params(group.interface, group.vhid, group.advskew, group.advbase, password, group.peer,
                           group.peer6, mcast=mcast)


def keeps_peers(running: RunningState) -> bool:
    """Whether a `vhid V` command that names no peer may leave a unicast peer in place: FreeBSD 15 and later
    (sbin/ifconfig/carp.c no longer sends the multicast defaults; the kernel keeps its peer unless given an address).
    False only where the host is known to run an older release (14 resets the peer with every vhid command); an
    unknown release gets the explicit `mcast`/`mcast6`, which 14 takes as well."""
    capable = running.vrrp_capable if running.vrrp_capable is not None else running.host.vrrp_capable
    return capable is not False


def multicast_words(group: VhidGroup, running: RunningVhid, keep: bool) -> cmd.Multicast:
    """(mcast, mcast6): where the vhid runs with a unicast peer the config no longer wants, on a release that keeps it."""
    if not keep or running.protocol == VRRP:
        return cmd.NO_MCAST
    have, have6 = cmd.running_peers(running)
    return have is not None and group.peer is None, have6 is not None and group.peer6 is None


def running_argv(running: RunningVhid, group: Optional[VhidGroup] = None, keep: bool = False) -> Tuple[str, ...]:
    """The vhid command that puts a running vhid's settings back (no password: the kernel keeps the key). On a
    release that keeps peers, `mcast`/`mcast6` where it ran on multicast and the config sets a unicast peer."""
    if running.protocol == VRRP:
        return cmd.vrrp_params(running.interface, running.vhid, running.vrrpprio or 0, running.vrrpinterval or 0)
    have, have6 = cmd.running_peers(running)
    mcast = cmd.NO_MCAST
    if keep and group is not None:
        mcast = (running.peer is not None and have is None and group.peer is not None,
                 running.peer6 is not None and have6 is None and group.peer6 is not None)
    return cmd.carp_params(running.interface, running.vhid, running.advskew, running.advbase, None, have, have6,
                           mcast=mcast)[0]


def new_vhid_steps(group: VhidGroup, why: Optional[str] = None) -> List[Step]:
    label = cmd.group_label(group)
    argv, secret = vhid_argv(group, group.password or None)
    steps = [Step(argv, why or f"create {label} ({timing_label(group)}{peers_label(group)})", secret)]
    steps += [add_address_step(group, address) for address in group.addresses]
    return steps


def add_address_step(group: VhidGroup, address) -> Step:
    # `vhid V` here runs setcarp_callback() too (sbin/ifconfig/carp.c): on FreeBSD 14, without the peers it would
    # reset them (15 keeps them; saying them again changes nothing there). A VRRPv3 vhid has no peer.
    peers = [] if group.vrrp else cmd.peer_words(group.peer, group.peer6)
    return Step((cmd.IFCONFIG, group.interface, *cmd.address_words(address), "alias", "vhid", str(group.vhid), *peers),
                f"add VIP {address} to {cmd.group_label(group)}",
                undo=cmd.remove_address(group.interface, address))


def removal_step(group: VhidGroup, address) -> Step:
    return Step(cmd.remove_address(group.interface, address), f"VIP {address} is no longer in {cmd.group_label(group)}",
                undo=add_address_step(group, address).argv)


def switches_protocol(group: VhidGroup, running: RunningVhid) -> bool:
    return group.vrrp != (running.protocol == VRRP)


def protocol_name(vrrp: bool) -> str:
    return "VRRPv3 (carpver 3)" if vrrp else "CARP"


def restore_vrrp_address(running: RunningVhid, address) -> Tuple[str, ...]:
    """Put a VIP back on a VRRPv3 vhid, re-creating the vhid as it ran when it is gone: ifconfig runs the vhid
    callback (SIOCSVH) before it adds the address, and a VRRPv3 vhid has no key to lose."""
    return (cmd.IFCONFIG, running.interface, *cmd.address_words(address), "alias",
            *cmd.vrrp_params(running.interface, running.vhid, running.vrrpprio or 0, running.vrrpinterval or 0)[2:])


def switch_steps(group: VhidGroup, running: RunningVhid) -> Tuple[List[Step], List[Step]]:
    """A vhid that changes between CARP and VRRPv3 is re-created: FreeBSD 15 refuses to change a vhid's version in
    place (ip_carp.c carp_ioctl_set(): `sc->sc_version != carpr->carpr_version` -> EINVAL; commit a254d6870e88: "you'd
    need to recreate the VHID"), and removing a vhid's last address destroys it. (removals, creation and additions)

    Undo: a VRRPv3 vhid's VIPs go back with the command that re-creates it as it ran (no key to lose); a CARP vhid's
    key cannot be read back from the kernel, so once its last VIP is gone it cannot be re-created as it was, and
    putting a VIP back on a vhid re-created without its key would make both hosts MASTER: those removals have none."""
    label = cmd.group_label(group)
    old, new = protocol_name(running.protocol == VRRP), protocol_name(group.vrrp)
    reason = (f"{label} changes from {old} to {new}, which FreeBSD refuses in place (ip_carp.c: EINVAL): re-create it "
              "(removing its last VIP destroys it)")
    removals = [Step(cmd.remove_address(running.interface, address), f"{reason}; remove {address}",
                     undo=restore_vrrp_address(running, address) if running.protocol == VRRP else None)
                for address in running.addresses]
    if not running.addresses and group.addresses:
        # a bare vhid (no address) cannot be deleted by any command, but one that gets an address and loses it again
        # is destroyed (carp_detach): attach the first VIP to it (no `carpver`: its own version is kept, and it stays
        # BACKUP for the master-down interval, so it claims nothing) and remove it at once
        first = group.addresses[0]
        words = (cmd.IFCONFIG, running.interface, *cmd.address_words(first), "alias", "vhid", str(running.vhid))
        removals = [Step(words, f"{reason}; it has no VIP, and a bare vhid is destroyed only by removing one: "
                                f"attach {first} to it", undo=cmd.remove_address(running.interface, first)),
                    Step(cmd.remove_address(running.interface, first), f"{reason}; remove {first} again")]
    settings = (f"carpver 3, vrrpprio {group.vrrpprio}, vrrpinterval {group.vrrpinterval}" if group.vrrp
                else f"{timing_label(group)}{peers_label(group)}")
    why = f"re-create {label} as {'VRRPv3' if group.vrrp else 'CARP'} ({settings})"
    return removals, new_vhid_steps(group, why)


def split_stale(group: VhidGroup, running: RunningVhid, wanted_ips) -> Tuple[list, list]:
    """Stale addresses to remove before any addition (their IP is wanted again somewhere, perhaps with
    another prefix or vhid) and those better removed after the additions (the vhid never goes empty)."""
    stale = [a for a in running.addresses if a not in group.addresses]
    early = [a for a in stale if a.ip in wanted_ips]
    late = [a for a in stale if a.ip not in wanted_ips]
    return early, late


def vrrp_changes(group: VhidGroup, running: RunningVhid) -> List[str]:
    """What differs in a VRRPv3 vhid's priority and interval (a protocol switch re-creates the vhid: switch_steps)."""
    return [f"{name} {have} -> {want}" for name, have, want in (
        ("vrrpprio", running.vrrpprio, group.vrrpprio), ("vrrpinterval", running.vrrpinterval, group.vrrpinterval))
        if have != want]


def changed_vrrp_steps(group: VhidGroup, running: RunningVhid, emptied: bool) -> List[Step]:
    """A VRRPv3 vhid (FreeBSD 15 `carpver 3`): the vhid line when the priority or interval changed (the kernel keeps
    no peer for it, so there is none to compare)."""
    changes = vrrp_changes(group, running)
    steps: List[Step] = []
    if changes or emptied:
        argv, _ = vhid_argv(group, None)
        undo = None if emptied else running_argv(running)
        reason = ", ".join(changes) or "re-create it: removing its last VIP destroyed it"
        steps.append(Step(argv, f"update {cmd.group_label(group)}: {reason}", undo=undo))
    return steps + [add_address_step(group, a) for a in group.addresses if a not in running.addresses]


def changed_vhid_steps(group: VhidGroup, running: RunningVhid, salt: Optional[str], emptied: bool,
                       keep: bool = False) -> List[Step]:
    """The vhid line (when a setting changed, or the early removals emptied it) and the additions.
    keep: the host keeps a vhid's peer unless told (FreeBSD 15+): `mcast`/`mcast6` take a unicast peer back."""
    if group.vrrp:
        return changed_vrrp_steps(group, running, emptied)
    label = cmd.group_label(group)
    steps: List[Step] = []
    missing = [a for a in group.addresses if a not in running.addresses]
    new_password = password_to_set(group, running, salt)
    peers = cmd.peer_changes(group, running)
    if new_password or emptied or peers or (running.advskew, running.advbase) != (group.advskew, group.advbase):
        mcast = cmd.NO_MCAST if emptied else multicast_words(group, running, keep)
        argv, secret = vhid_argv(group, (group.password or None) if new_password or emptied else None, mcast)
        changes: List[str] = []
        if running.advskew != group.advskew:
            changes.append(f"advskew {running.advskew} -> {group.advskew}")
        if running.advbase != group.advbase:
            changes.append(f"advbase {running.advbase} -> {group.advbase}")
        if new_password:
            changes.append("password set")
        changes += peers
        undo = None
        if not new_password and not emptied:
            undo = running_argv(running, group, keep)
        reason = ", ".join(changes) or "re-create it: removing its last VIP destroyed it"
        steps.append(Step(argv, f"update {label}: {reason}", secret, undo=undo))
    steps += [add_address_step(group, address) for address in missing]
    return steps


def clears_password(group: VhidGroup, running: RunningVhid, salt: Optional[str]) -> bool:
    """The config drops the password of a vhid carp-pkg gave one. FreeBSD 10+ ignores an empty key in
    SIOCSVH (ip_carp.c: `if (carpr.carpr_key[0] != '\\0')`), so `pass ''` would keep the old one."""
    if group.password or running.secret_digest is None or salt is None:
        return False
    return running.secret_digest != password_digest(salt, "")


def removed_vhid_steps(running: RunningVhid) -> List[Step]:
    label = f"vhid {running.vhid} on {running.interface}"
    return [Step(cmd.remove_address(running.interface, address), f"{label} {NO_LONGER_CONFIGURED}")
            for address in running.addresses]



def release_gate(config: CarpConfig, groups, capable: Optional[bool], needs: str,
                 refusal: Callable[[VhidGroup], str], older_refuses: str) -> List[str]:
    """A feature that needs a newer FreeBSD: nothing when the host has it or nobody asks for it; refused
    (located per vhid) when the host is known to be older; a plan warning when its release is unknown."""
    if not groups or capable is True:
        return []
    if capable is False:
        raise ConfigError(f"{needs}; this host runs an older release",
                          tuple(f"{config.where(g.interface, g.vhid)}.{refusal(g)}" for g in groups))
    return [f"{needs}: the target's release is not known here, and {older_refuses}"]


class FreeBSD(Backend):
    name = "freebsd"
    summary = "FreeBSD 10 and later (pfSense 2.2+): vhids on the parent interface"

    def plan(self, config: CarpConfig, running: RunningState) -> Plan:
        groups = config.groups()
        wanted = {(g.interface, g.vhid) for g in groups}
        wanted_ips = {a.ip for g in groups for a in g.addresses}
        removals: List[Step] = []
        changes: List[Step] = []
        late_removals: List[Step] = []
        warnings: List[str] = [str(w) for w in config.warnings]
        warnings += self.unicast_warnings(config, running)
        warnings += self.vrrp_warnings(config, running)
        warnings += cmd.pfsense_warnings(config, running)
        for vhid in running.vhids:
            if (vhid.interface, vhid.vhid) not in wanted:
                removals += removed_vhid_steps(vhid)
                if not vhid.addresses:
                    warnings.append(f"vhid {vhid.vhid} on {vhid.interface} has no address and is not configured; "
                                    "FreeBSD has no command to delete a bare vhid, it stays inert until reboot")
        keep = keeps_peers(running)
        for group in groups:
            current = running.vhid(group.interface, group.vhid)
            if current is None:
                changes += new_vhid_steps(group)
                continue
            if switches_protocol(group, current):
                gone, created = switch_steps(group, current)
                removals += gone
                changes += created
                continue
            early, late = split_stale(group, current, wanted_ips)
            if not group.vrrp and clears_password(group, current, running.password_salt):
                early, late = list(current.addresses), []  # removing its last VIP destroys the vhid and its key
            removals += [removal_step(group, a) for a in early]
            late_removals += [removal_step(group, a) for a in late]
            emptied = bool(current.addresses) and len(early) == len(current.addresses)
            changes += changed_vhid_steps(group, current, running.password_salt, emptied, keep)
        steps = removals + changes + late_removals
        steps += self.pfsync_steps(config, running)
        preempt, preempt_warnings = cmd.preempt_decision(config, running)
        steps += preempt
        warnings += preempt_warnings
        if config.balancing:
            warnings.append(BALANCING_GONE)
        return Plan(self.name, tuple(steps), tuple(warnings))

    @staticmethod
    def unicast_warnings(config: CarpConfig, running: RunningState) -> List[str]:
        """Refuse unicast peers where ifconfig shows a release before 14; say so where the release is unknown."""
        capable = running.unicast_capable if running.unicast_capable is not None else running.host.unicast_capable
        return release_gate(config, [g for g in config.groups() if g.unicast], capable, PEERS_NEED_14,
                            lambda g: f"{'peer' if g.peer else 'peer6'}: vhid {g.vhid} on {g.interface} asks for a "
                                      "unicast peer; remove peer/peer6 to use multicast",
                            "an older ifconfig refuses `peer`")

    @staticmethod
    def vrrp_warnings(config: CarpConfig, running: RunningState) -> List[str]:
        """Refuse protocol vrrp where the host shows a release before 15; say so where the release is unknown."""
        capable = running.vrrp_capable if running.vrrp_capable is not None else running.host.vrrp_capable
        return release_gate(config, [g for g in config.groups() if g.vrrp], capable, VRRP_NEEDS_15,
                            lambda g: f"protocol: vhid {g.vhid} on {g.interface} is VRRPv3; use protocol carp on "
                                      "this host (or upgrade it to FreeBSD 15)",
                            "an older ifconfig refuses `carpver`")

    def pfsync_steps(self, config: CarpConfig, running: RunningState) -> List[Step]:
        if cmd.pfsync_owned_by_pfsense(running):
            return []  # pfSense sets pfsync0 from System > High Avail. Sync: see cmd.pfsense_warnings
        if config.pfsync is None:
            return cmd.pfsync_down_steps(running.pfsync)
        if not cmd.pfsync_needs_setup(config.pfsync, running.pfsync):
            return []
        return [cmd.pfsync_up(config.pfsync, running.pfsync)]

    def stop_plan(self, config: CarpConfig, host: Optional[HostFacts] = None) -> Plan:
        steps: List[Step] = []
        for group in config.groups():
            steps += [Step(cmd.remove_address(group.interface, a), f"stop {cmd.group_label(group)}")
                      for a in group.addresses]
        if config.pfsync is not None and not (host is not None and host.pfsense):
            steps.append(Step(cmd.PFSYNC_DOWN, "stop pfsync"))
        return Plan(self.name, tuple(steps))

    def read_running(self, system, paths) -> RunningState:
        from dataclasses import replace
        from ..status import parse_ifconfig
        from .observe import read_carp_sysctls, read_release_support
        state = parse_ifconfig(system.capture((cmd.IFCONFIG,)))
        unicast, vrrp = read_release_support(system)
        if unicast is not None:
            state = replace(state, unicast_capable=unicast, vrrp_capable=vrrp)
        return state.with_sysctls(read_carp_sysctls(system, legacy=False))
