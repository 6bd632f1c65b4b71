"""pf rules that let CARP and pfsync through: the job the original carp_rules.php did.

The output is the body of the pf anchor "carp" (load it with `pfctl -a carp -f -`);
the main ruleset needs one `anchor "carp"` line to evaluate it. On pfSense the same
body is handed to the filter through carp.inc's carp_generate_rules().

Rule shapes follow the references the port is checked against:
- CARP: pfSense's filter.inc passes `quick proto carp ... no state` (advertisements
  are one-way multicast, a state would only ever hold one direction);
- unicast CARP (FreeBSD 14+ `peer` / `peer6`): a vhid with a peer sends its advertisements from
  this host's address to the peer and receives the peer's from the peer's address, so neither
  goes to 224.0.0.18 / ff02::12 and the group rule misses both: each peer gets a rule for what
  it sends (`from PEER to any`) and one for what this host sends it (`from any to PEER`), still
  `no state`. The group rule stays (other vhids, a peer still on multicast while the cluster
  moves to unicast);
- pfsync: pfsync(4)'s example passes `quick on SYNCDEV proto pfsync keep state (no-sync)`,
  so the sync traffic's own state is never itself synchronised.
"""

from __future__ import annotations

import ipaddress
import re

from dataclasses import dataclass
from typing import List, Optional, Tuple

from .errors import ConfigError
from .model import CarpConfig
# Stricter than a device name in general: pf reads `em0:network` as a modifier and a leading digit as a number.
PF_DEVICE_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9_.\-]{0,14}\Z")

ANCHOR = "carp"
LOAD_COMMAND = f"pfctl -a {ANCHOR} -f -"
CARP_GROUPS = {"inet": "224.0.0.18", "inet6": "ff02::12"}  # carp(4) multicast destinations
FAMILIES = ("inet", "inet6")
LABEL_MAX = 63  # PF_RULE_LABEL_SIZE (64) less the terminating NUL


@dataclass(frozen=True)
class PfRule:
    interface: str
    proto: str  # carp | pfsync
    state: str  # "no state" | "keep state (no-sync)"
    label: str
    family: Optional[str] = None  # inet | inet6 | None for both
    destination: str = "any"
    action: str = "pass"
    source: str = "any"

    def text(self) -> str:
        words = [self.action, "quick", "on", self.interface]
        if self.family:
            words.append(self.family)
        words += ["proto", self.proto, "from", self.source, "to", self.destination, self.state, f'label "{self.label}"']
        return " ".join(words)

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "quick": True,
            "interface": self.interface,
            "family": self.family,
            "proto": self.proto,
            "from": self.source,
            "to": self.destination,
            "state": self.state,
            "label": self.label,
            "text": self.text(),
        }


def _checked_device(name: str) -> str:
    """Interface names are pasted into pf syntax: refuse anything that is not a plain device name."""
    if not PF_DEVICE_NAME.match(name):
        raise ConfigError(f"interface {name!r} cannot be used in a pf rule (expected a device name like em0)")
    return name


def _label(text: str) -> str:
    return text[:LABEL_MAX]


def _checked_peer(peer: str, family: str) -> str:
    """A unicast peer is pasted into pf syntax too: only a canonical unicast address of the family passes."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        address = None
    if (address is None or str(address) != peer or ("inet6" if address.version == 6 else "inet") != family
            or address.is_multicast or address.is_unspecified):
        raise ConfigError(f"peer {peer!r} cannot be used in a pf rule (expected a unicast {family} address)")
    return peer


def _carp_interfaces(config: CarpConfig) -> List[Tuple[str, Tuple[Tuple[str, Tuple[str, ...]], ...]]]:
    """Each CARP parent interface once, in config order, with the address families its VIPs use and, per
    family, the unicast peers its vhids advertise to (config order, each once). A vhid advertises in a family
    only when it has an address of that family, so a peer6 on an IPv4-only vhid adds no rule."""
    families: dict = {}
    for group in config.groups():
        used = families.setdefault(group.interface, {})
        for family in FAMILIES:
            if not any(("inet6" if a.version == 6 else "inet") == family for a in group.addresses):
                continue
            peers = used.setdefault(family, [])
            peer = group.peer6 if family == "inet6" else group.peer
            if peer is not None and peer not in peers:
                peers.append(peer)
    return [(name, tuple((f, tuple(used[f])) for f in FAMILIES if f in used)) for name, used in families.items()]


def carp_rules(config: CarpConfig) -> Tuple[PfRule, ...]:
    rules: List[PfRule] = []
    for interface, families in _carp_interfaces(config):
        device = _checked_device(interface)
        for family, peers in families:
            rules.append(PfRule(interface=device, family=family, proto="carp", destination=CARP_GROUPS[family],
                                state="no state", label=_label(f"carp-pkg: CARP on {device}")))
            for peer in peers:
                peer = _checked_peer(peer, family)
                label = _label(f"carp-pkg: CARP on {device} peer {peer}")
                rules.append(PfRule(interface=device, family=family, proto="carp", source=peer,
                                    state="no state", label=label))
                rules.append(PfRule(interface=device, family=family, proto="carp", destination=peer,
                                    state="no state", label=label))
    if config.pfsync is not None:
        device = _checked_device(config.pfsync.syncdev)
        rules.append(PfRule(interface=device, proto="pfsync", state="keep state (no-sync)",
                            label=_label(f"carp-pkg: pfsync on {device}")))
    return tuple(rules)


def anchor_line(anchor: str = ANCHOR) -> str:
    """The line the main ruleset needs so pf evaluates the anchor."""
    return f'anchor "{anchor}"'


def render_rules(config: CarpConfig) -> str:
    header = [
        f"# carp-pkg: pf rules for CARP and pfsync, the body of anchor \"{ANCHOR}\"",
        f"# load with: carp-pkg rules | {LOAD_COMMAND}   (main ruleset: {anchor_line()})",
    ]
    body = [rule.text() for rule in carp_rules(config)]
    if not body:
        body = ["# no CARP VIPs and no pfsync configured: loading this empties the anchor"]
    return "\n".join(header + body) + "\n"


def rules_json(config: CarpConfig) -> dict:
    return {
        "anchor": ANCHOR,
        "anchor_line": anchor_line(),
        "load_command": LOAD_COMMAND,
        "rules": [rule.to_json() for rule in carp_rules(config)],
    }
