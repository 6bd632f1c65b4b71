"""Fingerprints of applied passwords: the kernel never shows a CARP key, so sync remembers a salted hash."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Dict, Optional

from .model import CarpConfig, VhidGroup
from .running import RunningState, RunningVhid


def new_salt() -> str:
    import secrets  # start-up time: only when a salt is made
    return secrets.token_hex(16)


def password_digest(salt: str, password: str) -> str:
    import hashlib  # start-up time: only when a password is compared
    return hashlib.sha256(f"{salt}\0{password}".encode("utf-8")).hexdigest()


def vhid_key(interface: str, vhid: int) -> str:
    return f"{interface}/{vhid}"


def applied_record(config: CarpConfig, salt: str) -> Dict[str, object]:
    return {
        "salt": salt,
        "vhids": {vhid_key(g.interface, g.vhid): password_digest(salt, g.password) for g in config.groups()},
    }


def parse_record(text: Optional[str]) -> Dict[str, object]:
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("vhids"), dict) else {}


def _digest_for(digests: Dict[str, str], interface: str, vhid: int) -> Optional[str]:
    exact = digests.get(vhid_key(interface, vhid))
    if exact is not None or not re.fullmatch(r"carp\d+", interface):
        return exact
    # FreeBSD 5.4-9: the record names the parent (em1/1), the kernel shows the clone (carp0, vhid 1)
    same_vhid = [digest for key, digest in digests.items() if key.endswith(f"/{vhid}")]
    return same_vhid[0] if len(same_vhid) == 1 else None


def with_digests(running: RunningState, record: Dict[str, object]) -> RunningState:
    """Attach the remembered fingerprints to the vhids that are still running."""
    digests = record.get("vhids", {}) if record else {}
    return replace(running, vhids=tuple(
        replace(v, secret_digest=_digest_for(digests, v.interface, v.vhid)) for v in running.vhids
    ))


def salted_digest_of(record: Dict[str, object], password: str) -> Optional[str]:
    salt = record.get("salt") if record else None
    return password_digest(salt, password) if isinstance(salt, str) else None


def password_changed(group: VhidGroup, running: RunningVhid, salt: Optional[str]) -> bool:
    """True unless carp-pkg remembers applying exactly this password (the kernel never shows it)."""
    if running.secret_digest is None or salt is None:
        return True
    return running.secret_digest != password_digest(salt, group.password)


def password_to_set(group: VhidGroup, running: RunningVhid, salt: Optional[str]) -> bool:
    """FreeBSD ignores an empty key in SIOCSVH, so only a non-empty changed (or unknown) password is set."""
    return bool(group.password) and password_changed(group, running, salt)
