"""Argv builders shared by the FreeBSD backends: one place spells each ifconfig/sysctl form."""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..model import CarpConfig, PfsyncSettings, VhidGroup
from ..plan import Step
from ..running import IPInterface, RunningPfsync, RunningState

IFCONFIG = "ifconfig"
SYSCTL = "sysctl"
PFSYNC_IF = "pfsync0"


def carp_params(target: str, vhid: int, advskew: int, advbase: int, password: Optional[str]) -> Tuple[Tuple[str, ...], frozenset]:
    """`ifconfig TARGET vhid V advskew S advbase B [pass P]`: vhid must come first."""
    argv = [IFCONFIG, target, "vhid", str(vhid), "advskew", str(advskew), "advbase", str(advbase)]
    secret = frozenset()
    if password is not None:
        argv += ["pass", password]
        secret = frozenset({len(argv) - 1})
    return tuple(argv), secret


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


def preempt_steps(config: CarpConfig, running: RunningState) -> List[Step]:
    wanted = 1 if config.preempt else 0
    why = ("a VIP has preemption on: the host with the lowest advskew takes over" if wanted
           else "no VIP asks for preemption")
    return sysctl_step("net.inet.carp.preempt", wanted, running.sysctls.preempt, why)


def pfsync_up(settings: PfsyncSettings) -> Step:
    return Step((IFCONFIG, PFSYNC_IF, "syncdev", settings.syncdev, "up"),
                f"synchronise pf states over {settings.syncdev}",
                undo=(IFCONFIG, PFSYNC_IF, "-syncdev", "down"))


def pfsync_down_steps(previous: Optional[RunningPfsync]) -> List[Step]:
    """Take pfsync off its sync device, when it has one."""
    if previous is None or not previous.syncdev:
        return []
    return [Step((IFCONFIG, PFSYNC_IF, "-syncdev", "down"), "no VIP asks for pfsync any more",
                 undo=(IFCONFIG, PFSYNC_IF, "syncdev", previous.syncdev, "up"))]


def pfsync_needs_setup(settings: PfsyncSettings, running: Optional[RunningPfsync]) -> bool:
    return running is None or running.syncdev != settings.syncdev or not running.up


def group_label(group: VhidGroup) -> str:
    return f"vhid {group.vhid} on {group.interface}"
