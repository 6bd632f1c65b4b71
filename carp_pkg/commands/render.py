"""carp-pkg render: print what sync would do, as commands, as the rc script, or as JSON."""

from __future__ import annotations

from dataclasses import replace

from ..cli_helpers import add_backend_argument, read_against
from ..script import render_commands
from ..sync import effective_config, host_facts, rc_script_text
from ..running import EMPTY

NAME = "render"
HELP = "print the plan (commands, rc script or JSON) without changing anything"
DESCRIPTION = """\
Print what carp-pkg would configure for config.xml. Nothing is run or written.
  commands  the ifconfig/sysctl commands, each with the reason for it
  script    the rc script sync writes to /usr/local/etc/rc.d/carp.sh
  json      {"backend": ..., "steps": [{"argv": [...], "why": ...}, ...]}
Passwords are shown as *** unless --show-secrets.
Without --against the plan is for a freshly booted host; with --against FILE it is only the
difference from the `ifconfig` output saved in FILE.

On the firewall, save what runs with `ifconfig > now.txt` and give it with --against now.txt.

example: carp-pkg --config examples/config.xml render --backend freebsd --format script
example: carp-pkg --config examples/config.xml render --backend freebsd --against examples/ifconfig-freebsd14.txt
example: carp-pkg --config examples/linux-ucarp.xml render --backend ucarp --format json
example: carp-pkg --config examples/linux-keepalived.xml render --backend keepalived --format json
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--format", choices=("commands", "script", "json"), default="commands",
                        help="commands (default): one command per line with its reason; script: the rc script; "
                             "json: the plan as JSON")
    parser.add_argument("--show-secrets", action="store_true", help="print CARP passwords instead of ***")
    parser.add_argument("--against", metavar="FILE", help="plan against this saved `ifconfig` output")


def run(args, ctx) -> int:
    backend = ctx.backend(args.backend)
    config = effective_config(ctx.load_config(backend), ctx.system, ctx.paths)
    host = host_facts(ctx.system, ctx.paths)  # pfSense owns net.inet.carp.preempt; the value found at install
    if args.format == "script":
        ctx.out.write(rc_script_text(backend, config, ctx.paths, show_secrets=args.show_secrets, host=host))
        return 0
    running = replace(read_against(backend, args.against) if args.against else EMPTY, host=host)
    plan = backend.plan(config, running)
    for warning in plan.warnings:
        ctx.warn(warning)
    if args.format == "json":
        ctx.print_json(plan.to_json(args.show_secrets))
    else:
        ctx.out.write(render_commands(plan, args.show_secrets))
    return 0
