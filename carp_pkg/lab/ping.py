"""ICMP echo to the VIP from inside the client namespace: how many probes of a handover go unanswered.

Run as `python -m carp_pkg.lab.ping ADDRESS SECONDS [INTERVAL]`: an echo request every INTERVAL seconds
(default 0.01) until SECONDS pass or SIGTERM arrives, then 0.3 s for late replies, then one JSON line:
{"sent": N, "received": M, "lost": [sequence numbers], "interval": I}. A reply from either host counts
(while a handover overlaps, both may hold the VIP). Needs root (a raw ICMP socket).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

ECHO_REQUEST, ECHO_REPLY = 8, 0
GRACE_S = 0.3


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, sequence: int) -> bytes:
    payload = b"carp-pkg-lab"
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident, sequence) + payload


def reply_sequence(packet: bytes, ident: int) -> Optional[int]:
    """The sequence number of an echo reply to us (packet: IPv4 header + ICMP), else None."""
    if len(packet) < 20:
        return None
    start = (packet[0] & 0x0F) * 4
    icmp = packet[start:start + 8]
    if len(icmp) < 8:
        return None
    kind, _code, _sum, who, sequence = struct.unpack("!BBHHH", icmp)
    return sequence if kind == ECHO_REPLY and who == ident else None


@dataclass(frozen=True)
class Summary:
    sent: int
    received: int
    lost: Sequence[int]
    interval: float

    @classmethod
    def from_json(cls, text: str) -> "Summary":
        data = json.loads(text)
        return cls(int(data["sent"]), int(data["received"]), tuple(data["lost"]), float(data["interval"]))


def ping(address: str, seconds: float, interval: float = 0.01, out=sys.stdout) -> Summary:
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    answered: set = set()
    sent = 0
    end = time.monotonic() + seconds
    next_send = time.monotonic()
    drain_until: Optional[float] = None
    while True:
        now = time.monotonic()
        if drain_until is None and (stop["now"] or now >= end):
            drain_until = now + GRACE_S
        if drain_until is not None and now >= drain_until:
            break
        if drain_until is None and now >= next_send:
            sock.sendto(echo_request(ident, sent & 0xFFFF), (address, 0))
            sent += 1
            next_send += interval
        wait = max(0.0, (drain_until if drain_until is not None else min(next_send, end)) - time.monotonic())
        readable, _, _ = select.select([sock], [], [], wait)
        if readable:
            sequence = reply_sequence(sock.recv(2048), ident)
            if sequence is not None:
                answered.add(sequence)
    lost = [n for n in range(sent) if (n & 0xFFFF) not in answered]
    summary = Summary(sent, sent - len(lost), lost, interval)
    out.write(json.dumps({"sent": summary.sent, "received": summary.received, "lost": list(lost),
                          "interval": interval}) + "\n")
    out.flush()
    return summary


class Pinger:
    """The client's pinger, started in its namespace by the lab and stopped when the handover is measured."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    @classmethod
    def start(cls, lab, seconds: float, interval: float = 0.01) -> "Pinger":
        from .lab import _python_env
        from .layout import CLIENT
        vip = lab.layout.vip.split("/")[0]
        argv = ("ip", "netns", "exec", lab.layout.namespace(CLIENT), sys.executable, "-m", "carp_pkg.lab.ping", vip,
                f"{seconds:.1f}", f"{interval:g}")
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_python_env())
        time.sleep(0.3)  # sending before the clock of the measured event starts
        return cls(process)

    def stop(self) -> Summary:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        lines = out.decode("ascii", "replace").strip().splitlines()
        if not lines:
            from .lab import LabError
            raise LabError("the client's pinger reported nothing: " + err.decode("utf-8", "replace").strip())
        return Summary.from_json(lines[-1])


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    ping(args[0], float(args[1]), float(args[2]) if len(args) == 3 else 0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
