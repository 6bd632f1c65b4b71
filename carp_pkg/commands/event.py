"""carp-pkg event: record one CARP transition (devd, the ucarp scripts, keepalived), syslog it, run the hooks."""

from __future__ import annotations

import time

from ..errors import CarpError, InputError
from ..events import hooks as hooks_module
from ..events import syslog, transitions
from ..events.log import EventLog
from ..events.record import SOURCES, normalise, refused_record, shown

NAME = "event"
HELP = "record one CARP state change (run by devd and the ucarp scripts): event log, syslog, hooks"
DESCRIPTION = """\
The one entry point every CARP transition takes. devd runs it on FreeBSD (the snippet `carp-pkg
install` puts in /usr/local/etc/devd/carp-pkg.conf; not on pfSense, whose own devd rules take CARP
events first: there the package's CARP plugin hook has to call it), the ucarp up/down scripts run it
on Linux, keepalived's notify script can run it. It
  1. normalises its arguments into one record {time, backend, interface, vhid, state, previous, vips}
     (previous: the state recorded before for that vhid);
  2. appends it to /var/db/carp-pkg/events.jsonl (mode 0640, rotated at 1 MiB keeping 3 old files);
  3. sends one line to syslog (facility daemon, tag carp-pkg) when a syslog socket exists;
  4. starts the hooks in /etc/carp-pkg/hooks.d (Linux) or /usr/local/etc/carp-pkg/hooks.d (FreeBSD)
     detached, in name order, each with a timeout (30 s, or `hook_timeout = SECONDS` in events.conf
     beside hooks.d), and returns at once: their output and exit status are logged when they end.
All paths are under --root.

Arguments are KEY=VALUE words:
  devd:           subsystem=VHID@INTERFACE type=MASTER|BACKUP|INIT  (VIPs read from `ifconfig INTERFACE`)
  everyone else:  interface=IF vhid=1-255 state=MASTER|BACKUP|INIT [vip=ADDRESS ...]
Anything else (an unknown key, a vhid outside 1-255, a name that is not a device name, another state)
is refused: logged as refused, exit 3, nothing run.

Hooks get the arguments STATE INTERFACE VHID and exactly these variables: CARP_STATE,
CARP_PREVIOUS_STATE, CARP_VHID, CARP_INTERFACE, CARP_VIPS (space-separated addresses), CARP_BACKEND,
CARP_TIME (and PATH). A hook runs only if it is an executable regular file owned by root and not
writable by group or others, in a hooks.d that is not a symbolic link and not writable by group or
others; anything else is refused and the refusal logged.

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
    problems = []
    try:
        log.prepare()
        with log.lock():  # not held for long by anyone; without it only `previous` could be off
            table = transitions.read(state_dir)
            record = transition.record(now, transitions.previous_state(table, transition.interface, transition.vhid))
            size = log.append(record)
            transitions.write(state_dir, transitions.update(table, record)[0])
        log.rotate_if_needed(size)
    except CarpError as exc:  # a full disk must not stop the syslog line or the hooks
        record = transition.record(now, None)
        problems.append(exc)
    except OSError as exc:
        record = transition.record(now, None)
        problems.append(CarpError(f"cannot record the event in {log.path}: {exc.strerror or exc}"))
    started = 0 if args.no_hooks else _start_hooks(log, root, record, now, args.hook_timeout, start_hooks, problems)
    previous = record["previous"] or "-"
    vips = " ".join(record["vips"]) or "-"  # type: ignore[arg-type]
    syslog.send(root, f"{transition.interface} vhid {transition.vhid}: {previous} -> {transition.state} "
                      f"(vips {vips}, {transition.backend})", now=now)
    if args.json:
        ctx.print_json({**record, "hooks_started": started})
    else:
        ctx.print(f"recorded {transition.interface} vhid {transition.vhid} {previous} -> {transition.state}; "
                  f"{started} hook{'s' if started != 1 else ''} started")
    if problems:
        raise problems[0]
    return 0


def _start_hooks(log: EventLog, root: str, record, now: float, timeout, start_hooks, problems) -> int:
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
        hooks_module.supervise(log, record, now, found.hooks, timeout_s)

    try:
        (start_hooks or hooks_module.spawn_detached)(work)
    except OSError as exc:
        problems.append(CarpError(f"cannot start the hooks: {exc.strerror or exc}"))
        return 0
    return len(found.hooks)


def _record_refusal(log: EventLog, root: str, now: float, args, reason: str) -> None:
    try:
        log.prepare()
    except CarpError:
        return
    _write_quietly(log, refused_record(now, args.source, args.words, reason))
    syslog.send(root, f"{reason} (source {shown(args.source)})", severity=syslog.WARNING, now=now)


def _write_quietly(log: EventLog, entry) -> None:
    try:
        log.write(entry)
    except (CarpError, OSError):
        pass
