"""carp-pkg metrics: the CARP state in Prometheus text format, for node_exporter's textfile collector."""

from __future__ import annotations

import os

from ..check import check
from ..cli_helpers import add_backend_argument
from ..errors import CarpError, EnvironmentProblem
from ..fs import refuse_special_target
from ..metrics import TEXTFILE_MODE, render_failure_metrics, render_metrics
from .check import add_capture_arguments, read_host
from .status import read_transitions

NAME = "metrics"
HELP = "print or write Prometheus metrics (node_exporter textfile collector)"
DESCRIPTION = """\
Print the CARP state in the Prometheus text exposition format, or write it atomically (mode 0644)
to --output for node_exporter's textfile collector (--collector.textfile.directory; the file name
must end in .prom). Gauges, labelled interface="em0",vhid="10":
  carp_vhid_state{state="INIT|BACKUP|MASTER"}  1 for the current state, 0 for the others
  carp_vhid_advskew, carp_vhid_advbase          what the running vhid advertises
  carp_vhid_configured                          1 configured, 0 running but not in config.xml
and host-wide: carp_demotion, carp_allow, carp_preempt (left out when unknown),
carp_config_drift (the WARNING/CRITICAL lines of `carp-pkg check`, maintenance excluded),
carp_check_status (0-3 as `check` exits), carp_pfsync_syncok, carp_maintenance,
carp_collector_success; from `carp-pkg event` (devd, the ucarp scripts), once a transition was recorded:
  carp_transitions_total{state="INIT|BACKUP|MASTER"}  counter of transitions into each state
  carp_vhid_last_transition_timestamp_seconds          unix time of the last one
No password or digest is ever exported.

When config.xml or the running state cannot be read, --output FILE is replaced by
carp_collector_success 0 (a stale healthy file must not linger) and the error exits as usual.

--output FILE is taken as given (not under --root, like --config). Its directory must exist (the
collector's), and an existing FILE must be a regular file: a symlink, device or FIFO is refused (exit 6).

From cron every minute: carp-pkg metrics --output /var/tmp/node_exporter/carp.prom

example: carp-pkg --config examples/config.xml metrics --backend freebsd --against examples/ifconfig-freebsd14.txt
example: carp-pkg metrics --output /var/tmp/node_exporter/carp.prom
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--output", metavar="FILE", help="write here atomically (mode 0644) instead of stdout")
    add_capture_arguments(parser)


def run(args, ctx) -> int:
    if args.output:
        _check_output(args.output)
        if not args.output.endswith(".prom"):
            ctx.warn(f"{args.output}: node_exporter's textfile collector only reads files ending in .prom")
    try:
        config, running, maintenance = read_host(args, ctx)
    except CarpError:
        if args.output:
            ctx.system.write_atomic(args.output, render_failure_metrics(), TEXTFILE_MODE)
        raise
    text = render_metrics(config, running, check(config, running, maintenance), read_transitions(ctx))
    if args.output:
        ctx.system.write_atomic(args.output, text, TEXTFILE_MODE)
    else:
        ctx.out.write(text)
    return 0


def _check_output(path: str) -> None:
    """Before anything is read: the collector's directory exists (never created here) and FILE is replaceable."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise EnvironmentProblem(f"--output {path}: the directory {directory} does not exist (give node_exporter's "
                                 "--collector.textfile.directory)")
    refuse_special_target(path)
