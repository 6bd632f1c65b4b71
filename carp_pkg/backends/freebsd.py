"""FreeBSD 10 and later: vhids live on the parent interface (`ifconfig em0 vhid 1 ...`)."""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..errors import ConfigError
from ..fingerprint import password_digest, password_to_set
from ..model import CarpConfig, VhidGroup
from ..plan import Plan, Step
from ..running import RunningState, RunningVhid
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


def vhid_argv(group: VhidGroup, password: Optional[str], running_vrrp: bool = False):
    """The vhid command for the group: VRRPv3 (carpver 3) or CARP (carpver 2 when the vhid runs VRRPv3 now)."""
    if group.vrrp:
        return cmd.vrrp_params(group.interface, group.vhid, group.vrrpprio, group.vrrpinterval,
                               group.peer, group.peer6), frozenset()
    return cmd.carp_params(group.interface, group.vhid, group.advskew, group.advbase, password, group.peer,
                           group.peer6, carpver=cmd.CARPVER_CARP if running_vrrp else None)


def running_argv(running: RunningVhid) -> Tuple[str, ...]:
    """The vhid command that puts a running vhid's settings back (no password: the kernel keeps the key)."""
    if running.protocol == VRRP:
        return cmd.vrrp_params(running.interface, running.vhid, running.vrrpprio or 0, running.vrrpinterval or 0,
                               *cmd.running_peers(running))
    return cmd.carp_params(running.interface, running.vhid, running.advskew, running.advbase, None,
                           *cmd.running_peers(running))[0]


def new_vhid_steps(group: VhidGroup) -> List[Step]:
    label = cmd.group_label(group)
    argv, secret = vhid_argv(group, group.password or None)
    steps = [Step(argv, f"create {label} ({timing_label(group)}{peers_label(group)})", secret)]
    steps += [add_address_step(group, address) for address in group.addresses]
    return steps


def add_address_step(group: VhidGroup, address) -> Step:
    # `vhid V` here runs setcarp_callback() too (sbin/ifconfig/carp.c): without the peers it would reset them.
    return Step((cmd.IFCONFIG, group.interface, *cmd.address_words(address), "alias", "vhid", str(group.vhid),
                 *cmd.peer_words(group.peer, group.peer6)),
                f"add VIP {address} to {cmd.group_label(group)}",
                undo=cmd.remove_address(group.interface, address))


def removal_step(group: VhidGroup, address) -> Step:
    return Step(cmd.remove_address(group.interface, address), f"VIP {address} is no longer in {cmd.group_label(group)}",
                undo=add_address_step(group, address).argv)


def split_stale(group: VhidGroup, running: RunningVhid, wanted_ips) -> Tuple[list, list]:
    """Stale addresses to remove before any addition (their IP is wanted again somewhere, perhaps with
    another prefix or vhid) and those better removed after the additions (the vhid never goes empty)."""
    stale = [a for a in running.addresses if a not in group.addresses]
    early = [a for a in stale if a.ip in wanted_ips]
    late = [a for a in stale if a.ip not in wanted_ips]
    return early, late


def vrrp_changes(group: VhidGroup, running: RunningVhid) -> List[str]:
    """What differs in a vhid's protocol and VRRPv3 timing (a CARP vhid's advskew/advbase: see below)."""
    if group.vrrp != (running.protocol == VRRP):
        return ["carp -> vrrp (carpver 3)" if group.vrrp else "vrrp -> carp (carpver 2)"]
    if not group.vrrp:
        return []
    return [f"{name} {have} -> {want}" for name, have, want in (
        ("vrrpprio", running.vrrpprio, group.vrrpprio), ("vrrpinterval", running.vrrpinterval, group.vrrpinterval))
        if have != want]


def changed_vrrp_steps(group: VhidGroup, running: RunningVhid, emptied: bool) -> List[Step]:
    """A VRRPv3 vhid (FreeBSD 15 `carpver 3`): the vhid line when the protocol, priority, interval or a peer changed."""
    changes = vrrp_changes(group, running) + cmd.peer_changes(group, running)
    steps: List[Step] = []
    if changes or emptied:
        argv, _ = vhid_argv(group, None)
        undo = None if emptied else running_argv(running)
        reason = ", ".join(changes) or "re-create it: removing its last VIP destroyed it"
        steps.append(Step(argv, f"update {cmd.group_label(group)}: {reason}", undo=undo))
    return steps + [add_address_step(group, a) for a in group.addresses if a not in running.addresses]


def changed_vhid_steps(group: VhidGroup, running: RunningVhid, salt: Optional[str], emptied: bool) -> List[Step]:
    """The vhid line (when a setting changed, or the early removals emptied it) and the additions."""
    if group.vrrp:
        return changed_vrrp_steps(group, running, emptied)
    label = cmd.group_label(group)
    steps: List[Step] = []
    missing = [a for a in group.addresses if a not in running.addresses]
    was_vrrp = running.protocol == VRRP
    new_password = password_to_set(group, running, salt) or (was_vrrp and bool(group.password))
    peers = cmd.peer_changes(group, running)
    if new_password or emptied or peers or was_vrrp or (running.advskew, running.advbase) != (group.advskew,
                                                                                                group.advbase):
        argv, secret = vhid_argv(group, (group.password or None) if new_password or emptied else None, was_vrrp)
        changes = vrrp_changes(group, running)
        if running.advskew != group.advskew and not was_vrrp:
            changes.append(f"advskew {running.advskew} -> {group.advskew}")
        if running.advbase != group.advbase and not was_vrrp:
            changes.append(f"advbase {running.advbase} -> {group.advbase}")
        if new_password:
            changes.append("password set")
        changes += peers
        undo = None
        if (not new_password or was_vrrp) and not emptied:
            undo = running_argv(running)
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
    return [Step(cmd.remove_address(running.interface, address), f"{label} is no longer in config.xml")
            for address in running.addresses]


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
        for vhid in running.vhids:
            if (vhid.interface, vhid.vhid) not in wanted:
                removals += removed_vhid_steps(vhid)
                if not vhid.addresses:
                    warnings.append(f"vhid {vhid.vhid} on {vhid.interface} has no address and is not configured; "
                                    "FreeBSD has no command to delete a bare vhid, it stays inert until reboot")
        for group in groups:
            current = running.vhid(group.interface, group.vhid)
            if current is None:
                changes += new_vhid_steps(group)
                continue
            early, late = split_stale(group, current, wanted_ips)
            if not group.vrrp and clears_password(group, current, running.password_salt):
                early, late = list(current.addresses), []  # removing its last VIP destroys the vhid and its key
            removals += [removal_step(group, a) for a in early]
            late_removals += [removal_step(group, a) for a in late]
            emptied = bool(current.addresses) and len(early) == len(current.addresses)
            changes += changed_vhid_steps(group, current, running.password_salt, emptied)
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
        unicast = [g for g in config.groups() if g.unicast]
        # the boot plan of an observed host knows its release through the host facts
        capable = running.unicast_capable if running.unicast_capable is not None else running.host.unicast_capable
        if not unicast or capable is True:
            return []
        if capable is False:
            raise ConfigError(f"{PEERS_NEED_14}; this host runs an older release", tuple(
                f"{config.where(g.interface, g.vhid)}.{'peer' if g.peer else 'peer6'}: vhid {g.vhid} on {g.interface} "
                "asks for a unicast peer; remove peer/peer6 to use multicast" for g in unicast))
        return [f"{PEERS_NEED_14}: the target's release is not known here, and an older ifconfig refuses `peer`"]

    @staticmethod
    def vrrp_warnings(config: CarpConfig, running: RunningState) -> List[str]:
        """Refuse protocol vrrp where the host shows a release before 15; say so where the release is unknown."""
        vrrp = [g for g in config.groups() if g.vrrp]
        capable = running.vrrp_capable if running.vrrp_capable is not None else running.host.vrrp_capable
        if not vrrp or capable is True:
            return []
        if capable is False:
            raise ConfigError(f"{VRRP_NEEDS_15}; this host runs an older release", tuple(
                f"{config.where(g.interface, g.vhid)}.protocol: vhid {g.vhid} on {g.interface} is VRRPv3; use "
                "protocol carp on this host (or upgrade it to FreeBSD 15)" for g in vrrp))
        return [f"{VRRP_NEEDS_15}: the target's release is not known here, and an older ifconfig refuses `carpver`"]

    def pfsync_steps(self, config: CarpConfig, running: RunningState) -> List[Step]:
        if config.pfsync is None:
            return cmd.pfsync_down_steps(running.pfsync)
        if not cmd.pfsync_needs_setup(config.pfsync, running.pfsync):
            return []
        return [cmd.pfsync_up(config.pfsync, running.pfsync)]

    def stop_plan(self, config: CarpConfig) -> Plan:
        steps: List[Step] = []
        for group in config.groups():
            steps += [Step(cmd.remove_address(group.interface, a), f"stop {cmd.group_label(group)}")
                      for a in group.addresses]
        if config.pfsync is not None:
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
