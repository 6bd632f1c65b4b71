"""carp-pkg enable: net.inet.carp.allow=1 (undo `disable`)."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument
from .disable import set_allowed

NAME = "enable"
HELP = "let CARP run again after `disable` (net.inet.carp.allow=1)"
DESCRIPTION = """\
Set net.inet.carp.allow=1 so this host advertises again and takes part in elections.

example: carp-pkg enable
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="show the command, change nothing")
    parser.add_argument("--json", action="store_true",
                        help='print {"sysctl", "value", "was", "changed", "dry_run"} as JSON')


def run(args, ctx) -> int:
    return set_allowed(ctx, True, args.json, args.backend)
