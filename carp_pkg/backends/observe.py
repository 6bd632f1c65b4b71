"""Reading the CARP sysctls through System (shared by the FreeBSD backends)."""

from __future__ import annotations

from ..running import CarpSysctls


def read_carp_sysctls(system, legacy: bool) -> CarpSysctls:
    read = system.sysctl_read
    return CarpSysctls(
        allow=read("net.inet.carp.allow"),
        preempt=read("net.inet.carp.preempt"),
        demotion=read("net.inet.carp.demotion") if not legacy else None,
        arpbalance=read("net.inet.carp.arpbalance") if legacy else None,
    )
