"""carp-pkg deinstall: stop CARP, restore sysctls, remove exactly what install created."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument
from ..errors import InputError, error_document
from ..hooks import Installer
from ..script import render_commands

NAME = "deinstall"
HELP = "stop CARP and pfsync, restore sysctls, remove exactly the files install recorded"
DESCRIPTION = """\
The package's deinstall hook. Runs the rc script's stop, then removes whatever CARP address,
carpN, ucarp process or pfsync setting is still running; writes back the CARP sysctls to the
values install found; removes the files and directories listed in the manifest (never a glob
like the original's `rm /usr/local/www/carp*`) and /var/db/carp-pkg. config.xml is left
untouched unless --purge, which removes installedpackages/carp from it. Running it again, or
after a half-finished install, is harmless.

The manifest is not trusted. deinstall removes only:
  - carp-pkg's own files (carp.xml, carp.inc, carp.priv.inc, carp_status.php, carp_rules.php,
    the rc script, /tmp/config.lock if install created it, the manifest, and with --backend
    keepalived the /etc/keepalived/carp-pkg.conf its sync wrote), and only when each is a
    regular file reached from --root without following a symbolic link;
  - directories install created above those files, only when empty, never /, /usr, /etc, /var,
    /tmp, /usr/local, /usr/local/etc or /var/db;
  - /var/db/carp-pkg with its contents, unless it is a symbolic link.
A package file whose sha256 differs from the one install recorded was edited by the admin: it is
KEPT and listed, not removed (delete it by hand once reviewed). Sysctls are restored only for
net.inet.carp.NAME entries with integer values.

Any other entry (a path with `..`, outside those files, a directory or symbolic link where a file
was recorded, null, a damaged sysctl or sha256) is REFUSED: listed on stderr (and under "refused"
with --json) and skipped; the rest of deinstall still runs, so CARP is always stopped. A manifest
that cannot be read at all (not JSON, not a regular file, too large) is refused as a whole:
nothing it lists is removed and /var/db/carp-pkg is kept for inspection.

exit status: 0 when everything was removed or kept as described above; 3 when the manifest was
damaged or any entry was refused (deinstall still did everything else); other codes as usual.

example: carp-pkg deinstall --dry-run
example: carp-pkg deinstall --purge
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--purge", action="store_true", help="also remove installedpackages/carp from config.xml")
    parser.add_argument("--dry-run", action="store_true", help="show what would be stopped, removed, kept and refused")
    add_lock_timeout_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print what was removed, kept and refused as JSON")


def run(args, ctx) -> int:
    report = Installer(ctx.system, ctx.paths, ctx.backend(args.backend)).deinstall(args.purge, args.lock_timeout)
    removal = report.removal
    problem = refusal_error(ctx, report) if removal.refused else None
    if args.json:
        document = report.to_json()  # "refused" lists what the manifest asked for and was refused
        if problem is not None:
            document.update(error_document(problem.message, problem.exit_code))
        ctx.print_json(document)
        return int(problem.exit_code) if problem is not None else 0
    for note in report.notes:
        ctx.warn(note)
    for note in removal.kept:
        ctx.warn(f"kept {note}")
    for note in removal.refused:
        ctx.warn(f"refused {note}")
    if report.dry_run:
        ctx.out.write(render_commands(report.plan))
        ctx.print(f"would remove {len(removal.removed)} files: " + ", ".join(removal.removed) if removal.removed
                  else "would remove no files: none that install recorded is left")
    else:
        restored = ", ".join(report.restored_sysctls) or "none needed"
        ctx.print(f"deinstalled: removed {len(removal.removed)} files and directories, kept {len(removal.kept)}, "
                  f"refused {len(removal.refused)} manifest entries; sysctls restored: {restored}; "
                  f"config.xml {'purged of installedpackages/carp' if report.purged else 'left as it was'}")
    if problem is not None:
        raise problem
    return 0


def refusal_error(ctx, report) -> InputError:
    done = "nothing was changed (dry run)" if report.dry_run else "everything else was done and CARP is stopped"
    return InputError(f"the carp-pkg manifest {ctx.paths.manifest} is damaged or lists what carp-pkg does not "
                      f"remove: {len(report.removal.refused)} entries refused (listed above); {done}")
