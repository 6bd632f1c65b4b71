"""ARP-probe an address from inside the client namespace: who answers, and when.

Run as `python -m carp_pkg.lab.probe IFACE ADDRESS SECONDS [INTERVAL]`. Sends an ARP request for
ADDRESS every INTERVAL seconds (default 0.02) and prints one line per answer:
`<time.monotonic()> <sender mac>`. CLOCK_MONOTONIC is shared by every process on the machine, so
the lab can compare these times with its own. Needs root (a raw AF_PACKET socket).
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import sys
import time
from typing import Optional, Tuple

ETH_P_ARP = 0x0806
SIOCGIFADDR = 0x8915
ARP_REQUEST, ARP_REPLY = 1, 2


def arp_request(own_mac: bytes, own_ip: bytes, target_ip: bytes) -> bytes:
    ethernet = b"\xff" * 6 + own_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, ARP_REQUEST) + own_mac + own_ip + b"\x00" * 6 + target_ip
    return ethernet + arp


def arp_reply_sender(frame: bytes, target_ip: bytes) -> Optional[str]:
    """The sender MAC of an ARP reply for target_ip, else None."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    if struct.unpack("!H", frame[20:22])[0] != ARP_REPLY or frame[28:32] != target_ip:
        return None
    return frame[22:28].hex(":")


def interface_identity(sock: socket.socket, interface: str) -> Tuple[bytes, bytes]:
    mac = sock.getsockname()[4]
    request = struct.pack("256s", interface.encode()[:15])
    ip = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24]
    return mac, ip


def probe(interface: str, address: str, seconds: float, interval: float = 0.02, out=sys.stdout) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((interface, 0))
    mac, ip = interface_identity(sock, interface)
    target = socket.inet_aton(address)
    request = arp_request(mac, ip, target)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.send(request)
        window_end = time.monotonic() + interval
        while True:
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            readable, _, _ = select.select([sock], [], [], remaining)
            if not readable:
                break
            sender = arp_reply_sender(sock.recv(2048), target)
            if sender is not None:
                out.write(f"{time.monotonic():.4f} {sender}\n")
                out.flush()


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    probe(args[0], args[1], float(args[2]), float(args[3]) if len(args) == 4 else 0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
