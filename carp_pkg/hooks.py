"""install / deinstall: the package's pfSense hooks, done so that deinstall leaves nothing behind.

install records in a manifest exactly what it created (files, directories, the sysctl values it
found); deinstall stops CARP, restores those sysctls and removes exactly what the manifest lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from lxml import etree

from . import __version__
from .backends.base import Backend
from .configxml import CARP_PATH, parse_document, read_config_bytes
from .errors import EnvironmentProblem
from .paths import CONFIG_LOCK, RC_SCRIPT, STATE_DIR, Paths
from .plan import Plan
from .sync import SyncResult, execute, observe, sync, teardown_plan
from .system import System

MANIFEST_MODE = 0o600
FILE_MODE = 0o644
# (file in pkgxml/, where pfSense expects it)
PACKAGE_FILES: Tuple[Tuple[str, str], ...] = (
    ("carp.xml", "/usr/local/pkg/carp.xml"),
    ("carp.inc", "/usr/local/pkg/carp.inc"),
    ("carp.priv.inc", "/etc/inc/priv/carp.priv.inc"),
    ("carp_status.php", "/usr/local/www/carp_status.php"),
    ("carp_rules.php", "/usr/local/pkg/pf/carp_rules.php"),
)
EXECUTABLE = frozenset({"/usr/local/pkg/pf/carp_rules.php"})  # pfSense runs the pf includes
SYSCTLS_BY_BACKEND = {
    "freebsd": ("net.inet.carp.preempt",),
    "freebsd-legacy": ("net.inet.carp.preempt", "net.inet.carp.arpbalance"),
    "ucarp": (),
}


def package_source_dir(explicit: Optional[str] = None) -> str:
    """Where pkgxml/ lives: --source, the installed share/carp-pkg/pkgxml, or the source checkout."""
    candidates = [explicit] if explicit else [
        os.path.join(sys.prefix, "share", "carp-pkg", "pkgxml"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pkgxml"),
    ]
    for candidate in candidates:
        if candidate and all(os.path.isfile(os.path.join(candidate, name)) for name, _ in PACKAGE_FILES):
            return candidate
    raise EnvironmentProblem("cannot find the package files (carp.xml, carp.inc, ...); give their folder with --source")


@dataclass
class Manifest:
    """What install created, as target paths (joined under --root when used)."""

    files: List[str] = field(default_factory=list)
    directories: List[str] = field(default_factory=list)  # created by install, deepest removed first
    sysctls_before: Dict[str, Optional[int]] = field(default_factory=dict)
    hashes: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"files": self.files, "directories": self.directories,
                           "sysctls_before": self.sysctls_before, "sha256": self.hashes}, indent=1) + "\n"

    @classmethod
    def parse(cls, text: Optional[str]) -> Optional["Manifest"]:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(list(data["files"]), list(data["directories"]), dict(data["sysctls_before"]),
                       dict(data.get("sha256", {})))
        except (ValueError, KeyError, TypeError):
            raise EnvironmentProblem("the carp-pkg manifest is damaged; remove the package files by hand") from None

    def add_file(self, target: str, digest: str = "") -> None:
        if target not in self.files:
            self.files.append(target)
        if digest:
            self.hashes[target] = digest


class Installer:
    def __init__(self, system: System, paths: Paths, backend: Backend):
        self.system, self.paths, self.backend = system, paths, backend

    def load_manifest(self) -> Optional[Manifest]:
        return Manifest.parse(self.system.read_text(self.paths.manifest))

    def save(self, manifest: Manifest) -> None:
        self.system.write_atomic(self.paths.manifest, manifest.to_json(), MANIFEST_MODE)

    def note_missing_parents(self, manifest: Manifest, target: str) -> None:
        """Record the directories above `target` that do not exist yet (install is about to create them)."""
        missing = []
        parent = os.path.dirname(target)
        while parent not in ("/", "") and not os.path.isdir(self.paths.under_root(parent)):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            if directory not in manifest.directories:
                manifest.directories.append(directory)

    def install(self, source_dir: str, lock_timeout: float) -> Tuple[Manifest, SyncResult]:
        manifest = self.load_manifest() or Manifest()
        for target in (STATE_DIR + "/manifest.json", CONFIG_LOCK):
            self.note_missing_parents(manifest, target)
        if not os.path.exists(self.paths.lock):
            manifest.add_file(CONFIG_LOCK)
        manifest.add_file(STATE_DIR + "/manifest.json")
        for name in SYSCTLS_BY_BACKEND.get(self.backend.name, ()):
            manifest.sysctls_before.setdefault(name, self.system.sysctl_read(name))
        self.save(manifest)  # first, so that a half-finished install can still be removed
        for name, target in PACKAGE_FILES:
            with open(os.path.join(source_dir, name), encoding="utf-8") as handle:
                content = handle.read().replace("%%PKGVERSION%%", __version__)
            self.note_missing_parents(manifest, target)
            manifest.add_file(target, hashlib.sha256(content.encode()).hexdigest())
            self.save(manifest)
            self.system.write_atomic(self.paths.under_root(target), content, 0o755 if target in EXECUTABLE else FILE_MODE)
        self.note_missing_parents(manifest, RC_SCRIPT)
        manifest.add_file(RC_SCRIPT)
        self.save(manifest)
        return manifest, sync(self.system, self.paths, self.backend, lock_timeout=lock_timeout)

    def stop_everything(self) -> Tuple[List[str], Plan]:
        """Run the rc script's stop, then remove whatever CARP is still running (half-finished installs)."""
        notes = []
        if os.path.exists(self.paths.rc_script):
            result = self.system.runner.run(("/bin/sh", self.paths.rc_script, "stop"), check=False)
            if result.returncode != 0:
                notes.append("the rc script's stop reported: " + (result.stderr.strip() or f"exit {result.returncode}"))
        running, _ = observe(self.backend, self.system, self.paths)
        leftovers = teardown_plan(self.backend, running)
        execute(leftovers, self.system)
        return notes, leftovers

    def restore_sysctls(self, manifest: Manifest) -> List[str]:
        restored = []
        for name, before in manifest.sysctls_before.items():
            if before is None:
                continue
            if self.system.sysctl_read(name) != before:
                self.system.sysctl_write(name, before)
                restored.append(f"{name}={before}")
        return restored

    def purge_config(self) -> bool:
        path = self.paths.config_xml
        root = parse_document(read_config_bytes(path), path)
        carp = root.find("/".join(CARP_PATH))
        if carp is None:
            return False
        carp.getparent().remove(carp)
        text = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8") + "\n"
        self.system.write_atomic(path, text, os.stat(path).st_mode & 0o777)
        return True

    def remove_installed(self, manifest: Manifest) -> List[str]:
        removed = []
        lock_target = self.paths.under_root(CONFIG_LOCK)
        for target in manifest.files:
            path = self.paths.under_root(target)
            if path != lock_target and self.system.remove_file(path):
                removed.append(target)
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        return removed

    def remove_created(self, manifest: Manifest) -> None:
        """After the lock is released: the lock file and the directories install created, if empty."""
        if CONFIG_LOCK in manifest.files:
            self.system.remove_file(self.paths.under_root(CONFIG_LOCK))
        for directory in sorted(manifest.directories, key=lambda d: d.count("/"), reverse=True):
            try:
                os.rmdir(self.paths.under_root(directory))
            except OSError:
                pass  # not empty (someone else's files) or already gone

    def deinstall(self, purge: bool, lock_timeout: float) -> Dict[str, object]:
        manifest = self.load_manifest() or Manifest()
        if not os.path.exists(self.paths.lock):  # taking the lock creates it: leave no trace of that either
            self.note_missing_parents(manifest, CONFIG_LOCK)
            manifest.add_file(CONFIG_LOCK)
        if self.system.dry_run:
            running, _ = observe(self.backend, self.system, self.paths)
            plan = teardown_plan(self.backend, running)
            return {"dry_run": True, "would_remove": [f for f in manifest.files if f != CONFIG_LOCK], "plan": plan}
        with self.system.config_lock(lock_timeout), self.system.config_mount_rw():
            notes, leftovers = self.stop_everything()
            restored = self.restore_sysctls(manifest)
            purged = self.purge_config() if purge else False
            removed = self.remove_installed(manifest)
        self.remove_created(manifest)
        return {"dry_run": False, "removed": removed, "restored_sysctls": restored, "purged": purged,
                "notes": notes, "leftover_steps": len(leftovers.steps)}

