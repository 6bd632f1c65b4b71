"""carp-pkg serve and the shared status page, without a browser: the renderer, the decisions it takes,
the event log reader, the hardened server, the routes against the CLI, the secrets sweep over every
route, and the rc.d / systemd entries. tests/test_browser.py looks at the same pages in Chromium.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import lxml.html
import pytest
from prometheus_client.parser import text_string_to_metric_families

from carp_pkg.cli import Context
from carp_pkg.errors import InputError, UsageError
from carp_pkg.paths import Paths
from carp_pkg.system import System
from carp_pkg.web import events as ev
from carp_pkg.web.markup import Html, esc, render
from carp_pkg.web.page import ACTIONS, PageData, PageOptions, banners, render_fragment, render_page
from carp_pkg.web.server import (ROUTES, App, Settings, StatusServer, _local_host, allowed_host, host_allowed,
                                 host_name, parse_listen)
from carp_pkg.web.snapshot import Health, SnapshotCache, Source, health, take
from carp_pkg.web.style import CSS, CSS_SHA256

from tests.helpers import host_runner, run_cli
from tests.test_browser import Host, event_line, serving, stop
from tests.test_check import FREEBSD_14, HEALTHY_SYSCTLS, host  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
STUBS = Path(__file__).resolve().parent / "stubs"
STATUS_PHP = ROOT / "pkgxml" / "carp_status.php"
INJECTIONS = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "'onmouseover='alert(3)",
              "<svg onload=alert(4)>", "</td></tr></table><iframe src=//evil>", "&lt;b&gt;")
HOSTILE = "<script>alert('x')</script>\"'&"


def dom(html: str):
    return lxml.html.document_fromstring(html)


def injected_elements(tree) -> list:
    """Elements or attributes a hostile value could have created: scripts, frames, images, event handlers,
    and any svg that is not one of the page's own icons."""
    bad = [e.tag for e in tree.iter() if isinstance(e.tag, str) and e.tag in ("script", "iframe", "img", "object", "embed")]
    bad += [e.get("class") for e in tree.iter("svg") if "carp-icon" not in (e.get("class") or "")]
    bad += [f"{e.tag}@{name}" for e in tree.iter() if isinstance(e.tag, str) for name in e.attrib if name.startswith("on")]
    return bad


HEALTHY_STATUS = {
    "backend": "freebsd", "maintenance": False, "sysctls": {"allow": 1, "preempt": 1, "demotion": 0},
    "vhids": [
        {"interface": "em0", "vhid": 10, "addresses": ["198.51.100.1/24"], "state": "MASTER", "advbase": 1,
         "advskew": 0, "peer": "224.0.0.18", "peer6": "ff02::12"},
        {"interface": "em1", "vhid": 20, "addresses": ["10.0.0.1/24"], "state": "BACKUP", "advbase": 2,
         "advskew": 100, "peer": "224.0.0.18", "peer6": "ff02::12"}],
    "pfsync": {"syncdev": "em2", "syncpeer": None, "maxupd": 128, "defer": False, "version": 1400, "syncok": True,
               "up": True},
}
OK_CHECK = {"status": "OK", "findings": [], "unknown": None}
NAMES = {"em0": "WAN", "em1": "LAN", "em2": "SYNC"}


def fragment(status=HEALTHY_STATUS, check=OK_CHECK, pfsense=False, refresh=False, **data):
    return render_fragment(PageData(status=status, check=check, names=data.pop("names", NAMES), **data),
                           PageOptions(pfsense=pfsense, refresh=refresh))


# --- the renderer ------------------------------------------------------------------------------------------
def test_render_escapes_every_value_and_only_html_passes_through():
    assert render("<td title=\"$a\">$b</td>", a="\"'<>&", b=Html("<b>ok</b>")) == \
        "<td title=\"&quot;&#x27;&lt;&gt;&amp;\"><b>ok</b></td>"
    assert esc(None) == "" and esc(3) == "3"
    with pytest.raises(KeyError):
        render("$missing")


def test_states_are_shown_as_pfsense_shows_them():
    tree = dom(fragment(status={**HEALTHY_STATUS, "vhids": [
        {"interface": "em0", "vhid": 1, "state": "MASTER"}, {"interface": "em0", "vhid": 2, "state": "BACKUP"},
        {"interface": "em0", "vhid": 3, "state": "INIT"}, {"interface": "em0", "vhid": 4, "state": "DISABLED"},
        {"interface": "em0", "vhid": 5, "state": "STOPPED"}]},
        not_running=({"interface": "em1", "vhid": 6, "addresses": ["10.0.0.6/24"]},)))
    cells = {row.get("data-vhid"): row.find_class("carp-state")[0] for row in tree.find_class("carp-vhid")}
    expected = {"1": ("text-success", "play", "MASTER"), "2": ("text-warning", "pause", "BACKUP"),
                "3": ("text-danger", "question", "INIT"), "4": ("text-danger", "times", "DISABLED"),
                "5": ("text-danger", "question", "STOPPED"), "6": ("text-danger", "times", "NOT RUNNING")}
    for vhid, (css, icon, text) in expected.items():
        assert css in cells[vhid].get("class").split(), vhid
        assert cells[vhid].xpath(f".//svg[contains(@class, 'carp-icon-{icon}')]"), vhid
        assert cells[vhid].text_content().strip() == text


def test_interfaces_show_their_friendly_name_with_the_device_in_smaller_text():
    tree = dom(fragment())
    rows = tree.find_class("carp-vhid")
    assert [r.find_class("carp-interface")[0].text_content() for r in rows] == ["WAN (em0)", "LAN (em1)"]
    assert rows[0].find_class("carp-interface")[0].xpath("./small[@class='carp-device']")[0].text == "(em0)"
    assert tree.get_element_by_id("carp-syncdev").text_content() == "SYNC (em2)"
    unnamed = dom(fragment(names={}))
    assert unnamed.find_class("carp-interface")[0].text_content() == "em0"


def test_sysctls_and_flags_read_yes_or_no():
    tree = dom(fragment())
    assert [tree.get_element_by_id(i).text_content() for i in ("carp-allow", "carp-preempt", "carp-maintenance",
                                                               "carp-defer", "carp-syncok", "carp-up")] == \
        ["yes", "yes", "no", "no", "yes", "yes"]
    unknown = dom(fragment(status={**HEALTHY_STATUS, "sysctls": {"allow": None, "preempt": None, "demotion": None}}))
    assert unknown.get_element_by_id("carp-allow").text_content() == "unknown"
    assert unknown.get_element_by_id("carp-demotion").text_content() == "unknown"


def test_the_peer_column_is_there_only_when_a_unicast_peer_is_set():
    assert "Peer" not in [th.text for th in dom(fragment()).get_element_by_id("carp-vhids").iter("th")]
    unicast = [{**HEALTHY_STATUS["vhids"][0], "peer": "198.51.100.3"}, HEALTHY_STATUS["vhids"][1]]
    tree = dom(fragment(status={**HEALTHY_STATUS, "vhids": unicast}))
    assert "Peer" in [th.text for th in tree.get_element_by_id("carp-vhids").iter("th")]
    assert [c.text_content() for c in tree.find_class("carp-peer")] == ["198.51.100.3", "multicast"]
    ipv6 = [{**HEALTHY_STATUS["vhids"][0], "peer6": "2001:db8::3"}]
    assert [c.text_content() for c in dom(fragment(status={**HEALTHY_STATUS, "vhids": ipv6})).find_class("carp-peer")] \
        == ["2001:db8::3"]


def test_the_last_change_column_appears_once_a_vhid_has_a_recorded_transition():
    assert "Last change" not in [th.text for th in dom(fragment()).get_element_by_id("carp-vhids").iter("th")]
    rows = [{**HEALTHY_STATUS["vhids"][0], "last_transition": {"state": "MASTER", "previous": "BACKUP",
                                                               "time": "2025-06-01T12:00:00.000000Z"}},
            {**HEALTHY_STATUS["vhids"][1], "last_transition": None},
            {**HEALTHY_STATUS["vhids"][1], "vhid": 30, "last_transition": {"state": HOSTILE, "time": "never"}}]
    tree = dom(fragment(status={**HEALTHY_STATUS, "vhids": rows}))
    assert [th.text for th in tree.get_element_by_id("carp-vhids").iter("th")][-1] == "Last change"
    cells = [c.text_content() for c in tree.find_class("carp-last-change")]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1748779200))
    assert cells == [f"BACKUP \u2192 MASTER, {when}", "\u2014", f"? \u2192 {HOSTILE}"]
    assert injected_elements(tree) == []


def test_the_drift_panel_has_one_row_per_finding_with_its_severity():
    check = {"status": "CRITICAL", "unknown": None, "findings": [
        {"severity": "CRITICAL", "interface": "em1", "vhid": 20, "attribute": "vhid", "expected": "present",
         "actual": "missing", "message": "configured, not running"},
        {"severity": "WARNING", "interface": "em0", "vhid": 10, "attribute": "advskew", "expected": "20",
         "actual": "0", "message": "expected 20, running 0 (changes which host is preferred as master)"},
        {"severity": "WARNING", "interface": "", "vhid": None, "attribute": "net.inet.carp.demotion",
         "expected": "0", "actual": "240", "message": "expected 0, running 240"}]}
    panel = dom(fragment(check=check)).get_element_by_id("carp-drift")
    assert panel.find_class("carp-check-status")[0].text == "CRITICAL"
    assert "label-danger" in panel.find_class("carp-check-status")[0].get("class")
    rows = [[td.text_content() for td in tr.iter("td")] for tr in panel.find_class("carp-finding")]
    assert rows == [
        ["CRITICAL", "LAN (em1) vhid 20", "vhid", "present", "missing", "configured, not running"],
        ["WARNING", "WAN (em0) vhid 10", "advskew", "20", "0",
         "expected 20, running 0 (changes which host is preferred as master)"],
        ["WARNING", "host", "net.inet.carp.demotion", "0", "240", "expected 0, running 240"]]
    assert [tr.get("class").split()[-1] for tr in panel.find_class("carp-finding")] == ["danger", "warning", "warning"]
    assert panel.find_class("carp-drift-summary")[0].text == "3 differences (1 critical, 2 warnings)"


def test_the_drift_panel_says_when_everything_matches_or_nothing_can_be_compared():
    assert dom(fragment()).find_class("carp-drift-none")[0].text == "Everything in config.xml is running as configured."
    unknown = {"status": "UNKNOWN", "unknown": "/conf/config.xml: no such file", "findings": []}
    text = dom(fragment(check=unknown)).find_class("carp-drift-unknown")[0].text
    assert text == "Cannot compare: /conf/config.xml: no such file"


@pytest.mark.parametrize("pfsense", [False, True])
def test_banners_say_what_is_wrong_and_what_to_do(pfsense):
    status = {**HEALTHY_STATUS, "maintenance": True, "sysctls": {"allow": 0, "preempt": 1, "demotion": 240},
              "pfsync": {**HEALTHY_STATUS["pfsync"], "syncok": False}}
    found = {b.name: b for b in banners(PageData(status=status), pfsense)}
    assert list(found) == ["disabled", "demoted", "maintenance", "pfsync"]
    assert [found[n].level for n in found] == ["danger", "danger", "warning", "warning"]
    todo = {n: b.todo for n, b in found.items()}
    if pfsense:
        assert todo["disabled"].startswith("press Enable CARP")
        assert todo["demoted"].endswith("then press Reset Demotion.")
        assert todo["maintenance"].startswith("press Leave Maintenance Mode")
        assert found["demoted"].button == "reset_demotion"
    else:
        assert todo["disabled"].startswith("run `carp-pkg enable`")
        assert todo["demoted"].endswith("then run `carp-pkg demotion --reset`.")
        assert todo["maintenance"].startswith("run `carp-pkg maintenance off`")
        assert found["demoted"].button is None
    assert "em2" in todo["pfsync"] and "bulk update" in todo["pfsync"]
    tree = dom(fragment(status=status, pfsense=pfsense))
    assert [e.get("id") for e in tree.find_class("carp-banner")] == [
        "carp-banner-disabled", "carp-banner-demoted", "carp-banner-maintenance", "carp-banner-pfsync"]
    assert all(e.find_class("carp-todo")[0].text_content().startswith("What to do: ") for e in tree.find_class("carp-banner"))
    reset = tree.get_element_by_id("carp-banner-demoted").xpath(".//button[@value='reset_demotion']")
    assert bool(reset) == pfsense


def test_a_healthy_host_has_no_banner_and_pfsync_down_has_its_own():
    assert banners(PageData(status=HEALTHY_STATUS), True) == []
    down = {**HEALTHY_STATUS, "pfsync": {**HEALTHY_STATUS["pfsync"], "up": False}}
    assert [b.name for b in banners(PageData(status=down), False)] == ["pfsync-down"]
    unread = banners(PageData(status=None, status_error="ifconfig: command not found"), False)
    assert [(b.name, b.detail) for b in unread] == [("error", "ifconfig: command not found")]


def test_pfsense_buttons_follow_the_state_and_post_to_the_page_with_known_actions_only():
    php_actions = set(re.findall(r"^\t'(\w+)' => array\(", STATUS_PHP.read_text(), re.M))
    assert set(ACTIONS) == php_actions
    tree = dom(fragment(pfsense=True))
    form = tree.xpath("//form")[0]
    assert (form.get("action"), form.get("method")) == ("carp_status.php", "post")
    assert [b.get("value") for b in form.iter("button")] == ["maintenance_on", "disable"]
    troubled = {**HEALTHY_STATUS, "maintenance": True, "sysctls": {"allow": 0, "demotion": 5}}
    buttons = [b.get("value") for b in dom(fragment(status=troubled, pfsense=True)).iter("button")]
    assert buttons == ["reset_demotion", "maintenance_off", "enable"]
    assert not dom(fragment(pfsense=False)).xpath("//form|//button"), "serve offers no action"


def test_the_refresh_toggle_and_the_five_second_reload():
    off = dom(fragment(pfsense=True))
    assert off.get_element_by_id("carp-refresh-off").get("aria-pressed") == "true"
    assert off.get_element_by_id("carp-refresh-on").get("href") == "carp_status.php?refresh=1"
    assert not off.xpath("//meta[@http-equiv='refresh']")
    on = dom(fragment(pfsense=True, refresh=True))
    assert on.xpath("//meta[@http-equiv='refresh']/@content") == ["5; url=carp_status.php?refresh=1"]
    assert on.xpath("//form/@action") == ["carp_status.php?refresh=1"]
    page = dom(render_page(PageData(status=HEALTHY_STATUS, check=OK_CHECK), PageOptions(refresh=True), "fw1", "1",
                           0.0, False))
    assert page.xpath("/html/head/meta[@http-equiv='refresh']/@content") == ["5; url=/"]
    assert page.get_element_by_id("carp-refresh-off").get("href") == "/?refresh=0"


def _hostile_document(value):
    return {
        "backend": value, "maintenance": value, "sysctls": {"allow": value, "preempt": value, "demotion": value},
        "vhids": [{"interface": value, "vhid": value, "addresses": [value, value], "state": value,
                   "advbase": value, "advskew": value, "peer": value, "peer6": value,
                   "last_transition": {"state": value, "previous": value, "time": value}}, value],
        "pfsync": {"syncdev": value, "syncpeer": value, "maxupd": value, "defer": value, "version": value,
                   "syncok": value, "up": value},
    }


@pytest.mark.parametrize("value", [*INJECTIONS, None, 7, True, [], {}, ["<b>x</b>"], {"<b>": "<i>"}, 1e308])
def test_any_hostile_status_document_renders_escaped_without_failing(value):
    check = {"status": value, "unknown": None, "findings": [
        {"severity": value, "interface": value, "vhid": value, "attribute": value, "expected": value,
         "actual": value, "message": value}, value]}
    for pfsense in (False, True):
        html = render_fragment(PageData(status=_hostile_document(value), check=check, names={str(value): value},
                                        not_running=({"interface": value, "vhid": value, "addresses": value},)),
                               PageOptions(pfsense=pfsense))
        tree = dom(html)
        assert injected_elements(tree) == []
        if isinstance(value, str):
            assert value in tree.text_content()  # shown as text, never as markup


def test_a_hostile_config_description_and_event_are_text():
    event = ev.Event(time=0.0, backend=HOSTILE, interface="em0", vhid=HOSTILE, state=HOSTILE, previous=HOSTILE,
                     vips=(HOSTILE,))
    tree = dom(fragment(names={"em0": HOSTILE}, events=(event,)))
    assert injected_elements(tree) == []
    assert tree.find_class("carp-interface")[0].text_content() == f"{HOSTILE} (em0)"
    row = tree.find_class("carp-event")[0]
    assert [td.text_content() for td in row.iter("td")][1:] == [f"{HOSTILE} (em0)", HOSTILE, f"{HOSTILE} \u2192 {HOSTILE}",
                                                                 HOSTILE, HOSTILE]


def test_the_page_inlines_exactly_the_css_its_policy_allows():
    html = render_page(PageData(status=HEALTHY_STATUS, check=OK_CHECK), PageOptions(), "fw1", "1.0", 0.0, True)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert style == CSS
    assert CSS_SHA256 == "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing is loaded from elsewhere (no CDN)"
    assert "@import" not in CSS and "url(" not in CSS


# --- the event log ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("line", [
    "", "not json", "[1, 2]", "null", '"MASTER"', '{"state": "MASTER"}', '{"time": "yesterday", "state": "MASTER"}',
    '{"time": true, "state": "MASTER"}', '{"time": 1e20, "state": "MASTER"}', '{"time": -5, "state": "MASTER"}',
    '{"time": NaN, "state": "MASTER"}', '{"time": 1.7e9}', '{"time": 1.7e9, "state": ""}',
    '{"time": 1.7e9, "state": ["MASTER"]}', '{"time": 1.7e9, "state": "MASTER", "kind": "hook"}',
    "[" * 100000, '{"time": 1.7e9, "state": "MASTER", "x": "' + "a" * 20000 + '"}',
])
def test_a_line_that_is_not_a_transition_is_skipped(line):
    assert ev.parse_event(line.encode()) is None


def test_every_event_field_is_bounded_and_printable():
    line = json.dumps({"time": 1.7e9, "backend": "ucarp\x1b[31m", "interface": "x" * 500, "vhid": 7,
                       "state": "MASTER\n\ndata: forged", "previous": {"a": 1}, "vips": ["10.0.0.1", 5, None, "y" * 99] +
                       ["z"] * 40})
    event = ev.parse_event(line)
    assert event.backend == "ucarp\ufffd[31m" and len(event.interface) == ev.MAX_TEXT
    assert event.state == "MASTER\ufffd\ufffddata: forged" and event.previous == "" and event.vhid == "7"
    assert event.vips[:3] == ("10.0.0.1", "5", "y" * ev.MAX_TEXT) and len(event.vips) <= ev.MAX_VIPS
    assert event.to_json()["vhid"] == 7
    iso = ev.parse_event('{"time": "2025-06-01T12:00:00.123456Z", "state": "BACKUP", "vhid": 3}')
    assert iso.time == pytest.approx(1748779200.123456)


def test_recent_events_are_the_last_twenty_newest_first(tmp_path):
    log = tmp_path / "events.jsonl"
    lines = [event_line(1.7e9 + i, "em0", i, "MASTER", "BACKUP") for i in range(30)]
    log.write_text("\n".join(lines[:10] + ["garbage", '{"kind": "hook", "time": 1}'] + lines[10:]) + "\n")
    recent = ev.read_recent(str(log))
    assert [e.vhid for e in recent] == [str(i) for i in range(29, 9, -1)]
    assert ev.read_recent(str(tmp_path / "absent.jsonl")) is None


def test_a_huge_log_costs_only_its_tail_and_a_rotated_log_still_shows_twenty(tmp_path):
    log = tmp_path / "events.jsonl"
    with open(log, "w") as handle:
        handle.write(("x" * 1000 + "\n") * 5000)  # 5 MB of junk, then the events
        handle.write("".join(event_line(1.7e9 + i, "em0", i, "MASTER", "INIT") + "\n" for i in range(3)))
    assert [e.vhid for e in ev.read_recent(str(log))] == ["2", "1", "0"]
    (tmp_path / "events.jsonl.1").write_text("".join(event_line(1.6e9 + i, "em1", 100 + i, "BACKUP", "INIT") + "\n"
                                                     for i in range(30)))
    recent = ev.read_recent(str(log))
    assert len(recent) == 20 and [e.vhid for e in recent[:4]] == ["2", "1", "0", "129"]


def test_a_log_that_is_a_link_a_directory_or_a_device_is_refused(tmp_path):
    target = tmp_path / "elsewhere.jsonl"
    target.write_text(event_line(1.7e9, "em0", 1, "MASTER", "BACKUP") + "\n")
    (tmp_path / "link.jsonl").symlink_to(target)
    (tmp_path / "dir.jsonl").mkdir()
    for path in (tmp_path / "link.jsonl", tmp_path / "dir.jsonl", Path("/dev/zero")):
        with pytest.raises(InputError):
            ev.read_recent(str(path))


def test_the_follower_sees_appends_rotation_and_drops_an_overlong_line(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(event_line(1.7e9, "em0", 1, "MASTER", "BACKUP") + "\n")
    follower = ev.EventFollower(str(log))
    assert follower.poll() == []  # only what comes after it started
    with open(log, "a") as handle:
        handle.write(event_line(1.7e9, "em0", 2, "BACKUP", "MASTER") + "\n" + '{"time": 1.7e9, "sta')
    assert [e.vhid for e in follower.poll()] == ["2"]
    with open(log, "a") as handle:
        handle.write('te": "INIT", "vhid": 3}\n' + "y" * (ev.MAX_LINE_BYTES + 10))
    assert [e.vhid for e in follower.poll()] == ["3"]
    with open(log, "a") as handle:
        handle.write("y" * 100 + "\n" + event_line(1.7e9, "em0", 4, "MASTER", "INIT") + "\n")
    assert [e.vhid for e in follower.poll()] == ["4"]
    log.rename(tmp_path / "events.jsonl.1")
    log.write_text(event_line(1.7e9, "em0", 5, "MASTER", "INIT") + "\n")
    assert [e.vhid for e in follower.poll()] == ["5"]


# --- health -------------------------------------------------------------------------------------------------
def _snapshot_of(root, ifconfig=FREEBSD_14, sysctls=None):
    paths = Paths(root=str(root))
    runner = host_runner(ifconfig, HEALTHY_SYSCTLS if sysctls is None else sysctls)
    ctx = Context(paths=paths, system=System(runner=runner, paths=paths, dry_run=True))
    return take(ctx, Source(backend="freebsd")), runner


def test_health_is_ok_only_when_every_configured_vhid_runs(host):
    assert _snapshot_of(host)[0].health == Health(True, 2, 2, ())
    init = _snapshot_of(host, FREEBSD_14.replace("MASTER vhid 10", "INIT vhid 10"))[0].health
    assert init == Health(False, 2, 1, ("em0 vhid 10: INIT",))
    gone = FREEBSD_14.replace("\tcarp: BACKUP vhid 20 advbase 2 advskew 100\n", "")
    assert _snapshot_of(host, gone)[0].health.problems == ("em1 vhid 20: configured, not running",)
    disabled = _snapshot_of(host, sysctls={**HEALTHY_SYSCTLS, "net.inet.carp.allow": 0})[0].health
    assert not disabled.ok and disabled.problems[0] == "CARP is disabled (net.inet.carp.allow=0)"
    (host / "conf" / "config.xml").write_text("<pfsense><installedpackages><carp><config><vhid>0")
    broken = _snapshot_of(host)[0]
    assert not broken.health.ok and broken.check["status"] == "UNKNOWN"
    assert broken.status is not None, "the running state is still shown when config.xml is broken"
    assert health(None, None, "why").to_json() == {"ok": False, "configured": 0, "running": 0, "problems": ["why"]}


def test_a_snapshot_only_reads_and_is_shared_within_its_ttl(host):
    snapshot, runner = _snapshot_of(host)
    assert runner.mutating_calls == []
    calls = []
    clock = [0.0]
    cache = SnapshotCache(lambda: calls.append(1) or snapshot, ttl=1.0, clock=lambda: clock[0])
    for _ in range(50):
        cache.get()
    clock[0] = 1.5
    cache.get()
    assert len(calls) == 2


# --- the server ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def running(snapshot, events_file=None, **settings):
    app = App(snapshot=lambda: snapshot, events_file=str(events_file or "/nonexistent/events.jsonl"),
              events_exist=lambda: events_file is not None and Path(events_file).is_file(),
              hostname="fw1<b>", version="1.0.0")
    server = StatusServer(Settings(port=0, **{"poll_seconds": 0.05, **settings}), app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.stop()
        server.server_close()
        thread.join(5)


def raw(port, data: bytes, timeout=5.0, close_sending=False) -> bytes:
    """The server's whole answer to `data`; close_sending: the client then closes its sending side (the server
    sees its end)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if close_sending:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    return b"".join(chunks)


def get(port, path, method="GET", headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


@pytest.fixture
def snapshot(host):
    return _snapshot_of(host)[0]


def test_every_route_and_every_refusal_carries_the_security_headers(snapshot):
    with running(snapshot) as port:
        for path in (*[r for r in ROUTES if r != "/events"], "/events", "/nope", "/?refresh=0"):
            response, _ = get(port, path)
            assert response.getheader("X-Content-Type-Options") == "nosniff", path
            assert response.getheader("Content-Security-Policy").startswith("default-src 'none'"), path
            assert response.getheader("X-Frame-Options") == "DENY"
            assert response.getheader("Cache-Control") == "no-store"
            assert response.getheader("Server") == "carp-pkg", "no version or Python banner"
        page, html = get(port, "/")
        assert page.status == 200 and page.getheader("Content-Type") == "text/html; charset=utf-8"
        assert f"style-src '{CSS_SHA256}'" in page.getheader("Content-Security-Policy")
        assert b"fw1&lt;b&gt;" in html and b"fw1<b>" not in html


@pytest.mark.parametrize("path", ["/nope", "/status.json/", "/../../etc/passwd", "/%2e%2e/", "/%2fstatus.json",
                                  "/metrics.php", "/index.html", "/<script>alert(1)</script>", "/healthz%00",
                                  "/static/carp.css", "/status.json;x", "/Metrics"])
def test_nothing_is_served_outside_the_routes_and_nothing_is_echoed(snapshot, path):
    with running(snapshot) as port:
        response, body = get(port, path)
    assert (response.status, body) == (404, b"404 not found\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"])
def test_only_get_and_head_are_answered(snapshot, method):
    with running(snapshot) as port:
        response, body = get(port, "/", method=method)
    assert response.status == 405 and response.getheader("Allow") == "GET, HEAD"
    assert b"read-only" in body


def test_a_failing_route_is_a_500_that_shows_nothing_and_the_server_goes_on(snapshot, capfd):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("secret internals")
        return snapshot

    app = App(snapshot=flaky, events_file="/nonexistent", events_exist=lambda: False, hostname="fw1", version="1")
    server = StatusServer(Settings(port=0), app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        first = get(server.server_address[1], "/healthz")
        second = get(server.server_address[1], "/healthz")
    finally:
        server.stop()
        server.server_close()
    assert (first[0].status, first[1]) == (500, b"500 internal server error\n")
    assert second[0].status == 200
    assert "ValueError" in capfd.readouterr().err


def test_head_sends_headers_without_a_body(snapshot):
    with running(snapshot) as port:
        response, body = get(port, "/metrics", method="HEAD")
    assert response.status == 200 and body == b"" and int(response.getheader("Content-Length")) > 100


def test_request_sizes_are_bounded(snapshot):
    with running(snapshot) as port:
        assert raw(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 414")
        headers = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 100) for i in range(90))
        assert raw(port, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n").startswith(b"HTTP/1.0 431")
        assert raw(port, b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").startswith(b"HTTP/1.0 413")
        assert raw(port, b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").startswith(b"HTTP/1.0 413")
        assert raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert raw(port, b"GET /?" + b"&".join(b"a%d=1" % i for i in range(20)) + b" HTTP/1.0\r\n\r\n") \
            .startswith(b"HTTP/1.0 400")


def test_a_slow_client_is_cut_off_after_the_timeout(snapshot):
    """One header byte every 0.2 s: each read is quick, but the head must be complete within the timeout."""
    import select
    with running(snapshot, timeout=1.0) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        answer = None
        while answer is None and time.monotonic() - started < 5:
            with contextlib.suppress(OSError):
                sock.sendall(b"X")
            if select.select([sock], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    answer = sock.recv(1024)
                answer = answer or b""
        elapsed = time.monotonic() - started
    assert answer is not None and 0.9 < elapsed < 2.5, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.0 408")


SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "cache-control")


def head_of(answer: bytes):
    """The status line and the headers (lower-case names) of a raw response."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status, *lines = head.split("\r\n")
    return status, {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}


def assert_secured(answer: bytes, status: int) -> None:
    line, headers = head_of(answer)
    assert line.startswith(f"HTTP/1.0 {status} "), answer[:200]
    assert [h for h in SECURITY_HEADERS if h not in headers] == [], answer[:400]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"


def port_of(url: str) -> int:
    from urllib.parse import urlsplit
    return urlsplit(url).port


def test_no_room_at_all_is_429_with_retry_after_never_503(snapshot):
    """Busy is not unhealthy: with every slot answering (none still sending its head, so none can give way)
    a newcomer is told 429 with Retry-After and a body of its own; /healthz keeps 503 for "unhealthy"."""
    with running(snapshot, max_connections=2, reserved_connections=1, evict_after=30.0, timeout=3.0) as port:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        time.sleep(0.3)
        try:
            assert raw(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200"), "the reserved slot"
            page = raw(port, b"GET / HTTP/1.0\r\n\r\n")
            assert_secured(page, 429)  # a reserved slot is for the probes only
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.3)
            started = time.monotonic()
            answer = raw(port, b"GET /healthz HTTP/1.0\r\n\r\n")
            assert time.monotonic() - started < 2
            assert_secured(answer, 429)
            assert head_of(answer)[1]["retry-after"] == "1"
            assert answer.endswith(b"429 server busy: too many connections at once; retry in a moment "
                                   b"(this says nothing about health)\n")
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert raw(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")


def test_a_client_slow_to_send_its_head_gives_way_and_is_told_429(snapshot):
    with running(snapshot, max_connections=1, reserved_connections=0, evict_after=0.3) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(b"GET /status.json HTTP/1.1\r\nHost: local")
        assert raw(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 429"), "too young to give way"
        time.sleep(0.4)
        assert raw(port, b"GET /status.json HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
        answer = slow.recv(4096)
    assert_secured(answer, 429)
    assert head_of(answer)[1]["retry-after"] == "1"


def test_slow_clients_cannot_keep_the_probes_or_the_page_out(example):
    """The outside tester's report: 16 connections sending one byte a second kept every route, /healthz
    too, at 503 (what an unhealthy node answers, so a load balancer would take the node out). Now
    /healthz and /metrics are answered at once (slots kept for them), and the page as soon as the slow
    connections have spent a second on their heads (they give way to newcomers)."""
    with serving(example) as url:
        port = port_of(url)
        slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
        done = threading.Event()

        def dribble():
            import select
            request = b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"y" * 200
            for index in range(len(request)):
                for sock in slow:
                    if not select.select([sock], [], [], 0)[0]:  # not once it has been answered
                        with contextlib.suppress(OSError):
                            sock.send(request[index:index + 1])
                if done.wait(1.0):
                    return

        thread = threading.Thread(target=dribble, daemon=True)
        thread.start()
        try:
            time.sleep(0.5)
            for path in ("healthz", "metrics"):
                answer = raw(port, f"GET /{path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                assert answer.startswith(b"HTTP/1.0 200"), (path, answer[:200])
            time.sleep(1.0)
            answer = raw(port, b"GET /status.json HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert answer.startswith(b"HTTP/1.0 200"), answer[:200]
        finally:
            done.set()
            thread.join(5)
            for sock in slow:
                sock.close()


def _events_status(port: int) -> bytes:
    """The status line /events answers with (the stream is left at once)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n", 1)[0]


def test_a_stream_whose_client_left_gives_its_slot_back_at_once(example):
    """A client that closed its /events connection held the stream slot until the next keepalive write
    (15 s). The socket is now watched between polls: the slot is free again within about a second."""
    with serving(example, "--max-connections", "4") as url:  # a quarter of 4: one stream at a time
        port = port_of(url)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
            first.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            while b"retry: 5000\n\n" not in received:
                received += first.recv(4096)
            assert _events_status(port) != b"HTTP/1.0 200 OK", "the one stream slot is taken"
        left = time.monotonic()
        status = b""
        while time.monotonic() - left < 3 and status != b"HTTP/1.0 200 OK":
            time.sleep(0.2)
            status = _events_status(port)
        assert status == b"HTTP/1.0 200 OK", status
        assert time.monotonic() - left < 3


MALFORMED = [
    ("HTTP/1.1 without Host", b"GET /status.json HTTP/1.1\r\n\r\n"),
    ("two Host headers", b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n"),
    ("two Host headers, 1.0", b"GET /status.json HTTP/1.0\r\nHost: localhost\r\nhost: evil.example\r\n\r\n"),
    ("space before the colon", b"GET /status.json HTTP/1.1\r\nHost : evil.example\r\n\r\n"),
    ("space before the colon, 1.0", b"GET /status.json HTTP/1.0\r\nHost : evil.example\r\n\r\n"),
    ("a folded line", b"GET /status.json HTTP/1.1\r\nHost: localhost\r\n evil.example\r\n\r\n"),
    ("a control character", b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n"),
    ("a line with no colon", b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nnonsense\r\n\r\n"),
    ("a Host that is no host", b"GET /status.json HTTP/1.1\r\nHost: localhost, evil.example\r\n\r\n"),
    ("absolute-form, another host", b"GET http://evil.example/status.json HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("absolute-form, user info", b"GET http://u@localhost/status.json HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("absolute-form, other scheme", b"GET ftp://localhost/status.json HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("not a path", b"GET status.json HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("HTTP/0.9", b"GET /status.json\r\n"),
    ("HTTP/0.9 with a blank line", b"GET /status.json\r\n\r\n"),
    ("an unknown version", b"GET /status.json HTTP/1.7\r\nHost: localhost\r\n\r\n"),
    ("a head cut before its blank line", b"GET /status.json HTTP/1.0\r\nHost: localhost\r\n"),
]


def test_malformed_requests_are_400_with_a_status_line_and_the_security_headers(example):
    """The outside tester's list: no Host on HTTP/1.1, two Hosts, `Host : x`, absolute-form targets naming
    another host, HTTP/0.9 (which got the JSON with no status line or header at all). Each is a fixed
    400 that echoes nothing; well-formed neighbours still get 200."""
    with serving(example) as url:
        port = port_of(url)
        for why, request in MALFORMED:
            answer = raw(port, request, close_sending=True)
            assert_secured(answer, 400)
            assert answer.endswith(b"\r\n\r\n400 bad request\n"), why
        for request in (b"GET /status.json HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % port,
                        b"GET /status.json HTTP/1.0\r\n\r\n",
                        b"GET http://localhost:%d/status.json HTTP/1.1\r\nHost: localhost\r\n\r\n" % port,
                        b"GET http://127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                        b"GET /status.json HTTP/1.1\r\nhost:localhost\r\nX-Empty:\r\nX-Tab:\ta\tb\r\n\r\n"):
            assert raw(port, request, close_sending=True).startswith(b"HTTP/1.0 200"), request


def test_every_refusal_carries_the_security_headers(snapshot):
    with running(snapshot, max_connections=1, reserved_connections=0, evict_after=30.0, timeout=0.5) as port:
        assert_secured(raw(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"), 414)
        assert_secured(raw(port, b"GET / HTTP/1.0\r\n" + b"X: " + b"b" * 9000 + b"\r\n\r\n"), 431)
        assert_secured(raw(port, b"POST / HTTP/1.0\r\n\r\n"), 405)
        assert_secured(raw(port, b"GET / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"), 413)
        assert_secured(raw(port, b"GET /nope HTTP/1.0\r\n\r\n"), 404)
        assert_secured(raw(port, b"GET / HTTP/1.0\r\nHost: evil.example\r\n\r\n"), 421)
        assert_secured(raw(port, b"GET / HTTP/2.0\r\n\r\n"), 505)
        assert_secured(raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"), 400)
        assert_secured(raw(port, b"GET / HTTP/1.0\r\nX: slow"), 408)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            time.sleep(0.2)
            assert_secured(raw(port, b"GET /healthz HTTP/1.0\r\n\r\n"), 429)  # refused before any thread


@pytest.mark.parametrize("host_header, status", [
    ("evil.example", 421), ("evil.example:9112", 421), ("127.0.0.1.nip.io", 421), ("localhost.evil.example", 421),
    ("localhost", 200), ("localhost:8080", 200), ("127.0.0.1:9112", 200), ("[::1]:9112", 200), ("LOCALHOST", 200)])
def test_on_loopback_only_names_of_this_machine_are_answered(snapshot, host_header, status):
    with running(snapshot) as port:
        response, _ = get(port, "/healthz", headers={"Host": host_header})
    assert response.status == status


def test_listen_addresses():
    assert parse_listen("127.0.0.1:9112") == ("127.0.0.1", 9112)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    for bad in ("localhost:9112", "9112", ":9112", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:-1", "[::1]"):
        with pytest.raises(UsageError):
            parse_listen(bad)
    assert _local_host(None) and _local_host("::1") and _local_host("[::1]") and _local_host("127.0.0.2:9112")
    assert _local_host("[0:0:0:0:0:0:0:1]:80") and not _local_host("10.0.0.1:9112")
    for bad in ("", "[::1].evil", "[::1]:x", "localhost:80:80", "localhost:", "[::1", "127.0.0.1:80.evil"):
        assert not _local_host(bad), bad


def test_which_host_names_are_answered():
    loopback = Settings(host="127.0.0.1", allowed_hosts=("proxy.example",))
    assert [host_allowed(n, loopback) for n in ("localhost", "127.0.0.2", "::1", "proxy.example", "evil.example")] == \
        [True, True, True, True, False]
    restricted = Settings(host="192.0.2.10", allowed_hosts=("fw1.example.com", "2001:db8::10"))
    assert [host_allowed(n, restricted, "192.0.2.10") for n in (
        "fw1.example.com", "2001:db8::10", "192.0.2.10", "localhost", "127.0.0.1", "evil.example", "192.0.2.11",
        "fw1.example.com.evil", "example.com")] == [True, True, True, True, True, False, False, False, False]
    wildcard = Settings(host="0.0.0.0", allowed_hosts=("fw1.example.com",))
    assert host_allowed("192.0.2.10", wildcard, "192.0.2.10"), "the address the request came in on"
    assert host_allowed("192.0.2.10", wildcard, "::ffff:192.0.2.10"), "on a dual-stack socket"
    assert not host_allowed("0.0.0.0", wildcard, "192.0.2.10") and not host_allowed("198.51.100.1", wildcard, "192.0.2.10")
    assert host_allowed("evil.example", Settings(host="0.0.0.0"), "192.0.2.10"), "no --allow-host: any name, as before"
    assert [host_name(v) for v in ("FW1.Example.com.:9112", "[2001:DB8:0::10]:80", "127.0.0.1:9112", "a b", "x@y",
                                    "[::1", "")] == ["fw1.example.com", "2001:db8::10", "127.0.0.1", None, None, None, None]
    assert [allowed_host(v) for v in ("FW1.example.com", "192.0.2.10", "[2001:db8::10]", "2001:DB8::10")] == \
        ["fw1.example.com", "192.0.2.10", "2001:db8::10", "2001:db8::10"]
    for bad in ("fw1.example.com:9112", "[::1]:80", "*.example.com", "", "a b", "x..y"):
        with pytest.raises(UsageError):
            allowed_host(bad)


def test_the_event_stream_sends_each_new_transition_rebuilt_from_its_checked_fields(snapshot, tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(event_line(1.7e9, "em0", 1, "BACKUP", "INIT") + "\n")
    with running(snapshot, events_file=log) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b"retry: 5000\n\n" not in received:
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.0 200") and b"Content-Type: text/event-stream" in received
        time.sleep(0.2)
        with open(log, "a") as handle:
            handle.write('{"time": 1.7e9, "state": "MASTER\\n\\ndata: {\\"forged\\": 1}", "interface": "<b>", '
                         '"vhid": 1, "previous": "BACKUP", "vips": ["10.0.0.1"], "backend": "freebsd"}\n')
            handle.write("garbage\n")
            handle.write(event_line(1.7e9 + 1, "em0", 2, "MASTER", "BACKUP", ["198.51.100.1"]) + "\n")
        deadline = time.monotonic() + 5
        while received.count(b"event: transition") < 2 and time.monotonic() < deadline:
            received += sock.recv(4096)
    frames = [f for f in received.split(b"\n\n") if f.startswith(b"event: transition")]
    data = [json.loads(f.split(b"data: ", 1)[1]) for f in frames]
    assert data == [
        {"time": 1.7e9, "backend": "freebsd", "interface": "<b>", "vhid": 1, "state": "MASTER\ufffd\ufffddata: {\"forged\": 1}",
         "previous": "BACKUP", "vips": ["10.0.0.1"]},
        {"time": 1.7e9 + 1, "backend": "freebsd", "interface": "em0", "vhid": 2, "state": "MASTER", "previous": "BACKUP",
         "vips": ["198.51.100.1"]}]
    assert all(len([l for l in f.split(b"\n") if l.startswith(b"data:")]) == 1 for f in frames)


def test_event_streams_need_the_log_and_are_limited(snapshot, tmp_path):
    with running(snapshot) as port:
        response, body = get(port, "/events")
        assert response.status == 404 and json.loads(body) == {"error": "no event log on this host"}
    log = tmp_path / "events.jsonl"
    log.write_text("")
    with running(snapshot, events_file=log, max_connections=4) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        first.sendall(b"GET /events HTTP/1.0\r\n\r\n")
        assert first.recv(100).startswith(b"HTTP/1.0 200")
        busy = raw(port, b"GET /events HTTP/1.0\r\n\r\n")
        assert busy.startswith(b"HTTP/1.0 429") and b"\r\nRetry-After: 5\r\n" in busy
        assert raw(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200"), "the page is not starved"


# --- the command: routes against the CLI, on a captured host ---------------------------------------------
@pytest.fixture
def example(tmp_path):
    now = time.time()
    return Host(tmp_path / "root", events=[event_line(now - 60, "em1", 1, "MASTER", "BACKUP", ["192.168.1.1"])]).write()


def fetch(url, path="", method="GET"):
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return get(parts.port, "/" + path, method=method)


def test_metrics_is_carp_pkg_metrics_for_the_same_host(example):
    cli = example.cli("metrics")
    assert cli.returncode == 0, cli.stderr
    with serving(example) as url:
        response, body = fetch(url, "metrics")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert body.decode() == cli.stdout
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {"carp_vhid_state", "carp_config_drift", "carp_collector_success", "carp_demotion"} <= set(families)
    masters = {s.labels["interface"] for s in families["carp_vhid_state"].samples
               if s.labels["state"] == "MASTER" and s.value == 1}
    assert masters == {"em1"}


def test_status_and_check_json_are_the_clis(example):
    status = example.cli("status", "--json", sysctls=False)
    check = example.cli("check", "--json", sysctls=False)
    with serving(example, sysctls=False) as url:
        (s_response, s_body), (c_response, c_body) = fetch(url, "status.json"), fetch(url, "check.json")
    assert s_response.status == 200 and s_response.getheader("Content-Type") == "application/json"
    assert json.loads(s_body) == json.loads(status.stdout)
    assert c_response.status == 200 and json.loads(c_body) == json.loads(check.stdout)


def test_healthz_answers_200_then_503_when_a_vhid_stops(example):
    with serving(example) as url:
        response, body = fetch(url, "healthz")
        assert (response.status, json.loads(body)["ok"]) == (200, True)
        (example.root / "ifconfig.txt").write_text(example.ifconfig.replace("BACKUP vhid 2", "INIT vhid 2"))
        time.sleep(1.1)  # the snapshot is at most a second old
        response, body = fetch(url, "healthz")
    assert response.status == 503
    assert json.loads(body) == {"ok": False, "configured": 2, "running": 1, "problems": ["em0 vhid 2: INIT"]}


def test_an_unreadable_host_is_a_page_and_503s_not_a_crash(example):
    (example.root / "conf" / "config.xml").write_text("<pfsense><broken>")
    with serving(example) as url:
        page, html = fetch(url, "")
        assert page.status == 200 and b"Cannot compare:" in html
        assert fetch(url, "healthz")[0].status == 503
        metrics = fetch(url, "metrics")[1].decode()
        assert "carp_collector_success 0" in metrics
        assert json.loads(fetch(url, "check.json")[1])["status"] == "UNKNOWN"


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_an_unreadable_event_log_is_named_without_its_directory(example, kind):
    """The page showed the event log's full path (where carp-pkg keeps its state) to anyone who can reach it."""
    log = example.events_file
    log.unlink()
    if kind == "symlink":
        (example.root / "elsewhere.jsonl").write_text("")
        log.symlink_to(example.root / "elsewhere.jsonl")
    else:
        log.mkdir()
    with serving(example) as url:
        response, html = fetch(url, "")
    text = " ".join(dom(html.decode()).get_element_by_id("carp-events").text_content().split())
    why = "is a symbolic link" if kind == "symlink" else "not a regular file"
    assert f"The event log could not be read: events.jsonl: {why} (the event log)" in text
    assert str(example.root).encode() not in html and b"var/db/carp-pkg" not in html


def test_sigterm_stops_it_cleanly(example):
    argv = [sys.executable, "-m", "carp_pkg", *example.global_args(), "serve", "--listen", "127.0.0.1:0",
            *example.capture_args()]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("carp-pkg serve: http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        stop(process)
    assert process.returncode == 0 and out == "carp-pkg serve: stopped\n" and err == ""


@contextlib.contextmanager
def serving_beyond_loopback(host_: Host, *extra: str):
    """`carp-pkg serve --listen 0.0.0.0:0 ...`: yields (port, process); its stderr is read once it stopped."""
    argv = [sys.executable, "-m", "carp_pkg", *host_.global_args(), "serve", "--listen", "0.0.0.0:0",
            *host_.capture_args(), *extra]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("carp-pkg serve: http://0.0.0.0:"), (line, process.poll())
        yield port_of(line.split()[2]), process
    finally:
        stop(process)


def _status_for_host(port: int, host_header: str, address: str = "127.0.0.1") -> int:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode())
        return int(sock.recv(64).split()[1])


def _outward_address():
    """An address of this machine that is not loopback, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_listening_beyond_loopback_needs_the_option_and_warns(example):
    with serving_beyond_loopback(example) as (port, process):
        assert _status_for_host(port, "evil.example") == 200, "no --allow-host: any Host, as before"
    warning = process.stderr.read()
    assert warning.startswith("carp-pkg: warning: listening on http://0.0.0.0:") and "no authentication" in warning
    assert "any Host name is answered" in warning and "--allow-host NAME" in warning
    default = subprocess.run([sys.executable, "-m", "carp_pkg", "serve", "--help"], capture_output=True, text=True)
    assert "127.0.0.1:9112" in default.stdout and "example: carp-pkg serve" in default.stdout
    assert "--allow-host NAME" in default.stdout


def test_allow_host_answers_only_those_names_beyond_loopback(example):
    """DNS rebinding on a non-loopback listen: with --allow-host only those names (and the address itself,
    and localhost) are answered; a page whose name was rebound to this host's address gets 421."""
    with serving_beyond_loopback(example, "--allow-host", "fw1.example.com", "--allow-host", "2001:db8::10") \
            as (port, process):
        assert _status_for_host(port, "fw1.example.com") == 200
        assert _status_for_host(port, "FW1.Example.COM.:%d" % port) == 200
        assert _status_for_host(port, "[2001:db8::10]:%d" % port) == 200
        assert _status_for_host(port, "localhost:%d" % port) == 200
        assert _status_for_host(port, "evil.example") == 421
        assert _status_for_host(port, "fw1.example.com.evil.example") == 421
        answer = raw(port, b"GET http://evil.example/healthz HTTP/1.1\r\nHost: fw1.example.com\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 400")
    warning = process.stderr.read()
    assert "Host names answered: fw1.example.com, 2001:db8::10" in warning and "any Host" not in warning


def test_allow_host_also_answers_the_address_a_request_came_in_on(example):
    outward = _outward_address()
    if outward is None:
        pytest.skip("LOUD SKIP: this machine has no non-loopback IPv4 address; test_which_host_names_are_answered "
                    "checks the same decision without a socket")
    with serving_beyond_loopback(example, "--allow-host", "fw1.example.com") as (port, _process):
        assert _status_for_host(port, f"{outward}:{port}", outward) == 200
        assert _status_for_host(port, "fw1.example.com", outward) == 200
        assert _status_for_host(port, "198.51.100.7", outward) == 421
        assert _status_for_host(port, "evil.example", outward) == 421


@pytest.mark.parametrize("argv, code, message", [
    (["--refresh"], 2, "--refresh goes with --pfsense-fragment"),
    (["--listen", "localhost:80"], 2, "is not an IP address"),
    (["--sysctls", "/dev/null"], 2, "use it with --against"),
    (["--max-connections", "0"], 2, "give 1-1024"),
    (["--allow-host", "fw1.example.com:9112"], 2, "without a port"),
    (["--allow-host", "*.example.com"], 2, "give a host name or an IP address"),
])
def test_usage_errors(example, argv, code, message):
    result = subprocess.run([sys.executable, "-m", "carp_pkg", *example.global_args(), "serve", *argv],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == code and message in result.stderr


def test_a_port_in_use_is_exit_6(example):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "carp_pkg", *example.global_args(), "serve", "--listen",
                                 f"127.0.0.1:{port}", *example.capture_args()], capture_output=True, text=True,
                                timeout=30)
    assert result.returncode == 6 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_the_pfsense_fragment_is_the_page_body_with_its_buttons(example):
    result = example.cli("serve", "--pfsense-fragment")
    assert result.returncode == 0 and result.stderr == ""
    tree = dom(result.stdout)
    assert tree.get_element_by_id("carp-pkg-status").get("data-flavour") == "pfsense"
    assert [b.get("value") for b in tree.iter("button")] == ["maintenance_on", "disable"]
    assert [r.find_class("carp-interface")[0].text_content() for r in tree.find_class("carp-vhid")] == \
        ["WAN (em0)", "LAN (em1)"]
    refreshing = example.cli("serve", "--pfsense-fragment", "--refresh").stdout
    assert '<meta http-equiv="refresh" content="5; url=carp_status.php?refresh=1">' in refreshing


# --- no secret in any response ---------------------------------------------------------------------------
def _sweep(url) -> list:
    """Every route's status line, headers and body (the event stream for a moment)."""
    answers = []
    for path in ("", "?refresh=0", "status.json", "check.json", "metrics", "healthz", "nope", "events"):
        from urllib.parse import urlsplit
        port = urlsplit(url).port
        request = f"GET /{path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()
        answers.append(raw(port, request, timeout=1.5) if path != "events" else _first_bytes(port, request))
    return answers


def _first_bytes(port, request) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        time.sleep(1.5)
        return sock.recv(65536)


def test_no_route_ever_holds_a_password(tmp_path):
    from tests.reliability.sandbox import stand_in, stand_in_runner
    from tests.reliability.test_secrets import FREEBSD_CONFIG, INVALID_CONFIGS, MARK
    configs = {"valid": FREEBSD_CONFIG, **INVALID_CONFIGS}
    checked = 0
    for name, config in configs.items():
        root = tmp_path / re.sub(r"\W", "-", name)
        fake = stand_in()
        host_ = Host(root, config=config, events=[]).write()
        synced = run_cli(["--root", str(root), "--config", str(root / "conf" / "config.xml"), "sync", "--backend",
                          "freebsd"], runner=stand_in_runner(fake))
        assert name != "valid" or synced.code == 0, synced.err
        host_.ifconfig = fake.ifconfig_output(keys=True)  # `ifconfig -k`: the capture itself holds the keys
        assert name != "valid" or MARK in host_.ifconfig
        host_.write()
        with open(host_.events_file, "a") as log:
            log.write(event_line(1.7e9, "em0", 10, "MASTER", "BACKUP", ["198.51.100.1"]) + "\n")
        with serving(host_) as url:
            answers = _sweep(url)
        fragment_run = host_.cli("serve", "--pfsense-fragment")
        for answer in (*answers, fragment_run.stdout.encode(), fragment_run.stderr.encode()):
            assert MARK.encode() not in answer, name
            checked += 1
        assert answers[0].startswith(b"HTTP/1.0 200") and b"carp-vhid" in answers[0], name
    assert checked == len(configs) * 10


# --- rc.d and systemd -----------------------------------------------------------------------------------------
RC_SCRIPT = ROOT / "rc.d" / "carp_serve"
UNIT = ROOT / "systemd" / "carp-pkg-serve.service"


class RcHost:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.log = tmp / "daemon.argv"
        self.daemon = tmp / "daemon"
        # daemon(8) stand-in: records its argv, starts a long sleep and writes its pid where -P says
        self.daemon.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "' + str(self.log) + '"\n'
                               'while [ $# -gt 0 ]; do [ "$1" = -P ] && pidfile=$2; shift; done\n'
                               'sleep 60 </dev/null >/dev/null 2>&1 &\necho $! > "$pidfile"\n')
        self.daemon.chmod(0o755)
        self.rc_conf = tmp / "rc.conf"
        self.pidfile = tmp / "carp_serve.pid"
        text = RC_SCRIPT.read_text().replace(". /etc/rc.subr", f". {STUBS / 'rc.subr'}")
        self.script = tmp / "carp_serve"
        self.script.write_text(text.replace("/usr/sbin/daemon", str(self.daemon)))

    def conf(self, **values):
        settings = {"carp_serve_pidfile": str(self.pidfile), **values}
        self.rc_conf.write_text("".join(f'{k}="{v}"\n' for k, v in settings.items()))

    def run(self, argument):
        return subprocess.run(["sh", str(self.script), argument], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "RC_CONF": str(self.rc_conf)})

    def argv(self):
        return self.log.read_text().splitlines() if self.log.exists() else None


@pytest.fixture
def rc(tmp_path):
    host_ = RcHost(tmp_path)
    yield host_
    if host_.pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(host_.pidfile.read_text()), signal.SIGTERM)


def test_rc_script_is_valid_sh_and_follows_rc_subr():
    assert subprocess.run(["sh", "-n", str(RC_SCRIPT)]).returncode == 0
    assert os.access(RC_SCRIPT, os.X_OK)
    text = RC_SCRIPT.read_text()
    assert re.search(r"^name=carp_serve$", text, re.M) and re.search(r"^rcvar=carp_serve_enable$", text, re.M)
    assert "# PROVIDE: carp_serve" in text and re.search(r"^# REQUIRE: .*\bcarp\b", text, re.M)
    assert ': ${carp_serve_listen:="127.0.0.1:9112"}' in text and text.rstrip().endswith('run_rc_command "$1"')


def test_rc_start_status_stop(rc):
    rc.conf(carp_serve_enable="YES", carp_serve_config="/mnt/my config.xml", carp_serve_flags="--max-connections 8")
    result = rc.run("start")
    assert result.returncode == 0 and "Starting carp_serve." in result.stdout
    assert rc.argv() == ["-r", "-S", "-T", "carp-pkg-serve", "-P", str(rc.pidfile), "/usr/local/bin/carp-pkg",
                         "--config", "/mnt/my config.xml", "serve", "--listen", "127.0.0.1:9112",
                         "--max-connections", "8"]
    pid = int(rc.pidfile.read_text())
    assert "is running as pid" in rc.run("status").stdout
    assert "already running" in rc.run("start").stdout
    assert rc.run("stop").returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    status = rc.run("status")
    assert status.returncode == 1 and "is not running" in status.stdout


def test_rc_defaults_to_carp_config_and_does_nothing_unless_enabled(rc):
    rc.conf(carp_config="/usr/local/etc/fw.xml", carp_serve_listen="[::1]:9200")
    assert rc.run("start").returncode == 0 and rc.argv() is None
    assert rc.run("onestart").returncode == 0
    argv = rc.argv()
    assert argv[argv.index("--config") + 1] == "/usr/local/etc/fw.xml" and argv[-1] == "[::1]:9200"
    rc.run("onestop")


def test_systemd_unit_verifies_and_is_locked_down(tmp_path):
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/carp-pkg --config /etc/carp-pkg/config.xml serve --listen 127.0.0.1:9112" in text
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n", "PrivateTmp=yes",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK", "WantedBy=multi-user.target"):
        assert setting in text, setting
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("LOUD SKIP: systemd-analyze is not installed; the unit is not verified")
    unit = tmp_path / UNIT.name
    installed = Path(sys.executable).parent / "carp-pkg"  # verify wants the ExecStart program to exist
    unit.write_text(text.replace("/usr/local/bin/carp-pkg", str(installed) if installed.exists() else "/bin/true"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True,
                              timeout=60)
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    if level:  # older systemd-analyze has no --offline
        assert float(level.group(1)) <= 3.0, security.stdout[-500:]
