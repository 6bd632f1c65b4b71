"""The CARP codec, under the name it had before carp_pkg.wire: see carp_pkg/wire/carp.py.

This name is the same module object as ``carp_pkg.wire.carp`` (not a copy of its names), so what is
imported, monkeypatched or compared through either name is one and the same.
"""

import sys

from .wire import carp as _carp

sys.modules[__name__] = _carp
