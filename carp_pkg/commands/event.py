"""carp-pkg event: record one CARP transition (devd, the ucarp scripts, keepalived), syslog it, run the hooks."""

from __future__ import annotations

import time
from typing import List, Optional

from ..errors import CarpError, EnvironmentProblem, InputError, LockError
from ..events import hooks as hooks_module
from ..events import syslog, transitions
from ..events.log import EventLog, why
from ..events.record import SOURCES, format_time, normalise, refused_record, shown

NAME = "event"
HELP = "record one CARP state change (run by devd and the ucarp scripts): event log, syslog, hooks"
DESCRIPTION = """\
The one entry point every CARP transition takes. devd runs it on FreeBSD (the snippet `carp-pkg
install` puts in /usr/local/etc/devd/carp-pkg.conf; not on pfSense, whose own devd rules take CARP
events first: there the package's CARP plugin hook has to call it), the ucarp up/down scripts run it
on Linux, keepalived's notify script can run it. It
  1. normalises its arguments into one record {time, backend, interface, vhid, state, previous, vips}
     (previous: the state recorded before for that vhid);
  2. appends it to /var/db/carp-pkg/events.jsonl (mode 0640, rotated at 1 MiB keeping 3 old files)
     and updates transitions.json (previous state, counters), both under the log's lock, waiting up
     to 30 s for it; an event that cannot get it is logged anyway with previous unknown (null) and a
     warning line, and transitions.json is left alone (exit 4);
  3. sends one line to syslog (facility daemon, tag carp-pkg) when a syslog socket exists;
  4. starts the hooks in /etc/carp-pkg/hooks.d (Linux) or /usr/local/etc/carp-pkg/hooks.d (FreeBSD)
     detached, in name order, each with a timeout (30 s, or `hook_timeout = SECONDS` in events.conf
     beside hooks.d), and returns at once: their output and exit status are logged when they end.
All paths are under --root. The state directory must be a real directory of root's; one found open
to others is made 0700 with a warning. A log, lock or state file that is a symlink, a hard link, a
FIFO or a device, or belongs to another user, is refused, never written through.

It prints "recorded ..." only when the line is in events.jsonl ("NOT recorded ..." otherwise). Exit
codes: 0 recorded; 3 refused arguments; 4 the log's lock not obtained in time (the line is there,
previous unknown); 6 a file could not be written (a full or read-only disk, an unsafe file): the
message names the file and says whether the event itself is in events.jsonl. The hooks start in
every case but refused arguments.

Arguments are KEY=VALUE words:
  devd:           subsystem=VHID@INTERFACE type=MASTER|BACKUP|INIT  (VIPs read from `ifconfig INTERFACE`)
  everyone else:  interface=IF vhid=1-255 state=MASTER|BACKUP|INIT [vip=ADDRESS ...]
Anything else (an unknown key, a vhid outside 1-255 or with a leading zero, a name that is not a
device name, another state, an address with a scope or a prefix length its family cannot have) is
refused: logged as refused, exit 3, nothing run. A valid prefix length (vip=192.0.2.1/24) is dropped;
an IPv4-mapped IPv6 address (vip=::ffff:192.0.2.1) is recorded as the IPv4 address (192.0.2.1).

Hooks get the arguments STATE INTERFACE VHID and exactly these variables: CARP_STATE,
CARP_PREVIOUS_STATE, CARP_VHID, CARP_INTERFACE, CARP_VIPS (space-separated addresses), CARP_BACKEND,
CARP_TIME (and PATH). A hook runs only if it is an executable regular file owned by root and not
writable by group or others, in a hooks.d that is not a symbolic link and not writable by group or
others; anything else is refused and the refusal logged. A hook still running at its timeout gets
SIGTERM on its process group and, 2 s later, SIGKILL on the whole group, whether or not the hook
itself has exited; a process it starts in a session of its own (setsid) has left the group and
escapes the timeout.

The hooks of one vhid never overlap and run in the order its events were recorded. When the vhid
changes state again while its hooks run, the events waiting behind them collapse into the newest:
its hooks run next, each older one is logged as skipped ("superseded by a newer transition"), so
the last hooks to run are always those of the vhid's final state.

`python3 -m carp_pkg.events [--root DIR] event ...` is this same command without loading every other
command first; devd and the ucarp scripts start it that way too, by the absolute path of this Python
with -I -S (see carp_pkg/events/invocation.py), so that a hook starts within tens of milliseconds.

example: carp-pkg --root /tmp/carp-demo event --source devd subsystem=2@em0 type=MASTER
example: carp-pkg --root /tmp/carp-demo event --source ucarp interface=eth0 vhid=1 state=BACKUP vip=192.168.1.1
example: carp-pkg --root /tmp/carp-demo events
"""


def add_arguments(parser) -> None:
    parser.add_argument("--source", default="manual", metavar="SOURCE",
                        help=f"who reports the transition: {', '.join(SOURCES)} (default manual)")
    parser.add_argument("--hook-timeout", type=float, metavar="SECONDS",
                        help="kill a hook still running after this long (default: events.conf, else 30)")
    parser.add_argument("--no-hooks", action="store_true", help="record and syslog only; run no hook")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.add_argument("words", nargs="*", metavar="KEY=VALUE",
                        help="subsystem=VHID@IF type=STATE (devd), or interface= vhid= state= [vip= ...]")


def devd_vips(system, transition) -> tuple:
    """devd names no address: ask `ifconfig INTERFACE` (only once the words themselves were accepted)."""
    from ..status import parse_ifconfig
    try:
        text = system.capture(("ifconfig", transition.interface), check=False)
    except CarpError:
        return ()
    found = parse_ifconfig(text or "").vhid(transition.interface, transition.vhid)
    return tuple(str(a.ip) for a in found.addresses) if found is not None else ()


EVENT_LOCK_WAIT_S = 30.0  # the caller (devd, the ucarp scripts) has already put `event` in the background


class Outcome:
    """What recording one event came to: the record as logged, its sequence number, the problems."""

    def __init__(self, record):
        self.record = record
        self.seq: Optional[int] = None  # set once transitions.json holds it
        self.appended = False  # the record is a line of events.jsonl
        self.previous_known = False  # `previous` was read from transitions.json under the lock
        self.problems: List[CarpError] = []
        self.warnings: List[str] = []


def run(args, ctx, now=None, start_hooks=None) -> int:
    """now: the clock (unix time); start_hooks(work): how the supervisor is detached (tests run it inline)."""
    now = time.time() if now is None else now
    root, state_dir = ctx.paths.root, ctx.paths.state_dir
    log = EventLog(state_dir)
    try:
        transition = normalise(args.source, args.words)
        if args.source == "devd":
            transition = normalise(args.source, args.words, devd_vips(ctx.system, transition))
        if args.hook_timeout is not None and not 0 < args.hook_timeout <= hooks_module.MAX_TIMEOUT_S:
            raise InputError(f"event refused: --hook-timeout {args.hook_timeout:g} is not in "
                             f"(0, {hooks_module.MAX_TIMEOUT_S:g}] seconds")
    except InputError as exc:
        _record_refusal(log, root, now, args, exc.message)
        raise
    outcome = record_event(log, transition, now)
    for warning in outcome.warnings:
        ctx.err.write(f"carp-pkg: warning: {warning}\n")
        syslog.send(root, warning, severity=syslog.WARNING, now=now)
    record = outcome.record
    started = 0 if args.no_hooks else _start_hooks(log, root, record, now, args.hook_timeout, start_hooks,
                                                    outcome.problems, outcome.seq)
    previous = record["previous"] or ("-" if outcome.previous_known else "?")
    vips = " ".join(record["vips"]) or "-"  # type: ignore[arg-type]
    syslog.send(root, f"{transition.interface} vhid {transition.vhid}: {previous} -> {transition.state} "
                      f"(vips {vips}, {transition.backend})" + ("" if outcome.appended else " (not in the event log)"),
                now=now)
    hooks_text = f"{started} hook{'s' if started != 1 else ''} started"
    if args.json:
        ctx.print_json({**record, "recorded": outcome.appended, "hooks_started": started})
    elif outcome.appended:
        ctx.print(f"recorded {transition.interface} vhid {transition.vhid} {previous} -> {transition.state}; "
                  f"{hooks_text}")
    else:
        ctx.print(f"NOT recorded in {log.path}: {transition.interface} vhid {transition.vhid} -> "
                  f"{transition.state}; {hooks_text}")
    if outcome.problems:
        first, *rest = outcome.problems
        raise type(first)(first.message, tuple(first.details) + tuple(p.message for p in rest))
    return 0


def record_event(log: EventLog, transition, now: float) -> Outcome:
    """Append the record to events.jsonl and update transitions.json, both under the event log's lock.

    transitions.json is read and written only while the lock is held. When the lock cannot be had within
    EVENT_LOCK_WAIT_S (or events.lock cannot be used at all), the record is appended anyway (a line is one
    atomic write) with `previous` null, a warning line says that its previous state is unknown and the
    counters were not updated, and the command fails (exit 4, or 6 for an unusable lock file)."""
    outcome = Outcome(transition.record(now, None))
    where = f"{transition.interface} vhid {transition.vhid}"
    try:
        loose = log.prepare()
    except CarpError as exc:
        outcome.problems.append(exc)
        return outcome
    if loose is not None:
        outcome.warnings.append(_loose_warning(log, loose, now))
    size = None
    try:
        with log.lock(EVENT_LOCK_WAIT_S) as held:
            if held:
                table = transitions.read(log.state_dir)
                outcome.record = transition.record(now, transitions.previous_state(table, transition.interface,
                                                                                    transition.vhid))
                outcome.previous_known = True
                size = _append(log, outcome)
                updated, _ = transitions.update(table, outcome.record)
                try:
                    transitions.write(log.state_dir, updated)
                    outcome.seq = transitions.sequence(updated, transition.interface, transition.vhid)
                except (OSError, EnvironmentProblem) as exc:  # a full disk; a link, FIFO or directory planted there
                    path = transitions.path_in(log.state_dir)
                    recorded = f"the event is in {log.path}, but " if outcome.appended else ""
                    reason = exc.message if isinstance(exc, EnvironmentProblem) else f"cannot update {path}: {why(exc)}"
                    outcome.problems.append(EnvironmentProblem(
                        f"{recorded}{reason}; the previous state and counters of {where} are not updated"))
        lock_problem = None if held else LockError(
            f"{log.lock_path} not obtained within {EVENT_LOCK_WAIT_S:g} s")
    except EnvironmentProblem as exc:  # events.lock cannot be used (a FIFO, a link, a full disk)
        lock_problem = exc
    if lock_problem is not None:  # the line is appended anyway, with previous unknown; transitions.json is not touched
        size = _append(log, outcome)
        if outcome.appended:
            reason = (f"{lock_problem.message}: {where} {transition.state} is in the event log with its previous "
                      f"state unknown (null); {transitions.NAME} (previous state, counters) is not updated")
            _write_quietly(log, {"kind": "warning", "time": format_time(now), "interface": transition.interface,
                                 "vhid": transition.vhid, "reason": reason})
            outcome.problems.insert(0, type(lock_problem)(reason))
        else:
            outcome.problems.append(type(lock_problem)(f"{lock_problem.message}; {transitions.NAME} is not "
                                                       "updated either"))
    if size is not None:
        try:
            log.rotate_if_needed(size)
        except (CarpError, OSError):
            pass  # the next writer rotates
    return outcome


def _append(log: EventLog, outcome: Outcome) -> Optional[int]:
    try:
        size = log.append(outcome.record)
    except CarpError as exc:
        outcome.problems.append(exc)
        return None
    except OSError as exc:
        outcome.problems.append(EnvironmentProblem(f"cannot append to {log.path}: {why(exc)}"))
        return None
    outcome.appended = True
    return size


def _start_hooks(log: EventLog, root: str, record, now: float, timeout, start_hooks, problems, seq=None) -> int:
    found = hooks_module.discover(hooks_module.hooks_dir(root))
    configured, conf_problem = hooks_module.read_timeout(hooks_module.conf_path(root))
    refusals = found.refusals + ((conf_problem,) if conf_problem else ())
    for refusal in refusals:
        _write_quietly(log, refusal.entry(now))
        syslog.send(root, str(refusal), severity=syslog.WARNING, now=now)
    if not found.hooks:
        return 0
    timeout_s = timeout if timeout is not None else configured

    def work() -> None:
        hooks_module.supervise(log, record, now, found.hooks, timeout_s, seq=seq)

    try:
        (start_hooks or hooks_module.spawn_detached)(work)
    except OSError as exc:
        problems.append(CarpError(f"cannot start the hooks: {exc.strerror or exc}"))
        return 0
    return len(found.hooks)


def _loose_warning(log: EventLog, mode: int, now: float) -> str:
    """Log (and return, for stderr and syslog) that the state directory was found open to others."""
    warning = (f"the state directory {log.state_dir} was mode {mode:04o}, open to others; made it 0700. "
               "Files in it may have been planted or changed: check it")
    _write_quietly(log, {"kind": "warning", "time": format_time(now), "reason": warning})
    return warning


def _record_refusal(log: EventLog, root: str, now: float, args, reason: str) -> None:
    try:
        loose = log.prepare()
    except CarpError:
        return
    if loose is not None:
        syslog.send(root, _loose_warning(log, loose, now), severity=syslog.WARNING, now=now)
    _write_quietly(log, refused_record(now, args.source, args.words, reason))
    syslog.send(root, f"{reason} (source {shown(args.source)})", severity=syslog.WARNING, now=now)


def _write_quietly(log: EventLog, entry) -> None:
    try:
        log.write(entry)
    except (CarpError, OSError):
        pass
