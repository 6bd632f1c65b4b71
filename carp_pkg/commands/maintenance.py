"""carp-pkg maintenance on|off: hand every vhid to the peer and keep it there, across reboots."""

from __future__ import annotations

import time

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument, read_against
from ..errors import UsageError
from ..model import CARP_MAXSKEW, MAINTENANCE_ADVSKEW, MAINTENANCE_VRRPPRIO
from ..script import render_commands
from ..sync import maintenance_on, sync

NAME = "maintenance"
HELP = ("persistent maintenance mode: every vhid at advskew 254 (advertised as 240), a VRRPv3 one at vrrpprio 1, "
        "so the peer takes over")
DESCRIPTION = """\
`maintenance on` raises every vhid of this host to advskew 254, so a healthy peer becomes MASTER.
The handover is not instant. A FreeBSD peer with preemption on takes over at the first
advertisement it reads from this host afterwards (within advbase + 240/256 s). On Linux (ucarp),
this host's ucarp restarts with the new advskew and the peer takes over when its master-down
interval ends: measured in the lab (advbase 1, peer at advskew 100), the client saw the peer
answer for the VIP 3.8-4.5 s after `maintenance on` (bound 3 x (1 + 100/256) s plus up to 1 s).
The kernel caps the advertised skew at 240 (ip_carp.c CARP_MAXSKEW): a peer configured at
advskew 239 or less takes over, a peer at 240 or more ties with this host and may not.
A VRRPv3 vhid (protocol vrrp) goes to vrrpprio 1 instead, the lowest priority: a peer at
vrrpprio 2 or more takes over.
The mode is kept in /var/db/carp-pkg/maintenance: sync and the rc script honour it after a
reboot until `maintenance off` restores the configured advskew. Only vhids whose advskew
changes are touched. Without on/off, prints whether maintenance mode is on.

--against FILE (with --dry-run) plans against a saved `ifconfig` output instead of the live host.

example: carp-pkg maintenance on
example: carp-pkg maintenance off --dry-run
example: carp-pkg --config examples/config.xml maintenance on --backend freebsd --dry-run --against examples/ifconfig-freebsd14.txt
"""
ACHIEVES_CARP = (f"advskew {MAINTENANCE_ADVSKEW}, advertised as {CARP_MAXSKEW}: a peer at advskew {CARP_MAXSKEW - 1} or "
                 f"less takes over, a peer at {CARP_MAXSKEW} or more ties with this host")
ACHIEVES = f"every vhid at {ACHIEVES_CARP}"
ACHIEVES_VRRP = (f"vrrpprio {MAINTENANCE_VRRPPRIO}, the lowest VRRPv3 priority: a peer at vrrpprio "
                 f"{MAINTENANCE_VRRPPRIO + 1} or more takes over, a peer at {MAINTENANCE_VRRPPRIO} ties with this host")


def achieves(config) -> str:
    """What maintenance mode does to the configured vhids: CARP at advskew 254, VRRPv3 at vrrpprio 1."""
    groups = config.groups() if config is not None else ()
    if not any(g.vrrp for g in groups):
        return ACHIEVES
    if all(g.vrrp for g in groups):
        return f"every vhid (VRRPv3) at {ACHIEVES_VRRP}"
    return f"every CARP vhid at {ACHIEVES_CARP}; every VRRPv3 vhid at {ACHIEVES_VRRP}"


def add_arguments(parser) -> None:
    parser.add_argument("mode", nargs="?", choices=("on", "off"), help="turn maintenance mode on or off")
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the commands, change nothing")
    parser.add_argument("--against", metavar="FILE",
                        help="with --dry-run: plan against this saved `ifconfig` output instead of the live host")
    add_lock_timeout_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help='print {"maintenance", ...the sync result} as JSON')


def run(args, ctx) -> int:
    if args.mode is None:
        on = maintenance_on(ctx.system, ctx.paths)
        if args.json:
            ctx.print_json({"maintenance": on})
        else:
            ctx.print("maintenance mode: " + ("on" if on else "off"))
        return 0
    if args.against and not args.dry_run:
        raise UsageError("--against describes a saved capture, not this host: use it with --dry-run")
    backend = ctx.backend(args.backend)
    running = read_against(backend, args.against) if args.against else None
    wanted = args.mode == "on"
    if not ctx.system.dry_run:
        if wanted:
            ctx.system.write_atomic(ctx.paths.maintenance_flag, f"on since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n", 0o600)
        else:
            ctx.system.remove_file(ctx.paths.maintenance_flag)
    result = sync(ctx.system, ctx.paths, backend, lock_timeout=args.lock_timeout,
                  running_override=running, maintenance=wanted)
    if args.json:
        ctx.print_json({**result.to_json(), "maintenance": wanted, "achieves": achieves(result.config) if wanted else None})
        return 0
    for warning in result.plan.warnings:
        ctx.warn(warning)
    if result.dry_run and result.plan.steps:
        ctx.out.write(render_commands(result.plan))
    ctx.print(result.summary() if wanted else result.summary() + ", maintenance mode off")
    if wanted:
        ctx.print(f"that is: {achieves(result.config)}")
    return 0
