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


UNICAST_OSRELDATE = 1400000  # FreeBSD 14.0: `ifconfig ... peer`/`peer6` (sbin/ifconfig/carp.c)
VRRP_OSRELDATE = 1500000  # FreeBSD 15.0: `ifconfig ... carpver 3 vrrpprio P vrrpinterval I` (sbin/ifconfig/carp.c)


def read_release_support(system):
    """(unicast_capable, vrrp_capable) from one read of kern.osreldate; (None, None) when unknown."""
    release = system.sysctl_read("kern.osreldate")
    if release is None:
        return None, None
    return release >= UNICAST_OSRELDATE, release >= VRRP_OSRELDATE
