"""What crosses the wire, read and written as bytes: no third-party dependencies, no I/O of its own.

* ``ip``: the IPv4 / IPv6 layer around IP protocol 112, the errors every decoder raises, the checksum;
* ``carp``: CARP advertisements (version 2): decode, encode, the HMAC;
* ``vrrp``: VRRPv3 advertisements (RFC 5798): decode, encode, the pseudo-header checksum;
* ``protocol112``: which of the two a packet of protocol 112 is (CARP and VRRP share the number);
* ``pcap``: the packets of a pcap / pcapng capture, from a file or a pipe.

``carp_pkg.carpwire`` and ``carp_pkg.pcap`` are the same modules as ``carp`` and ``pcap`` here, under
the names they had before this package existed.
"""
