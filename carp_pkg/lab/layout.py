"""The lab's names and addresses, and the `ip` commands that build it: pure data, nothing runs here."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from typing import List, Tuple

HOSTS = ("a", "b")
CLIENT = "client"
BRIDGE = "br0"
LINK = "eth0"  # the interface name inside each host and the client
DEFAULT_ADVSKEW = {"a": 0, "b": 100}
DEFAULT_VRRPPRIO = {"a": 200, "b": 100}  # keepalived (VRRPv3): the higher priority is master, so host a again
BACKENDS = ("ucarp", "keepalived")
DEFAULT_VRRPINTERVAL = 2  # centiseconds: 20 ms adverts


@dataclass(frozen=True)
class LabLayout:
    prefix: str  # unique per lab: namespace names start with it
    directory: str  # per-host roots, the lab record
    network: str  # the VIP's subnet, e.g. 192.168.1.0/24
    vip: str  # e.g. 192.168.1.1/24
    addresses: Tuple[Tuple[str, str], ...]  # (a|b|client, address/prefix)
    backend: str = "ucarp"  # ucarp (CARP) or keepalived (VRRPv3)
    unicast: bool = False  # multicast blocked on the bridge ports; the hosts name each other as unicast peers
    vrrpinterval: int = DEFAULT_VRRPINTERVAL  # keepalived: the advertisement interval in centiseconds

    def namespace(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def bridge_namespace(self) -> str:
        return self.namespace("br")

    @property
    def namespaces(self) -> Tuple[str, ...]:
        return tuple(self.namespace(n) for n in (*HOSTS, CLIENT)) + (self.bridge_namespace,)

    def address(self, node: str) -> str:
        return dict(self.addresses)[node]

    def root(self, host: str) -> str:
        return os.path.join(self.directory, f"host-{host}")

    def config_path(self, host: str) -> str:
        return os.path.join(self.root(host), "conf", "config.xml")

    @property
    def record_path(self) -> str:
        return os.path.join(self.directory, "lab.json")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "LabLayout":
        data = json.loads(text)
        data["addresses"] = tuple(tuple(pair) for pair in data["addresses"])
        return cls(**data)


def new_layout(directory: str, vip: str, prefix: str, backend: str = "ucarp", unicast: bool = False,
               vrrpinterval: int = DEFAULT_VRRPINTERVAL) -> LabLayout:
    """Hosts a and b take the first free addresses of the VIP's subnet, the client the last one."""
    interface = ipaddress.ip_interface(vip)
    free = [h for h in interface.network.hosts() if h != interface.ip]
    if len(free) < 3:
        raise ValueError(f"{interface.network} has no room for two hosts and a client")
    bits = interface.network.prefixlen
    addresses = (("a", f"{free[0]}/{bits}"), ("b", f"{free[1]}/{bits}"), (CLIENT, f"{free[-1]}/{bits}"))
    return LabLayout(prefix=prefix, directory=directory, network=str(interface.network),
                     vip=str(interface), addresses=addresses, backend=backend, unicast=unicast,
                     vrrpinterval=vrrpinterval)


def build_commands(layout: LabLayout) -> List[Tuple[str, ...]]:
    """Namespaces, a bridge in its own namespace, one veth pair per node created directly in place."""
    bridge_ns = layout.bridge_namespace
    commands: List[Tuple[str, ...]] = [("ip", "netns", "add", ns) for ns in layout.namespaces]
    commands += [
        ("ip", "-n", bridge_ns, "link", "add", BRIDGE, "type", "bridge"),
        ("ip", "-n", bridge_ns, "link", "set", BRIDGE, "up"),
    ]
    for node in (*HOSTS, CLIENT):
        ns, port = layout.namespace(node), f"v{node[0]}"
        commands += [
            ("ip", "-n", bridge_ns, "link", "add", port, "type", "veth", "peer", "name", LINK, "netns", ns),
            ("ip", "-n", bridge_ns, "link", "set", port, "master", BRIDGE, "up"),
            ("ip", "-n", ns, "link", "set", "lo", "up"),
            ("ip", "-n", ns, "addr", "add", layout.address(node), "dev", LINK),
            ("ip", "-n", ns, "link", "set", LINK, "up"),
        ]
    return commands


def multicast_block_commands(layout: LabLayout) -> List[Tuple[str, ...]]:
    """Every bridge port stops flooding multicast (bridge_slave mcast_flood off): VRRP's 224.0.0.18, which has no
    forwarding entry, reaches nobody, as on clouds and switches that drop multicast; ARP (broadcast) still flows."""
    return [("ip", "-n", layout.bridge_namespace, "link", "set", "dev", f"v{node[0]}", "type", "bridge_slave",
             "mcast_flood", "off") for node in (*HOSTS, CLIENT)]
