"""pf rules that let CARP and pfsync through: the job the original carp_rules.php did.

The output is the body of the pf anchor "carp" (load it with `pfctl -a carp -f -`);
the main ruleset needs one `anchor "carp"` line to evaluate it. On pfSense the same
body is handed to the filter through carp.inc's carp_generate_rules().

Rule shapes follow the references the port is checked against:
- CARP: pfSense's filter.inc passes `quick proto carp ... no state` (advertisements
  are one-way multicast, a state would only ever hold one direction);
- pfsync: pfsync(4)'s example passes `quick on SYNCDEV proto pfsync keep state (no-sync)`,
  so the sync traffic's own state is never itself synchronised.
"""

from __future__ import annotations

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

    def text(self) -> str:
        words = [self.action, "quick", "on", self.interface]
        if self.family:
            words.append(self.family)
        words += ["proto", self.proto, "from", "any", "to", self.destination, self.state, f'label "{self.label}"']
        return " ".join(words)

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "quick": True,
            "interface": self.interface,
            "family": self.family,
            "proto": self.proto,
            "from": "any",
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


def _carp_interfaces(config: CarpConfig) -> List[Tuple[str, Tuple[str, ...]]]:
    """Each CARP parent interface once, in config order, with the address families its VIPs use."""
    families: dict = {}
    for vip in config.vips:
        families.setdefault(vip.interface, set()).add(vip.family)
    return [(name, tuple(f for f in FAMILIES if f in used)) for name, used in families.items()]


def carp_rules(config: CarpConfig) -> Tuple[PfRule, ...]:
    rules: List[PfRule] = []
    for interface, families in _carp_interfaces(config):
        device = _checked_device(interface)
        for family in families:
            rules.append(PfRule(interface=device, family=family, proto="carp", destination=CARP_GROUPS[family],
                                state="no state", label=_label(f"carp-pkg: CARP on {device}")))
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
