"""The last transition and a counter per state, per vhid: ROOT/var/db/carp-pkg/transitions.json (0600).

    {"eth0/1": {"interface": "eth0", "vhid": 1, "state": "MASTER", "previous": "BACKUP",
                "time": "2025-06-01T12:00:00.123456Z", "backend": "ucarp", "seq": 7,
                "counts": {"MASTER": 3, "BACKUP": 4, "INIT": 0}}}

`event` reads the previous state here and writes the new one only while it holds the event log's lock
(never otherwise: an event that cannot get the lock is logged with `previous` unknown and leaves this
file alone), so the `previous` of each record is the `state` of the one before it for that vhid and no
count is lost. The counters only grow (log rotation does not reset them): they are
`carp_transitions_total` in `carp-pkg metrics`. `seq` numbers the vhid's events in the order they were
recorded: a hook supervisor compares its event's number with the newest here to skip the hooks of an
event that a newer one has superseded (hooks.py). `status` shows the last transition. The file is small
and rewritten atomically (temp file, rename); a damaged file is started afresh rather than trusted.
"""

from __future__ import annotations

import json
import os
import stat
import time
from typing import Dict, Optional, Tuple

from ..fs import refuse_special_target
from .record import STATES

NAME = "transitions.json"
MODE = 0o600
MAX_BYTES = 1024 * 1024
MAX_VHIDS = 4096  # every (interface, vhid) a host could reasonably have, with room to spare

Table = Dict[str, Dict[str, object]]


def path_in(state_dir: str) -> str:
    return os.path.join(state_dir, NAME)


def key(interface: str, vhid: int) -> str:
    return f"{interface}/{vhid}"


def parse(text: Optional[str]) -> Table:
    """The file's text → {key: entry}, keeping only well-formed entries."""
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    table: Table = {}
    for name, entry in list(data.items())[:MAX_VHIDS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("interface"), str):
            continue
        vhid, state = entry.get("vhid"), entry.get("state")
        if isinstance(vhid, bool) or not isinstance(vhid, int) or state not in STATES:
            continue
        if name != key(entry["interface"], vhid):
            continue
        counts = entry.get("counts") if isinstance(entry.get("counts"), dict) else {}
        entry["counts"] = {s: counts[s] if _count(counts.get(s)) else 0 for s in STATES}
        entry["seq"] = entry["seq"] if _count(entry.get("seq")) else 0
        table[name] = entry
    return table


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read(state_dir: str) -> Table:
    """Straight from the file (the `event` command, the hook supervisor); status and metrics read through
    System.read_text. Anything but a readable regular file reads as empty."""
    try:
        fd = os.open(path_in(state_dir), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # before any read: a directory, FIFO or device reads as empty
            return {}
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    return parse(data.decode("utf-8", "replace")) if len(data) <= MAX_BYTES else {}


def update(table: Table, record: Dict[str, object]) -> Tuple[Table, Optional[str]]:
    """(the table with `record` as its vhid's last transition, the state before it)."""
    name = key(str(record["interface"]), int(record["vhid"]))  # type: ignore[arg-type]
    before = table.get(name)
    previous = before.get("state") if before else None
    counts = dict(before["counts"]) if before else dict.fromkeys(STATES, 0)  # type: ignore[arg-type]
    counts[str(record["state"])] = counts.get(str(record["state"]), 0) + 1
    entry = {"interface": record["interface"], "vhid": record["vhid"], "state": record["state"],
             "previous": record.get("previous"), "time": record["time"], "backend": record["backend"],
             "seq": int(before.get("seq") or 0) + 1 if before else 1, "counts": counts}  # type: ignore[call-overload]
    table = {k: v for k, v in table.items() if k != name}
    if len(table) >= MAX_VHIDS:  # drop the one that changed longest ago
        oldest = min(table, key=lambda k: str(table[k].get("time", "")))
        del table[oldest]
    table[name] = entry
    return table, previous  # type: ignore[return-value]


def write(state_dir: str, table: Table) -> None:
    """Atomically (temp file in the same private directory, then rename); the caller holds the log lock."""
    temp = os.path.join(state_dir, f".{NAME}.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), MODE)
            json.dump(table, handle, separators=(",", ":"), sort_keys=True)
        refuse_special_target(path_in(state_dir))  # EnvironmentProblem: `event` says so, the event logged
        os.replace(temp, path_in(state_dir))
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def previous_state(table: Table, interface: str, vhid: int) -> Optional[str]:
    entry = table.get(key(interface, vhid))
    return entry.get("state") if entry else None  # type: ignore[return-value]


def sequence(table: Table, interface: str, vhid: int) -> int:
    """The number of the vhid's newest recorded event (0: none)."""
    entry = table.get(key(interface, vhid))
    return int(entry.get("seq") or 0) if entry else 0  # type: ignore[call-overload]
