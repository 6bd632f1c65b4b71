"""carp-pkg deinstall: stop CARP, restore sysctls, remove exactly what install created."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument
from ..script import render_commands
from ..hooks import Installer

NAME = "deinstall"
HELP = "stop CARP and pfsync, restore sysctls, remove exactly the files install recorded"
DESCRIPTION = """\
The package's deinstall hook. Runs the rc script's stop, then removes whatever CARP address,
carpN, ucarp process or pfsync setting is still running; writes back the CARP sysctls to the
values install found; removes exactly the files and directories listed in the manifest (never a
glob like the original's `rm /usr/local/www/carp*`) and /var/db/carp-pkg. config.xml is left
untouched unless --purge, which removes installedpackages/carp from it. Running it again, or
after a half-finished install, is harmless.

example: carp-pkg deinstall --dry-run
example: carp-pkg deinstall --purge
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--purge", action="store_true", help="also remove installedpackages/carp from config.xml")
    parser.add_argument("--dry-run", action="store_true", help="show what would be stopped and removed")
    parser.add_argument("--lock-timeout", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--json", action="store_true", help="print what was removed as JSON")


def run(args, ctx) -> int:
    report = Installer(ctx.system, ctx.paths, ctx.backend(args.backend)).deinstall(args.purge, args.lock_timeout)
    if report["dry_run"]:
        plan = report.pop("plan")
        if args.json:
            ctx.print_json({**report, "steps": plan.to_json()["steps"]})
        else:
            ctx.out.write(render_commands(plan))
            ctx.print(f"would remove {len(report['would_remove'])} files: " + ", ".join(report["would_remove"]))
        return 0
    if args.json:
        ctx.print_json(report)
        return 0
    for note in report["notes"]:
        ctx.warn(note)
    restored = ", ".join(report["restored_sysctls"]) or "none needed"
    ctx.print(f"deinstalled: removed {len(report['removed'])} files; sysctls restored: {restored}; "
              f"config.xml {'purged of installedpackages/carp' if report['purged'] else 'left as it was'}")
    return 0
