"""Both status pages in a real browser: headless Chromium over `carp-pkg serve` and over pfSense's page
(`php -S` with the pfSense stand-ins of tests/stubs/php), asserting on what a person sees in the DOM.

Every host is a captured one (`--backend freebsd --against IFCONFIG --sysctls SYSCTLS` under a --root of
its own): nothing reads or touches this machine's network. The helpers here also make the README
screenshots (docs/screenshots.py, `make screenshots`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
PHP_STUBS = ROOT / "tests" / "stubs" / "php"
PKGXML = ROOT / "pkgxml"
EXAMPLE_CONFIG = ROOT / "examples" / "config.xml"
EXAMPLE_IFCONFIG = ROOT / "examples" / "ifconfig-freebsd14.txt"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
PHP = shutil.which("php")
HEALTHY_SYSCTLS = "net.inet.carp.allow: 1\nnet.inet.carp.preempt: 1\nnet.inet.carp.demotion: 0\n"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--hide-scrollbars", "--mute-audio")


# --- the host: a --root with config.xml, captures, carp-pkg's state dir and event log ----------------------
@dataclass
class Host:
    root: Path
    config: str = EXAMPLE_CONFIG.read_text()
    ifconfig: str = EXAMPLE_IFCONFIG.read_text()
    sysctls: str = HEALTHY_SYSCTLS
    events: Optional[List[str]] = None  # lines of events.jsonl; None: no event log
    maintenance: bool = False

    def write(self) -> "Host":
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "conf" / "config.xml").write_text(self.config)
        (self.root / "ifconfig.txt").write_text(self.ifconfig)
        (self.root / "sysctl.txt").write_text(self.sysctls)
        state = self.root / "var" / "db" / "carp-pkg"
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o700)
        if self.events is not None:
            (state / "events.jsonl").write_text("".join(line + "\n" for line in self.events))
        if self.maintenance:
            (state / "maintenance").write_text("")
        return self

    @property
    def events_file(self) -> Path:
        return self.root / "var" / "db" / "carp-pkg" / "events.jsonl"

    def global_args(self) -> List[str]:
        return ["--root", str(self.root), "--config", str(self.root / "conf" / "config.xml")]

    def capture_args(self, sysctls: bool = True) -> List[str]:
        args = ["--backend", "freebsd", "--against", str(self.root / "ifconfig.txt")]
        return args + (["--sysctls", str(self.root / "sysctl.txt")] if sysctls else [])

    def cli(self, *command: str, capture: bool = True, sysctls: bool = True) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "carp_pkg", *self.global_args(), *command,
                *(self.capture_args(sysctls) if capture else [])]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def carp_pkg_wrapper(self, directory: Path) -> Path:
        """The carp-pkg the PHP page runs: the real one, on this host's root, config and captures."""
        directory.mkdir(parents=True, exist_ok=True)
        wrapper = directory / "carp-pkg"
        quoted = " ".join(f"'{a}'" for a in [sys.executable, "-m", "carp_pkg", *self.global_args()])
        capture = " ".join(f"'{a}'" for a in self.capture_args())
        wrapper.write_text(f'#!/bin/sh\ncase "$1" in\nserve) exec {quoted} "$@" {capture} ;;\n'
                           f'*) exec {quoted} "$@" ;;\nesac\n')
        wrapper.chmod(0o755)
        return wrapper


def event_line(when: float, interface: str, vhid, state: str, previous: str, vips=(), backend="freebsd") -> str:
    return json.dumps({"time": when, "backend": backend, "interface": interface, "vhid": vhid, "state": state,
                       "previous": previous, "vips": list(vips)})


# --- processes ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def serving(host: Host, *extra: str, sysctls: bool = True) -> Iterator[str]:
    """`carp-pkg serve` on a free port for this host; yields its URL (from the line it prints at start)."""
    argv = [sys.executable, "-m", "carp_pkg", *host.global_args(), "serve", "--listen", "127.0.0.1:0",
            *host.capture_args(sysctls), *extra]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("carp-pkg serve: http://"), (line, process.poll(), process.stderr.read()
                                                             if process.poll() is not None else "")
        yield line.split()[2]
    finally:
        stop(process)


@contextlib.contextmanager
def php_serving(host: Optional[Host], workdir: Path, carp_pkg: Optional[Path] = None, env: Optional[Dict] = None
                ) -> Iterator[str]:
    """pfSense's page under `php -S` with the stand-ins, running the real carp-pkg on `host` (or the
    `carp_pkg` given); yields the page's URL. php -S logs each request to workdir/php-server.log."""
    from carp_pkg.web.style import CSS
    workdir.mkdir(parents=True, exist_ok=True)
    theme = workdir / "pfsense-theme.css"
    theme.write_text(CSS)
    errors = workdir / "php-errors.log"
    port = free_port()
    carp_pkg = carp_pkg or host.carp_pkg_wrapper(workdir / "bin")
    env = {**os.environ, "CARP_PKG_BIN": str(carp_pkg), "CARP_TEST_THEME": str(theme),
           "CARP_TEST_PHP_ERRORS": str(errors), **(env or {})}
    with open(workdir / "php-server.log", "w") as log:
        process = subprocess.Popen([PHP, "-d", f"include_path={PHP_STUBS}:{PKGXML}", "-S", f"127.0.0.1:{port}",
                                    str(PHP_STUBS / "router.php")], env=env, cwd=str(workdir),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/carp_status.php"
        assert not errors.exists(), f"PHP said something about the page: {errors.read_text()}"
    finally:
        stop(process)


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="carp-chromium-") as profile:
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def dump_dom(url: str):
    """The DOM Chromium built for `url`, as an lxml tree."""
    import lxml.html
    result = chromium("--dump-dom", url)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return lxml.html.document_fromstring(result.stdout)


def screenshot(url: str, path: Path, width: int = 1280, height: int = 900) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    result = chromium(f"--screenshot={path}", f"--window-size={width},{height}", url)
    assert result.returncode == 0 and path.exists(), result.stderr[-2000:]
    return path


# --- the tests -----------------------------------------------------------------------------------------------
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or PHP is None,
    reason=f"LOUD SKIP: {'chromium' if CHROMIUM is None else 'php'} is not installed (apt-get install chromium "
           "php-cli); neither status page was looked at in a browser")

STUB_CARP_PKG = ROOT / "tests" / "stubs" / "carp-pkg"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>\"'&"
FRESH = time.time()


def example_events() -> List[str]:
    return [event_line(FRESH - 7200, "em1", 1, "BACKUP", "INIT", ["192.168.1.1"]),
            event_line(FRESH - 3600, "em0", 2, "BACKUP", "INIT", ["203.0.113.1"]),
            event_line(FRESH - 60, "em1", 1, "MASTER", "BACKUP", ["192.168.1.1", "192.168.1.9"])]


def troubled(host: Host) -> Host:
    """CARP disabled, demoted, in maintenance, pfsync not in sync, and WAN's vhid 2 gone."""
    wan_vhid = ("\tinet 203.0.113.1 netmask 0xffffff00 broadcast 203.0.113.255 vhid 2\n"
                "\tcarp: BACKUP vhid 2 advbase 1 advskew 10\n\t      peer 224.0.0.18 peer6 ff02::12\n")
    assert wan_vhid in host.ifconfig
    host.ifconfig = host.ifconfig.replace(wan_vhid, "").replace("syncok: 1", "syncok: 0")
    host.sysctls = "net.inet.carp.allow: 0\nnet.inet.carp.preempt: 1\nnet.inet.carp.demotion: 240\n"
    host.maintenance = True
    return host.write()


@pytest.fixture(params=["serve", "pfsense"])
def kind(request) -> str:
    return request.param


def load(kind: str, host: Host, workdir: Path, query: str = ""):
    """The DOM of this host's status page as Chromium built it: `carp-pkg serve`'s, or pfSense's."""
    if kind == "serve":
        with serving(host) as url:
            return dump_dom(url + query)
    with php_serving(host, workdir / "php") as url:
        return dump_dom(url + query)


def vhid_rows(tree) -> Dict:
    rows = {}
    for row in tree.find_class("carp-vhid"):
        state = row.find_class("carp-state")[0]
        rows[(row.get("data-interface"), row.get("data-vhid"))] = (
            row.find_class("carp-interface")[0].text_content(), state.text_content().strip(),
            [c for c in state.get("class").split() if c.startswith("text-")][0])
    return rows


def drift_rows(tree) -> List[List[str]]:
    return [[td.text_content() for td in tr.iter("td")] for tr in tree.find_class("carp-finding")]


def banner_ids(tree) -> List[str]:
    return [e.get("id") for e in tree.find_class("carp-banner")]


def injected(tree) -> List[str]:
    bad = [e.tag for e in tree.iter() if isinstance(e.tag, str) and e.tag in ("script", "iframe", "img", "object")]
    bad += [f"{e.tag}@{a}" for e in tree.iter() if isinstance(e.tag, str) for a in e.attrib if a.startswith("on")]
    return bad + [e.get("class") for e in tree.iter("svg") if "carp-icon" not in (e.get("class") or "")]


def test_every_vhid_with_its_state_and_friendly_name(kind, tmp_path):
    tree = load(kind, Host(tmp_path / "root").write(), tmp_path)
    assert vhid_rows(tree) == {("em0", "2"): ("WAN (em0)", "BACKUP", "text-warning"),
                               ("em1", "1"): ("LAN (em1)", "MASTER", "text-success")}
    vips = [r.find_class("carp-vips")[0].text_content() for r in tree.find_class("carp-vhid")]
    assert vips == ["203.0.113.1/24", "192.168.1.1/24192.168.1.9/24"]  # one per line (<br>)
    assert [th.text for th in tree.get_element_by_id("carp-vhids").iter("th")] == [
        "Interface", "VHID", "Virtual IPs", "Status", "Advbase", "Advskew"], "multicast peers: no Peer column"
    assert tree.get_element_by_id("carp-allow").text_content() == "yes"
    assert tree.get_element_by_id("carp-syncdev").text_content() == "SYNC (em2)"
    assert banner_ids(tree) == []
    assert not tree.xpath("//*[@id='carp-events']"), "no event log: no transitions panel"
    if kind == "pfsense":
        assert tree.xpath("//title")[0].text == "Services / CARP (failover) / Status"
        assert [a.text for a in tree.xpath("//ul[contains(@class,'nav-pills')]//a")] == ["CARP Settings", "CARP Status"]
        assert [b.text for b in tree.xpath("//form[@method='post']//button")] == [
            "Enter Maintenance Mode", "Temporarily Disable CARP"]
        assert tree.xpath("//form[@method='post']/input[@name='__csrf_magic']"), "csrf-magic's token is in the form"
    else:
        assert tree.xpath("//title")[0].text.endswith(" - Status: CARP")
        assert not tree.xpath("//form|//button"), "serve is read-only"


def test_the_drift_panel_shows_what_check_finds(kind, tmp_path):
    tree = load(kind, Host(tmp_path / "root").write(), tmp_path)
    panel = tree.get_element_by_id("carp-drift")
    assert panel.find_class("carp-check-status")[0].text == "WARNING"
    rows = drift_rows(tree)
    assert ["WARNING", "LAN (em1) vhid 1", "advskew", "0", "50",
            "expected 0, running 50 (changes which host is preferred as master)"] in rows
    assert any(r[:5] == ["WARNING", "LAN (em1) vhid 1", "address", "\u2014", "192.168.1.9/24"] for r in rows)
    assert len(rows) == 4 and all("warning" in tr.get("class") for tr in panel.find_class("carp-finding"))


def test_banners_for_a_disabled_demoted_out_of_sync_host_in_maintenance(kind, tmp_path):
    tree = load(kind, troubled(Host(tmp_path / "root")), tmp_path)
    assert banner_ids(tree) == ["carp-banner-disabled", "carp-banner-demoted", "carp-banner-maintenance",
                                "carp-banner-pfsync"]
    classes = [e.get("class").split()[1] for e in tree.find_class("carp-banner")]
    assert classes == ["alert-danger", "alert-danger", "alert-warning", "alert-warning"]
    demoted = tree.get_element_by_id("carp-banner-demoted").text_content()
    assert "net.inet.carp.demotion = 240" in demoted and "What to do:" in demoted
    assert vhid_rows(tree) == {("em1", "1"): ("LAN (em1)", "DISABLED", "text-danger"),
                               ("em0", "2"): ("WAN (em0)", "NOT RUNNING", "text-danger")}
    assert tree.get_element_by_id("carp-syncok").text_content() == "no"
    assert "text-danger" in tree.get_element_by_id("carp-syncok").get("class")
    assert tree.get_element_by_id("carp-maintenance").text_content() == "yes"
    rows = drift_rows(tree)
    assert rows[0][:3] == ["CRITICAL", "host", "net.inet.carp.allow"]
    assert ["CRITICAL", "WAN (em0) vhid 2", "vhid", "present", "missing"] == rows[1][:5]
    assert tree.get_element_by_id("carp-drift").find_class("carp-check-status")[0].text == "CRITICAL"
    if kind == "pfsense":
        assert "Reset Demotion" in demoted
        assert [b.text for b in tree.xpath("//div[@class='carp-toolbar']//button")] == [
            "Leave Maintenance Mode", "Enable CARP"]
    else:
        assert "carp-pkg demotion --reset" in demoted and "carp-pkg enable" in \
            tree.get_element_by_id("carp-banner-disabled").text_content()


def test_the_peer_column_appears_for_a_unicast_peer(kind, tmp_path):
    host = Host(tmp_path / "root")
    host.ifconfig = host.ifconfig.replace("MASTER vhid 1 advbase 1 advskew 50\n\t      peer 224.0.0.18",
                                          "MASTER vhid 1 advbase 1 advskew 50\n\t      peer 192.168.1.3")
    tree = load(kind, host.write(), tmp_path)
    assert [th.text for th in tree.get_element_by_id("carp-vhids").iter("th")][-1] == "Peer"
    assert [c.text_content() for c in tree.find_class("carp-peer")] == ["multicast", "192.168.1.3"]


def test_the_last_transitions_from_the_event_log(kind, tmp_path):
    lines = example_events() + ["not json", json.dumps({"kind": "hook", "time": FRESH, "state": "MASTER"})]
    tree = load(kind, Host(tmp_path / "root", events=lines).write(), tmp_path)
    rows = [[td.text_content() for td in tr.iter("td")][1:] for tr in tree.find_class("carp-event")]
    assert rows == [["LAN (em1)", "1", "BACKUP \u2192 MASTER", "192.168.1.1, 192.168.1.9", "freebsd"],
                    ["WAN (em0)", "2", "INIT \u2192 BACKUP", "203.0.113.1", "freebsd"],
                    ["LAN (em1)", "1", "INIT \u2192 BACKUP", "192.168.1.1", "freebsd"]]
    latest = tree.find_class("carp-event")[0]
    assert "text-success" in latest.find_class("carp-state")[0].get("class")
    assert tree.get_element_by_id("carp-events").find_class("panel-title")[0].text == "Recent transitions (last 3)"


def test_hostile_config_xml_and_event_log_values_are_only_text(kind, tmp_path):
    host = Host(tmp_path / "root", events=[event_line(FRESH, HOSTILE, HOSTILE, HOSTILE, HOSTILE, [HOSTILE], HOSTILE)])
    host.config = host.config.replace("<descr>SYNC</descr>", f"<descr>{HOSTILE.replace('&', '&amp;').replace('<', '&lt;')}</descr>")
    tree = load(kind, host.write(), tmp_path)
    assert injected(tree) == []
    assert tree.xpath("//title")[0].text != "pwned"
    cut = HOSTILE[:40]  # config.xml descriptions are shortened to 40 characters
    assert tree.get_element_by_id("carp-syncdev").text_content().startswith(cut)
    event = [td.text_content() for td in tree.find_class("carp-event")[0].iter("td")]
    assert event[1:] == [HOSTILE[:64], HOSTILE[:64], f"{HOSTILE[:64]} \u2192 {HOSTILE[:64]}", HOSTILE[:64], HOSTILE[:64]]


def test_hostile_values_in_the_status_json_are_only_text_on_the_pfsense_page(tmp_path):
    """carp-pkg's renderer is what escapes: fed a hostile `status --json`, what the browser builds holds no markup."""
    from carp_pkg.web.page import PageData, PageOptions, render_fragment
    from tests.test_php import STATUS  # the hostile status document the PHP tests use
    check = {"status": "WARNING", "unknown": None, "findings": [
        {"severity": "WARNING", "interface": STATUS["vhids"][0]["interface"], "vhid": 1, "attribute": HOSTILE,
         "expected": HOSTILE, "actual": HOSTILE, "message": HOSTILE}]}
    stub = tmp_path / "stub"
    (stub / "responses").mkdir(parents=True)
    body = render_fragment(PageData(status=STATUS, check=check), PageOptions(pfsense=True))
    (stub / "responses" / "serve.json").write_text(json.dumps({"stdout": body, "stderr": "", "rc": 0}))
    with php_serving(None, tmp_path / "php", carp_pkg=STUB_CARP_PKG, env={"CARP_STUB_DIR": str(stub)}) as url:
        tree = dump_dom(url)
    assert injected(tree) == []
    row = tree.find_class("carp-vhid")[0]
    assert row.find_class("carp-interface")[0].text_content() == STATUS["vhids"][0]["interface"]
    assert row.find_class("carp-state")[0].text_content() == STATUS["vhids"][0]["state"]
    assert "text-danger" in row.find_class("carp-state")[0].get("class"), "an unknown state is not shown as healthy"
    assert row.find_class("carp-peer")[0].text_content() == STATUS["vhids"][0]["peer"]
    assert tree.get_element_by_id("carp-syncdev").text_content() == STATUS["pfsync"]["syncdev"]
    assert drift_rows(tree)[0][2:] == [HOSTILE] * 4


def test_auto_refresh_is_a_toggle(kind, tmp_path):
    host = Host(tmp_path / "root").write()
    default = load(kind, host, tmp_path)
    toggled = load(kind, host, tmp_path, "?refresh=0" if kind == "serve" else "?refresh=1")
    on, off = (default, toggled) if kind == "serve" else (toggled, default)  # serve: on by default; pfSense: off
    assert on.get_element_by_id("carp-refresh-on").get("aria-pressed") == "true"
    assert off.get_element_by_id("carp-refresh-off").get("aria-pressed") == "true"
    refresh = on.xpath("//meta[@http-equiv='refresh']/@content")
    assert refresh == (["5; url=/"] if kind == "serve" else ["5; url=carp_status.php?refresh=1"])
    assert off.xpath("//meta[@http-equiv='refresh']") == []


def png_size(path: Path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_screenshots_of_both_pages(tmp_path):
    host = Host(tmp_path / "root", events=example_events()).write()
    with serving(host) as url:
        serve_png = screenshot(url, tmp_path / "serve.png")
    with php_serving(host, tmp_path / "php") as url:
        php_png = screenshot(url, tmp_path / "pfsense.png")
    for png in (serve_png, php_png):
        assert png_size(png) == (1280, 900)
        assert png.stat().st_size > 40_000, "a page with tables and colours, not a blank one"
