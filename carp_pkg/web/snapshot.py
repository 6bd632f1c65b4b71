"""What the pages show, read once per TTL for every route: the one part of web/ that touches the host.

It reuses the command line's own functions (status_document, check, render_metrics, observe,
load_config), so /status.json, /check.json and /metrics say exactly what `carp-pkg status --json`,
`check --json` and `metrics` say about the same host. A config.xml or running state that cannot be
read is part of the snapshot (an UNKNOWN check, failure metrics, a 503 health), never an exception.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Tuple

from ..check import HEALTHY_STATES, check, pair_vhids, unknown_report
from ..cli_helpers import read_against, read_sysctls_capture
from ..commands.status import read_transitions, status_document
from ..configxml import read_config_xml, shorten
from ..errors import CarpError
from ..metrics import render_failure_metrics, render_metrics
from ..model import CarpConfig
from ..running import RunningState
from ..sync import maintenance_on, observe
from .events import Event, events_path, read_recent
from .page import PageData

SNAPSHOT_TTL_S = 1.0  # at most one look at the host per second, however many requests arrive


@dataclass(frozen=True)
class Source:
    """Where the running state comes from: the live host, or a saved capture (--against/--sysctls)."""

    backend: str = "auto"
    against: Optional[str] = None
    sysctls: Optional[str] = None


@dataclass(frozen=True)
class Health:
    ok: bool
    configured: int = 0
    running: int = 0
    problems: Tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"ok": self.ok, "configured": self.configured, "running": self.running,
                "problems": list(self.problems)}


def health(config: Optional[CarpConfig], running: Optional[RunningState], error: Optional[str] = None) -> Health:
    """Healthy when every configured vhid runs as MASTER or BACKUP and CARP is allowed (a load balancer's view)."""
    if error is not None or config is None or running is None:
        return Health(False, problems=(error or "config.xml or the running state could not be read",))
    pairs, _ = pair_vhids(config.groups(), running)
    problems = []
    if running.sysctls.allow == 0:
        problems.append("CARP is disabled (net.inet.carp.allow=0)")
    for group, current in pairs:
        if current is None:
            problems.append(f"{group.interface} vhid {group.vhid}: configured, not running")
        elif current.state not in HEALTHY_STATES:
            problems.append(f"{group.interface} vhid {group.vhid}: {current.state}")
    healthy = sum(1 for _, current in pairs if current is not None and current.state in HEALTHY_STATES)
    return Health(not problems, len(pairs), healthy, tuple(problems))


@dataclass(frozen=True)
class Snapshot:
    taken: float
    status: Optional[dict]
    status_error: Optional[str]
    check: dict
    metrics: str
    health: Health
    names: Mapping[str, str] = field(default_factory=dict)
    not_running: Tuple[dict, ...] = ()
    events: Optional[Tuple[Event, ...]] = None
    events_error: Optional[str] = None

    def page_data(self) -> PageData:
        return PageData(status=self.status, status_error=self.status_error, check=self.check, names=self.names,
                        not_running=self.not_running, events=self.events, events_error=self.events_error)


def _message(exc: Exception) -> str:
    """One error as the CLI would print it (message and details); an OSError as `file: reason`."""
    if isinstance(exc, CarpError):
        return str(exc)
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{getattr(exc, 'strerror', None) or exc}"


def _log_message(exc: Exception, log: str) -> str:
    """An event-log error as the page shows it: the file's name, never where it lives on the host."""
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        message = f"{os.path.basename(str(exc.filename))}: {exc.strerror or exc}"
    else:
        message = _message(exc)
    directory = os.path.dirname(log)
    return message.replace(directory + os.sep, "").replace(directory, "") if directory else message


def friendly_names(path: str) -> Dict[str, str]:
    """device → the name pfSense shows (its description, else the upper-cased friendly name: WAN, LAN, OPT1)."""
    try:
        raw = read_config_xml(path)
    except (CarpError, OSError):
        return {}
    return {i.device: shorten(i.description or i.name.upper(), 40) for i in raw.interfaces}


def take(ctx, source: Source) -> Snapshot:
    backend = ctx.backend(source.backend)
    config = running = status = config_error = running_error = None
    maintenance = False
    transitions = read_transitions(ctx)  # the last transition per vhid, as `status` and `metrics` show it
    try:
        config = ctx.load_config(backend)
    except (CarpError, OSError) as exc:
        config_error = exc
    try:
        captured = None
        if source.against:
            captured = read_against(backend, source.against)
            if source.sysctls:
                captured = captured.with_sysctls(read_sysctls_capture(source.sysctls))
        running, _record = observe(backend, ctx.system, ctx.paths, captured)
        maintenance = maintenance_on(ctx.system, ctx.paths)
        status = status_document(backend, running, maintenance, transitions,
                                 len(config.groups()) if config is not None else None)
    except (CarpError, OSError) as exc:
        running, running_error = None, exc
    if config is not None and running is not None:
        report = check(config, running, maintenance)
        metrics = render_metrics(config, running, report, transitions)
        pairs, _ = pair_vhids(config.groups(), running)
        not_running = tuple({"interface": g.interface, "vhid": g.vhid, "addresses": [str(a) for a in g.addresses]}
                            for g, current in pairs if current is None)
        state_health = health(config, running)
    else:  # as `carp-pkg check` answers: UNKNOWN with the first reason (config.xml is read first)
        problem = config_error if config_error is not None else running_error
        report = unknown_report(problem.message, problem.details) if isinstance(problem, CarpError) \
            else unknown_report(_message(problem))
        metrics, not_running = render_failure_metrics(), ()
        state_health = health(None, None, report.unknown)
    events = events_error = None
    log = events_path(ctx.paths)
    try:
        events = read_recent(log)
    except (CarpError, OSError) as exc:
        events_error = _log_message(exc, log)
    return Snapshot(taken=time.time(), status=status,
                    status_error=None if running_error is None else _message(running_error),
                    check=report.to_json(), metrics=metrics, health=state_health,
                    names=friendly_names(ctx.paths.config_xml), not_running=not_running,
                    events=events, events_error=events_error)


class SnapshotCache:
    """One snapshot shared by every request for `ttl` seconds; concurrent requests wait for the one read."""

    def __init__(self, reader: Callable[[], Snapshot], ttl: float = SNAPSHOT_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self._reader, self._ttl, self._clock = reader, ttl, clock
        self._lock = threading.Lock()
        self._current: Optional[Snapshot] = None
        self._at = 0.0

    def get(self) -> Snapshot:
        with self._lock:
            now = self._clock()
            if self._current is None or now - self._at >= self._ttl:
                self._current, self._at = self._reader(), now
            return self._current
