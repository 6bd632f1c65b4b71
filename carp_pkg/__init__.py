"""carp-pkg: CARP failover for pfSense, FreeBSD and Linux (a port of pfSense carp 0.1.0)."""

__version__ = "1.0.0"
