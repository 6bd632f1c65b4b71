"""Which advertisement a packet of IP protocol 112 carries: CARP or VRRPv3.

CARP and VRRP share IP protocol 112, the multicast groups 224.0.0.18 / ff02::12 and TTL 255, so
nothing in the IP header tells them apart. The first byte of the protocol-112 payload does: its
high nibble is the version, 2 in every CARP advertisement (struct carp_header, CARP_VERSION) and
3 in every VRRPv3 one (RFC 5798 §5.2.1). FreeBSD 15's carp(4), which speaks both (``carpver 2``
and ``carpver 3``), goes by the same nibble. So:

* version 3: VRRPv3 (wire/vrrp.py);
* any other version: CARP (wire/carp.py), as carp-pkg has always read protocol 112. A CARP row
  whose version is not 2 says so.

VRRPv2 (RFC 3768) is version 2 as well and is not told apart: carp-pkg reads it as CARP, as it
always has. Its 8-byte header plus 4 bytes per address plus 8 bytes of authentication data fall
short of CARP's 36 bytes up to four addresses (a "CARP header needs 36 bytes" malformed row); with
more, its bytes show as CARP fields (VRID as vhid, priority as advskew, address count as authlen)
with an HMAC that never verifies. Guessing from lengths or field values could mistake a damaged
CARP packet for VRRPv2, so no guess is made: VRRPv2 is not something carp-pkg configures.
"""

from __future__ import annotations

from typing import Union

from . import carp, vrrp
from .ip import carried

Advertisement = Union[carp.Advertisement, vrrp.VrrpAdvertisement]


def decode(packet: bytes) -> Advertisement:
    """The CARP or VRRPv3 advertisement in an IPv4 / IPv6 packet (bytes starting at the IP header).

    Raises MalformedPacket for short or inconsistent packets (whichever protocol they
    claim) and OtherProtocol (a NotCarp and a NotVrrp) for packets of another protocol.
    The IP layer's messages speak of CARP, as they always have in `sniff`.
    """
    ip = carried(packet)
    if ip.payload[:1] and ip.payload[0] >> 4 == vrrp.VRRP_VERSION:
        return vrrp.decode_payload(ip.payload, ip.source, ip.destination, ip.ttl)
    return carp.decode_carried(ip)
