"""carp-pkg compare: lint two cluster members' config.xml files against each other."""

from __future__ import annotations

import os

from ..compare import ERROR, WARNING, compare
from ..configxml import ARGUMENT_HINTS, read_config_xml
from ..validate import build_config

NAME = "compare"
HELP = "lint two cluster members' config.xml against each other (exit 1 on an error)"
DESCRIPTION = """\
Read two config.xml files (one per CARP cluster member) and list what makes the peers disagree
or collide, one line per finding:
  error    a vhid on one side only; different VIP sets for a vhid (the CARP HMAC covers every
           address: both hosts become MASTER); different passwords (never printed); different
           advbase; the same vhid for different VIPs on one segment (both claim the virtual MAC
           00:00:5e:00:01:VHID)
  warning  equal advskew on both sides (no preferred master; 240-254 all advertise 240, so
           245 vs 250 is a tie too); a backup at advskew 240 or more (maintenance mode on
           the master, 254 advertised as 240, ties with it); a password with a space, quote
           or backslash (a pfSense/OPNsense member rewrites it); a VIP prefix that differs;
           preemption on one side only; pfsync on one side only
  info     which host is the preferred master of each vhid that agrees
Vhids are matched by friendly interface name and vhid (wan/lan/opt1, as pfSense's config sync
names them; the devices may differ between the boxes), or by vhid alone when a file has no names.

exit: 0 no error (warnings allowed), 1 at least one error, 3 a file is not a valid config.xml
(every problem listed, as `validate` does).

example: carp-pkg compare examples/cluster/fw1.xml examples/cluster/fw2.xml
example: carp-pkg compare examples/cluster/fw1.xml examples/cluster/fw2.xml --json
"""


def add_arguments(parser) -> None:
    parser.add_argument("host_a", metavar="HOST_A.xml", help="config.xml of one member")
    parser.add_argument("host_b", metavar="HOST_B.xml", help="config.xml of the other member")
    parser.add_argument("--json", action="store_true", help="print {ok, a, b, findings:[...]} as JSON")


def _names(path_a: str, path_b: str):
    """Short names for the messages: the file names, or the paths when the file names are the same."""
    base_a, base_b = os.path.basename(path_a), os.path.basename(path_b)
    return (base_a, base_b) if base_a != base_b else (path_a, path_b)


def run(args, ctx) -> int:
    config_a = build_config(read_config_xml(args.host_a, hints=ARGUMENT_HINTS))
    config_b = build_config(read_config_xml(args.host_b, hints=ARGUMENT_HINTS))
    name_a, name_b = _names(args.host_a, args.host_b)
    findings = compare(config_a, config_b, name_a, name_b)
    errors = sum(1 for f in findings if f.level == ERROR)
    warnings = sum(1 for f in findings if f.level == WARNING)
    if args.json:
        ctx.print_json({"ok": errors == 0, "a": args.host_a, "b": args.host_b,
                        "errors": errors, "warnings": warnings, "findings": [f.to_json() for f in findings]})
    else:
        for finding in findings:
            ctx.print(finding.line)
        ctx.print(f"{name_a} vs {name_b}: {errors} error{'s' if errors != 1 else ''}, "
                  f"{warnings} warning{'s' if warnings != 1 else ''}")
    return 1 if errors else 0
