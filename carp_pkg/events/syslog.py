"""One line to the local syslog (facility daemon, tag carp-pkg), when a syslog socket exists.

The socket is looked up under --root like every other file (`ROOT/dev/log` on Linux, `ROOT/var/run/log` on
FreeBSD), so a staging root or the lab's hosts do not write into the machine's own log, and a test can
listen on a socket of its own. Sending never blocks a transition: non-blocking, one attempt, errors ignored.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from typing import Optional

SOCKETS = ("/dev/log", "/var/run/log", "/var/run/syslog")  # Linux, FreeBSD, others
FACILITY_DAEMON = 3
NOTICE, WARNING = 5, 4
TAG = "carp-pkg"
MAX_MESSAGE = 900


def find_socket(root: str) -> Optional[str]:
    for target in SOCKETS:
        path = os.path.join(root, target.lstrip("/"))
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return path
        except OSError:
            continue
    return None


def clean(message: str) -> str:
    """Printable text only (a newline would forge a second syslog line), bounded."""
    text = "".join(c if c.isprintable() else "?" for c in message)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def format_datagram(message: str, severity: int, pid: int, now: float) -> bytes:
    """RFC 3164 as syslog(3) sends it: `<29>Jun  1 12:00:00 carp-pkg[42]: message`."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(now))
    if stamp[4] == "0":
        stamp = stamp[:4] + " " + stamp[5:]
    priority = FACILITY_DAEMON * 8 + severity
    return f"<{priority}>{stamp} {TAG}[{pid}]: {clean(message)}".encode("utf-8", "replace")


def send(root: str, message: str, severity: int = NOTICE, now: Optional[float] = None) -> bool:
    """True when the datagram was handed to a syslog socket."""
    path = find_socket(root)
    if path is None:
        return False
    data = format_datagram(message, severity, os.getpid(), time.time() if now is None else now)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        try:
            with socket.socket(socket.AF_UNIX, kind) as sock:
                sock.setblocking(False)
                sock.connect(path)
                sock.send(data if kind == socket.SOCK_DGRAM else data + b"\n")
                return True
        except OSError:
            continue
    return False
