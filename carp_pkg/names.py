"""The one rule for device names, from any source (config.xml, a capture, devd, ucarp, keepalived).

FreeBSD and Linux keep interface names in IFNAMSIZ 16 bytes with the NUL. A name also becomes part of
file names (ucarp state), script text and argv, so only these characters are accepted, never escaped,
and never a leading "-" (ifconfig would read an option). Kept import-free: `carp-pkg event` runs on every
CARP transition and must not pay for lxml or the config model.
"""

import re

DEVICE_NAME = re.compile(r"\A[A-Za-z0-9_.:][A-Za-z0-9_.:\-]{0,14}\Z")


def valid_device_name(name: str) -> bool:
    return isinstance(name, str) and bool(DEVICE_NAME.match(name)) and name not in (".", "..")
