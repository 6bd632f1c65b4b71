"""The event log (issue 13) as the status page and /events read it: ROOT/var/db/carp-pkg/events.jsonl.

One JSON object per line: {"time": <unix float, or ISO 8601 UTC as the event log writes it>,
"backend": "ucarp", "interface": "eth0", "vhid": 1, "state": "MASTER", "previous": "BACKUP",
"vips": ["10.0.0.1"]}; lines with a "kind" other than "transition" (hook results, refusals) are not
transitions. Every field is hostile: a line that is not a JSON object with a plausible time and a
state is skipped; text fields are cut to a bound and lose their control characters; the page
escapes them like any other value. Each file is read from its end (at most TAIL_BYTES; the newest
rotated file, events.jsonl.1, too when the current one holds fewer than RECENT transitions), never
through a symlink, never when it is not a regular file: a huge or hostile log costs what a small one does.
"""

from __future__ import annotations

import datetime
import errno
import json
import math
import os
import stat
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..errors import InputError
from ..paths import Paths

EVENTS_FILE = "events.jsonl"
RECENT = 20  # transitions the page shows
TAIL_BYTES = 256 * 1024  # how much of the log's end the page reads
FOLLOW_CHUNK = 64 * 1024  # the most /events reads per poll
MAX_LINE_BYTES = 16 * 1024  # a longer line is no event
MAX_TEXT = 64  # characters kept of any text field
MAX_VIPS = 16
LATEST_TIME = 4102444800.0  # 2100-01-01: anything later (or before 1970) is not a real time


def events_path(paths: Paths) -> str:
    return os.path.join(paths.state_dir, EVENTS_FILE)


@dataclass(frozen=True)
class Event:
    time: float
    backend: str
    interface: str
    vhid: str
    state: str
    previous: str
    vips: Tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The event as /events sends it: rebuilt from the checked fields, never the raw line."""
        vhid = int(self.vhid) if self.vhid.isdigit() else self.vhid
        return {"time": self.time, "backend": self.backend, "interface": self.interface, "vhid": vhid,
                "state": self.state, "previous": self.previous, "vips": list(self.vips)}


def _text(value) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    text = str(value)[:MAX_TEXT]
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def event_time(value) -> Optional[float]:
    """Unix seconds from a number or an ISO 8601 string (`2025-06-01T12:00:00.123456Z`); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        try:
            value = moment.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0 <= value < LATEST_TIME else None


def parse_event(line) -> Optional[Event]:
    """One log line as an Event, or None when it is not one (skipped, never shown raw)."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return None
        line = line.decode("utf-8", errors="replace")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind", "transition") != "transition":
        return None
    when = event_time(data.get("time"))
    if when is None:
        return None
    state = _text(data.get("state"))
    if not state:
        return None
    vips = data.get("vips")
    vips = tuple(t for t in (_text(v) for v in vips[:MAX_VIPS]) if t) if isinstance(vips, list) else ()
    return Event(time=when, backend=_text(data.get("backend")), interface=_text(data.get("interface")),
                 vhid=_text(data.get("vhid")), state=state, previous=_text(data.get("previous")), vips=vips)


def _open_log(path: str) -> Optional[int]:
    """A descriptor on the log, or None when there is none; a link, a device or a directory is refused.
    Errors name the file only, never its directory: the status page shows them to anyone who can reach it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or f"error {exc.errno}")
        raise InputError(f"{os.path.basename(path)}: {why} (the event log)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{os.path.basename(path)}: not a regular file (the event log)")
    return fd


def _lines(data: bytes, from_start: bool) -> List[bytes]:
    lines = data.split(b"\n")
    if not from_start:
        lines = lines[1:]  # the first line was cut by the tail read
    return lines


def _tail_events(path: str) -> Optional[List[Event]]:
    fd = _open_log(path)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - TAIL_BYTES)
        data = os.pread(fd, TAIL_BYTES, start)
    finally:
        os.close(fd)
    return [e for e in map(parse_event, _lines(data, start == 0)) if e is not None]


def read_recent(path: str, count: int = RECENT) -> Optional[Tuple[Event, ...]]:
    """The last `count` events, newest first; None when there is no event log."""
    events = _tail_events(path)
    if events is None:
        return None
    if len(events) < count:
        events = (_tail_events(path + ".1") or []) + events  # just rotated: the rest is in the newest old file
    return tuple(reversed(events[-count:])) if count > 0 else ()


class EventFollower:
    """`tail -f` for /events: the events appended since the follower started, a bounded chunk per poll.

    A log that shrinks or is replaced (rotation) is read again from its start; a line longer than
    MAX_LINE_BYTES is dropped whole, however many polls it spans.
    """

    def __init__(self, path: str):
        self.path = path
        self.offset, self.inode = self._position()
        self.partial = b""
        self.discarding = False

    def _position(self) -> Tuple[int, Optional[int]]:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return 0, None
        return (info.st_size, info.st_ino) if stat.S_ISREG(info.st_mode) else (0, None)

    def poll(self) -> List[Event]:
        fd = _open_log(self.path)
        if fd is None:
            self.offset, self.inode, self.partial, self.discarding = 0, None, b"", False
            return []
        try:
            info = os.fstat(fd)
            if info.st_ino != self.inode or info.st_size < self.offset:
                self.offset, self.inode, self.partial, self.discarding = 0, info.st_ino, b"", False
            data = os.pread(fd, FOLLOW_CHUNK, self.offset)
        finally:
            os.close(fd)
        self.offset += len(data)
        return [e for e in map(parse_event, self._complete_lines(data)) if e is not None]

    def _complete_lines(self, data: bytes) -> List[bytes]:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if self.discarding and lines:
            lines, self.discarding = lines[1:], False  # the rest of an overlong line
        if len(self.partial) > MAX_LINE_BYTES:
            self.partial, self.discarding = b"", True
        return lines
