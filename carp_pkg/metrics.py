"""Prometheus text exposition (node_exporter textfile collector) of the CARP state; never a password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

from .check import CheckReport, pair_vhids
from .events.record import parse_time
from .model import CarpConfig
from .running import RunningState, RunningVhid

STATES = ("INIT", "BACKUP", "MASTER")
TEXTFILE_MODE = 0o644


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    samples: Tuple[Tuple[Tuple[Tuple[str, str], ...], float], ...]  # ((label, value) pairs, value)
    kind: str = "gauge"  # or "counter"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_families(families: Sequence[Family]) -> str:
    lines: List[str] = []
    for family in families:
        if not family.samples:
            continue  # a family with no sample (an unknown sysctl) is left out, not reported as 0
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            rendered = ",".join(f'{name}="{escape_label_value(text)}"' for name, text in labels)
            lines.append(f"{family.name}{{{rendered}}} {_number(value)}" if labels
                         else f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _single(value: Optional[float]):
    return (((), value),) if value is not None else ()


def _vhid_rows(config: CarpConfig, running: RunningState
               ) -> List[Tuple[str, int, bool, Optional[RunningVhid]]]:
    """(interface label, vhid, configured?, running vhid or None) for every configured or running vhid.

    A configured vhid is labelled with its configured interface (stable even where FreeBSD 5.4-9
    renumbers carpN after a reboot); a running vhid nobody configured keeps the interface it runs on.
    """
    pairs, strays = pair_vhids(config.groups(), running)
    rows = [(group.interface, group.vhid, True, current) for group, current in pairs]
    return rows + [(stray.interface, stray.vhid, False, stray) for stray in strays]


def transition_families(table: Optional[Mapping[str, Mapping[str, object]]]) -> List[Family]:
    """From carp-pkg's transitions record (events/transitions.py): a counter of the transitions into each state
    per vhid (it only grows: log rotation does not reset it) and the time of the last one."""
    counts, stamps = [], []
    for entry in sorted((table or {}).values(), key=lambda e: (str(e.get("interface")), e.get("vhid", 0))):
        labels = (("interface", str(entry["interface"])), ("vhid", str(entry["vhid"])))
        for state in STATES:
            counts.append((labels + (("state", state),), entry.get("counts", {}).get(state, 0)))  # type: ignore[union-attr]
        try:
            stamps.append((labels, parse_time(str(entry.get("time")))))
        except ValueError:
            continue
    return [
        Family("carp_transitions_total", "CARP transitions recorded by carp-pkg event (devd, ucarp scripts), by the "
                                         "state entered", tuple(counts), kind="counter"),
        Family("carp_vhid_last_transition_timestamp_seconds", "unix time of the vhid's last recorded transition",
               tuple(stamps)),
    ]


def render_metrics(config: CarpConfig, running: RunningState, report: CheckReport,
                   transitions: Optional[Mapping[str, Mapping[str, object]]] = None) -> str:
    rows = _vhid_rows(config, running)
    state_samples = []
    advskew, advbase, configured = [], [], []
    for interface, vhid, is_configured, current in rows:
        labels = (("interface", interface), ("vhid", str(vhid)))
        configured.append((labels, 1 if is_configured else 0))
        if current is None:
            continue
        states = STATES if current.state in STATES else STATES + (current.state,)
        state_samples += [(labels + (("state", state),), 1 if state == current.state else 0) for state in states]
        advskew.append((labels, current.advskew))
        advbase.append((labels, current.advbase))
    sysctls = running.sysctls
    pfsync = running.pfsync
    syncok = None if pfsync is None or pfsync.syncok is None else int(pfsync.syncok)
    families = [
        Family("carp_collector_success", "1 when carp-pkg read config.xml and the running state", _single(1)),
        Family("carp_check_status", "carp-pkg check result: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
               _single(int(report.status))),
        Family("carp_vhid_configured", "1 for a vhid in config.xml, 0 for a running vhid nobody configured",
               tuple(configured)),
        Family("carp_vhid_state", "CARP state of the running vhid: 1 for its current state, 0 for the others",
               tuple(state_samples)),
        Family("carp_vhid_advskew", "advertisement skew (1/256 s) the running vhid advertises", tuple(advskew)),
        Family("carp_vhid_advbase", "advertisement interval (seconds) of the running vhid", tuple(advbase)),
        Family("carp_demotion", "net.inet.carp.demotion: added to every vhid's advskew; 0 when healthy",
               _single(sysctls.demotion)),
        Family("carp_allow", "net.inet.carp.allow: 0 means CARP is disabled on this host", _single(sysctls.allow)),
        Family("carp_preempt", "net.inet.carp.preempt", _single(sysctls.preempt)),
        Family("carp_config_drift", "differences between config.xml and the running state (check WARNING or "
                                    "CRITICAL lines, maintenance mode excluded)", _single(report.drift)),
        Family("carp_pfsync_syncok", "pfsync syncok: 1 once the bulk update from the peer has completed",
               _single(syncok)),
        Family("carp_maintenance", "1 while carp-pkg maintenance mode holds every vhid at advskew 254",
               _single(1 if report.maintenance else 0)),
    ] + transition_families(transitions)
    return render_families(families)


def render_failure_metrics() -> str:
    """What the textfile says when nothing could be read, so a stale healthy file never lingers."""
    return render_families([Family("carp_collector_success",
                                   "1 when carp-pkg read config.xml and the running state", _single(0))])
