"""carp-pkg status: what CARP is doing on this host right now."""

from __future__ import annotations

from ..cli_helpers import add_backend_argument, read_against
from ..status import pfsync_json, vhid_rows
from ..sync import maintenance_on, observe

NAME = "status"
HELP = "show every vhid: interface, VIPs, MASTER/BACKUP/INIT/DISABLED, advbase, advskew, pfsync"
DESCRIPTION = """\
Show what CARP is doing on this host: one row per vhid (interface, vhid, VIPs, state, advbase,
advskew), the demotion counter, whether CARP is allowed (net.inet.carp.allow; when it is 0 every
vhid shows DISABLED), maintenance mode, and the pfsync device with its sync status.
Passwords are never shown.

example: carp-pkg status
example: carp-pkg status --json
example: carp-pkg status --backend freebsd --against saved-ifconfig.txt
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--against", metavar="FILE", help="read this saved `ifconfig` output instead of the live host")


def status_document(backend, running, maintenance: bool) -> dict:
    rows = vhid_rows(running)
    disabled = running.sysctls.allow == 0
    if disabled:
        rows = [{**row, "state": "DISABLED"} for row in rows]
    sysctls = running.sysctls
    return {
        "backend": backend.name,
        "maintenance": maintenance,
        "sysctls": {"allow": sysctls.allow, "preempt": sysctls.preempt, "demotion": sysctls.demotion},
        "vhids": rows,
        "pfsync": pfsync_json(running.pfsync),
    }


def format_table(document: dict) -> str:
    header = ("INTERFACE", "VHID", "VIPS", "STATE", "ADVBASE", "ADVSKEW")
    rows = [(r["interface"], str(r["vhid"]), ",".join(r["addresses"]) or "-", r["state"], str(r["advbase"]),
             str(r["advskew"])) for r in document["vhids"]]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    if not rows:
        lines.append("(no CARP vhid configured)")
    sysctls = document["sysctls"]
    allowed = {1: "yes", 0: "NO (carp-pkg enable)", None: "unknown"}.get(sysctls["allow"], str(sysctls["allow"]))
    demotion = "unknown" if sysctls["demotion"] is None else str(sysctls["demotion"])
    lines.append(f"carp allowed: {allowed}   demotion: {demotion}   "
                 f"maintenance: {'ON (advskew 254)' if document['maintenance'] else 'off'}")
    pfsync = document["pfsync"]
    if pfsync and pfsync["syncdev"]:
        syncok = {True: "in sync", False: "NOT in sync", None: "sync status unknown"}[pfsync["syncok"]]
        lines.append(f"pfsync: {pfsync['syncdev']} ({syncok})")
    else:
        lines.append("pfsync: off")
    return "\n".join(lines) + "\n"


def run(args, ctx) -> int:
    backend = ctx.backend(args.backend)
    captured = read_against(backend, args.against) if args.against else None
    running, _ = observe(backend, ctx.system, ctx.paths, captured)
    document = status_document(backend, running, maintenance_on(ctx.system, ctx.paths))
    if args.json:
        ctx.print_json(document)
    else:
        ctx.out.write(format_table(document))
    return 0
