"""The status page as pure functions: `status --json` + `check --json` + events → HTML.

Both pages call render_fragment(): pfSense's carp_status.php prints it between its head.inc and
foot.inc (options.pfsense: the action buttons and pfSense wording), `carp-pkg serve` wraps it with
render_page(). The documents are treated as hostile: a value of the wrong type shows as text or
not at all, never breaks the page, and every value is escaped (markup.render).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Tuple

from ..rules import CARP_GROUPS
from . import template as T
from .events import Event, event_time
from .markup import Html, esc, join, prose, render
from .style import CSS

REFRESH_SECONDS = 5
PFSENSE_PAGE = "carp_status.php"
MULTICAST_PEERS = frozenset(CARP_GROUPS.values()) | {""}
NOT_RUNNING = "NOT RUNNING"

# state → (text class, icon), as pfSense's Status > CARP shows them
STATE_STYLES = {
    "MASTER": ("text-success", "play"),
    "BACKUP": ("text-warning", "pause"),
    "INIT": ("text-danger", "question"),
    "DISABLED": ("text-danger", "times"),
    NOT_RUNNING: ("text-danger", "times"),
}
UNKNOWN_STATE_STYLE = ("text-danger", "question")
SEVERITY_STYLES = {"CRITICAL": ("danger", "danger"), "WARNING": ("warning", "warning"),
                   "UNKNOWN": ("", "default"), "OK": ("", "success")}  # row class, label class

# Button value → label; the values are the keys of $carp_actions in pkgxml/carp_status.php.
ACTIONS = {
    "maintenance_on": "Enter Maintenance Mode",
    "maintenance_off": "Leave Maintenance Mode",
    "disable": "Temporarily Disable CARP",
    "enable": "Enable CARP",
    "reset_demotion": "Reset Demotion",
}


@dataclass(frozen=True)
class PageOptions:
    pfsense: bool = False  # pfSense's page: action buttons (POST + CSRF) and pfSense wording
    refresh: bool = False  # reload every REFRESH_SECONDS

    @property
    def on_url(self) -> str:
        return f"{PFSENSE_PAGE}?refresh=1" if self.pfsense else "/"

    @property
    def off_url(self) -> str:
        return PFSENSE_PAGE if self.pfsense else "/?refresh=0"

    @property
    def here(self) -> str:
        return self.on_url if self.refresh else self.off_url


@dataclass(frozen=True)
class PageData:
    status: Optional[dict] = None  # `carp-pkg status --json`; None when the running state could not be read
    status_error: Optional[str] = None
    check: Optional[dict] = None  # `carp-pkg check --json`
    names: Mapping[str, str] = field(default_factory=dict)  # device → friendly name from config.xml
    not_running: Tuple[dict, ...] = ()  # configured vhids that do not run: {"interface", "vhid", "addresses"}
    events: Optional[Tuple[Event, ...]] = None  # None: there is no event log
    events_error: Optional[str] = None


@dataclass(frozen=True)
class Banner:
    name: str
    level: str  # danger, warning
    title: str
    detail: str
    todo: str
    button: Optional[str] = None  # an ACTIONS key (pfSense only)


# --- reading hostile documents ----------------------------------------------------------------------
def _get(document, key, default=None):
    return document.get(key, default) if isinstance(document, dict) else default


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _number(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def display(value) -> str:
    """A JSON value as text: lists joined, booleans yes/no, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(display(v) for v in value)
    if isinstance(value, dict):
        return ""
    return str(value)


def yes_no(value) -> str:
    """A sysctl 1/0 or a boolean as yes/no; None as 'unknown'; anything else as itself."""
    if value is None:
        return "unknown"
    if value is True or value == 1:
        return "yes"
    if value is False or value == 0:
        return "no"
    return display(value)


def state_style(state) -> Tuple[str, str]:
    return STATE_STYLES.get(state, UNKNOWN_STATE_STYLE) if isinstance(state, str) else UNKNOWN_STATE_STYLE


def friendly(device, names: Mapping[str, str]) -> Html:
    """`WAN (em0)`: the config.xml name with the device in smaller text; the device alone when unnamed."""
    device = display(device)
    name = names.get(device) if isinstance(names, Mapping) else None
    if name and name != device:
        return render(T.FRIENDLY, name=name, device=device)
    return esc(device)


def icon(name: str) -> Html:
    return Html(T.ICONS[name])


def unicast_peers(row) -> List[str]:
    return [display(p) for p in (_get(row, "peer"), _get(row, "peer6")) if p is not None and display(p) not in MULTICAST_PEERS]


# --- decisions ------------------------------------------------------------------------------------------
def banners(data: PageData, pfsense: bool) -> List[Banner]:
    """What needs a person's attention, each with what to do (the pfSense button or the carp-pkg command)."""
    def todo(button: str, command: str) -> str:
        return f"press {ACTIONS[button]}" if pfsense else f"run `carp-pkg {command}`"

    found: List[Banner] = []
    if data.status is None:
        found.append(Banner("error", "danger", "The running CARP state could not be read.",
                            data.status_error or "", "check that carp-pkg runs as root on the CARP host "
                            "(see the message above), then reload this page."))
        return found
    sysctls = _get(data.status, "sysctls", {})
    if _get(sysctls, "allow") == 0:
        found.append(Banner(
            "disabled", "danger", "CARP is disabled on this host.",
            "net.inet.carp.allow is 0: no vhid sends or answers advertisements, so the peer holds every virtual IP.",
            f"{todo('enable', 'enable')} when the work is done (a reboot enables CARP again)."))
    demotion = _number(_get(sysctls, "demotion"))
    if demotion is not None and demotion > 0:
        found.append(Banner(
            "demoted", "danger", f"This host is demoted (net.inet.carp.demotion = {demotion}).",
            "Every vhid advertises as less preferred, so the peer becomes MASTER. CARP demotes itself when an "
            "interface with a vhid goes down, pfsync has not finished its bulk update, or advertisements "
            "could not be sent.",
            "check the link of every CARP interface and of the pfsync interface, look for \"demoted by\" in the "
            f"system log, then {todo('reset_demotion', 'demotion --reset')}.",
            "reset_demotion" if pfsense else None))
    if _get(data.status, "maintenance") is True:
        found.append(Banner(
            "maintenance", "warning", "Maintenance mode is on.",
            "Every vhid advertises advskew 254, so a healthy peer holds the virtual IPs; it stays so across reboots.",
            f"{todo('maintenance_off', 'maintenance off')} when the work is done."))
    pfsync = _get(data.status, "pfsync")
    syncdev = display(_get(pfsync, "syncdev"))
    if syncdev and _get(pfsync, "up") is False:
        found.append(Banner(
            "pfsync-down", "warning", "pfsync is down.",
            f"pfsync0 (sync interface {syncdev}) is not up: no state is sent to the peer.",
            "press Save on the CARP Settings tab (it runs `carp-pkg sync`)." if pfsense else "run `carp-pkg sync`."))
    elif syncdev and _get(pfsync, "syncok") is False:
        found.append(Banner(
            "pfsync", "warning", "pfsync is not in sync.",
            f"pfsync0 on {syncdev} has not completed its bulk update from the peer (syncok 0): this host's "
            "state table is incomplete, so a failover to it now would drop connections.",
            f"check the link of {syncdev} and that the peer runs pfsync on the same network; "
            "the warning clears itself once the bulk update completes."))
    return found


# --- rendering --------------------------------------------------------------------------------------------
def _panel(panel_id: str, title: str, body: Html, heading_extra: Html = Html("")) -> Html:
    return render(T.PANEL, panel_id=panel_id, title=title, body=body, heading_extra=heading_extra)


def _table(head: Sequence[str], rows: Sequence[Html], empty: str) -> Html:
    if not rows:
        rows = [render(T.EMPTY_ROW, span=str(len(head)), text=empty)]
    return render(T.TABLE, head=join(render(T.TH, text=h) for h in head), rows=join(rows, "\n"))


def _properties(properties) -> Html:
    """(cell id, name, value, css class) as one row of values under a row of names."""
    return render(T.PROPERTIES, head=join(render(T.TH, text=name) for _, name, _, _ in properties),
                  cells=join(render(T.PROPERTY, cell_id=cell_id, value=value, css_class=css)
                             for cell_id, _, value, css in properties))


def _banner(banner: Banner) -> Html:
    button = Html("")
    if banner.button:
        button = Html("\n" + render(T.BUTTON, value=banner.button, style="warning", label=ACTIONS[banner.button]))
    return render(T.BANNER, name=banner.name, level=banner.level, title=banner.title, detail=prose(banner.detail),
                  todo=prose(banner.todo[:1].upper() + banner.todo[1:]), button=button)


def _actions(data: PageData) -> Html:
    maintenance = _get(data.status, "maintenance") is True
    allowed = _get(_get(data.status, "sysctls", {}), "allow") != 0
    buttons = [("maintenance_off", "info") if maintenance else ("maintenance_on", "info"),
               ("disable", "danger") if allowed else ("enable", "success")]
    return join(render(T.BUTTON, value=value, style=style, label=ACTIONS[value]) for value, style in buttons)


def _refresh_toggle(options: PageOptions) -> Html:
    on, off = options.refresh, not options.refresh
    return render(T.REFRESH_TOGGLE, on_url=options.on_url, off_url=options.off_url,
                  on_active=" active" if on else "", off_active=" active" if off else "",
                  on_pressed="true" if on else "false", off_pressed="true" if off else "false")


def refresh_meta(options: PageOptions) -> Html:
    if not options.refresh:
        return Html("")
    return render(T.REFRESH_META, seconds=str(REFRESH_SECONDS), url=options.on_url)


def _overview(data: PageData) -> Html:
    status = data.status
    sysctls = _get(status, "sysctls", {})
    rows = _list(_get(status, "vhids"))
    states = [_get(r, "state") for r in rows]
    counts = f"{len(rows)} running ({states.count('MASTER')} MASTER, {states.count('BACKUP')} BACKUP)"
    if data.not_running:
        counts += f", {len(data.not_running)} configured but not running"
    demotion = _number(_get(sysctls, "demotion"))
    allow = _get(sysctls, "allow")
    properties = [
        ("carp-backend", "Backend", display(_get(status, "backend")), ""),
        ("carp-allow", "CARP enabled", yes_no(allow), "text-danger" if allow == 0 else ""),
        ("carp-preempt", "Preempt", yes_no(_get(sysctls, "preempt")), ""),
        ("carp-demotion", "Demotion", "unknown" if _get(sysctls, "demotion") is None else display(_get(sysctls, "demotion")),
         "text-danger" if demotion else ""),
        ("carp-maintenance", "Maintenance mode", yes_no(_get(status, "maintenance")),
         "text-warning" if _get(status, "maintenance") is True else ""),
        ("carp-count", "Virtual host IDs", counts, "text-danger" if data.not_running else ""),
    ]
    return _panel("carp-overview", "CARP", _properties(properties))


def last_change(row) -> Optional[str]:
    """`BACKUP → MASTER, 2025-06-01 12:00:00` from the row's last_transition (carp-pkg event), or None."""
    last = _get(row, "last_transition")
    if not isinstance(last, dict):
        return None
    when = event_time(_get(last, "time"))
    moved = f"{display(_get(last, 'previous')) or '?'} \u2192 {display(_get(last, 'state')) or '?'}"
    return f"{moved}, {format_time(when)}" if when is not None else moved


def _vhid_row(row, names: Mapping[str, str], show_peer: bool, show_change: bool) -> Html:
    state = display(_get(row, "state")) or "unknown"
    state_class, state_icon = state_style(_get(row, "state"))
    addresses = join((esc(display(a)) for a in _list(_get(row, "addresses"))), Html("<br>"))
    peer_cell = Html("")
    if show_peer:
        peer_cell = render(Html("<td class=\"carp-peer\">$peer</td>"), peer=", ".join(unicast_peers(row)) or "multicast")
    def number(key):
        value = _get(row, key)
        return "\u2014" if value is None else display(value)
    if show_change:
        peer_cell = Html(peer_cell + render(Html("<td class=\"carp-last-change\">$change</td>"),
                                            change=last_change(row) or "\u2014"))
    return render(T.VHID_ROW, device=display(_get(row, "interface")), interface=friendly(_get(row, "interface"), names),
                  vhid=display(_get(row, "vhid")), addresses=addresses or esc("\u2014"), state_class=state_class,
                  state=state, icon=icon(state_icon), advbase=number("advbase"), advskew=number("advskew"),
                  peer_cell=peer_cell)


def _vhids(data: PageData) -> Html:
    rows = [r for r in _list(_get(data.status, "vhids")) if isinstance(r, dict)]
    missing = [{**r, "state": NOT_RUNNING} for r in data.not_running if isinstance(r, dict)]
    show_peer = any(unicast_peers(r) for r in rows)
    show_change = any(last_change(r) for r in rows)
    head = (["Interface", "VHID", "Virtual IPs", "Status", "Advbase", "Advskew"] + (["Peer"] if show_peer else [])
            + (["Last change"] if show_change else []))
    empty = "No CARP virtual host IDs are running." if data.status is not None else "Unknown: the running state could not be read."
    body = _table(head, [_vhid_row(r, data.names, show_peer, show_change) for r in rows + missing], empty)
    return _panel("carp-vhids", "Virtual host IDs", body)


def _pfsync(data: PageData) -> Html:
    pfsync = _get(data.status, "pfsync")
    syncdev = _get(pfsync, "syncdev")
    if not syncdev:
        return _panel("carp-pfsync", "State synchronisation (pfsync)",
                      render(T.CONTENT, css_class="text-muted", text="pfsync is not configured."))
    syncok = _get(pfsync, "syncok")
    properties = [
        ("carp-syncdev", "Sync interface", friendly(syncdev, data.names), ""),
        ("carp-syncpeer", "Sync peer", display(_get(pfsync, "syncpeer")) or "multicast (224.0.0.240)", ""),
        ("carp-maxupd", "Max updates", display(_get(pfsync, "maxupd")), ""),
        ("carp-defer", "Defer", yes_no(_get(pfsync, "defer")), ""),
        ("carp-version", "Version", display(_get(pfsync, "version")) or "\u2014", ""),
        ("carp-syncok", "In sync", yes_no(syncok),
         "text-success" if syncok is True else "text-danger" if syncok is False else ""),
        ("carp-up", "Up", yes_no(_get(pfsync, "up")), "text-danger" if _get(pfsync, "up") is False else ""),
    ]
    return _panel("carp-pfsync", "State synchronisation (pfsync)", _properties(properties))


def _where(finding, names: Mapping[str, str]) -> Html:
    interface, vhid = _get(finding, "interface"), _get(finding, "vhid")
    place = friendly(interface, names) if display(interface) else esc("host")
    return Html(place + esc(f" vhid {display(vhid)}")) if vhid is not None else place


def _drift(data: PageData) -> Html:
    report = data.check
    status = display(_get(report, "status")) or "UNKNOWN"
    _, label_style = SEVERITY_STYLES.get(status, ("", "default"))
    label = render(T.LABEL, style=label_style, text=status)
    findings = [f for f in _list(_get(report, "findings")) if isinstance(f, dict)]
    if report is None or _get(report, "unknown") is not None:
        why = display(_get(report, "unknown")) or "carp-pkg check did not answer"
        body = render(T.CONTENT, css_class="text-muted carp-drift-unknown", text=f"Cannot compare: {why}")
    elif not findings:
        body = render(T.CONTENT, css_class="text-success carp-drift-none",
                      text="Everything in config.xml is running as configured.")
    else:
        severities = [display(_get(f, "severity")) for f in findings]
        summary = ", ".join(f"{severities.count(s)} {noun}{'' if severities.count(s) == 1 or s == 'CRITICAL' else 's'}"
                            for s, noun in (("CRITICAL", "critical"), ("WARNING", "warning")) if s in severities)
        rows = []
        for finding, severity in zip(findings, severities):
            row_class, row_label = SEVERITY_STYLES.get(severity, ("", "default"))
            rows.append(render(T.FINDING_ROW, row_class=row_class, severity=severity, label=row_label,
                               where=_where(finding, data.names), attribute=display(_get(finding, "attribute")),
                               expected=display(_get(finding, "expected")) or "\u2014",
                               actual=display(_get(finding, "actual")) or "\u2014",
                               message=prose(display(_get(finding, "message")))))
        count = f"{len(findings)} difference{'s' if len(findings) != 1 else ''} ({summary})"
        body = Html(render(T.CONTENT, css_class="carp-drift-summary", text=count) + "\n" +
                    _table(["Severity", "Where", "Attribute", "Configured", "Running", "Detail"], rows, ""))
    return _panel("carp-drift", "Configuration vs running", body, label)


def format_time(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def _events(data: PageData) -> Html:
    if data.events is None and data.events_error is None:
        return Html("")  # no event log on this host: no panel
    title = "Recent transitions"
    if data.events_error is not None:
        return _panel("carp-events", title, render(T.CONTENT, css_class="text-danger",
                                                   text=f"The event log could not be read: {data.events_error}"))
    rows = []
    for event in data.events or ():
        state_class, state_icon = state_style(event.state)
        previous_class, _ = state_style(event.previous) if event.previous else ("text-muted", "")
        rows.append(render(T.EVENT_ROW, time=format_time(event.time), interface=friendly(event.interface, data.names),
                           vhid=event.vhid, previous=event.previous or "\u2014", previous_class=previous_class,
                           state=event.state, state_class=state_class, icon=icon(state_icon),
                           vips=", ".join(event.vips) or "\u2014", backend=event.backend))
    body = _table(["Time", "Interface", "VHID", "Transition", "Virtual IPs", "Backend"], rows,
                  "No transitions recorded yet.")
    return _panel("carp-events", f"{title} (last {len(rows)})" if rows else title, body)


def render_fragment(data: PageData, options: PageOptions) -> Html:
    """The page body both pages show."""
    pfsense = options.pfsense
    return render(
        T.FRAGMENT,
        flavour="pfsense" if pfsense else "serve",
        body_refresh_meta=Html(refresh_meta(options) + "\n") if pfsense and options.refresh else Html(""),
        form_open=render(T.FORM_OPEN, action=options.here) if pfsense else Html(""),
        form_close=Html(T.FORM_CLOSE) if pfsense else Html(""),
        banners=join((_banner(b) for b in banners(data, pfsense)), "\n"),
        actions=_actions(data) if pfsense else Html(""),
        refresh_toggle=_refresh_toggle(options),
        overview=_overview(data),
        vhids=_vhids(data),
        pfsync=_pfsync(data),
        drift=_drift(data),
        events=_events(data),
    )


def render_page(data: PageData, options: PageOptions, hostname: str, version: str, generated: float,
                events_route: bool) -> Html:
    """`carp-pkg serve`'s whole document: the shared fragment in a pfSense-look shell with inline CSS."""
    return render(
        T.PAGE, refresh_meta=refresh_meta(options), title=f"{hostname} - Status: CARP", css=Html(CSS),
        hostname=hostname, version=version, generated=format_time(generated),
        events_link=Html(' &middot; <a href="/events">events</a>') if events_route else Html(""),
        fragment=render_fragment(data, options))
