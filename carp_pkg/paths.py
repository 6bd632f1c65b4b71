"""Every file carp-pkg reads or writes, relative to an optional root (for tests and staging)."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

CONFIG_XML = "/conf/config.xml"  # pfSense's own
FREEBSD_CONFIG_XML = "/usr/local/etc/carp-pkg/config.xml"
LINUX_CONFIG_XML = "/etc/carp-pkg/config.xml"
CONFIG_ENV = "CARP_PKG_CONFIG"
PFSENSE_BASE_INC = "/etc/inc/interfaces.inc"
RC_SCRIPT = "/usr/local/etc/rc.d/carp.sh"
CONFIG_LOCK = "/tmp/config.lock"
FILTER_CONFIGURE = "/etc/rc.filter_configure"
PLATFORM_FILE = "/etc/platform"
NANOBSD_MOUNT = "/cf"
WWW_DIR = "/usr/local/www"
PKG_DIR = "/usr/local/pkg"
PF_DIR = "/usr/local/pkg/pf"
STATE_DIR = "/var/db/carp-pkg"
SYSTEM_PATH = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


def default_config(root: str, sysname: str, environ: Mapping[str, str], exists: Callable[[str], bool],
                   platform_text: str = "") -> Tuple[str, str]:
    """(path, why) of the config.xml to read when --config is not given.

    $CARP_PKG_CONFIG first; on pfSense its own /conf/config.xml; else the package's own file for the OS,
    except that a root shaped like pfSense (ROOT/conf/config.xml exists, the platform default does not)
    is read as pfSense (staging copies of a firewall)."""
    under = lambda path: os.path.join(root, path.lstrip("/"))  # noqa: E731
    if environ.get(CONFIG_ENV):
        return environ[CONFIG_ENV], f"from ${CONFIG_ENV}"
    if "pfsense" in platform_text.lower() or exists(under(PFSENSE_BASE_INC)):
        return under(CONFIG_XML), "pfSense"
    own, system = (FREEBSD_CONFIG_XML, "FreeBSD") if sysname == "FreeBSD" else (LINUX_CONFIG_XML, sysname or "Linux")
    if not exists(under(own)) and exists(under(CONFIG_XML)):
        return under(CONFIG_XML), "a pfSense-shaped root"
    return under(own), system


@dataclass(frozen=True)
class Paths:
    root: str = "/"
    config_override: Optional[str] = None  # --config FILE, taken as given (not under root)
    config_default: Optional[str] = None  # the platform's default, decided once by the CLI (default_config)

    def under_root(self, target_path: str) -> str:
        """Where a target path (as seen on the firewall) lives on this machine: never outside root, whatever `..`
        the path holds (a DAEMON_ARGS `-f /../../x` read from the target names the target's /x)."""
        return os.path.join(self.root, posixpath.normpath("/" + target_path).lstrip("/"))

    @property
    def config_xml(self) -> str:
        return self.config_override or self.config_default or self.under_root(CONFIG_XML)

    @property
    def rc_script(self) -> str:
        return self.under_root(RC_SCRIPT)

    @property
    def lock(self) -> str:
        return self.under_root(CONFIG_LOCK)

    @property
    def platform_file(self) -> str:
        return self.under_root(PLATFORM_FILE)

    @property
    def www_dir(self) -> str:
        return self.under_root(WWW_DIR)

    @property
    def pkg_dir(self) -> str:
        return self.under_root(PKG_DIR)

    @property
    def pf_dir(self) -> str:
        return self.under_root(PF_DIR)

    @property
    def state_dir(self) -> str:
        return self.under_root(STATE_DIR)

    @property
    def applied_state(self) -> str:
        return os.path.join(self.state_dir, "applied.json")

    @property
    def maintenance_flag(self) -> str:
        return os.path.join(self.state_dir, "maintenance")

    @property
    def manifest(self) -> str:
        return os.path.join(self.state_dir, "manifest.json")
