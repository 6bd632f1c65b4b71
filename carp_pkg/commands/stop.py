"""carp-pkg stop: take down every CARP vhid, VIP and pfsync setting on this host (rc.d/carp stop)."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument
from ..script import render_commands
from ..sync import teardown

NAME = "stop"
HELP = "remove every running CARP vhid/VIP (and carpN, ucarp, pfsync syncdev); config.xml stays"
DESCRIPTION = """\
Take CARP down on this host: every vhid address (FreeBSD 10+), carpN interface (5.4-9) or
ucarp process (Linux) is removed, and pfsync loses its sync device. Sysctls, config.xml and the
rc script are left alone, so `carp-pkg sync` (or a reboot) brings everything back.
This is what `service carp stop` runs on plain FreeBSD.

example: carp-pkg stop --dry-run
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the commands, change nothing")
    add_lock_timeout_argument(parser)


def run(args, ctx) -> int:
    plan = teardown(ctx.system, ctx.paths, ctx.backend(args.backend), args.lock_timeout)
    if ctx.system.dry_run:
        ctx.out.write(render_commands(plan))
    verb = "would remove" if ctx.system.dry_run else "removed"
    ctx.print(f"carp-pkg stop ({plan.backend}): {verb} {len(plan.steps)} item{'s' if len(plan.steps) != 1 else ''}")
    return 0
