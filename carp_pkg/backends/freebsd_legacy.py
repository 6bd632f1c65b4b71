"""FreeBSD 5.4-9 (the original's world): one cloned carpN interface per vhid."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..model import CarpConfig, VhidGroup
from ..plan import NO_LONGER_CONFIGURED, Plan, Step
from ..running import HostFacts, RunningState, RunningVhid
from . import commands as cmd
from .base import Backend
from ..fingerprint import password_to_set


def assign_carp_interfaces(groups: Tuple[VhidGroup, ...], running: RunningState) -> Dict[Tuple[str, int], str]:
    """Keep each vhid on the carpN it already has; new vhids take the lowest free carpN."""
    by_vhid = {v.vhid: v.interface for v in running.vhids if v.interface.startswith("carp")}
    taken = set(running.interfaces) | set(by_vhid.values())
    names: Dict[Tuple[str, int], str] = {}
    for group in groups:
        existing = by_vhid.pop(group.vhid, None)
        if existing is not None:
            names[(group.interface, group.vhid)] = existing
    number = 0
    for group in groups:
        key = (group.interface, group.vhid)
        if key in names:
            continue
        while f"carp{number}" in taken:
            number += 1
        names[key] = f"carp{number}"
        taken.add(names[key])
    return names


def first_address_words(address) -> List[str]:
    if address.version == 6:
        return ["inet6", str(address.ip), "prefixlen", str(address.network.prefixlen)]
    return [str(address)]


def alias_step(carp_if: str, group: VhidGroup, address) -> Step:
    return Step((cmd.IFCONFIG, carp_if, *cmd.address_words(address), "alias"),
                f"add VIP {address} to {carp_if} (vhid {group.vhid})",
                undo=cmd.remove_address(carp_if, address))


def new_carp_steps(carp_if: str, group: VhidGroup) -> List[Step]:
    argv, secret = cmd.carp_params(carp_if, group.vhid, group.advskew, group.advbase, group.password or None)
    first, *others = group.addresses
    steps = [
        Step((cmd.IFCONFIG, carp_if, "create"), f"clone {carp_if} for vhid {group.vhid} on {group.interface}",
             undo=(cmd.IFCONFIG, carp_if, "destroy")),
        Step(argv + tuple(first_address_words(first)),
             f"vhid {group.vhid} with VIP {first} (advskew {group.advskew}, advbase {group.advbase})", secret),
    ]
    return steps + [alias_step(carp_if, group, a) for a in others]


def stale_removal_steps(carp_if: str, group: VhidGroup, running: RunningVhid) -> List[Step]:
    return [Step(cmd.remove_address(carp_if, address), f"VIP {address} is no longer in vhid {group.vhid}",
                 undo=alias_step(carp_if, group, address).argv)
            for address in running.addresses if address not in group.addresses]


def changed_carp_steps(carp_if: str, group: VhidGroup, running: RunningVhid, salt) -> List[Step]:
    """The vhid line when a setting changed, and the additions (stale addresses go first, in plan())."""
    steps: List[Step] = []
    new_password = password_to_set(group, running, salt)
    if new_password or (running.advskew, running.advbase) != (group.advskew, group.advbase):
        argv, secret = cmd.carp_params(carp_if, group.vhid, group.advskew, group.advbase,
                                       group.password if new_password else None)
        undo = None if new_password else cmd.carp_params(carp_if, group.vhid, running.advskew, running.advbase, None)[0]
        steps.append(Step(argv, f"update vhid {group.vhid} on {carp_if}", secret, undo=undo))
    steps += [alias_step(carp_if, group, a) for a in group.addresses if a not in running.addresses]
    return steps


class FreeBSDLegacy(Backend):
    name = "freebsd-legacy"
    summary = "FreeBSD 5.4-9 (pfSense 1.x/2.0-2.1): cloned carpN interfaces"

    def plan(self, config: CarpConfig, running: RunningState) -> Plan:
        groups = config.groups()
        names = assign_carp_interfaces(groups, running)
        kept = set(names.values())
        steps: List[Step] = [
            Step((cmd.IFCONFIG, v.interface, "destroy"), f"vhid {v.vhid} ({v.interface}) {NO_LONGER_CONFIGURED}")
            for v in running.vhids if v.interface.startswith("carp") and v.interface not in kept
        ]
        running_by_name = {v.interface: v for v in running.vhids}
        changes: List[Step] = []
        for group in groups:
            carp_if = names[(group.interface, group.vhid)]
            current = running_by_name.get(carp_if)
            if current is None:
                changes += new_carp_steps(carp_if, group)
            else:
                # every stale address leaves before any is added: an address may move to another carpN
                steps += stale_removal_steps(carp_if, group, current)
                changes += changed_carp_steps(carp_if, group, current, running.password_salt)
        steps += changes
        steps += self.pfsync_steps(config, running)
        preempt, warnings = cmd.preempt_decision(config, running)
        steps += preempt
        steps += cmd.sysctl_step("net.inet.carp.arpbalance", 1 if config.balancing else 0, running.sysctls.arpbalance,
                                 "ARP balancing requested" if config.balancing else "no VIP asks for ARP balancing")
        warnings += cmd.pfsense_warnings(config, running)
        return Plan(self.name, tuple(steps), tuple(str(w) for w in config.warnings) + tuple(warnings))

    def pfsync_steps(self, config: CarpConfig, running: RunningState) -> List[Step]:
        if cmd.pfsync_owned_by_pfsense(running):
            return []  # pfSense sets pfsync0 from its own CARP/HA sync settings: see cmd.pfsense_warnings
        if config.pfsync is None:
            return cmd.pfsync_down_steps(running.pfsync)
        if not cmd.pfsync_needs_setup(config.pfsync, running.pfsync):
            return []
        steps = []
        if cmd.PFSYNC_IF not in running.interfaces:
            steps.append(Step((cmd.IFCONFIG, cmd.PFSYNC_IF, "create"), "clone pfsync0",
                              undo=(cmd.IFCONFIG, cmd.PFSYNC_IF, "destroy")))
        # FreeBSD 5.4-8 have no `defer` keyword (ifpfsync.c gained it in 9): say only what differs from the default
        return steps + [cmd.pfsync_up(config.pfsync, running.pfsync, explicit=False)]

    def stop_plan(self, config: CarpConfig, host: Optional[HostFacts] = None) -> Plan:
        names = assign_carp_interfaces(config.groups(), RunningState())
        steps = [Step((cmd.IFCONFIG, names[(g.interface, g.vhid)], "destroy"), f"stop vhid {g.vhid}")
                 for g in config.groups()]
        if config.pfsync is not None and not (host is not None and host.pfsense):
            steps.append(Step((cmd.IFCONFIG, cmd.PFSYNC_IF, "destroy"), "stop pfsync"))
        return Plan(self.name, tuple(steps))

    def read_running(self, system, paths) -> RunningState:
        from ..status import parse_ifconfig
        from .observe import read_carp_sysctls
        state = parse_ifconfig(system.capture((cmd.IFCONFIG,)))
        return state.with_sysctls(read_carp_sysctls(system, legacy=True))
