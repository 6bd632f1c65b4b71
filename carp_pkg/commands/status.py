"""carp-pkg status: what CARP is doing on this host right now."""

from __future__ import annotations

from typing import Optional

from ..cli_helpers import add_backend_argument, read_against
from ..errors import CarpError
from ..events import transitions
from ..status import pfsync_json, vhid_rows
from ..sync import maintenance_on, observe

NAME = "status"
HELP = "show every vhid: interface, VIPs, MASTER/BACKUP/INIT/DISABLED, advbase, advskew, pfsync"
DESCRIPTION = """\
Show what CARP is doing on this host: one row per vhid (interface, vhid, VIPs, state, advbase,
advskew), the demotion counter, whether CARP is allowed (net.inet.carp.allow; when it is 0 every
vhid shows DISABLED), maintenance mode, and the pfsync device with its sync status.
Passwords are never shown. Each vhid also shows its last transition as recorded by `carp-pkg event`
(devd, the ucarp scripts): "last_transition" {state, previous, time} in JSON (null when none was
recorded), a LAST CHANGE column in the table once any vhid has one.

example: carp-pkg status
example: carp-pkg status --json
example: carp-pkg --config examples/config.xml status --backend freebsd --against examples/ifconfig-freebsd14.txt
"""


def add_arguments(parser) -> None:
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--against", metavar="FILE", help="read this saved `ifconfig` output instead of the live host")


def last_transition(table: dict, interface: str, vhid: int):
    entry = table.get(transitions.key(interface, vhid))
    if not entry:
        return None
    return {"state": entry.get("state"), "previous": entry.get("previous"), "time": entry.get("time")}


LINUX_BACKENDS = ("ucarp", "keepalived")  # no net.inet.carp sysctls, no pfsync: status shows neither


def status_document(backend, running, maintenance: bool, transition_table=None, configured=None) -> dict:
    """configured: how many vhids config.xml asks for (None when it cannot be read), so that an empty
    table says "not running" rather than "not configured" when that is the truth."""
    table = transition_table or {}
    rows = [{**row, "last_transition": last_transition(table, row["interface"], row["vhid"])}
            for row in vhid_rows(running)]
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
        "configured_vhids": configured,
    }


def format_table(document: dict) -> str:
    header = ("INTERFACE", "VHID", "VIPS", "STATE", "ADVBASE", "ADVSKEW")
    rows = [(r["interface"], str(r["vhid"]), ",".join(r["addresses"]) or "-", r["state"], *_carp_timing(r))
            for r in document["vhids"]]
    if any(r.get("protocol") == "vrrp" for r in document["vhids"]):  # VRRPv3 vhids (issue 14): priority, interval
        header += ("VRRPPRIO", "INTERVAL")
        rows = [row + _vrrp_timing(r) for row, r in zip(rows, document["vhids"])]
    if any(r.get("last_transition") for r in document["vhids"]):
        header += ("LAST CHANGE",)
        rows = [row + (_change(r.get("last_transition")),) for row, r in zip(rows, document["vhids"])]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    if not rows:
        configured = document.get("configured_vhids")
        lines.append(f"(nothing running: config.xml configures {configured} vhid{'s' if configured != 1 else ''}; "
                     "`carp-pkg sync` starts them)" if configured else "(no CARP vhid configured)")
    maintenance = f"maintenance: {'ON' if document['maintenance'] else 'off'}"
    if document["backend"] in LINUX_BACKENDS:
        lines.append(maintenance)
        return "\n".join(lines) + "\n"
    sysctls = document["sysctls"]
    allowed = {1: "yes", 0: "NO (carp-pkg enable)", None: "unknown"}.get(sysctls["allow"], str(sysctls["allow"]))
    demotion = "unknown" if sysctls["demotion"] is None else str(sysctls["demotion"])
    lines.append(f"carp allowed: {allowed}   demotion: {demotion}   {maintenance}")
    pfsync = document["pfsync"]
    if pfsync and pfsync["syncdev"]:
        syncok = {True: "in sync", False: "NOT in sync", None: "sync status unknown"}[pfsync["syncok"]]
        lines.append(f"pfsync: {pfsync['syncdev']} ({syncok})")
    else:
        lines.append("pfsync: off")
    return "\n".join(lines) + "\n"


def _carp_timing(row: dict) -> tuple:
    return ("-", "-") if row.get("protocol") == "vrrp" else (str(row["advbase"]), str(row["advskew"]))


def _vrrp_timing(row: dict) -> tuple:
    if row.get("protocol") != "vrrp":
        return ("-", "-")
    interval = row.get("vrrpinterval")
    return (str(row.get("vrrpprio")), "-" if interval is None else f"{interval / 100:g} s")


def _change(last) -> str:
    if not last:
        return "-"
    shown = "".join(c if c.isprintable() else "?" for c in f"{last['previous'] or '-'}->{last['state']} {last['time']}")
    return shown[:80]


def configured_vhids(ctx, backend) -> Optional[int]:
    """How many vhids config.xml asks for; None when it cannot be read (status still shows what runs)."""
    try:
        return len(ctx.load_config(backend).groups())
    except CarpError:
        return None


def read_transitions(ctx) -> dict:
    """The last transition per vhid (events/transitions.py); {} when none was recorded or it cannot be read."""
    try:
        text = ctx.system.read_text(transitions.path_in(ctx.paths.state_dir), transitions.MAX_BYTES)
    except CarpError:
        return {}
    return transitions.parse(text)


def run(args, ctx) -> int:
    backend = ctx.backend(args.backend)
    captured = read_against(backend, args.against) if args.against else None
    running, _ = observe(backend, ctx.system, ctx.paths, captured)
    document = status_document(backend, running, maintenance_on(ctx.system, ctx.paths), read_transitions(ctx),
                               configured_vhids(ctx, backend))
    if args.json:
        ctx.print_json(document)
    else:
        ctx.out.write(format_table(document))
    return 0
