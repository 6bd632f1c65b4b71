"""carp-pkg disable: net.inet.carp.allow=0 until `enable` or the next reboot (not persisted)."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument
from ..errors import UsageError

NAME = "disable"
HELP = "temporarily stop CARP on this host (net.inet.carp.allow=0; not kept across reboots)"
DESCRIPTION = """\
Set net.inet.carp.allow=0: this host stops advertising and every vhid goes to INIT, so the peer
takes over. Nothing is persisted: `carp-pkg enable` or a reboot brings CARP back. For a
maintenance window that must survive a reboot use `carp-pkg maintenance on` instead.
FreeBSD only (the ucarp backend has no global switch: use maintenance mode).

example: carp-pkg disable --backend freebsd --dry-run
"""
ALLOW = "net.inet.carp.allow"


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the command, change nothing")
    parser.add_argument("--json", action="store_true",
                        help='print {"sysctl", "value", "was", "changed", "dry_run"} as JSON')


def set_allowed(ctx, allowed: bool, as_json: bool = False, backend_name: str = "auto") -> int:
    backend = ctx.backend(backend_name)
    if backend.name == "ucarp":
        raise UsageError("ucarp has no global CARP switch; use `carp-pkg maintenance on|off`")
    wanted = 1 if allowed else 0
    current = ctx.system.sysctl_read(ALLOW)
    changed = current != wanted
    if changed:
        ctx.system.sysctl_write(ALLOW, wanted)
    if as_json:
        ctx.print_json({"sysctl": ALLOW, "value": wanted, "was": current, "changed": changed,
                        "dry_run": ctx.system.dry_run})
    elif not changed:
        ctx.print(f"{ALLOW} is already {wanted}: nothing to do")
    else:
        verb = "would set" if ctx.system.dry_run else "set"
        ctx.print(f"{verb} {ALLOW}={wanted} (was {current if current is not None else 'unknown'}); "
                  + ("CARP on" if allowed else "CARP off until `carp-pkg enable` or reboot"))
    return 0


def run(args, ctx) -> int:
    return set_allowed(ctx, False, args.json, args.backend)
