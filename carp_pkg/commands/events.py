"""carp-pkg events: the CARP transitions this host went through, with the hooks' results."""

from __future__ import annotations

import argparse
import json
import time

from ..errors import UsageError
from ..events.log import EventLog, kind
from ..events.record import format_time, parse_time
from ..streams import gone

NAME = "events"
HELP = "show the event log: every CARP transition, hook result and refusal (--follow to watch)"
DESCRIPTION = """\
Show /var/db/carp-pkg/events.jsonl (and its rotated files), oldest first: each CARP transition
(interface, vhid, previous -> new state, VIPs, backend), each hook's exit status and output, each
refusal (an event with bad arguments, a hook or hooks dir that is not safe to run), the hooks skipped
as superseded and the warnings.

Hook order: the hooks of one vhid never overlap and run in the order its events were recorded. When
the vhid changes state again while its hooks run, the events waiting behind them collapse into the
newest: only the newest waiting event's hooks run next; each older one is logged as skipped
("superseded by a newer transition"). So the last hooks to run are those of the vhid's final state.

A previous state shown as "-" means none was recorded; an event that could not get the log's lock
within 30 s is logged with previous unknown (null, shown "-") and followed by a warning line saying so
(transitions.json, which keeps the previous states and counters, is then not updated).

  --json        one JSON object per line, as the log keeps them (a transition is exactly
                {time, backend, interface, vhid, state, previous, vips}; other lines carry "kind":
                "hook", "skipped", "refused" or "warning")
  --follow      print what is there, then every new line as it is written, until Ctrl-C
  --since TIME  only lines at or after TIME: ISO 8601 (2025-06-01T12:00:00Z; UTC unless an offset
                is given), unix seconds, or an age (90s, 15m, 2h, 1d)
  --vhid N      only lines about vhid N (--interface IF likewise)

example: carp-pkg --root /tmp/carp-demo events
example: carp-pkg --root /tmp/carp-demo events --json --since 1d --vhid 2
example: carp-pkg events --follow
"""


def since_argument(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def vhid_argument(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not a vhid (1-255)")
    return int(text)


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    parser.add_argument("--since", type=since_argument, metavar="TIME", help="only lines at or after TIME")
    parser.add_argument("--vhid", type=vhid_argument, metavar="N", help="only lines about this vhid")
    parser.add_argument("--interface", metavar="IF", help="only lines about this interface")


def entry_time(entry) -> float:
    value = entry.get("time", "")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return 0.0
    try:
        return parse_time(str(value)[:100])
    except (ValueError, OverflowError):
        return 0.0


def wanted(entry, args) -> bool:
    if args.vhid is not None and entry.get("vhid") != args.vhid:
        return False
    if args.interface is not None and entry.get("interface") != args.interface:
        return False
    if args.since is not None and entry_time(entry) < args.since:
        return False
    return True


def _text(value, limit: int = 200) -> str:
    """A logged value, whatever its JSON type, as one printable line."""
    try:
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    except (ValueError, RecursionError):
        text = "?"
    text = text[:limit + 1]
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _items(value) -> list:
    """A logged list (vips, args, hooks); a line that has something else there shows that one value."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def format_line(entry) -> str:
    """One entry as one line of the table (TIME  WHAT  DETAILS)."""
    when = _text(entry.get("time", "?"), 40)
    what = kind(entry)
    where = f"{_text(entry.get('interface', '?'), 20)} vhid {_text(entry.get('vhid', '?'), 5)}"
    if what == "transition":
        vips = ",".join(_text(v, 45) for v in _items(entry.get("vips"))[:64]) or "-"
        return (f"{when}  {where}  {_text(entry.get('previous') or '-', 8)} -> {_text(entry.get('state'), 8)}"
                f"  vips {vips}  ({_text(entry.get('backend'), 12)})")
    if what == "hook":
        if entry.get("timed_out"):
            outcome = f"KILLED after its timeout ({_text(entry.get('signal') or 'SIGTERM', 10)})"
        elif entry.get("error"):
            outcome = f"FAILED: {_text(entry.get('error'))}"
        elif entry.get("signal"):
            outcome = f"killed by {_text(entry.get('signal'), 10)}"
        else:
            outcome = f"exit {_text(entry.get('exit'), 5)}"
        raw = entry.get("output") or ""
        raw = raw[:4096] if isinstance(raw, str) else _text(raw, 4096)
        output = _text(" | ".join(raw.strip().splitlines()), 120)
        return (f"{when}  {where}  hook {_text(entry.get('hook'), 60)} ({_text(entry.get('state'), 8)}): {outcome}, "
                f"{_text(entry.get('duration_s'), 10)} s" + (f"  output: {output}" if output else ""))
    if what == "refused":
        subject = entry.get("path") or " ".join(_text(a, 100) for a in _items(entry.get("args"))[:16]) or "-"
        return f"{when}  REFUSED {_text(entry.get('what'), 12)} {_text(subject)}: {_text(entry.get('reason'), 300)}"
    if what == "skipped":
        hooks = ",".join(_text(h, 60) for h in _items(entry.get("hooks"))[:16]) or "-"
        return (f"{when}  {where}  hooks ({_text(entry.get('state'), 8)}, event of "
                f"{_text(entry.get('event_time'), 40)}) skipped: {_text(entry.get('reason'), 100)}  [{hooks}]")
    if what == "warning":
        about = f"{where}  " if "interface" in entry or "vhid" in entry else ""
        return f"{when}  {about}WARNING {_text(entry.get('reason'), 400)}"
    return f"{when}  {_text(what, 20)}: {_text(entry, 300)}"


def run(args, ctx) -> int:
    if args.interface is not None and not args.interface:
        raise UsageError("--interface needs a name")
    log = EventLog(ctx.paths.state_dir)

    def show(entry) -> None:
        if not wanted(entry, args):
            return
        try:
            line = json.dumps(entry, separators=(",", ":")) if args.json else format_line(entry)
        except (ValueError, TypeError, RecursionError):  # a line of the log no one wrote: skipped
            return
        ctx.print(line)
        if args.follow:
            ctx.out.flush()

    if not args.follow:
        shown = 0
        for entry in log.entries():
            if wanted(entry, args):
                shown += 1
            show(entry)
        if shown == 0 and not args.json:
            ctx.print(f"(no events in {log.path}" + (" matching the filters)" if _filtered(args) else ")"))
        return 0
    for entry in log.entries(include_current=False):
        show(entry)
    if not args.json:
        ctx.err.write(f"carp-pkg: following {log.path} (Ctrl-C to stop); now {format_time(time.time())}\n")
    try:
        for entry in log.follow(lambda: gone(ctx.out)):  # `events --follow | head -1` ends once nobody reads
            show(entry)
    except KeyboardInterrupt:
        return 0
    return 0


def _filtered(args) -> bool:
    return args.vhid is not None or args.interface is not None or args.since is not None

