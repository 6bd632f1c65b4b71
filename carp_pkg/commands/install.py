"""carp-pkg install: place the package files, record them, run the first sync."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, add_lock_timeout_argument
from ..hooks import Installer, package_source_dir
from ..script import render_commands

NAME = "install"
HELP = "install the pfSense package files, record them in a manifest, run the first sync"
DESCRIPTION = """\
The package's install hook (pfSense calls it through carp.inc after the port is installed).
Copies carp.xml, carp.inc, carp.priv.inc, carp_status.php and carp_rules.php to where pfSense
expects them (under --root), records in /var/db/carp-pkg/manifest.json exactly which files and
directories it created and the CARP sysctl values it found, then runs `carp-pkg sync`.
Every file and directory gets an explicit mode whatever the umask: package files 0644, the pf
include 0755, the manifest 0600, directories 0755 (/var/db/carp-pkg 0700); a state dir that is
a symbolic link is refused.
Running it again is harmless.

example: carp-pkg --root /tmp/stage --config examples/config.xml install --backend freebsd --dry-run
example: carp-pkg install
example: carp-pkg --root /tmp/stage --config /tmp/stage/conf/config.xml install --backend freebsd
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--source", metavar="DIR", help="folder holding the package files (default: found automatically)")
    add_lock_timeout_argument(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the files it would place, the manifest it would write and the first sync's "
                             "plan; change nothing")
    parser.add_argument("--json", action="store_true", help="print what was installed as JSON")


def run(args, ctx) -> int:
    installer = Installer(ctx.system, ctx.paths, ctx.backend(args.backend))
    if args.dry_run:
        return show_preview(installer.preview(package_source_dir(args.source), args.lock_timeout), args, ctx)
    outcome = installer.install(package_source_dir(args.source), args.lock_timeout)
    manifest = outcome.manifest
    for note in outcome.dropped:
        ctx.warn(f"the previous manifest's {note} (not carried over)")
    if args.json:
        ctx.print_json({"files": list(manifest.files), "directories": list(manifest.directories),
                        "dropped_from_old_manifest": [n.to_json() for n in outcome.dropped],
                        "sync": outcome.sync.to_json()})
    else:
        ctx.print(f"installed {len(manifest.files)} files (manifest {ctx.paths.manifest})")
        ctx.print(outcome.sync.summary())
    return 0


def show_preview(preview, args, ctx) -> int:
    if args.json:
        ctx.print_json(preview.to_json())
        return 0
    for note in preview.dropped:
        ctx.warn(f"the previous manifest's {note} (would not be carried over)")
    ctx.print(f"would place {len(preview.files)} files:")
    for target, mode in preview.files:
        ctx.print(f"  {target} (mode {mode:04o})")
    ctx.print(f"would write the manifest {ctx.paths.manifest} (mode 0600):")
    ctx.out.write("".join("  " + line + "\n" for line in preview.manifest.to_json().splitlines()))
    ctx.print("then the first sync:")
    ctx.out.write(render_commands(preview.sync.plan))
    ctx.print(preview.sync.summary())
    return 0
