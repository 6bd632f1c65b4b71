"""carp-pkg lab: two CARP hosts (ucarp) and a client in network namespaces, with measured failover."""

from __future__ import annotations

import os

from ..lab import HOSTS, Lab
from ..lab.lab import LabError, NoLab, signals_interrupt
from ..lab.progress import Progress
from ..lab.scenarios import HOWS, failover, format_status, format_table, settle, status_document

NAME = "lab"
HELP = "live two-host CARP failover lab in network namespaces (Linux, root, ucarp)"
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

Needs root, iproute2 and ucarp (apt-get install ucarp iproute2).

example: sudo carp-pkg lab demo
example: sudo carp-pkg lab up && sudo carp-pkg lab failover --how link && sudo carp-pkg lab down
"""

DEFAULT_DIR = "/tmp/carp-pkg-lab"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("up", "status", "failover", "down", "demo"), help="what to do (see above)")
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
            lab = shown(Lab.create(args.dir, args.example), ctx)
            bring_up(lab, not args.no_preempt, ctx, args)
            return 0
        if args.action == "demo":
            lab = shown(Lab.create(args.dir, args.example), ctx)
            try:
                bring_up(lab, not args.no_preempt, ctx, args)
                report(ctx, args, [m for how in (args.how or list(HOWS)) for m in failover(lab, how)])
            finally:
                with lab.progress.phase("cleaning up"):
                    problems = lab.teardown()
                if problems:
                    ctx.warn("cleaning up: " + ", ".join(problems))
            return 0
        try:
            lab = shown(Lab.load(args.dir), ctx)
        except NoLab:
            if args.action != "down":
                raise
            return report_down(ctx, args, [], f"no lab was up in {os.path.abspath(args.dir)}: nothing to remove")
        if args.action == "status":
            show_status(lab, args, ctx)
        elif args.action == "failover":
            report(ctx, args, [m for how in (args.how or ["kill"]) for m in failover(lab, how)])
        else:
            problems = lab.teardown()
            return report_down(ctx, args, problems, "lab removed")
    return 0


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
