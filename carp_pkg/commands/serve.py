"""carp-pkg serve: the read-only status page, /metrics and /healthz over HTTP, on 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import replace

from .. import __version__
from ..cli_helpers import add_backend_argument, seconds
from ..errors import EnvironmentProblem, UsageError
from ..system import Runner
from ..web.events import events_path
from ..web.page import PageOptions, render_fragment
from ..web.server import DEFAULT_LISTEN, App, Settings, StatusServer, allowed_host, parse_listen
from ..web.snapshot import SnapshotCache, Source, take

NAME = "serve"
HELP = "read-only HTTP status page, /metrics and /healthz (on 127.0.0.1 unless --listen says otherwise)"
RESERVED = Settings.reserved_connections
DESCRIPTION = f"""\
Serve what `status`, `check` and `metrics` report, read-only, for hosts without pfSense's GUI (plain
FreeBSD, Linux) and for monitoring. No route changes anything; there are no actions.

  /              the status page pfSense shows (the same template), reloading every 5 s (/?refresh=0: off)
  /status.json   `carp-pkg status --json`          /check.json   `carp-pkg check --json`
  /metrics       `carp-pkg metrics` (Prometheus text format; scrape it instead of the textfile)
  /healthz       {{"ok": true|false, ...}}: 200 when every configured vhid runs as MASTER or BACKUP,
                 503 otherwise (a load balancer's or Kubernetes' probe)
  /events        server-sent events, one per CARP transition, while the event log
                 (/var/db/carp-pkg/events.jsonl) exists

It listens on {DEFAULT_LISTEN} only, unless --listen names another address (a warning says so: the
page has no authentication, so put a firewall rule or an authenticating TLS proxy in front of it).
On loopback only Host names of this machine are answered (421 otherwise: a DNS-rebinding page cannot
read it). Beyond loopback, --allow-host NAME (repeatable) restricts the answered Host names to those
names, this machine's loopback names and the address the request came in on; without it any Host
name is answered, and the start-up warning says so.

The host is read at most once a second whatever the number of requests; requests are GET/HEAD only,
parsed strictly (400 otherwise), bounded in size and time; at most --max-connections are served at
once plus {RESERVED} more kept for /healthz and /metrics, and a client that is slow to send its request
gives way to a newcomer when all are taken, so slow clients cannot keep a probe out. No room at all is
429 with Retry-After, never 503 (on /healthz, 503 means unhealthy). No response ever holds a password.
SIGTERM or Ctrl-C stops it (exit 0).

--pfsense-fragment prints, once, the body of pfSense's Status page (with its action buttons, which
post back to carp_status.php under pfSense's CSRF protection) and exits: pkgxml/carp_status.php
embeds it, so both pages come from one template.

example: carp-pkg serve
example: carp-pkg serve --listen [::1]:9112
example: carp-pkg serve --listen 0.0.0.0:9112 --allow-host fw1.example.com --allow-host 192.0.2.10
example: curl -s http://127.0.0.1:9112/healthz
example: carp-pkg --config examples/config.xml serve --backend freebsd --against examples/ifconfig-freebsd14.txt
"""


def _connections(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{value}: give 1-1024")
    return value


def _timeout(text: str) -> float:
    value = seconds(text)
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 and at most 300 seconds")
    return value


def _allow_host(text: str) -> str:
    try:
        return allowed_host(text)
    except UsageError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a host name or an IP address, without a port "
                                         "(e.g. --allow-host fw1.example.com)") from None


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT",
                        help=f"address and port to listen on (default {DEFAULT_LISTEN}; port 0: any free port, "
                             "printed at start)")
    parser.add_argument("--against", metavar="FILE", help="serve this saved `ifconfig` output instead of the live host")
    parser.add_argument("--sysctls", metavar="FILE",
                        help="with --against: saved `sysctl net.inet.carp` output (default: sysctls unknown)")
    parser.add_argument("--allow-host", action="append", type=_allow_host, default=[], metavar="NAME",
                        help="beyond loopback, answer only requests whose Host is NAME (repeatable; the address "
                             "it listens on and localhost are always answered; any other Host gets 421); "
                             "on loopback, answer NAME besides this machine's names (a proxy passing its Host)")
    parser.add_argument("--max-connections", type=_connections, default=16, metavar="N",
                        help=f"connections served at once, plus {RESERVED} kept for /healthz and /metrics; "
                             "a client slow to send its request gives way to a newcomer, and when none can, "
                             "the newcomer gets 429 (default 16)")
    parser.add_argument("--timeout", type=_timeout, default=10.0, metavar="SECONDS",
                        help="time a client has to send its request, and for each write (default 10)")
    parser.add_argument("--pfsense-fragment", action="store_true",
                        help="print the body of pfSense's status page once and exit (carp_status.php embeds it)")
    parser.add_argument("--refresh", action="store_true",
                        help="with --pfsense-fragment: the page reloads itself every 5 s")


class ReadOnlyRunner(Runner):
    """serve reads the host and never changes it: a command that would is refused, not run."""

    def __init__(self, reader: Runner):
        self.reader = reader

    def _execute(self, argv, *, mutating, input):
        if mutating:
            raise EnvironmentProblem(f"carp-pkg serve is read-only; refusing to run {argv[0]}")
        return self.reader._execute(argv, mutating=False, input=input)


def run(args, ctx) -> int:
    if args.sysctls and not args.against:
        raise UsageError("--sysctls describes a saved capture: use it with --against")
    if args.refresh and not args.pfsense_fragment:
        raise UsageError("--refresh goes with --pfsense-fragment; the served page reloads itself (/?refresh=0: off)")
    reader = ctx.with_system(replace(ctx.system, runner=ReadOnlyRunner(ctx.system.runner), dry_run=True))
    source = Source(backend=args.backend, against=args.against, sysctls=args.sysctls)
    ctx.backend(args.backend)  # an impossible backend is a usage error now, not a page of errors later
    if args.pfsense_fragment:
        snapshot = take(reader, source)
        ctx.out.write(render_fragment(snapshot.page_data(), PageOptions(pfsense=True, refresh=args.refresh)))
        return 0
    host, port = parse_listen(args.listen)
    settings = Settings(host=host, port=port, max_connections=args.max_connections, timeout=args.timeout,
                        allowed_hosts=tuple(dict.fromkeys(args.allow_host)))
    log = events_path(ctx.paths)
    app = App(snapshot=SnapshotCache(lambda: take(reader, source)).get, events_file=log,
              events_exist=lambda: os.path.isfile(log) and not os.path.islink(log),
              hostname=socket.gethostname(), version=__version__)
    try:
        server = StatusServer(settings, app)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    bound = replace(settings, port=server.server_address[1])
    try:  # from here on, Ctrl-C or SIGTERM (raised as Terminated by the CLI) is the normal way to stop
        if not settings.loopback:
            if settings.allowed_hosts:
                hosts = "Host names answered: " + ", ".join(settings.allowed_hosts) + \
                    ", the address a request comes in on and localhost (421 for any other)"
            else:
                hosts = ("any Host name is answered, so a DNS-rebinding web page could read it: restrict with "
                         "--allow-host NAME (repeatable), e.g. --allow-host fw1.example.com")
            ctx.warn(f"listening on {bound.url}: reachable from other hosts, and the page has no authentication; "
                     "allow only your monitoring hosts in the firewall, or put an authenticating TLS proxy in front; "
                     + hosts)
        ctx.print(f"carp-pkg serve: {bound.url} (read-only: / /status.json /check.json /metrics /healthz /events)")
        ctx.out.flush()
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    ctx.print("carp-pkg serve: stopped")
    return 0
