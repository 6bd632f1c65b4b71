"""The port of sync_package(): lock → read → validate → plan → rw mount → apply → write script → ro → unlock."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, replace
from typing import Optional, Tuple

from .apply import apply_plan
from .backends.base import Backend
from .configxml import read_config_xml
from .errors import ConfigError, InputError
from .fs import MAX_INPUT_BYTES
from .fingerprint import applied_record, new_salt, parse_record, with_digests
from .model import CarpConfig
from .paths import CONFIG_XML, PFSENSE_BASE_INC, Paths
from .plan import NO_LONGER_CONFIGURED, PFSYNC_UNWANTED, Plan, Step
from .running import HostFacts, RunningState
from .script import SCRIPT_MODE, render_script
from .system import System
from .validate import build_config

RECORD_MODE = 0o600


def load_config(paths: Paths, backend: Optional[Backend] = None) -> CarpConfig:
    config = build_config(read_config_xml(paths.config_xml))
    if backend is not None:
        problems = backend.problems(config)
        if problems:
            raise ConfigError(f"{paths.config_xml}: the {backend.name} backend cannot do what is configured",
                              tuple(str(p) for p in problems))
    return config


def maintenance_on(system: System, paths: Paths) -> bool:
    return system.read_text(paths.maintenance_flag) is not None


def effective_config(config: CarpConfig, system: System, paths: Paths) -> CarpConfig:
    return config.in_maintenance() if maintenance_on(system, paths) else config


PREEMPT_SYSCTL = "net.inet.carp.preempt"


def host_facts(system: System, paths: Paths) -> HostFacts:
    """Who owns net.inet.carp.preempt here, relative to --root: pfSense (/etc/platform says so, or the base
    system's /etc/inc/interfaces.inc exists: its interfaces_sync_setup() sets preempt=1 on every interface
    reconfigure), and the value carp-pkg's install found (its manifest), to restore on plain FreeBSD."""
    base_inc = paths.under_root(PFSENSE_BASE_INC)
    pfsense = ("pfsense" in _state_text(system, paths.platform_file).lower()
               or posixpath.basename(base_inc) in system.list_dir(posixpath.dirname(base_inc)))
    preempt = None
    manifest = _state_text(system, paths.manifest)
    if manifest:
        from .hooks import parse_manifest  # hooks imports this module: imported when needed
        preempt = parse_manifest(manifest.encode("utf-8")).manifest.sysctls_before.get(PREEMPT_SYSCTL)
    return HostFacts(pfsense=pfsense, preempt_at_install=preempt)


def _state_text(system: System, path: str) -> str:
    """A small file that only informs a decision: a device, a huge file or a link loop counts as absent
    here (deinstall judges a damaged manifest itself and says so)."""
    try:
        return system.read_text(path) or ""
    except (InputError, OSError):
        return ""


def observe(backend: Backend, system: System, paths: Paths,
            captured: Optional[RunningState] = None) -> Tuple[RunningState, dict]:
    """The running state (live, or `captured` from a saved capture) with carp-pkg's applied record and the
    host's facts (pfSense or not, preempt at install) merged in."""
    record = parse_record(system.read_text(paths.applied_state))
    running = with_digests(captured if captured is not None else backend.read_running(system, paths), record)
    host = replace(host_facts(system, paths), unicast_capable=running.unicast_capable,
                   vrrp_capable=running.vrrp_capable)
    return replace(running, password_salt=record.get("salt"), host=host), record


def rc_script_text(backend: Backend, config: CarpConfig, paths: Paths, show_secrets: bool = True,
                   host: Optional[HostFacts] = None) -> str:
    """host: the facts of the target (pfSense owns preempt; the preempt value at install); None = unknown."""
    source = paths.config_override or CONFIG_XML
    return render_script(backend.boot_plan(config, host), backend.stop_plan(config, host), source, show_secrets=show_secrets)


@dataclass(frozen=True)
class SyncResult:
    backend: str
    plan: Plan
    applied: Tuple[Step, ...]
    script_path: str
    script_changed: bool
    dry_run: bool
    maintenance: bool
    config: Optional[CarpConfig] = None  # the config planned for (maintenance applied), for what callers report

    def summary(self) -> str:
        verb = "would apply" if self.dry_run else "applied"
        count = len(self.plan.steps)
        changes = "no changes needed" if count == 0 else f"{verb} {count} change{'s' if count != 1 else ''}"
        script = ("rc script " + ("would change" if self.dry_run else "updated") if self.script_changed
                  else "rc script unchanged")
        extra = ", maintenance mode on" if self.maintenance else ""
        return f"carp-pkg sync ({self.backend}): {changes}; {script} ({self.script_path}){extra}"

    def to_json(self) -> dict:
        return {**self.plan.to_json(), "dry_run": self.dry_run, "script": self.script_path,
                "script_changed": self.script_changed, "maintenance": self.maintenance,
                "applied": len(self.applied)}


def execute(plan: Plan, system: System) -> Tuple[Step, ...]:
    """The plan's files first (ucarp scripts, password files), then its steps, then its removals.
    A failed step puts the previous files back before the finished steps are undone."""
    previous = [(planned.path, system.snapshot(planned.path)) for planned in plan.files]

    def restore_files() -> None:
        for path, before in previous:
            if before is None:
                system.remove_file(path)
            else:
                system.write_atomic(path, before[0], before[1])

    try:
        for planned in plan.files:
            system.write_atomic(planned.path, planned.content, planned.mode)
    except BaseException:
        restore_files()
        raise
    applied = apply_plan(plan, system.runner, before_rollback=restore_files)
    for path in plan.removed_files:
        system.remove_file(path)
    return applied


def sync(system: System, paths: Paths, backend: Backend, lock_timeout: float = 30.0,
         running_override: Optional[RunningState] = None, maintenance: Optional[bool] = None) -> SyncResult:
    """running_override: plan against a saved capture instead of the live host (dry runs);
    maintenance: plan as if the maintenance flag were on/off (None: as the flag file says)."""
    with system.config_lock(lock_timeout):
        config = load_config(paths, backend)
        in_maintenance = maintenance_on(system, paths) if maintenance is None else maintenance
        if in_maintenance:
            config = config.in_maintenance()
        running, record = observe(backend, system, paths, running_override)
        plan = backend.plan(config, running)
        script = rc_script_text(backend, config, paths, host=running.host)
        script_changed = system.read_text(paths.rc_script, limit=MAX_INPUT_BYTES) != script
        if system.dry_run:
            return SyncResult(backend.name, plan, (), paths.rc_script, script_changed, True, in_maintenance, config)
        with system.config_mount_rw():
            system.remove_stale_staged(paths.rc_script)
            # staged before anything changes: a full or read-only disk stops the sync with the host untouched
            staged = system.stage_atomic(paths.rc_script, script, SCRIPT_MODE) if script_changed else None
            try:
                applied = execute(plan, system)
            except BaseException:
                if staged is not None:
                    staged.discard()
                raise
            if staged is not None:
                staged.commit()
            salt = record.get("salt") or new_salt()
            system.write_atomic(paths.applied_state, json.dumps(applied_record(config, salt), indent=1) + "\n",
                                RECORD_MODE)
    return SyncResult(backend.name, plan, applied, paths.rc_script, script_changed, False, in_maintenance, config)


def teardown_plan(backend: Backend, running: RunningState) -> Plan:
    """Everything CARP that is running, removed; sysctls are left to their owner (deinstall restores them)."""
    plan = backend.plan(CarpConfig(), running)

    def why(step: Step) -> str:  # config.xml is as it was: stop is the reason
        return (step.why.replace(NO_LONGER_CONFIGURED, "is stopped (carp-pkg stop)")
                .replace(PFSYNC_UNWANTED, "pfsync is stopped (carp-pkg stop)"))

    return replace(plan, steps=tuple(replace(s, why=why(s)) for s in plan.steps if s.argv[0] != "sysctl"), warnings=())


def teardown(system: System, paths: Paths, backend: Backend, lock_timeout: float = 30.0) -> Plan:
    with system.config_lock(lock_timeout):
        running, _ = observe(backend, system, paths)
        plan = teardown_plan(backend, running)
        if not system.dry_run:
            with system.config_mount_rw():
                execute(plan, system)
    return plan
