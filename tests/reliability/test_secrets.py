"""Issue 7.3: every CLI command, on configs holding marker passwords: the markers never reach stdout, stderr,
logs, JSON, metrics, the argv of anything started (ucarp included), or a file that is not 0600/0700 and
root's. The one exception is FreeBSD's own interface: `ifconfig IF vhid V ... pass P` (no other way exists)."""

from __future__ import annotations

import json
import logging
import os

import pytest

from carp_pkg.commands import COMMANDS
from carp_pkg.system import RecordingRunner, Result

from tests.helpers import fixture_path, host_runner, run_cli
from tests.reliability.figures import FIGURES, SECRETS
from tests.reliability.sandbox import FaultyRunner, stand_in

MARK = "Sx7-MARKER"  # every marker password starts with it; none of them may show up anywhere
FREEBSD_INTERFACES = """<interfaces>
	<wan><if>em0</if><ipaddr>198.51.100.2</ipaddr><subnet>24</subnet></wan>
	<lan><if>em1</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan>
	<opt1><descr>SYNC</descr><if>em2</if><ipaddr>172.16.0.1</ipaddr><subnet>30</subnet></opt1>
</interfaces>"""
LINUX_INTERFACES = "<interfaces><lan><if>eth0</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan></interfaces>"
IP_ADDR_JSON = json.dumps([{"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
                           {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.2", "prefixlen": 24}]}])


def document(interfaces: str, *entries: str) -> str:
    body = "".join(f"<config>{e}</config>" for e in entries)
    return f"<?xml version=\"1.0\"?>\n<pfsense>{interfaces}<installedpackages><carp>{body}</carp></installedpackages></pfsense>\n"


FREEBSD_CONFIG = document(
    FREEBSD_INTERFACES,
    f"<interface>wan</interface><ipaddress>198.51.100.1</ipaddress><vhid>10</vhid><password>{MARK}-wan1</password>"
    "<preempt>on</preempt><pfsync>on</pfsync><synciface>opt1</synciface>",
    f"<interface>wan</interface><ipaddress>2001:db8::10</ipaddress><netmask>64</netmask><vhid>10</vhid>"
    f"<password>{MARK}-wan1</password>",
    f"<interface>lan</interface><ipaddress>10.0.0.1</ipaddress><vhid>7</vhid><advskew>100</advskew>"
    f"<password>{MARK}-lan2</password>",
)
LINUX_CONFIG = document(
    LINUX_INTERFACES,
    f"<interface>lan</interface><ipaddress>10.0.0.1</ipaddress><vhid>7</vhid><password>{MARK}-lan2</password>"
    "<preempt>on</preempt>",
    f"<interface>lan</interface><ipaddress>10.0.0.3</ipaddress><vhid>8</vhid><advskew>50</advskew>"
    f"<password>{MARK}-lan3</password>",
)
PEER_EDIT = (f"{MARK}-lan2", f"{MARK}-peer9")  # the peer's config.xml for `compare`: another password
INVALID_CONFIGS = {
    "password too long": document(FREEBSD_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><password>{MARK}-far-too-long-x</password>"),
    "passwords of one vhid differ": document(
        FREEBSD_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><password>{MARK}-one</password>",
        f"<ipaddress>10.0.0.3</ipaddress><password>{MARK}-two</password>"),
    "control character in the password": document(FREEBSD_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><password>{MARK}&#9;x</password>"),
    "password in a wrong-type entry": document(FREEBSD_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><vhid>0</vhid><password>{MARK}-v</password>"),
}


class LinuxRunner(RecordingRunner):
    """A Linux host for the ucarp backend: `ip -j addr show` answers, everything else succeeds."""

    def __init__(self):
        super().__init__()

    def _execute(self, argv, *, mutating, input):
        self.calls.append(argv)
        if mutating:
            self.mutating_calls.append(argv)
        if argv[:3] == ("ip", "-j", "addr"):
            return Result(0, IP_ADDR_JSON, "")
        if argv[:2] == ("sysctl", "-n"):
            return Result(1, "", f"sysctl: cannot stat /proc/sys/{argv[2].replace('.', '/')}: No such file or directory\n")
        return Result()


def session(backend: str, root: str, peer_config: str):
    """Every command a user has, in the order of a host's life; `--show-secrets` is the one opt-in left out."""
    b = ["--backend", backend]
    metrics_file = os.path.join(root, "var", "tmp", "carp.prom")
    pcap = fixture_path("pcap", "ucarp-real.pcap")
    config = os.path.join(root, "conf", "config.xml")
    return [
        ("validate",), ("validate", "--json"), ("validate", *b),
        ("render", *b), ("render", *b, "--format", "json"), ("render", *b, "--format", "script"),
        ("install", *b, "--json"),
        ("sync", *b, "--dry-run"), ("sync", *b), ("sync", *b, "--json"),
        ("status", *b), ("status", *b, "--json"),
        ("check", *b), ("check", *b, "--json"),
        ("metrics", *b), ("metrics", *b, "--output", metrics_file),
        ("maintenance", "on", *b), ("status", *b, "--json"), ("maintenance", "off", *b),
        ("disable",), ("enable",), ("demotion",), ("demotion", "--json"), ("demotion", "--reset"),
        ("rules",), ("rules", "--json"), ("rules", "--anchor-line"),
        ("sniff", "-r", pcap), ("sniff", "-r", pcap, "--json"),
        ("compare", config, peer_config), ("compare", "--json", config, peer_config),
        ("stop", *b, "--dry-run"), ("stop", *b),
        ("sync", *b), ("deinstall", *b, "--dry-run"), ("deinstall", *b, "--json"),
        ("install", *b), ("deinstall", *b, "--purge"),
    ]


NOT_IN_SESSION = {
    "lab": "builds its own network namespaces from the bundled example; test_lab.py checks its processes",
}


def test_every_registered_command_is_in_the_session():
    covered = {argv[0] for argv in session("freebsd", "/r", "/p")} | set(NOT_IN_SESSION)
    assert set(COMMANDS) <= covered, f"add an invocation for {sorted(set(COMMANDS) - covered)}"


def leaks_in_argv(calls, backend: str):
    """Calls that carry a marker anywhere but as the value of ifconfig's `pass` on FreeBSD."""
    bad = []
    for argv in calls:
        for index, word in enumerate(argv):
            if MARK not in word:
                continue
            freebsd_pass = (backend != "ucarp" and argv[0] == "ifconfig" and index > 0 and argv[index - 1] == "pass")
            if not freebsd_pass:
                bad.append(argv)
    return bad


def exposed_files(root: str, inputs):
    """Files under root that hold a marker but are readable by others, or not owned by root."""
    bad = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if path in inputs or os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                if MARK.encode() not in handle.read():
                    continue
            info = os.stat(path)
            if info.st_mode & 0o077 or info.st_uid != os.geteuid() or (os.geteuid() != 0):
                bad.append((os.path.relpath(path, root), oct(info.st_mode & 0o777), info.st_uid))
    return bad


def check_invocation(argv, runner, backend, root, inputs, caplog):
    caplog.clear()
    before = len(runner.calls)
    result = run_cli(["--root", root, *argv], runner=runner)
    printed = result.out + result.err
    assert "Traceback" not in printed
    assert MARK not in printed, f"printed: {printed[max(0, printed.find(MARK) - 80):printed.find(MARK) + 40]!r}"
    assert MARK not in caplog.text, "logged"
    assert leaks_in_argv(runner.calls[before:], backend) == []
    assert exposed_files(root, inputs) == []
    return result


UNAME = {"freebsd": ("FreeBSD", "14.1-RELEASE"), "freebsd-legacy": ("FreeBSD", "8.4-RELEASE"), "ucarp": ("Linux", "6.1.0")}


def runner_for(backend):
    if backend == "ucarp":
        return LinuxRunner()
    if backend == "freebsd-legacy":  # the stand-in is FreeBSD 14: a plain recording host plays FreeBSD 8
        return host_runner("", {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 0, "net.inet.carp.arpbalance": 0})
    return FaultyRunner(stand_in())


def pretend_uname(monkeypatch, backend):
    """`auto` (disable, enable, demotion) picks the backend from uname: the one boundary to fake for it."""
    sysname, release = UNAME[backend]
    real = os.uname()
    fake = type(real)((sysname, real.nodename, release, real.version, real.machine))
    monkeypatch.setattr("carp_pkg.backends.os.uname", lambda: fake)


@pytest.mark.parametrize("backend", ["freebsd", "freebsd-legacy", "ucarp"])
def test_no_command_reveals_a_password(backend, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    pretend_uname(monkeypatch, backend)
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "conf"))
    config = os.path.join(root, "conf", "config.xml")
    text = LINUX_CONFIG if backend == "ucarp" else FREEBSD_CONFIG
    with open(config, "w") as handle:
        handle.write(text)
    peer = str(tmp_path / "peer.xml")
    with open(peer, "w") as handle:
        handle.write(text.replace(*PEER_EDIT))
    runner = runner_for(backend)
    failures, codes = [], {}
    for argv in session(backend, root, peer):
        try:
            with FIGURES.case(SECRETS):
                codes[argv] = check_invocation(argv, runner, backend, root, {config, peer}, caplog).code
        except AssertionError as exc:
            failures.append(f"{' '.join(argv)}: {exc}")
    assert failures == []
    # the passwords really went through: sync and install worked, and reached the host (files, ifconfig)
    assert codes[("sync", "--backend", backend)] == 0 and codes[("install", "--backend", backend, "--json")] == 0
    if backend == "ucarp":
        assert any(c[-1] == "-z" and "-o" in c for c in runner.mutating_calls if c[0] == "/bin/sh")
    else:
        assert any(MARK in " ".join(c) for c in runner.mutating_calls if c[0] == "ifconfig")


@pytest.mark.parametrize("backend", ["freebsd", "ucarp"])
def test_a_failing_step_with_a_password_is_reported_masked(backend, tmp_path, caplog):
    """The error path: the step that carries the password fails, then its undo fails too."""
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "conf"))
    config = os.path.join(root, "conf", "config.xml")
    with open(config, "w") as handle:
        handle.write(LINUX_CONFIG if backend == "ucarp" else FREEBSD_CONFIG)
    for failing in ({1}, {2}, {2, 3}):
        with FIGURES.case(SECRETS):
            runner = FaultyRunner(stand_in(), failing=failing, reason="refused (injected)") if backend != "ucarp" \
                else failing_linux(failing)
            result = check_invocation(("sync", "--backend", backend), runner, backend, root, {config}, caplog)
            assert result.code == 5 and "failed" in result.err


def failing_linux(failing):
    runner = LinuxRunner()
    plain = runner._execute

    def execute(argv, *, mutating, input):
        result = plain(argv, mutating=mutating, input=input)
        if mutating and len(runner.mutating_calls) in failing:
            return Result(1, "", "refused (injected)\n")
        return result

    runner._execute = execute
    return runner


@pytest.mark.parametrize("case", sorted(INVALID_CONFIGS))
@pytest.mark.parametrize("argv", [("validate",), ("validate", "--json"), ("render", "--backend", "freebsd"),
                                  ("sync", "--backend", "freebsd"), ("check", "--backend", "freebsd")])
def test_invalid_configs_never_echo_the_password(case, argv, tmp_path, caplog):
    with FIGURES.case(SECRETS):
        root = str(tmp_path / "root")
        os.makedirs(os.path.join(root, "conf"))
        config = os.path.join(root, "conf", "config.xml")
        with open(config, "w") as handle:
            handle.write(INVALID_CONFIGS[case])
        result = check_invocation(argv, FaultyRunner(stand_in()), "freebsd", root, {config}, caplog)
        assert result.code != 0
