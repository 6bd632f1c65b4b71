"""`carp-pkg rules`: print the pf rules that let CARP and pfsync through (anchor "carp")."""

from __future__ import annotations

import argparse

from ..rules import anchor_line, render_rules, rules_json

NAME = "rules"
HELP = "print the pf rules that pass CARP and pfsync (the body of pf anchor \"carp\")"
DESCRIPTION = """\
Print pf rules that pass CARP advertisements (to 224.0.0.18 / ff02::12) on every
interface that carries a VIP, and pfsync on the sync interface: the rules the
original package's carp_rules.php added. The output is the body of the pf anchor
"carp"; the main ruleset needs the line printed by --anchor-line.

Load them with `carp-pkg rules | pfctl -a carp -f -`, and add the anchor once with
`carp-pkg rules --anchor-line >> /etc/pf.conf`.

example: carp-pkg --config examples/config.xml rules
example: carp-pkg --config examples/config.xml rules --json
example: carp-pkg rules --anchor-line
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the rules as JSON (one object per rule)")
    output.add_argument("--anchor-line", action="store_true",
                        help='print only the line the main ruleset needs: anchor "carp"')


def run(args: argparse.Namespace, ctx) -> int:
    if args.anchor_line:
        ctx.print(anchor_line())
        return 0
    config = ctx.load_config()
    if args.json:
        ctx.print_json(rules_json(config))
    else:
        ctx.out.write(render_rules(config))
    return 0
