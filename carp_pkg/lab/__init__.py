"""A two-host CARP lab in network namespaces: real ucarp, real failover, measured from a client.

    bridge ns:  br0 ── va ── eth0 @ host a (advskew 0)
                    ├─ vb ── eth0 @ host b (advskew 100)
                    └─ vc ── eth0 @ client (probes the VIP with ARP)

Every link lives inside namespaces the lab creates (the bridge has its own), so no packet reaches
the machine's own interfaces. Each host runs `carp-pkg --root DIR --config DIR/config.xml sync
--backend ucarp` inside its namespace; the roots keep the two hosts' state apart.
"""

from .layout import HOSTS, LabLayout, new_layout
from .lab import Lab, LabError, Measurement

__all__ = ["HOSTS", "Lab", "LabError", "LabLayout", "Measurement", "new_layout"]
