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


def peers_label(group: VhidGroup) -> str:
    shown = [f"{name} {value}" for name, value in (("peer", group.peer), ("peer6", group.peer6)) if value]
    return (", " + ", ".join(shown)) if shown else ""


def new_vhid_steps(group: VhidGroup) -> List[Step]:
    label = cmd.group_label(group)
    argv, secret = cmd.carp_params(group.interface, group.vhid, group.advskew, group.advbase, group.password or None,
                                   group.peer, group.peer6)
    steps = [Step(argv, f"create {label} (advskew {group.advskew}, advbase {group.advbase}{peers_label(group)})",
                  secret)]
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


def changed_vhid_steps(group: VhidGroup, running: RunningVhid, salt: Optional[str], emptied: bool) -> List[Step]:
    """The vhid line (when a setting changed, or the early removals emptied it) and the additions."""
    label = cmd.group_label(group)
    steps: List[Step] = []
    missing = [a for a in group.addresses if a not in running.addresses]
    new_password = password_to_set(group, running, salt)
    peers = cmd.peer_changes(group, running)
    if new_password or emptied or peers or (running.advskew, running.advbase) != (group.advskew, group.advbase):
        argv, secret = cmd.carp_params(group.interface, group.vhid, group.advskew, group.advbase,
                                       (group.password or None) if new_password or emptied else None,
                                       group.peer, group.peer6)
        changes = []
        if running.advskew != group.advskew:
            changes.append(f"advskew {running.advskew} -> {group.advskew}")
        if running.advbase != group.advbase:
            changes.append(f"advbase {running.advbase} -> {group.advbase}")
        if new_password:
            changes.append("password set")
        changes += peers
        undo = None
        if not new_password and not emptied:
            undo, _ = cmd.carp_params(group.interface, group.vhid, running.advskew, running.advbase, None,
                                      *cmd.running_peers(running))
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
            if clears_password(group, current, running.password_salt):
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
        from .observe import read_carp_sysctls, read_unicast_capable
        state = parse_ifconfig(system.capture((cmd.IFCONFIG,)))
        capable = read_unicast_capable(system)
        if capable is not None:
            state = replace(state, unicast_capable=capable)
        return state.with_sysctls(read_carp_sysctls(system, legacy=False))
