"""carp-pkg stop: take down every CARP vhid, VIP and pfsync setting on this host (rc.d/carp stop)."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument, read_against
from ..errors import UsageError
from ..script import render_commands
from ..sync import observe, teardown, teardown_plan

NAME = "stop"
HELP = "remove every running CARP vhid/VIP (and carpN, ucarp, pfsync syncdev); config.xml stays"
DESCRIPTION = """\
Take CARP down on this host: every vhid address (FreeBSD 10+), carpN interface (5.4-9) or
ucarp process (Linux) is removed, and pfsync loses its sync device. Sysctls, config.xml and the
rc script are left alone, so `carp-pkg sync` (or a reboot) brings everything back.
This is what `service carp stop` runs on plain FreeBSD.
--against FILE (with --dry-run) shows what stop would remove on the host a saved `ifconfig`
output describes, without reading this host.

example: carp-pkg stop --dry-run
example: carp-pkg --config examples/config.xml stop --backend freebsd --dry-run --against examples/ifconfig-freebsd14.txt
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the commands, change nothing")
    parser.add_argument("--against", metavar="FILE",
                        help="with --dry-run: plan against this saved `ifconfig` output instead of the live host")
    add_lock_timeout_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help='print {"backend", "steps", "dry_run", "removed"} as JSON')


def run(args, ctx) -> int:
    backend = ctx.backend(args.backend)
    if args.against:
        if not args.dry_run:
            raise UsageError("--against describes a saved capture, not this host: use it with --dry-run")
        running, _ = observe(backend, ctx.system, ctx.paths, read_against(backend, args.against))
        plan = teardown_plan(backend, running)  # nothing changes and the host is not read: no lock needed
    else:
        plan = teardown(ctx.system, ctx.paths, backend, args.lock_timeout)
    if args.json:
        ctx.print_json({**plan.to_json(), "dry_run": ctx.system.dry_run, "removed": len(plan.steps)})
        return 0
    if ctx.system.dry_run:
        ctx.out.write(render_commands(plan))
    verb = "would remove" if ctx.system.dry_run else "removed"
    ctx.print(f"carp-pkg stop ({plan.backend}): {verb} {len(plan.steps)} item{'s' if len(plan.steps) != 1 else ''}")
    return 0
