"""carp-pkg demotion [--reset]: show or clear net.inet.carp.demotion."""

from __future__ import annotations

from ..errors import EnvironmentProblem

NAME = "demotion"
HELP = "show the CARP demotion counter, or --reset it to 0"
DESCRIPTION = """\
FreeBSD raises net.inet.carp.demotion when an interface goes down or sending fails; a demoted
host advertises as if its advskew were higher and loses elections. Writes to this sysctl are
relative (the value written is added), so --reset writes minus the current value.

example: carp-pkg demotion
example: carp-pkg demotion --reset --dry-run
"""
DEMOTION = "net.inet.carp.demotion"


def add_arguments(parser) -> None:
    parser.add_argument("--reset", action="store_true", help="bring the counter back to 0")
    parser.add_argument("--dry-run", action="store_true", help="show the command, change nothing")
    parser.add_argument("--json", action="store_true", help="print {demotion: N} as JSON")


def run(args, ctx) -> int:
    current = ctx.system.sysctl_read(DEMOTION)
    if current is None:
        raise EnvironmentProblem(f"cannot read {DEMOTION}: is this FreeBSD 10 or later with carp loaded?")
    if args.reset and current != 0:
        ctx.system.sysctl_write(DEMOTION, -current)
    after = 0 if args.reset and not ctx.system.dry_run else current
    if args.json:
        ctx.print_json({"demotion": after, "was": current, "reset": bool(args.reset), "dry_run": ctx.system.dry_run})
    elif args.reset:
        action = "would write" if ctx.system.dry_run else "wrote"
        ctx.print(f"demotion was {current}; nothing to reset" if current == 0
                  else f"demotion was {current}; {action} {DEMOTION}={-current} (relative) to bring it to 0")
    else:
        ctx.print(f"demotion: {current}")
    return 0
