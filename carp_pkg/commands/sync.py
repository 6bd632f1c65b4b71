"""carp-pkg sync: make the host's CARP match config.xml (the port of sync_package())."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, read_against, add_lock_timeout_argument
from ..errors import UsageError
from ..script import render_commands
from ..sync import sync
from ..system import EchoingRunner

NAME = "sync"
HELP = "apply config.xml to this host (only what differs) and rewrite the rc script"
DESCRIPTION = """\
The port of the original sync_package(): take the pfSense config lock, read and validate
config.xml, read what is running, plan only the difference, remount /cf read-write on NanoBSD,
apply the plan step by step, write /usr/local/etc/rc.d/carp.sh (mode 0700) for the next boot,
and release everything. An unchanged config issues no command at all.

If a step fails, the finished steps are undone in reverse, the rc script is left as it was,
and the error names the step and the reason (exit 5). Invalid config: exit 3, nothing changed.
Lock not obtained within --lock-timeout: exit 4, nothing changed.

example: carp-pkg --root /tmp/stage --config examples/config.xml sync --backend freebsd --dry-run --against examples/ifconfig-freebsd14.txt
example: carp-pkg sync --dry-run --verbose
example: carp-pkg --config /conf/config.xml sync --backend freebsd --lock-timeout 60
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="read the running state, print the commands that would run; change nothing")
    add_lock_timeout_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each command as it runs (passwords masked), on standard error")
    parser.add_argument("--against", metavar="FILE",
                        help="with --dry-run: plan against this saved `ifconfig` output instead of the live host")


def run(args, ctx) -> int:
    backend = ctx.backend(args.backend)
    running = None
    if args.against:
        if not args.dry_run:
            raise UsageError("--against describes another host's state: use it with --dry-run")
        running = read_against(backend, args.against)
    if args.verbose and not args.dry_run:
        ctx.system.runner = EchoingRunner(ctx.system.runner, lambda line: ctx.err.write(line + "\n"))
    result = sync(ctx.system, ctx.paths, backend, lock_timeout=args.lock_timeout, running_override=running)
    for warning in result.plan.warnings:
        ctx.warn(warning)
    if args.json:
        ctx.print_json(result.to_json())
        return 0
    if result.dry_run and result.plan.steps:
        ctx.out.write(render_commands(result.plan))
    ctx.print(result.summary())
    return 0
