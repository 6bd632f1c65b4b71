"""Linux's own view of interfaces: `ip -j addr show` parsed, for every Linux backend (ucarp, keepalived)."""

from __future__ import annotations

import ipaddress
import json
from typing import List, Tuple

from ..running import IPInterface


def parse_ip_addr_json(text: str) -> Tuple[Tuple[str, ...], Tuple[Tuple[str, IPInterface], ...]]:
    """`ip -j addr show` → (interface names, (interface, address) pairs); anything malformed is skipped."""
    try:
        links = json.loads(text or "[]")
    except ValueError:
        return (), ()
    names: List[str] = []
    addresses: List[Tuple[str, IPInterface]] = []
    for link in links if isinstance(links, list) else []:
        name = link.get("ifname") if isinstance(link, dict) else None
        if not isinstance(name, str) or not name:
            continue
        names.append(name)
        for info in link.get("addr_info", []) or []:
            try:
                addresses.append((name, ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")))
            except (KeyError, TypeError, ValueError):
                continue
    return tuple(names), tuple(addresses)
