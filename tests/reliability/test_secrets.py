"""Issue 7.3: every CLI command, on configs holding marker passwords: the markers never reach stdout, stderr,
logs, JSON, metrics, the argv of anything started (ucarp included), or a file that is not 0600/0700 and
root's. The one exception is FreeBSD's own interface: `ifconfig IF vhid V ... pass P` (no other way exists).
`carp-pkg serve`, a server, is swept route by route on its own (test_no_route_of_serve_reveals_a_password)."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from carp_pkg.commands import COMMANDS
from carp_pkg.system import RecordingRunner, Result
from carp_pkg.web.server import ROUTES

from tests.helpers import fixture_path, host_runner, run_cli
from tests.reliability.figures import FIGURES, SECRETS
from tests.reliability.sandbox import FaultyRunner, stand_in, stand_in_runner

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
# Issue 11: longer than 19 bytes is accepted, with a warning; CARP keys on the first 19 bytes, which are as secret
# as the whole (they are the key itself) and must not show up either.
LONG_PASSWORD = f"{MARK}-far-too-long-x"  # 25 bytes
LONG_KEY = LONG_PASSWORD.encode()[:19].decode()
LONG_PASSWORD_CONFIGS = {
    "freebsd": document(FREEBSD_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><password>{LONG_PASSWORD}</password>"),
    "freebsd-legacy": document(FREEBSD_INTERFACES,
                               f"<ipaddress>10.0.0.1</ipaddress><password>{LONG_PASSWORD}</password>"),
    "ucarp": document(LINUX_INTERFACES, f"<ipaddress>10.0.0.1</ipaddress><password>{LONG_PASSWORD}</password>"),
}
INVALID_CONFIGS = {
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
    interface = "eth0" if backend == "ucarp" else "em1"  # vhid 7 of both configs is on it
    return [
        ("validate",), ("validate", "--json"), ("validate", *b),
        ("render", *b), ("render", *b, "--format", "json"), ("render", *b, "--format", "script"),
        ("install", *b, "--json"),
        ("sync", *b, "--dry-run"), ("sync", *b), ("sync", *b, "--json"),
        ("status", *b), ("status", *b, "--json"),
        event_invocation(backend), ("events",), ("events", "--json"), ("status", *b, "--json"),
        ("check", *b), ("check", *b, "--json"),
        ("metrics", *b), ("metrics", *b, "--output", metrics_file),
        ("maintenance", "on", *b), ("status", *b, "--json"), ("maintenance", "off", *b),
        ("event", "--no-hooks", f"interface={interface}", "vhid=7", "state=MASTER", "vip=10.0.0.1"),
        ("event", "--json", f"interface={interface}", "vhid=7", "state=BACKUP"),
        ("event", "--source", "devd", f"subsystem=7@{interface}", "type=MASTER"),  # VIPs read from `ifconfig IF`
        ("events", "--vhid", "7", "--since", "1d", "--interface", interface),
        ("disable",), ("enable",), ("demotion",), ("demotion", "--json"), ("demotion", "--reset"),
        ("rules",), ("rules", "--json"), ("rules", "--anchor-line"),
        ("sniff", "-r", pcap), ("sniff", "-r", pcap, "--json"),
        ("compare", config, peer_config), ("compare", "--json", config, peer_config),
        ("stop", *b, "--dry-run"), ("stop", *b),
        ("sync", *b), ("deinstall", *b, "--dry-run"), ("deinstall", *b, "--json"),
        ("install", *b), ("deinstall", *b, "--purge"),
    ]


def event_invocation(backend: str):
    """A transition as devd (FreeBSD) or the ucarp scripts report it (issue 13)."""
    if backend == "ucarp":
        return ("event", "--source", "ucarp", "interface=eth0", "vhid=1", "state=MASTER", "vip=192.168.1.1")
    return ("event", "--source", "devd", "subsystem=1@em0", "type=MASTER")


NOT_IN_SESSION = {
    "lab": "builds its own network namespaces from the bundled example; test_lab.py checks its processes",
    "serve": "a long-running server, not a command that returns: test_no_route_of_serve_reveals_a_password below "
             "starts it on a free port, fetches each of its routes once and stops it (tests/test_web.py sweeps it too)",
}


def test_every_registered_command_is_in_the_session():
    in_session = {argv[0] for argv in session("freebsd", "/r", "/p")}
    covered = in_session | set(NOT_IN_SESSION)
    assert set(COMMANDS) <= covered, f"add an invocation for {sorted(set(COMMANDS) - covered)}"
    assert not in_session & set(NOT_IN_SESSION), "a command is in the session: drop its NOT_IN_SESSION excuse"


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


@pytest.mark.parametrize("backend", ["freebsd", "freebsd-legacy", "ucarp"])
def test_a_password_longer_than_19_bytes_is_accepted_and_never_shown(backend, tmp_path, caplog, monkeypatch):
    """Issue 11: no longer invalid. validate, render, sync, status and check accept it (validate warns, by
    length only), the host gets exactly its first 19 bytes, and neither it nor those 19 bytes are ever shown."""
    pretend_uname(monkeypatch, backend)
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "conf"))
    config = os.path.join(root, "conf", "config.xml")
    with open(config, "w") as handle:
        handle.write(LONG_PASSWORD_CONFIGS[backend])
    runner = runner_for(backend)
    b = ("--backend", backend)
    results = {}
    for argv in [("validate",), ("validate", "--json"), ("validate", *b, "--json"),
                 ("render", *b), ("render", *b, "--format", "json"), ("render", *b, "--format", "script"),
                 ("sync", *b, "--dry-run"), ("sync", *b), ("sync", *b, "--json"),
                 ("status", *b), ("status", *b, "--json"), ("check", *b), ("check", *b, "--json")]:
        with FIGURES.case(SECRETS):
            result = check_invocation(argv, runner, backend, root, {config}, caplog)
            for shown in (result.out, result.err):
                assert LONG_PASSWORD not in shown and LONG_KEY not in shown, argv
            results[argv] = result
    for argv, result in results.items():
        if argv[0] != "check":
            assert result.code == 0, (argv, result.out, result.err)  # accepted: validated, rendered, synced, read
        elif backend == "freebsd":  # the stand-in runs what sync configured: OK, the running key is the 19 bytes
            assert result.code == 0, (argv, result.out, result.err)
        else:  # the recording hosts run nothing: a verdict on a config check could read (3, UNKNOWN, is refused)
            assert result.code in (1, 2), (argv, result.out, result.err)
    answer = json.loads(results[("validate", *b, "--json")].out)
    assert answer["ok"] is True and answer["problems"] == []
    assert [w["where"] for w in answer["warnings"]] == ["config[0].password"]
    assert "is 25 bytes; only the first 19 count" in answer["warnings"][0]["message"]
    assert "carp-pkg: warning: config[0].password: is 25 bytes" in results[("validate",)].err
    # the host got the key, and only the key: FreeBSD's `ifconfig ... pass KEY`, ucarp's 0600 password file
    if backend == "ucarp":
        keys = []
        for directory, _, files in os.walk(root):
            for name in files:
                with open(os.path.join(directory, name), "rb") as handle:
                    data = handle.read()
                if MARK.encode() in data and not os.path.join(directory, name) == config:
                    keys.append(data)
        assert keys and all(data.strip(b"\n") == LONG_KEY.encode() for data in keys), keys
    else:
        passes = [c[c.index("pass") + 1] for c in runner.mutating_calls if c[0] == "ifconfig" and "pass" in c]
        assert passes and set(passes) == {LONG_KEY}


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


# --- serve: a server, so outside the session; every route fetched once from a host holding the markers ---------
SERVE_CONFIGS = {  # config.xml, and the vhids it configures
    "passwords": (FREEBSD_CONFIG, {7, 10}),
    "a password longer than 19 bytes": (LONG_PASSWORD_CONFIGS["freebsd"], {1}),
}


def _serve_request(port: int, path: str, linger: float = 0.0, during=None) -> bytes:
    """One HTTP/1.0 GET: status line, headers and body. With linger, read what arrives for that long (the
    /events stream never ends by itself), after calling during() once the request is sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        if during is not None:
            during()
        chunks, deadline = [], time.monotonic() + (linger or 10.0)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("case", sorted(SERVE_CONFIGS))
def test_no_route_of_serve_reveals_a_password(case, tmp_path, caplog):
    """`carp-pkg serve` on a free port, for a host whose config.xml and `ifconfig -k` capture both hold the marker
    passwords (the capture: `key "..."` on every carp line) and whose event log has transitions: each route
    answers once, the event stream carries a transition, and no answer, nor anything the server prints, holds
    a marker. Then it is stopped (SIGTERM to the process this test started)."""
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "conf"))
    config = os.path.join(root, "conf", "config.xml")
    text, vhids = SERVE_CONFIGS[case]
    with open(config, "w") as handle:
        handle.write(text)
    fake = stand_in()
    runner = stand_in_runner(fake)
    assert run_cli(["--root", root, "sync", "--backend", "freebsd"], runner=runner).code == 0
    capture = os.path.join(root, "ifconfig-k.txt")
    with open(capture, "w") as handle:
        handle.write(fake.ifconfig_output(keys=True))
    with open(capture) as handle:
        assert MARK in handle.read(), "the capture must hold the keys for this sweep to mean anything"
    event = ("event", "--no-hooks", "interface=em1", "vhid=7", "state=MASTER", "vip=10.0.0.1")
    assert check_invocation(event, runner, "freebsd", root, {config, capture}, caplog).code == 0

    argv = [sys.executable, "-m", "carp_pkg", "--root", root, "--config", config, "serve", "--listen", "127.0.0.1:0",
            "--backend", "freebsd", "--against", capture]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    answers = {}
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().decode() if ready else ""
        assert line.startswith("carp-pkg serve: http://127.0.0.1:"), (line, process.poll())
        port = int(line.split()[2].rstrip("/").rsplit(":", 1)[1])

        def transition():  # written after the stream started: /events sends only what is appended
            time.sleep(0.3)
            assert check_invocation(event[:-2] + ("state=BACKUP", "vip=10.0.0.1"), runner, "freebsd", root,
                                    {config, capture}, caplog).code == 0

        for route in ROUTES:
            with FIGURES.case(SECRETS):
                if route == "/events":
                    answers[route] = _serve_request(port, route, linger=2.5, during=transition)
                else:
                    answers[route] = _serve_request(port, route)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    fragment = subprocess.run([sys.executable, "-m", "carp_pkg", "--root", root, "--config", config, "serve",
                               "--pfsense-fragment", "--backend", "freebsd", "--against", capture],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert fragment.returncode == 0, fragment.stderr
    secrets = [MARK.encode(), LONG_PASSWORD.encode(), LONG_KEY.encode()]
    for name, data in {**answers, "serve's stdout": out, "serve's stderr": err,
                       "--pfsense-fragment": fragment.stdout + fragment.stderr}.items():
        assert not [s for s in secrets if s in data], f"{name} holds a password"
    assert set(answers) == set(ROUTES) == {"/", "/status.json", "/check.json", "/metrics", "/healthz", "/events"}
    for route, answer in answers.items():
        assert answer.startswith(b"HTTP/1.0 200 "), (route, answer[:200])  # every route answered, with the host
    assert b"event: transition" in answers["/events"] and b'"state": "BACKUP"' in answers["/events"]
    status = json.loads(answers["/status.json"].split(b"\r\n\r\n", 1)[1])
    assert {v["vhid"] for v in status["vhids"]} == vhids  # the host's, read from the capture holding the keys
