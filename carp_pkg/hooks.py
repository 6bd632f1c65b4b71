"""install / deinstall: the package's pfSense hooks, done so that deinstall leaves nothing behind.

install records in a manifest exactly what it created (files, directories, the sysctl values it
found); deinstall stops CARP, restores those sysctls and removes what the manifest lists.

The manifest is a file on disk, so deinstall treats it as hostile input:
- its schema is checked entry by entry; a damaged entry is refused and reported, the valid ones are
  still acted on (deinstall must always be able to stop CARP);
- only carp-pkg's own files are removed: the exact targets of PACKAGE_FILES, RC_SCRIPT, CONFIG_LOCK
  and the manifest, and the files the backend's sync wrote outside the state dir (BACKEND_FILES:
  keepalived's /etc/keepalived/carp-pkg.conf), each a regular file reached from --root without following any
  symbolic link; a symlink, a directory or a device in their place is refused, never followed;
- a package file whose sha256 differs from the one install recorded was edited by the admin: kept;
- a directory is removed only when empty, only when it is a parent of those targets, and never a
  system directory (/usr, /etc, /var, /tmp, ...);
- the state dir is removed with everything in it, never through a symbolic link.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from lxml import etree

from . import __version__
from .backends.base import Backend
from .configxml import CARP_PATH, parse_document, read_config_bytes
from .errors import CarpError, EnvironmentProblem
from .events import devd
from .events.invocation import event_argv, is_event_process
from .fs import ensure_directory, ensure_private_directory, open_for_writing, read_bounded
from .paths import CONFIG_LOCK, RC_SCRIPT, Paths
from .plan import Plan
from .sync import SyncResult, execute, observe, sync, teardown_plan
from .system import System

from .package.manifest import (REMOVE, Decision, EntryNote, Manifest, ManifestReading, RemovalReport, decide_directory,
                               decide_file, parse_manifest, _refused_whole)
from .package.removal import observe_path, remove_at, remove_state_dir
from .package.targets import (BACKEND_FILES, DIRECTORY_MODE, EXECUTABLE, EXECUTABLE_MODE, FILE_MODE, LOCK_FILE_MODE,
                              MANIFEST_MODE, MANIFEST_TARGET, PACKAGE_FILES, SYSCTLS_BY_BACKEND, ancestors)
# re-exported: the install/deinstall vocabulary callers (commands, tests) know this module by
from .package.targets import (MANIFEST_KEYS, MAX_REFUSALS_LISTED, OWN_DIRECTORIES, OWN_FILES,  # noqa: F401
                              SHA256_HEX, SYSTEM_DIRECTORIES, package_source_dir)

EVENT_WAIT_S = 5.0  # for a `carp-pkg event` still recording the transition of a stopped ucarp


@dataclass(frozen=True)
class InstallOutcome:
    manifest: Manifest
    sync: SyncResult
    dropped: Tuple[EntryNote, ...] = ()  # entries of an earlier, damaged manifest that were not carried over


@dataclass(frozen=True)
class InstallPreview:
    files: Tuple[Tuple[str, int], ...]  # (target, mode) install would place
    manifest: Manifest  # as install would write it
    sync: SyncResult  # the first sync, as a dry run
    dropped: Tuple[EntryNote, ...] = ()

    def to_json(self) -> Dict[str, object]:
        return {"dry_run": True, "would_place": [{"path": t, "mode": oct(m)} for t, m in self.files],
                "manifest": json.loads(self.manifest.to_json()),
                "dropped_from_old_manifest": [n.to_json() for n in self.dropped], "sync": self.sync.to_json()}


@dataclass(frozen=True)
class DeinstallReport:
    dry_run: bool
    removal: RemovalReport
    plan: Optional[Plan] = None  # dry runs: what would be stopped
    restored_sysctls: Tuple[str, ...] = ()
    purged: bool = False
    notes: Tuple[str, ...] = ()
    leftover_steps: int = 0

    @property
    def refused(self) -> Tuple[EntryNote, ...]:
        return self.removal.refused

    def to_json(self) -> Dict[str, object]:
        removal = {"kept": [n.to_json() for n in self.removal.kept],
                   "refused": [n.to_json() for n in self.removal.refused]}
        if self.dry_run:
            return {"dry_run": True, "would_remove": list(self.removal.removed), **removal,
                    "steps": self.plan.to_json()["steps"] if self.plan is not None else []}
        return {"dry_run": False, "removed": list(self.removal.removed), **removal,
                "restored_sysctls": list(self.restored_sysctls), "purged": self.purged, "notes": list(self.notes),
                "leftover_steps": self.leftover_steps}


# --- install and deinstall --------------------------------------------------------------------------------


class Installer:
    def __init__(self, system: System, paths: Paths, backend: Backend):
        self.system, self.paths, self.backend = system, paths, backend

    @property
    def root(self) -> str:
        return os.path.realpath(self.paths.root)

    def read_manifest(self) -> ManifestReading:
        """The manifest, read only when reached from --root without a link and only if a regular file."""
        state = observe_path(self.root, MANIFEST_TARGET)
        if state.kind == "missing":
            return ManifestReading()
        if state.kind != "file":
            reason = decide_file(MANIFEST_TARGET, state, None, False).reason
            return _refused_whole(f"{self.paths.manifest}: {reason}; nothing it lists was removed")
        try:
            data = read_bounded(self.paths.manifest, what="carp-pkg manifest")
        except CarpError as exc:
            return _refused_whole(f"{exc.message}; nothing it lists was removed")
        return parse_manifest(data)

    def save(self, manifest: Manifest) -> None:
        self.system.write_atomic(self.paths.manifest, manifest.to_json(), MANIFEST_MODE)

    def missing_parents(self, target: str) -> Tuple[str, ...]:
        """The directories above `target` that do not exist yet, outermost first."""
        missing = []
        for parent in ancestors(target):
            if os.path.lexists(self.paths.under_root(parent)):
                break
            missing.append(parent)
        return tuple(reversed(missing))

    def make_parents(self, target: str) -> None:
        """Create the missing directories above `target`, each 0755 whatever the umask."""
        parent = self.paths.under_root(posixpath.dirname(target))
        if not os.path.lexists(parent):
            ensure_directory(parent, DIRECTORY_MODE)

    def create_lock_file(self) -> None:
        """pfSense's /tmp/config.lock with an explicit mode (taking the lock would create it with the umask's)."""
        self.make_parents(CONFIG_LOCK)
        os.close(open_for_writing(self.paths.lock, LOCK_FILE_MODE, append=True))

    def package_files(self, source_dir: str) -> Tuple[Tuple[str, str, int], ...]:
        """(target, content, mode) of every package file install places."""
        files = []
        for name, target in PACKAGE_FILES:
            with open(os.path.join(source_dir, name), encoding="utf-8") as handle:
                content = handle.read().replace("%%PKGVERSION%%", __version__)
            files.append((target, content, EXECUTABLE_MODE if target in EXECUTABLE else FILE_MODE))
        if self.wants_devd():
            files.append((devd.TARGET, self.devd_snippet(), devd.MODE))
        return tuple(files)

    # --- the devd snippet (issue 13: every CARP transition runs `carp-pkg event`) --------------------------
    def wants_devd(self) -> bool:
        """FreeBSD 10+ reports CARP transitions to devd; pfSense's own devd.conf already handles them at a
        higher priority (devd runs only the first matching notify block), so there the package's plugin hook
        must call `carp-pkg event` instead."""
        if self.backend.name != "freebsd":
            return False
        return "pfsense" not in (self.system.read_text(self.paths.platform_file) or "").lower()

    def devd_snippet(self) -> str:
        argv = event_argv(self.paths.root)
        if argv is None:
            raise EnvironmentProblem("cannot write the devd snippet: this Python has no absolute path")
        return devd.snippet(argv)

    def reload_devd(self) -> None:
        """devd reads its configuration at start: restart it (FreeBSD's rc.d script) so the snippet takes effect."""
        self.system.runner.run(("service", "devd", "restart"), check=False)

    def first_manifest(self, reading: ManifestReading) -> Tuple[Manifest, bool]:
        """The manifest before any package file is placed, and whether install creates the lock file."""
        manifest = reading.manifest
        for target in (MANIFEST_TARGET, CONFIG_LOCK):
            manifest = manifest.with_directories(self.missing_parents(target))
        lock_missing = not os.path.lexists(self.paths.lock)
        if lock_missing:
            manifest = manifest.with_file(CONFIG_LOCK)
        manifest = manifest.with_file(MANIFEST_TARGET)
        for name in SYSCTLS_BY_BACKEND.get(self.backend.name, ()):
            if name not in manifest.sysctls_before:
                manifest = manifest.with_sysctl_found(name, self.system.sysctl_read(name))
        return manifest, lock_missing

    def with_package_file(self, manifest: Manifest, target: str, content: str) -> Manifest:
        return manifest.with_directories(self.missing_parents(target)).with_file(
            target, hashlib.sha256(content.encode()).hexdigest())

    def preview(self, source_dir: str, lock_timeout: float) -> InstallPreview:
        """install --dry-run: the files it would place, the manifest it would write, the first sync's plan."""
        reading = self.read_manifest()
        manifest, _lock_missing = self.first_manifest(reading)
        files = self.package_files(source_dir)
        for target, content, _mode in files:
            manifest = self.with_package_file(manifest, target, content)
        manifest = manifest.with_directories(self.missing_parents(RC_SCRIPT)).with_file(RC_SCRIPT)
        result = sync(self.system, self.paths, self.backend, lock_timeout=lock_timeout)
        return InstallPreview(tuple((target, mode) for target, _content, mode in files), manifest, result,
                              reading.refused)

    def install(self, source_dir: str, lock_timeout: float) -> InstallOutcome:
        reading = self.read_manifest()
        manifest, lock_missing = self.first_manifest(reading)
        ensure_private_directory(self.paths.state_dir)  # refuses a state dir that is a link
        self.save(manifest)  # first, so that a half-finished install can still be removed
        if lock_missing:
            self.create_lock_file()
        for target, content, mode in self.package_files(source_dir):
            manifest = self.with_package_file(manifest, target, content)
            self.save(manifest)
            self.make_parents(target)
            self.system.write_atomic(self.paths.under_root(target), content, mode)
        if devd.TARGET in manifest.files:
            self.reload_devd()
        manifest = manifest.with_directories(self.missing_parents(RC_SCRIPT)).with_file(RC_SCRIPT)
        self.save(manifest)
        self.make_parents(RC_SCRIPT)
        result = sync(self.system, self.paths, self.backend, lock_timeout=lock_timeout)
        return InstallOutcome(manifest, result, reading.refused)

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

    def wait_for_events(self, timeout_s: float = EVENT_WAIT_S) -> List[str]:
        """ucarp's scripts record a transition in the background (ucarp waits for its scripts), so stopping ucarp
        can leave a `carp-pkg event` running that would write the event log after the state dir is gone."""
        deadline = self.system.clock() + timeout_s
        while True:
            busy = [pid for pid in self.system.list_dir("/proc") if pid.isdigit()
                    and is_event_process(self._cmdline(pid), self.paths.root)]
            if not busy:
                return []
            if self.system.clock() >= deadline:
                return [f"`carp-pkg event` still running after {timeout_s:g} s (pid {', '.join(busy)}): it may write "
                        f"{self.paths.state_dir} again"]
            self.system.sleep(0.05)

    def _cmdline(self, pid: str) -> str:
        try:
            return self.system.read_text(f"/proc/{pid}/cmdline") or ""
        except CarpError:  # gone, or not readable: not ours to wait for
            return ""

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
        """Remove installedpackages/carp from config.xml, in the file itself: on pfSense /conf is a link to
        /cf/conf, so a link is followed (never replaced), and the owner, mode and comments stay."""
        path = os.path.realpath(self.paths.config_xml)
        root = parse_document(read_config_bytes(path), path, keep_comments=True)
        carp = root.find("/".join(CARP_PATH))
        if carp is None:
            return False
        carp.getparent().remove(carp)
        text = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8").decode("utf-8") + "\n"
        info = os.stat(path)
        self.system.write_atomic(path, text, stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid))
        return True

    def file_decisions(self, reading: ManifestReading, manifest: Manifest) -> Tuple[Decision, ...]:
        return tuple(decide_file(target, observe_path(self.root, target, with_digest=True),
                                 manifest.hashes.get(target), target in reading.unverifiable)
                     for target in manifest.files)

    def remove_files(self, decisions: Tuple[Decision, ...]) -> RemovalReport:
        report = RemovalReport()
        for decision in decisions:
            if decision.action == REMOVE:
                decision = remove_at(self.root, decision.target)
            report += RemovalReport.of(decision)
        return report

    def backend_file_decisions(self) -> Tuple[Decision, ...]:
        """The files the backend's sync wrote outside the state dir (keepalived's carp-pkg.conf), when carp-pkg's."""
        return tuple(decide_file(target, observe_path(self.root, target), None, False)
                     for target in self.backend.owned_files() if target in BACKEND_FILES)

    def remove_installed(self, reading: ManifestReading, manifest: Manifest) -> RemovalReport:
        """Every file but the lock (still held), then the state dir (kept with a manifest that was refused)."""
        decisions = tuple(d for d in self.file_decisions(reading, manifest) if d.target != CONFIG_LOCK)
        report = self.remove_files(decisions)
        keep_reason = "holds the manifest carp-pkg refused; fix or remove it by hand" if reading.unreadable else ""
        return report + remove_state_dir(self.root, keep_reason)

    def remove_created(self, reading: ManifestReading, manifest: Manifest) -> RemovalReport:
        """After the lock is released: the lock file and the directories install created, if empty."""
        report = RemovalReport()
        if CONFIG_LOCK in manifest.files:
            lock_only = Manifest(files=(CONFIG_LOCK,))
            report += self.remove_files(self.file_decisions(reading, lock_only))
        for directory in sorted(manifest.directories, key=lambda d: d.count("/"), reverse=True):
            decision = decide_directory(directory, observe_path(self.root, directory))
            if decision.action == REMOVE:
                decision = remove_at(self.root, directory, directory=True)
            report += RemovalReport.of(decision)
        return report

    def deinstall(self, purge: bool, lock_timeout: float) -> DeinstallReport:
        reading = self.read_manifest()
        manifest = reading.manifest
        lock_missing = not os.path.lexists(self.paths.lock)
        if lock_missing:  # taking the lock creates it: leave no trace of that either
            manifest = manifest.with_directories(self.missing_parents(CONFIG_LOCK)).with_file(CONFIG_LOCK)
        parsed = RemovalReport(refused=reading.refused)
        if self.system.dry_run:
            running, _ = observe(self.backend, self.system, self.paths)
            plan = teardown_plan(self.backend, running)
            decisions = self.file_decisions(reading, manifest)  # the lock too: the real run removes it last
            decisions += self.backend_file_decisions()
            would = parsed
            for decision in decisions:
                would += RemovalReport.of(decision)
            return DeinstallReport(dry_run=True, removal=would, plan=plan)
        if lock_missing:
            self.create_lock_file()
        with self.system.config_lock(lock_timeout), self.system.config_mount_rw():
            notes, leftovers = self.stop_everything()
            notes += self.wait_for_events()
            restored = self.restore_sysctls(manifest)
            purged = self.purge_config() if purge else False
            removal = self.remove_files(self.backend_file_decisions()) + self.remove_installed(reading, manifest)
        removal = parsed + removal + self.remove_created(reading, manifest)
        if devd.TARGET in removal.removed:
            self.reload_devd()
        return DeinstallReport(dry_run=False, removal=removal, restored_sysctls=tuple(restored), purged=purged,
                               notes=tuple(notes), leftover_steps=len(leftovers.steps))
