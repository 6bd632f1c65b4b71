"""Every path the package places or may ever remove, and where its files come from."""

from __future__ import annotations

import os
import posixpath
import re
import sys
from typing import FrozenSet, Optional, Tuple

from ..backends.keepalived_conf import CONF as KEEPALIVED_CONF
from ..errors import EnvironmentProblem
from ..fs import PUBLIC_DIR_MODE
from ..events import devd
from ..paths import CONFIG_LOCK, RC_SCRIPT, STATE_DIR

MANIFEST_MODE = 0o600
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
LOCK_FILE_MODE = 0o644
DIRECTORY_MODE = PUBLIC_DIR_MODE
# (file in pkgxml/, where pfSense expects it)
PACKAGE_FILES: Tuple[Tuple[str, str], ...] = (
    ("carp.xml", "/usr/local/pkg/carp.xml"),
    ("carp.inc", "/usr/local/pkg/carp.inc"),
    ("carp.priv.inc", "/etc/inc/priv/carp.priv.inc"),
    ("carp_status.php", "/usr/local/www/carp_status.php"),
    ("carp_rules.php", "/usr/local/pkg/pf/carp_rules.php"),
)
# carp_rules.php is a command for manual use (`php .../carp_rules.php | pfctl -a carp -f -`), hence executable.
# pfSense never runs it: run_plugins() (util.inc) takes only *.sh and *.inc from /usr/local/pkg/pf. The filter
# gets the rules from carp.inc's carp_generate_rules("pfearly"), named by carp.xml's <filter_rules_needed>.
EXECUTABLE = frozenset({"/usr/local/pkg/pf/carp_rules.php"})
SYSCTLS_BY_BACKEND = {
    "freebsd": ("net.inet.carp.preempt",),
    "freebsd-legacy": ("net.inet.carp.preempt", "net.inet.carp.arpbalance"),
    "ucarp": (),
}
MANIFEST_TARGET = STATE_DIR + "/manifest.json"


def ancestors(target: str) -> Tuple[str, ...]:
    """The directories above `target`, deepest first, without `/`."""
    found = []
    parent = posixpath.dirname(target)
    while parent not in ("/", ""):
        found.append(parent)
        parent = posixpath.dirname(parent)
    return tuple(found)


# everything deinstall may ever remove: these files, their empty parents (not the system's) and the state dir
OWN_FILES: FrozenSet[str] = frozenset({target for _, target in PACKAGE_FILES} | {devd.TARGET}
                                      | {RC_SCRIPT, CONFIG_LOCK, MANIFEST_TARGET})
OWN_DIRECTORIES: FrozenSet[str] = frozenset(directory for target in OWN_FILES for directory in ancestors(target))
# files a backend's sync writes outside the state dir (Backend.owned_files()); deinstall removes exactly these, when a
# regular file reached without a symbolic link, and never their directories (/etc/keepalived is keepalived's)
BACKEND_FILES: FrozenSet[str] = frozenset({KEEPALIVED_CONF})
SYSTEM_DIRECTORIES: FrozenSet[str] = frozenset({"/", "/etc", "/tmp", "/usr", "/usr/local", "/usr/local/etc",
                                                "/var", "/var/db"})  # never removed, even when empty
SYSCTL_NAME = re.compile(r"net\.inet\.carp\.[a-z_]+")
SYSCTL_RANGE = (-(2 ** 31), 2 ** 31 - 1)
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MANIFEST_KEYS = ("files", "directories", "sysctls_before", "sha256")
SHOWN_MAX = 100
MAX_REFUSALS_LISTED = 40  # a 4 MiB manifest can hold a million bad entries: list these, count the rest
MAX_SYSCTLS = 8  # install records at most two; each one restored costs a command
MAX_STATE_DIR_DEPTH = 8


PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the source checkout


def package_source_dir(explicit: Optional[str] = None) -> str:
    """Where pkgxml/ lives: --source, the installed share/carp-pkg/pkgxml, or the source checkout."""
    candidates = [explicit] if explicit else [
        os.path.join(sys.prefix, "share", "carp-pkg", "pkgxml"),
        os.path.join(PROJECT_DIR, "pkgxml"),
    ]
    for candidate in candidates:
        if candidate and all(os.path.isfile(os.path.join(candidate, name)) for name, _ in PACKAGE_FILES):
            return candidate
    raise EnvironmentProblem("cannot find the package files (carp.xml, carp.inc, ...); give their folder with --source")
