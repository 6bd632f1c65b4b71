"""carp-pkg maintenance on|off: hand every vhid to the peer and keep it there, across reboots."""

from __future__ import annotations

import time

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument
from ..script import render_commands
from ..sync import maintenance_on, sync

NAME = "maintenance"
HELP = "persistent maintenance mode: every vhid at advskew 254 so the peer takes over"
DESCRIPTION = """\
`maintenance on` raises every vhid of this host to advskew 254, so a healthy peer becomes MASTER
(with preemption on the peer, at once; otherwise when this host's next advertisement loses).
The mode is kept in /var/db/carp-pkg/maintenance: sync and the rc script honour it after a
reboot until `maintenance off` restores the configured advskew. Only vhids whose advskew
changes are touched. Without on/off, prints whether maintenance mode is on.

example: carp-pkg maintenance on
example: carp-pkg maintenance off --dry-run
"""


def add_arguments(parser) -> None:
    parser.add_argument("mode", nargs="?", choices=("on", "off"), help="turn maintenance mode on or off")
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the commands, change nothing")
    add_lock_timeout_argument(parser)


def run(args, ctx) -> int:
    if args.mode is None:
        ctx.print("maintenance mode: " + ("on" if maintenance_on(ctx.system, ctx.paths) else "off"))
        return 0
    wanted = args.mode == "on"
    if not ctx.system.dry_run:
        if wanted:
            ctx.system.write_atomic(ctx.paths.maintenance_flag, f"on since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n", 0o600)
        else:
            ctx.system.remove_file(ctx.paths.maintenance_flag)
    result = sync(ctx.system, ctx.paths, ctx.backend(args.backend), lock_timeout=args.lock_timeout,
                  maintenance=wanted)
    if result.dry_run and result.plan.steps:
        ctx.out.write(render_commands(result.plan))
    ctx.print(f"maintenance mode {'on' if wanted else 'off'}: {result.summary()}")
    return 0
