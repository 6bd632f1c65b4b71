"""Stand-ins for the systems carp-pkg drives (FreeBSD ifconfig/sysctl), for tests."""
