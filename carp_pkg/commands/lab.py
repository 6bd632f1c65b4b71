"""carp-pkg lab: two CARP hosts (ucarp) and a client in network namespaces, with measured failover."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from ..errors import UsageError
from ..lab import HOSTS, Lab
from ..lab.events_watch import EventWatcher
from ..lab.lab import LabError, NoLab, signals_interrupt
from ..lab.progress import Progress
from ..lab.layout import BACKENDS, DEFAULT_VRRPINTERVAL
from ..lab.scenarios import HOWS, failover, format_status, format_table, settle, status_document

NAME = "lab"
HELP = "live two-host CARP failover lab in network namespaces (Linux, root, ucarp or keepalived)"
DESCRIPTION = """\
Build two CARP hosts and a client in network namespaces joined by a bridge (which lives in a
namespace of its own, so no packet leaves the lab), write each host a config.xml derived from the
bundled example (host a advskew 0, host b advskew 100), run `carp-pkg sync --backend ucarp` in
each namespace, and measure failover from the client, which ARP-probes the VIP every 20 ms.

  up        build the lab and start CARP; prints who is MASTER
  status    show both hosts
  failover  fail the master (--how kill: SIGTERM its ucarp; link: take its link down;
            maintenance: `carp-pkg maintenance on`), time the takeover, bring it back, print a table
  down      stop every process in the lab's namespaces and delete them
  demo      up, every failover, down: always cleans up, also on Ctrl-C or an error
  bench     (--backend keepalived) kill the master --rounds times with a keepalived started by hand on
            the same settings, then with carp-pkg's, and print both failover times side by side

--backend keepalived: VRRPv3 instead of CARP (host a vrrpprio 200, host b 100, --vrrpinterval
centiseconds, default 2 = 20 ms adverts; the client asks every 5 ms), `kill` is a SIGKILL of the
master's keepalived, `maintenance` also counts the client's lost echo probes (one every 10 ms), and
`demo` adds the bench and a second lab with multicast blocked on the bridge (--unicast: each port
`bridge_slave mcast_flood off`, the hosts name each other as unicast peers).

Needs root, iproute2 and ucarp (apt-get install ucarp iproute2), or keepalived for --backend keepalived.

example: sudo carp-pkg lab demo
example: sudo carp-pkg lab up && sudo carp-pkg lab failover --how link && sudo carp-pkg lab down
example: sudo carp-pkg lab demo --backend keepalived
example: sudo carp-pkg lab up --backend keepalived --unicast && sudo carp-pkg lab failover && sudo carp-pkg lab down
"""

DEFAULT_DIR = "/tmp/carp-pkg-lab"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("up", "status", "failover", "down", "demo", "bench"),
                        help="what to do (see above)")
    parser.add_argument("--backend", choices=BACKENDS, default="ucarp",
                        help="up/demo: ucarp (CARP, the default) or keepalived (VRRPv3); the others use the lab's")
    parser.add_argument("--unicast", action="store_true",
                        help="up/demo with --backend keepalived: block multicast on the bridge, peer by unicast")
    parser.add_argument("--vrrpinterval", type=int, default=DEFAULT_VRRPINTERVAL, choices=range(1, 4096),
                        metavar="CENTISECONDS", help="up/demo with --backend keepalived: advertisement interval "
                                                     f"(default {DEFAULT_VRRPINTERVAL} = 20 ms)")
    parser.add_argument("--rounds", type=int, default=7, choices=range(1, 101), metavar="N",
                        help="bench/demo (keepalived): kills per side for the raw-vs-carp-pkg comparison (default 7)")
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"where the lab keeps its host roots (default {DEFAULT_DIR})")
    parser.add_argument("--example", metavar="FILE", help="config.xml to derive the hosts from (default: examples/config.xml)")
    parser.add_argument("--how", choices=HOWS, action="append",
                        help="failover: how to fail the master (repeatable; default kill)")
    parser.add_argument("--no-preempt", action="store_true", help="up/demo: hosts without preemption")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON: the hosts (up, status), the measurements (failover, demo), "
                             "what was removed (down)")


def run(args, ctx) -> int:
    with signals_interrupt():
        if args.action == "up":
            lab = shown(create(args.dir, args), ctx)
            bring_up(lab, not args.no_preempt, ctx, args)
            return 0
        if args.action == "demo" and args.backend == "keepalived":
            return keepalived_demo(args, ctx)
        if args.action == "demo":
            with watched_then_removed(shown(Lab.create(args.dir, args.example), ctx), args, ctx) as lab:
                bring_up(lab, not args.no_preempt, ctx, args)
                report(ctx, args, [m for how in (args.how or list(HOWS)) for m in failover(lab, how)])
            return 0
        try:
            lab = shown(Lab.load(args.dir), ctx)
        except NoLab:
            if args.action != "down":
                raise
            return report_down(ctx, args, [], f"no lab was up in {os.path.abspath(args.dir)}: nothing to remove")
        if args.action == "status":
            show_status(lab, args, ctx)
        elif args.action == "bench":
            report_bench(ctx, args, bench(lab, args.rounds))
        elif args.action == "failover":
            watcher = watch_events(lab, args, ctx, existing=False)
            try:
                measurements = [m for how in (args.how or ["kill"]) for m in failover(lab, how)]
            finally:
                watcher.stop()
            report(ctx, args, measurements)
        else:
            problems = lab.teardown()
            return report_down(ctx, args, problems, "lab removed")
    return 0


@contextlib.contextmanager
def watched_then_removed(lab: Lab, args, ctx) -> Iterator[Lab]:
    """A demo's lab with its event watcher, stopped and torn down afterwards, also on Ctrl-C or an error."""
    watcher = watch_events(lab, args, ctx)
    try:
        yield lab
    finally:
        watcher.stop()
        with lab.progress.phase("cleaning up"):
            problems = lab.teardown()
        if problems:
            ctx.warn("cleaning up: " + ", ".join(problems))


def create(directory: str, args, unicast=None) -> Lab:
    if args.unicast and args.backend != "keepalived":
        raise UsageError("--unicast needs --backend keepalived (ucarp has no unicast)")
    return Lab.create(directory, args.example, backend=args.backend,
                      unicast=args.unicast if unicast is None else unicast, vrrpinterval=args.vrrpinterval)


def keepalived_demo(args, ctx) -> int:
    """The VRRPv3 lab: every failover, raw keepalived vs carp-pkg's, then a lab with multicast blocked."""
    from ..lab.scenarios import unicast_scenario
    document = {}
    for unicast in ((True,) if args.unicast else (False, True)):
        lab = shown(create(args.dir + ("-unicast" if unicast and not args.unicast else ""), args, unicast), ctx)
        with watched_then_removed(lab, args, ctx):
            if unicast:
                with lab.progress.phase("building namespaces, bridge and links, multicast blocked on the bridge"):
                    lab.build(preempt=not args.no_preempt)
                document["unicast"] = unicast_scenario(lab)
            else:
                bring_up(lab, not args.no_preempt, ctx, args)
                document["failovers"] = [m for how in (args.how or list(HOWS)) for m in failover(lab, how)]
                document["bench"] = bench(lab, args.rounds)
    if args.json:
        ctx.print_json({key: value.to_json() if key == "bench" else [m.to_json() for m in value]
                        for key, value in document.items()})
    else:
        for key, title in (("failovers", "VRRPv3 failovers"), ("bench", "raw keepalived vs carp-pkg"),
                           ("unicast", "multicast blocked on the bridge, unicast peers")):
            if key in document:
                ctx.out.write(f"== {title}\n")
                ctx.out.write(format_bench(document[key]) if key == "bench" else format_table(document[key]))
    rows = document.get("failovers", []) + document.get("unicast", [])
    if any(m.new_master is None for m in rows) or any(m.lost for m in rows):
        raise LabError("a handover did not happen as expected (see the tables)")
    return 0


def bench(lab: Lab, rounds: int):
    from ..lab.raw import bench as run_bench
    return run_bench(lab, rounds)


def format_bench(result) -> str:
    from ..lab.raw import format_bench as formatted
    return formatted(result)


def report_bench(ctx, args, result) -> None:
    if args.json:
        ctx.print_json(result.to_json())
    else:
        ctx.out.write(format_bench(result))


def watch_events(lab: Lab, args, ctx, existing: bool = True) -> EventWatcher:
    """Each host's CARP events (issue 13: the ucarp scripts run `carp-pkg event`) as they happen, on stderr
    with the progress lines (stdout stays the table or the JSON)."""
    def show(line: str) -> None:
        ctx.err.write(line + "\n")
        ctx.err.flush()
    watcher = EventWatcher(lab.layout, show, existing=existing)
    return watcher.start()


def shown(lab: Lab, ctx) -> Lab:
    """Phases and waits go to stderr (a live counter on a terminal), so stdout stays the table or the JSON."""
    lab.progress = Progress(ctx.err)
    return lab


def report_down(ctx, args, problems, done: str) -> int:
    if args.json:
        ctx.print_json({"down": True, "message": done, "problems": problems})
    else:
        ctx.print(done if not problems else done + " with problems:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


def bring_up(lab: Lab, preempt: bool, ctx, args) -> None:
    """Build and start; anything failing (or Ctrl-C) tears the half-built lab down again."""
    with lab.progress.phase("building namespaces, bridge and links"):
        lab.build(preempt=preempt)
    try:
        for host in HOSTS:
            with lab.progress.phase(f"carp-pkg sync on host {host}"):
                lab.sync(host)
        master = settle(lab)
    except BaseException:
        lab.teardown()
        raise
    if args.json and args.action == "up":
        ctx.print_json({**status_document(lab), "master": master})
    elif not args.json:
        ctx.out.write(format_status(lab))
        ctx.print(f"MASTER: host {master}")


def show_status(lab: Lab, args, ctx) -> None:
    document = status_document(lab)
    if args.json:
        ctx.print_json(document)
    else:
        ctx.out.write(format_status(lab, document))


def report(ctx, args, measurements) -> None:
    if args.json:
        ctx.print_json([m.to_json() for m in measurements])
    else:
        ctx.out.write(format_table(measurements))
    if any(m.new_master is None for m in measurements):
        raise LabError("a handover did not happen as expected (see the table)")
