"""Every file carp-pkg reads or writes, relative to an optional root (for tests and staging)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

CONFIG_XML = "/conf/config.xml"
RC_SCRIPT = "/usr/local/etc/rc.d/carp.sh"
CONFIG_LOCK = "/tmp/config.lock"
FILTER_CONFIGURE = "/etc/rc.filter_configure"
PLATFORM_FILE = "/etc/platform"
NANOBSD_MOUNT = "/cf"
WWW_DIR = "/usr/local/www"
PKG_DIR = "/usr/local/pkg"
PF_DIR = "/usr/local/pkg/pf"
STATE_DIR = "/var/db/carp-pkg"


@dataclass(frozen=True)
class Paths:
    root: str = "/"
    config_override: Optional[str] = None  # --config FILE, taken as given (not under root)

    def under_root(self, target_path: str) -> str:
        """Where a target path (as seen on the firewall) lives on this machine."""
        return os.path.join(self.root, target_path.lstrip("/"))

    @property
    def config_xml(self) -> str:
        return self.config_override or self.under_root(CONFIG_XML)

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
