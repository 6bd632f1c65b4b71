"""carp-pkg check: config.xml vs the running host, one line per difference, as a Nagios plugin."""

from __future__ import annotations

from typing import Tuple

from ..check import check, unknown_report
from ..cli_helpers import add_backend_argument, read_against, read_sysctls_capture
from ..errors import CarpError, UsageError
from ..model import CarpConfig
from ..running import RunningState
from ..sync import maintenance_on, observe

NAME = "check"
HELP = "compare config.xml with what runs (Nagios plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"
DESCRIPTION = """\
Compare every configured attribute with the running host, like `ifquery --check`, and answer as a
Nagios/Icinga plugin: a status line with perfdata, then one line per difference, worst first:

  CARP WARNING - 1 warning: em0 vhid 10 advskew: expected 0, running 50 (...) | vhids=2;;; masters=1;;; drift=1;;;
  em0 vhid 10 advskew: expected 0, running 50 (changes which host is preferred as master) (warning)

CRITICAL (exit 2): a configured VIP is not served by CARP here, whatever the peer does:
  a configured vhid is not running; a VIP address is missing from its vhid; a vhid is not
  MASTER or BACKUP (INIT: interface down or carp off; ucarp: STOPPED, with its last error);
  net.inet.carp.allow=0 (carp disabled); ucarp only: a MASTER without its VIP on the interface,
  or a peer whose advertisements fail the HMAC right now (password or VIPs differ: split brain).
WARNING (exit 1): CARP runs but differs from config.xml in a way that changes who becomes master,
  whether the peers agree, or what survives a failover: advskew, advbase, a prefix length, an
  extra address on a vhid, the password (changed since the last sync, or "cannot verify" when
  carp-pkg never applied one: the kernel never shows it), a unicast peer/peer6 (FreeBSD 14+)
  not as configured, net.inet.carp.demotion > 0, net.inet.carp.preempt (or .arpbalance on
  5.4-9) not as configured (on pfSense, where the base system sets preempt=1, only a missing 1
  counts), pfsync syncdev, syncpeer or defer not as configured, pfsync0 down, syncok 0, a
  running vhid that is not configured.
  Not drift, but WARNING lines of their own: maintenance mode (the expected advskew becomes 254,
  advertised as 240), and a vhid configured at advskew 240 or more (it advertises 240, like a
  peer in maintenance mode: the two tie, so maintenance mode cannot hand over to it reliably).
UNKNOWN (exit 3): config.xml is missing or invalid, or the running state cannot be read.

perfdata: vhids = configured vhids, masters = vhids in MASTER here, drift = WARNING and CRITICAL
lines other than maintenance. --json prints the same report as an object. Passwords are never shown.
Sysctls are read live; with --against they are unknown (skipped) unless --sysctls gives a saved
`sysctl net.inet.carp` output.

On the firewall, save what runs with `ifconfig > now.txt; sysctl net.inet.carp > carp.txt` and give
them with --against now.txt --sysctls carp.txt to check another host's state.

example: carp-pkg --config examples/config.xml check --backend freebsd --against examples/ifconfig-freebsd14.txt
example: carp-pkg --config examples/config.xml check --backend freebsd --against examples/ifconfig-freebsd14.txt --sysctls examples/sysctl-carp-freebsd14.txt --json
example: carp-pkg --config /conf/config.xml check
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON (same exit code)")
    add_capture_arguments(parser)


def add_capture_arguments(parser) -> None:
    parser.add_argument("--against", metavar="FILE", help="check against this saved `ifconfig` output")
    parser.add_argument("--sysctls", metavar="FILE",
                        help="with --against: saved `sysctl net.inet.carp` output (default: sysctls unknown)")


def read_host(args, ctx) -> Tuple[CarpConfig, RunningState, bool]:
    """config.xml, the running state (live or captured, with carp-pkg's applied record) and maintenance."""
    backend = ctx.backend(args.backend)
    config = ctx.load_config(backend)
    captured = None
    if args.against:
        captured = read_against(backend, args.against)
        if args.sysctls:
            captured = captured.with_sysctls(read_sysctls_capture(args.sysctls))
    elif args.sysctls:
        raise UsageError("--sysctls describes a saved capture: use it with --against")
    running, _record = observe(backend, ctx.system, ctx.paths, captured)
    return config, running, maintenance_on(ctx.system, ctx.paths)


def run(args, ctx) -> int:
    # A monitoring plugin must answer 0-3 whatever happens: a config or host carp-pkg cannot read is
    # UNKNOWN (3) with the reason, not the CLI's usual exit codes (4-6 mean CRITICAL-or-worse to Nagios).
    try:
        config, running, maintenance = read_host(args, ctx)
    except CarpError as exc:
        report = unknown_report(exc.message, exc.details)
    else:
        report = check(config, running, maintenance)
    if args.json:
        ctx.print_json(report.to_json())
    else:
        ctx.print("\n".join(report.lines()))
    return int(report.status)
