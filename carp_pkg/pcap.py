"""The capture reader, under the name it had before carp_pkg.wire: see carp_pkg/wire/pcap.py.

This name is the same module object as ``carp_pkg.wire.pcap`` (not a copy of its names), so what is
imported, monkeypatched or compared through either name is one and the same.
"""

import sys

from .wire import pcap as _pcap

sys.modules[__name__] = _pcap
