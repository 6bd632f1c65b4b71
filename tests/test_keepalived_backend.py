"""The Linux keepalived backend (issue 14): what it refuses, the one file it writes, how it reloads keepalived,
and how it reads the host back. Only the Runner is replaced; files are real, under a temporary --root."""

import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg.backends import get_backend
from carp_pkg.backends import keepalived_conf as kc
from carp_pkg.backends.keepalived import (
    BOOT_LABEL, OURS_FUNCTION, RELOAD_LABEL, START_LABEL, STOP_LABEL, WRITE_LABEL, Keepalived, KeepalivedFiles,
    KeepalivedRunning, assemble, parse_pid, reads_conf, reload_argv, service_check_argv, start_argv, stop_argv,
)
from carp_pkg.backends.limits import suggested_prio
from carp_pkg.configxml import parse_config_bytes
from carp_pkg.errors import CommandError, EnvironmentProblem, InputError
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.paths import Paths
from carp_pkg.sync import sync
from carp_pkg.system import RecordingRunner, Result, System
from carp_pkg.validate import build_config

from tests.helpers import TESTS, fixture_path, run_cli, wait_until
from tests.keepalived_netns import keepalived_accepts

PROJECT = os.path.dirname(TESTS)
EXAMPLE = os.path.join(PROJECT, "examples", "linux-keepalived.xml")
GOLDEN = os.path.join(TESTS, "golden")
HOST = (("eth0", ipaddress.ip_interface("203.0.113.2/24")), ("eth1", ipaddress.ip_interface("192.168.1.2/24")),
        ("eth1", ipaddress.ip_interface("2001:db8:1::2/64")))


def vip(address="192.168.1.1/24", vhid=1, interface="eth1", prio=100, interval=100, protocol="vrrp", **kw):
    return VirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vhid, protocol=protocol,
                     vrrpprio=prio, vrrpinterval=interval, **kw)


def config(*vips, preempt=True):
    vips = tuple(replace(v, preempt=preempt) for v in vips)
    return CarpConfig(vips=vips, host_addresses=HOST)


def backend(root="/"):
    return Keepalived(Paths(str(root)))


def example_config():
    with open(EXAMPLE, "rb") as handle:
        return build_config(parse_config_bytes(handle.read(), EXAMPLE))


# --- what keepalived cannot do ---------------------------------------------------------------------------------

def test_a_vrrp_config_has_no_problems():
    assert backend().problems(example_config()) == []


def test_a_carp_entry_is_refused_with_how_to_convert_it_never_reinterpreted():
    cfg = config(vip(protocol="carp", advskew=100, advbase=2, password="secret"))
    [problem] = backend().problems(cfg)
    assert problem.where == "config[0].protocol"
    for words in ("is a CARP entry", "keepalived speaks VRRPv3", "<protocol>vrrp</protocol>",
                  "<vrrpprio>155</vrrpprio>", "<vrrpinterval>200</vrrpinterval>", "no <password>",
                  "every host of the cluster", "--backend ucarp"):
        assert words in problem.message, words


@pytest.mark.parametrize("advskew, prio", [(0, 254), (1, 254), (100, 155), (240, 15), (254, 1)])
def test_the_suggested_priority_keeps_the_preferred_host_preferred(advskew, prio):
    assert suggested_prio(advskew) == prio


def test_the_cli_refuses_a_carp_config_on_this_backend(tmp_path):
    result = run_cli(["--config", os.path.join(PROJECT, "examples", "linux-ucarp.xml"), "validate",
                      "--backend", "keepalived"])
    assert result.code == 3
    assert "config[0].protocol: vhid 1 on eth1 is a CARP entry" in result.err


def test_a_peer_of_the_family_keepalived_does_not_advertise_in_is_refused():
    problems = backend().problems(config(vip(), vip("2001:db8:1::1/64"), ))
    assert problems == []
    [problem] = backend().problems(config(replace(vip(), peer6="2001:db8:1::3"), replace(vip("2001:db8:1::1/64"),
                                                                                        peer6="2001:db8:1::3")))
    assert problem.where == "config[0].peer6" and "advertised over IPv4 only" in problem.message


def test_a_linux_device_name_cannot_hold_a_colon():
    [problem] = backend().problems(config(vip(interface="eth1:1")))
    assert problem.where == "config[0].interface" and "address label" in problem.message


def test_one_address_on_two_vhids_is_refused():
    problems = backend().problems(config(vip(vhid=1, balancing=True), vip(vhid=2, balancing=True)))
    assert any("no ARP load balancing" in p.message for p in problems)


# --- the file ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("centiseconds, text", [(1, "0.01"), (2, "0.02"), (10, "0.1"), (100, "1"), (150, "1.5"),
                                                 (4095, "40.95")])
def test_advert_int_is_the_interval_in_seconds(centiseconds, text):
    assert kc.advert_int(centiseconds) == text
    assert kc.centiseconds(text) == centiseconds


@pytest.mark.parametrize("value", ["eth 0", "a{b", "x#y", "x!y", 'a"b', "$NAME", "@host", "", "a\nb"])
def test_a_value_keepalived_would_read_differently_is_refused_not_escaped(value):
    with pytest.raises(InputError, match="only A-Z a-z 0-9"):
        kc.token(value, "value")


def test_a_root_keepalived_cannot_be_given_is_refused(tmp_path):
    root = tmp_path / "with space"
    with pytest.raises(InputError, match="notify script path"):
        backend(root).plan(config(vip()), KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(root)))))


def test_one_instance_per_vhid_with_version_3_state_backup_and_the_settings():
    [instance] = kc.parse(kc.render([kc.build_instance(config(vip(prio=150, interval=2)).groups()[0], True, HOST,
                                                       "/n")]))
    assert (instance.name, instance.interface, instance.vrid, instance.priority, instance.interval) == (
        "carp_eth1_vhid1", "eth1", 1, 150, 2)
    text = kc.render([kc.build_instance(config(vip()).groups()[0], False, HOST, None)])
    assert "    version 3\n    state BACKUP\n" in text and "    nopreempt\n" in text and "vrrp_version 3" in text


def test_ipv6_only_vhid_advertises_in_ipv6_and_a_mixed_one_moves_both_families_together():
    v6 = kc.build_instance(config(vip("2001:db8:1::1/64")).groups()[0], True, HOST, None)
    assert v6.family == 6 and [str(a) for a in v6.addresses] == ["2001:db8:1::1/64"] and v6.excluded == ()
    mixed = kc.build_instance(config(vip("2001:db8:1::1/64"), vip("192.168.1.1/24")).groups()[0], True, HOST, None)
    assert [str(a) for a in mixed.addresses] == ["192.168.1.1/24"]
    assert [str(a) for a in mixed.excluded] == ["2001:db8:1::1/64"]
    assert "virtual_ipaddress_excluded {\n        2001:db8:1::1/64 dev eth1\n    }" in kc.render([mixed])


def test_unicast_peers_with_the_interfaces_own_source_address():
    v4 = kc.build_instance(config(replace(vip(), peer="192.168.1.3")).groups()[0], True, HOST, None)
    assert (v4.source, v4.peers) == ("192.168.1.2", ("192.168.1.3",))
    v6 = kc.build_instance(config(replace(vip("2001:db8:1::1/64"), peer6="2001:db8:1::3")).groups()[0], True, HOST,
                           None)
    assert (v6.source, v6.peers) == ("2001:db8:1::2", ("2001:db8:1::3",))
    text = kc.render([v4])
    assert "    unicast_src_ip 192.168.1.2\n    unicast_peer {\n        192.168.1.3\n    }\n" in text
    assert "unicast" not in kc.render([kc.build_instance(config(vip()).groups()[0], True, HOST, None)])


def rendered(argv, root):
    result = run_cli(["--root", str(root), "--config", EXAMPLE, *argv])
    assert result.code == 0, result.err
    return result.out.replace(str(root), "ROOT").replace(sys.executable, "PYTHON").replace(PROJECT, "PROJECT")


@pytest.mark.parametrize("name, argv, pick", [
    ("linux-keepalived.keepalived.conf", ["render", "--backend", "keepalived", "--format", "json"],
     lambda out: json.loads(out)["files"][0]["content"]),
    ("linux-keepalived.keepalived.notify", ["render", "--backend", "keepalived", "--format", "json"],
     lambda out: json.loads(out)["files"][1]["content"]),
    ("linux-keepalived.keepalived.txt", ["render", "--backend", "keepalived", "--format", "commands"], lambda out: out),
])
def test_rendered_output_matches_golden(name, argv, pick, tmp_path):
    text = pick(rendered(argv, tmp_path))
    path = os.path.join(GOLDEN, name)
    if os.environ.get("CARP_PKG_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read()


# --- keepalived -t accepts every file carp-pkg writes ------------------------------------------------------------

def all_configs():
    """Every bundled config and test fixture that validates, each CARP entry turned into VRRPv3 as the
    conversion message says (protocol vrrp, vrrpprio 255 - advskew, vrrpinterval = advbase in centiseconds)."""
    paths = [os.path.join(PROJECT, "examples", n) for n in sorted(os.listdir(os.path.join(PROJECT, "examples")))
             if n.endswith(".xml")]
    paths += [fixture_path("config", n) for n in sorted(os.listdir(fixture_path("config"))) if n.endswith(".xml")]
    paths += [os.path.join(PROJECT, "examples", "cluster", n)
              for n in sorted(os.listdir(os.path.join(PROJECT, "examples", "cluster"))) if n.endswith(".xml")]
    found = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                cfg = build_config(parse_config_bytes(handle.read(), path))
        except Exception:  # the fixtures of bad input
            continue
        vips = tuple(v if v.protocol == "vrrp" else replace(
            v, protocol="vrrp", vrrpprio=suggested_prio(v.advskew), vrrpinterval=min(4095, v.advbase * 100),
            password="", peer6=None if v.address.version == 4 or v.peer else v.peer6) for v in cfg.vips)
        seen, kept = set(), []
        for v in vips:  # balancing configs share one address between vhids: keep the first
            if (v.interface, v.address.ip) in seen and (v.interface, v.vhid) not in {(k.interface, k.vhid) for k in kept
                                                                                    if k.address.ip == v.address.ip}:
                continue
            seen.add((v.interface, v.address.ip))
            kept.append(v)
        cfg = replace(cfg, vips=tuple(kept), warnings=())
        groups = cfg.groups()
        cfg = replace(cfg, vips=tuple(replace(v, peer=None) if any(
            g.interface == v.interface and g.vhid == v.vhid and kc.advertised_family(g) == 6 for g in groups)
            else replace(v, peer6=None) for v in cfg.vips))
        if not backend().problems(cfg):
            found.append((os.path.relpath(path, PROJECT), cfg))
    return found


ALL_CONFIGS = all_configs()


def test_the_conversion_covers_the_bundled_configs():
    names = [name for name, _ in ALL_CONFIGS]
    assert "examples/linux-keepalived.xml" in names and "examples/config.xml" in names and len(names) >= 6


@pytest.mark.parametrize("name, cfg", ALL_CONFIGS, ids=[n for n, _ in ALL_CONFIGS])
def test_keepalived_accepts_every_example_config(name, cfg, tmp_path):
    plan = backend(tmp_path).plan(cfg, KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(tmp_path)))))
    [conf] = [f for f in plan.files if f.path.endswith("carp-pkg.conf")]
    keepalived_accepts(conf.content, {g.interface for g in cfg.groups()})


INTERFACES = ("eth0", "eth1", "bond0.100", "br-lan", "enp3s0")


@st.composite
def vrrp_configs(draw):
    entries = draw(st.lists(st.tuples(st.sampled_from(INTERFACES), st.integers(1, 255), st.integers(1, 254),
                                      st.integers(1, 4095), st.booleans(), st.sampled_from((4, 6, 46)),
                                      st.booleans()),
                            min_size=0, max_size=6, unique_by=lambda e: (e[0], e[1])))
    vips = []
    for number, (interface, vhid, prio, interval, preempt, families, unicast) in enumerate(entries):
        index = INTERFACES.index(interface)
        if families in (4, 46):
            vips.append(vip(f"10.{index}.{vhid}.1/24", vhid, interface, prio, interval,
                            peer=f"10.{index}.{vhid}.3" if unicast else None))
        if families in (6, 46):
            vips.append(vip(f"2001:db8:{index}:{vhid:x}::1/64", vhid, interface, prio, interval,
                            peer=f"10.{index}.{vhid}.3" if unicast and families == 46 else None,
                            peer6=f"2001:db8:{index}:{vhid:x}::3" if unicast and families == 6 else None))
    host = tuple((i, ipaddress.ip_interface(f"10.{n}.0.2/16")) for n, i in enumerate(INTERFACES))
    return CarpConfig(vips=tuple(replace(v, preempt=draw(st.booleans())) for v in vips), host_addresses=host)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vrrp_configs())
def test_keepalived_accepts_any_valid_config_carp_pkg_writes(tmp_path, cfg):
    assert backend(tmp_path).problems(cfg) == []
    plan = backend(tmp_path).plan(cfg, KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(tmp_path)))))
    conf = plan.files[0].content
    keepalived_accepts(conf, set(INTERFACES))
    # and it reads back as what was configured
    parsed = {(p.interface, p.vrid): (p.priority, p.interval, set(p.addresses + p.excluded)) for p in kc.parse(conf)}
    assert parsed == {(g.interface, g.vhid): (g.vrrpprio, g.vrrpinterval, set(g.addresses)) for g in cfg.groups()}


# --- reconcile through sync(), with a recording Runner --------------------------------------------------------------

IP_JSON = json.dumps([
    {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"local": "203.0.113.2", "prefixlen": 24}]},
    {"ifname": "eth1", "addr_info": [{"local": "192.168.1.2", "prefixlen": 24},
                                     {"local": "2001:db8:1::2", "prefixlen": 64}]},
])


class Host:
    """A Linux host under a temporary root: config.xml, systemd or not, a keepalived maybe running."""

    def __init__(self, root, systemd=False, active=False):
        self.root = root
        self.paths = Paths(str(root), config_override=EXAMPLE)
        self.active = active
        if systemd:
            (root / "run" / "systemd" / "system").mkdir(parents=True)
        self.runner = None

    def respond(self, argv):
        if argv == ("ip", "-j", "addr", "show"):
            return Result(0, IP_JSON, "")
        if argv == ("systemctl", "is-active", "keepalived"):
            return Result(0 if self.active else 3, "active\n" if self.active else "inactive\n", "")
        return Result()

    def sync(self, config_path=EXAMPLE):
        self.runner = RecordingRunner(respond=self.respond)
        paths = Paths(str(self.root), config_override=config_path)
        sync(System(self.runner, paths, use_sysctl_library=False), paths, get_backend("keepalived", paths=paths))
        return self.runner.mutating_calls

    @property
    def files(self):
        return KeepalivedFiles.under(self.paths)


@pytest.fixture
def fake_keepalived(tmp_path):
    """A live process whose command line reads as `keepalived ... -f CONF` (a Python named keepalived)."""
    processes = []

    def start(files):
        link = tmp_path / "bin" / "keepalived"
        link.parent.mkdir(exist_ok=True)
        if not link.exists():
            link.symlink_to(sys.executable)
        process = subprocess.Popen([str(link), "-c", "import time; time.sleep(120)", "-f", files.conf])
        processes.append(process)
        wait_until(lambda: reads_conf(open(f"/proc/{process.pid}/cmdline").read(), files.conf), 10,
                   "the stand-in keepalived runs")
        os.makedirs(files.directory, exist_ok=True)
        with open(files.pid, "w") as handle:
            handle.write(f"{process.pid}\n")
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()


def test_a_fresh_host_gets_the_file_0600_the_scripts_0700_then_a_check_and_a_start(tmp_path):
    host = Host(tmp_path)
    calls = host.sync()
    assert calls == [("keepalived", "-t", "-f", host.files.conf), start_argv(host.files)]
    assert calls[1][3] == START_LABEL and calls[1][6] == host.files.conf and calls[1][7:] == (
        "keepalived", "--vrrp", "-f", host.files.conf, "-p", host.files.pid, "-r", host.files.vrrp_pid)
    assert oct(os.stat(host.files.conf).st_mode & 0o777) == "0o600"
    for name in ("eth1-vhid1.notify", "eth0-vhid2.notify"):
        assert oct(os.stat(os.path.join(host.files.directory, name)).st_mode & 0o777) == "0o700"
    assert "vrrp_instance carp_eth1_vhid1 {" in open(host.files.conf).read()


def test_an_unchanged_config_writes_nothing_and_signals_nothing(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    fake_keepalived(host.files)
    before = {name: os.stat(os.path.join(host.files.directory, name)).st_mtime_ns
              for name in os.listdir(host.files.directory)}
    conf_before = os.stat(host.files.conf).st_mtime_ns
    assert host.sync() == []
    assert os.stat(host.files.conf).st_mtime_ns == conf_before
    assert {name: os.stat(os.path.join(host.files.directory, name)).st_mtime_ns
            for name in os.listdir(host.files.directory)} == before


def test_a_changed_priority_is_checked_then_carp_pkgs_keepalived_is_reloaded(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    process = fake_keepalived(host.files)
    changed = tmp_path / "changed.xml"
    changed.write_text(open(EXAMPLE).read().replace("<vrrpprio>200</vrrpprio>", "<vrrpprio>50</vrrpprio>"))
    calls = host.sync(str(changed))
    assert calls == [("keepalived", "-t", "-f", host.files.conf), reload_argv(host.files)]
    assert calls[1][3] == RELOAD_LABEL
    assert "priority 50" in open(host.files.conf).read()
    assert process.poll() is None


def test_a_failed_reload_puts_the_previous_file_back(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    fake_keepalived(host.files)
    before = open(host.files.conf).read()
    changed = tmp_path / "changed.xml"
    changed.write_text(open(EXAMPLE).read().replace("<vrrpinterval>2</vrrpinterval>", "<vrrpinterval>5</vrrpinterval>"))
    failing = {"count": 0}

    def respond(argv):
        if argv == reload_argv(host.files):
            failing["count"] += 1
            if failing["count"] == 1:
                return Result(1, "", "carp-pkg's keepalived (pid file X) is not running")
        return host.respond(argv)

    paths = Paths(str(tmp_path), config_override=str(changed))
    runner = RecordingRunner(respond=respond)
    with pytest.raises(CommandError, match="failed"):
        sync(System(runner, paths, use_sysctl_library=False), paths, get_backend("keepalived", paths=paths))
    assert open(host.files.conf).read() == before
    # keepalived never read the new file: nothing else to undo
    assert runner.mutating_calls == [("keepalived", "-t", "-f", host.files.conf), reload_argv(host.files)]


def test_under_systemd_keepalived_service_must_read_carp_pkgs_file(tmp_path):
    host = Host(tmp_path, systemd=True)
    with pytest.raises(EnvironmentProblem, match=r"add the line `include /etc/keepalived/carp-pkg.conf`"):
        host.sync()
    assert not os.path.exists(host.files.conf)  # nothing changed
    main = tmp_path / "etc" / "keepalived" / "keepalived.conf"
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text("global_defs {\n}\ninclude /etc/keepalived/*.conf\n")
    check = service_check_argv(str(main))  # the file keepalived.service reads, not carp-pkg.conf alone
    assert host.sync() == [check, ("systemctl", "start", "keepalived")]
    host.active = True
    assert host.sync() == []
    changed = tmp_path / "changed.xml"
    changed.write_text(open(EXAMPLE).read().replace("<vrrpprio>200</vrrpprio>", "<vrrpprio>20</vrrpprio>"))
    assert host.sync(str(changed)) == [check, ("systemctl", "reload", "keepalived")]


@pytest.mark.parametrize("main, defaults, reads", [
    ("include /etc/keepalived/carp-pkg.conf\n", None, True),
    ("! comment\ninclude /etc/keepalived/conf.d/*.conf /etc/keepalived/carp-*.conf\n", None, True),
    ("include carp-pkg.conf\n", None, True),  # relative: from keepalived.conf's directory
    ("# include /etc/keepalived/carp-pkg.conf\n", None, False),
    (None, 'DAEMON_ARGS="--vrrp -f /etc/keepalived/carp-pkg.conf"\n', True),
    (None, 'DAEMON_ARGS="--use-file=/etc/keepalived/carp-pkg.conf"\n', True),
    (None, 'DAEMON_ARGS=""\n', False),
    # the service runs on another file: keepalived.conf's include does not count, that file's does
    ("include /etc/keepalived/carp-pkg.conf\n", 'DAEMON_ARGS="-f /etc/keepalived/site.conf"\n', False),
])
def test_which_keepalived_service_setups_read_carp_pkgs_file(main, defaults, reads):
    path = kc.service_conf(defaults)
    assert kc.service_reads(kc.CONF, path, main if path == kc.MAIN_CONF else None) is reads


@pytest.mark.parametrize("defaults, path", [
    (None, kc.MAIN_CONF), ('DAEMON_ARGS=""\n', kc.MAIN_CONF),
    ('DAEMON_ARGS="--vrrp -f /etc/keepalived/site.conf"\n', "/etc/keepalived/site.conf"),
    ('DAEMON_ARGS="-f/etc/k.conf -D"\n', "/etc/k.conf"),
    ('DAEMON_ARGS="--use-file /etc/a.conf"\nDAEMON_ARGS="--use-file=/etc/b.conf"\n', "/etc/b.conf"),
])
def test_the_file_keepalived_service_reads(defaults, path):
    assert kc.service_conf(defaults) == path


def test_no_vhid_left_stops_carp_pkgs_keepalived_and_removes_the_scripts(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    fake_keepalived(host.files)
    empty = tmp_path / "empty.xml"
    empty.write_text("<pfsense><installedpackages><carp></carp></installedpackages></pfsense>")
    calls = host.sync(str(empty))
    assert calls == [stop_argv(host.files)] and calls[0][3] == STOP_LABEL
    assert [n for n in os.listdir(host.files.directory) if n.endswith(".notify")] == []
    assert "vrrp_instance carp_" not in open(host.files.conf).read()


def deinstall(host, dry_run=False, backend_name="keepalived"):
    from carp_pkg.hooks import Installer
    from carp_pkg.system import DryRunRunner
    runner = RecordingRunner(respond=host.respond)
    system = System(DryRunRunner(runner) if dry_run else runner, host.paths, dry_run=dry_run, use_sysctl_library=False)
    return Installer(system, host.paths, get_backend(backend_name, paths=host.paths)).deinstall(False, 1.0), runner


def test_deinstall_removes_the_keepalived_file_carp_pkg_wrote(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    fake_keepalived(host.files)
    assert os.path.isfile(host.files.conf)
    would, _ = deinstall(host, dry_run=True)
    assert kc.CONF in would.removal.removed and os.path.isfile(host.files.conf)
    report, runner = deinstall(host)
    assert runner.mutating_calls[-1] == stop_argv(host.files)  # keepalived stopped first, then its file goes
    assert kc.CONF in report.removal.removed and report.removal.refused == ()
    assert not os.path.lexists(host.files.conf) and not os.path.exists(host.files.directory)
    assert os.path.isdir(tmp_path / "etc" / "keepalived")  # keepalived's own directory stays


def test_deinstall_never_follows_a_symlink_in_place_of_the_keepalived_file(tmp_path):
    host = Host(tmp_path)
    host.sync()
    empty = backend(tmp_path).plan(CarpConfig(), KeepalivedRunning(files=host.files)).files[0].content
    outside = tmp_path / "outside.conf"
    outside.write_text(empty)  # what the teardown would write: it leaves the link in place
    os.unlink(host.files.conf)
    os.symlink(outside, host.files.conf)
    report, _ = deinstall(host)
    assert [note.entry for note in report.removal.refused] == [json.dumps(kc.CONF)]
    assert "symbolic link" in report.removal.refused[0].reason
    assert os.path.islink(host.files.conf) and outside.read_text() == empty


def test_deinstall_with_another_backend_leaves_the_keepalived_file_alone(tmp_path):
    host = Host(tmp_path)
    host.sync()
    report, _ = deinstall(host, backend_name="ucarp")
    assert kc.CONF not in report.removal.removed and os.path.isfile(host.files.conf)


def test_a_missing_interface_is_named(tmp_path):
    running = KeepalivedRunning(interfaces=("lo", "eth0"), files=KeepalivedFiles.under(Paths(str(tmp_path))))
    with pytest.raises(EnvironmentProblem, match="eth1 does not exist"):
        backend(tmp_path).plan(example_config(), running)


def test_stop_plan_and_boot_plan(tmp_path):
    files = KeepalivedFiles.under(Paths(str(tmp_path)))
    assert backend(tmp_path).stop_plan(example_config()).steps[0].argv == stop_argv(files)
    assert backend(tmp_path).stop_plan(CarpConfig()).steps == ()
    boot = backend(tmp_path).boot_plan(example_config())
    # the rc script writes the notify scripts and carp-pkg.conf itself (`carp-pkg stop` empties the one and
    # removes the others), then checks and starts in one step: a failed check cannot be followed by a start
    assert [s.argv[3] for s in boot.steps] == [WRITE_LABEL, WRITE_LABEL, BOOT_LABEL]
    assert [s.argv[4] for s in boot.steps[:2]] == [files.notify("eth1", 1), files.notify("eth0", 2)]
    start = boot.steps[-1].argv
    cfg = example_config()
    assert start[4:6] == (files.systemd_marker, kc.render([kc.build_instance(
        g, cfg.preempt, cfg.host_addresses, files.notify(g.interface, g.vhid)) for g in cfg.groups()]))
    assert "vrrp_instance carp_eth1_vhid1" in start[5] and "global_defs" in start[5]
    assert start[6:] == (files.pid, files.vrrp_pid, files.conf, "keepalived", "--vrrp", "-f", files.conf, "-p",
                         files.pid, "-r", files.vrrp_pid)
    assert backend(tmp_path).boot_plan(CarpConfig()).steps == ()


# --- reading the host back: status, check ------------------------------------------------------------------------------

def state_record(word, raw=None, prio=200):
    return f"{word} 1700000000.5 {raw or word} {prio}\n"


def observed(tmp_path, states, daemon=True, ip_json=IP_JSON):
    files = KeepalivedFiles.under(Paths(str(tmp_path)))
    conf = backend(tmp_path).plan(example_config(), KeepalivedRunning(files=files)).files[0].content
    return assemble(files, conf, {f"{k}.state": v for k, v in states.items()}, 4242 if daemon else None, False,
                    None, False, ip_json)


def test_read_back_states_vips_held_and_settings(tmp_path):
    held = json.loads(IP_JSON)
    held[2]["addr_info"] += [{"local": "192.168.1.1", "prefixlen": 24}, {"local": "2001:db8:1::1", "prefixlen": 64}]
    running = observed(tmp_path, {"eth1-vhid1": state_record("MASTER"), "eth0-vhid2": state_record("INIT", "FAULT")},
                       ip_json=json.dumps(held))
    lan, wan = running.vhids
    assert (lan.interface, lan.vhid, lan.state, lan.protocol, lan.vrrpprio, lan.vrrpinterval) == (
        "eth1", 1, "MASTER", "vrrp", 200, 2)
    assert [str(a) for a in lan.held] == ["192.168.1.1/24", "2001:db8:1::1/64"] and lan.since == 1700000000.5
    assert (wan.state, wan.peer, wan.held) == ("INIT", "203.0.113.3", ())
    # VIPs are not the host's own addresses
    assert ("eth1", ipaddress.ip_interface("192.168.1.1/24")) not in running.host_addresses


def test_a_stopped_keepalived_shows_every_vhid_stopped(tmp_path):
    running = observed(tmp_path, {"eth1-vhid1": state_record("MASTER")}, daemon=False)
    assert [v.state for v in running.vhids] == ["STOPPED", "STOPPED"]
    assert "keepalived is not running" in running.vhids[0].last_error


def test_check_is_ok_when_the_file_matches_and_warns_on_drift(tmp_path):
    from carp_pkg.check import Status, check
    running = observed(tmp_path, {"eth1-vhid1": state_record("MASTER"), "eth0-vhid2": state_record("BACKUP")})
    held = replace(running.vhids[0], held=running.vhids[0].addresses)
    running = replace(running, vhids=(held, running.vhids[1]))
    assert check(example_config(), running).status is Status.OK
    drifted = replace(example_config(), vips=tuple(replace(v, vrrpprio=10) if v.vhid == 2 else v
                                                   for v in example_config().vips))
    report = check(drifted, running)
    assert report.status is Status.WARNING
    assert [f.line for f in report.findings] == ["eth0 vhid 2 vrrpprio: expected 10, running 200 (changes which host "
                                                 "is preferred as master (higher wins))"]


def test_reads_conf_recognises_only_keepalived_on_carp_pkgs_file():
    assert reads_conf("/usr/sbin/keepalived\0--vrrp\0-f\0/etc/keepalived/carp-pkg.conf\0", kc.CONF)
    assert not reads_conf("/usr/sbin/keepalived\0-f\0/etc/keepalived/keepalived.conf\0", kc.CONF)
    assert not reads_conf("/usr/bin/vim\0-f\0/etc/keepalived/carp-pkg.conf\0", kc.CONF)


# --- the notify script: keepalived → state file and the event path ---------------------------------------------------

def notify_files(tmp_path, with_event=True):
    paths = Paths(str(tmp_path))
    files = KeepalivedFiles.under(paths)
    plan = backend(tmp_path).plan(example_config(), KeepalivedRunning(files=files))
    os.makedirs(files.directory, mode=0o700, exist_ok=True)
    for planned in plan.files[1:]:
        content = planned.content if with_event else "".join(
            line for line in planned.content.splitlines(keepends=True) if not line.startswith("(cd / && exec"))
        with open(planned.path, "w") as handle:
            handle.write(content)
        os.chmod(planned.path, planned.mode)
    return files


@pytest.mark.parametrize("raw, recorded", [("MASTER", "MASTER"), ("BACKUP", "BACKUP"), ("FAULT", "INIT"),
                                           ("STOP", "INIT")])
def test_the_notify_script_records_keepalived_states(tmp_path, raw, recorded):
    files = notify_files(tmp_path, with_event=False)
    subprocess.run([files.notify("eth1", 1), "INSTANCE", "carp_eth1_vhid1", raw, "200"], check=True)
    with open(files.state("eth1", 1)) as handle:
        word, _when, seen, prio = handle.read().split()
    assert (word, seen, prio) == (recorded, raw, "200")


@pytest.mark.parametrize("args", [("GROUP", "carp_eth1_vhid1", "MASTER", "200"),
                                  ("INSTANCE", "carp_eth0_vhid2", "MASTER", "200"),
                                  ("INSTANCE", "carp_eth1_vhid1", "MASTER;reboot", "200"),
                                  ("INSTANCE", "carp_eth1_vhid1", "DELETED", "200")])
def test_the_notify_script_ignores_what_is_not_its_own_instance_or_a_state(tmp_path, args):
    files = notify_files(tmp_path, with_event=False)
    subprocess.run([files.notify("eth1", 1), *args], check=True)
    assert not os.path.exists(files.state("eth1", 1))


def test_a_transition_reaches_carp_pkgs_event_log(tmp_path):
    files = notify_files(tmp_path)
    subprocess.run([files.notify("eth1", 1), "INSTANCE", "carp_eth1_vhid1", "MASTER", "200"], check=True)
    log = tmp_path / "var" / "db" / "carp-pkg" / "events.jsonl"
    wait_until(lambda: log.exists() and log.read_text().strip(), 20, "the event is recorded")
    record = json.loads(log.read_text().splitlines()[-1])
    assert (record["backend"], record["interface"], record["vhid"], record["state"], record["vips"]) == (
        "keepalived", "eth1", 1, "MASTER", ["192.168.1.1", "2001:db8:1::1"])


# --- the shell side: a stand-in keepalived on PATH, the snippets run for real ------------------------------------------

FAKE_KEEPALIVED = """#!/bin/bash
# carp-pkg's tests: a stand-in keepalived. `-t` logs `check FILE` and exits $FAKE_CHECK_RC (0); anything else logs
# `start FILE` and leaves a process whose command line reads `keepalived -c CODE LOG -f FILE` (argv0 keepalived),
# which logs `ready PID` and every SIGHUP, its pid in the -p file.
log={log}
conf=; pidfile=; check=
while [ $# -gt 0 ]; do case $1 in -t) check=1 ;; -f) conf=$2; shift ;; -p) pidfile=$2; shift ;; esac; shift; done
if [ -n "$check" ]; then echo "check $conf" >>"$log"; exit "${{FAKE_CHECK_RC:-0}}"; fi
echo "start $conf" >>"$log"
(exec -a keepalived {python} -c 'import os, signal, sys, time
signal.signal(signal.SIGHUP, lambda *a: open(sys.argv[1], "a").write("HUP\\n"))
open(sys.argv[1], "a").write(f"ready {{os.getpid()}}\\n")
time.sleep(120)' "$log" -f "$conf" </dev/null >/dev/null 2>&1) &
echo $! >>{pids}
echo $! >"$pidfile"
"""


class FakeKeepalived:
    def __init__(self, directory):
        self.bin = directory / "fakebin"
        self.bin.mkdir()
        self.log_path = directory / "fake-keepalived.log"
        self.pids_path = directory / "fake-keepalived.pids"
        script = self.bin / "keepalived"
        script.write_text(FAKE_KEEPALIVED.format(log=self.log_path, pids=self.pids_path, python=sys.executable))
        script.chmod(0o755)
        self.env = dict(os.environ, PATH=f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}")

    def run(self, argv, check_rc=0):
        return subprocess.run(list(argv), env=dict(self.env, FAKE_CHECK_RC=str(check_rc)), capture_output=True,
                              text=True, timeout=60)

    def log(self):
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []

    def started(self):
        return [line for line in self.log() if line.startswith("start ")]

    def wait_ready(self, pid):
        wait_until(lambda: f"ready {pid}" in self.log(), 10, "the stand-in keepalived installs its SIGHUP handler")

    def stop_all(self):
        for word in (self.pids_path.read_text().split() if self.pids_path.exists() else []):
            try:
                os.kill(int(word), 9)
            except ProcessLookupError:
                pass


@pytest.fixture
def fake_bin(tmp_path):
    fake = FakeKeepalived(tmp_path)
    yield fake
    fake.stop_all()


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            return "\nState:\tZ" not in handle.read()
    except FileNotFoundError:
        return False


def own_files(tmp_path, text="vrrp_instance carp_eth1_vhid1 {\n}\n"):
    files = KeepalivedFiles.under(Paths(str(tmp_path)))
    os.makedirs(os.path.dirname(files.conf), exist_ok=True)
    os.makedirs(files.directory, mode=0o700, exist_ok=True)
    with open(files.conf, "w") as handle:
        handle.write(text)
    return files


def test_a_start_while_carp_pkgs_keepalived_runs_reloads_it_and_never_starts_a_second(tmp_path, fake_bin):
    files = own_files(tmp_path)
    first = fake_bin.run(start_argv(files))
    assert first.returncode == 0, first.stderr
    pid = parse_pid(open(files.pid).read())
    fake_bin.wait_ready(pid)
    again = fake_bin.run(start_argv(files))
    assert again.returncode == 0, again.stderr
    assert "runs already: reloaded it (SIGHUP)" in again.stdout
    wait_until(lambda: "HUP" in fake_bin.log(), 10, "the running keepalived gets SIGHUP")
    assert parse_pid(open(files.pid).read()) == pid and alive(pid)  # its pid file kept, nothing orphaned
    assert fake_bin.started() == [f"start {files.conf}"]  # one keepalived, started once
    assert fake_bin.log().count(f"check {files.conf}") == 2  # each start checks the file first


def test_stop_reload_and_start_never_signal_a_process_that_only_mentions_carp_pkg_conf(tmp_path, fake_bin):
    files = own_files(tmp_path)
    tail = subprocess.Popen(["tail", "-f", files.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: files.conf in open(f"/proc/{tail.pid}/cmdline").read(), 10, "tail runs")
        with open(files.pid, "w") as handle:  # a stale pid file: the pid is now tail's
            handle.write(f"{tail.pid}\n")
        stop = fake_bin.run(stop_argv(files))
        assert stop.returncode == 0, stop.stderr
        reload = fake_bin.run(reload_argv(files))
        assert reload.returncode == 1 and "is not running" in reload.stderr
        start = fake_bin.run(start_argv(files))  # not "reloaded": a keepalived of its own is started
        assert start.returncode == 0, start.stderr
        assert fake_bin.started() == [f"start {files.conf}"]
        time.sleep(0.3)
        assert tail.poll() is None  # neither SIGTERM nor SIGHUP reached it
    finally:
        tail.kill()
        tail.wait()


SLEEPER = "import time; time.sleep(60)"


@pytest.mark.parametrize("name, tail_args, ours", [
    ("keepalived", ["-f", "{conf}"], True),
    ("keepalived", ["--use-file", "{conf}"], True),
    ("keepalived", ["-f", "-f", "{conf}"], True),
    ("keepalived", ["-f", "{conf}.old"], False),
    ("keepalived", ["{conf}"], False),
    ("keepalived", ["-f", "/etc/keepalived/keepalived.conf", "{conf}"], False),
    ("keepalived", ["x\n-f\n{conf}"], False),  # one argument holding newlines is not three
    ("keepalived-x", ["-f", "{conf}"], False),
    ("tail", ["-f", "{conf}"], False),
])
def test_the_shell_and_python_agree_on_which_process_is_carp_pkgs_keepalived(tmp_path, name, tail_args, ours):
    files = own_files(tmp_path)
    link = tmp_path / "bin" / name
    link.parent.mkdir()
    link.symlink_to(sys.executable)
    args = [a.replace("{conf}", files.conf) for a in tail_args]
    process = subprocess.Popen([str(link), "-c", SLEEPER, *args])
    try:
        wait_until(lambda: SLEEPER in open(f"/proc/{process.pid}/cmdline").read(), 10, "the process runs")
        with open(files.pid, "w") as handle:
            handle.write(f"{process.pid}\n")
        assert reads_conf(open(f"/proc/{process.pid}/cmdline").read(), files.conf) is ours
        shell = subprocess.run(["/bin/sh", "-c", OURS_FUNCTION + 'ours "$1" "$2"', "t", files.pid, files.conf])
        assert (shell.returncode == 0) is ours
    finally:
        process.kill()
        process.wait()


# --- the rc script: the config's boot plan, whatever `carp-pkg stop` left ------------------------------------------------

def stopped_host(tmp_path):
    """sync (the rc script written), then `carp-pkg stop`: carp-pkg.conf emptied, the notify scripts gone."""
    from carp_pkg.sync import teardown
    host = Host(tmp_path)
    host.sync()
    synced = open(host.files.conf).read()
    teardown(System(RecordingRunner(respond=host.respond), host.paths, use_sysctl_library=False), host.paths,
             get_backend("keepalived", paths=host.paths))
    assert kc.parse(open(host.files.conf).read()) == ()
    assert not os.path.exists(host.files.notify("eth1", 1))
    return host, synced


def test_the_rc_script_start_after_carp_pkg_stop_brings_the_configured_vhids_back(tmp_path, fake_bin):
    host, synced = stopped_host(tmp_path)
    started = fake_bin.run(("/bin/sh", host.paths.rc_script, "start"))
    assert started.returncode == 0, started.stderr
    assert open(host.files.conf).read() == synced  # not keepalived on the empty file stop left
    assert oct(os.stat(host.files.conf).st_mode & 0o777) == "0o600"
    for interface, vhid in (("eth1", 1), ("eth0", 2)):
        assert oct(os.stat(host.files.notify(interface, vhid)).st_mode & 0o777) == "0o700"
    assert fake_bin.started() == [f"start {host.files.conf}"]
    pid = parse_pid(open(host.files.pid).read())
    assert reads_conf(open(f"/proc/{pid}/cmdline").read(), host.files.conf)
    fake_bin.wait_ready(pid)
    # a second start (the rc script run by hand while it runs) reloads that keepalived
    again = fake_bin.run(("/bin/sh", host.paths.rc_script, "start"))
    assert again.returncode == 0, again.stderr
    wait_until(lambda: "HUP" in fake_bin.log(), 10, "SIGHUP")
    assert fake_bin.started() == [f"start {host.files.conf}"] and parse_pid(open(host.files.pid).read()) == pid
    stopped = fake_bin.run(("/bin/sh", host.paths.rc_script, "stop"))
    assert stopped.returncode == 0, stopped.stderr
    wait_until(lambda: not alive(pid), 10, "the rc script's stop ends it")


def test_the_rc_script_starts_no_keepalived_when_keepalived_t_refuses_the_file(tmp_path, fake_bin):
    host, _synced = stopped_host(tmp_path)
    emptied = open(host.files.conf).read()
    result = fake_bin.run(("/bin/sh", host.paths.rc_script, "start"), check_rc=5)
    assert result.returncode != 0 and "keepalived -t refused" in result.stderr
    assert fake_bin.started() == [] and not os.path.exists(host.files.pid)
    assert open(host.files.conf).read() == emptied  # the refused file never replaced it
    assert [n for n in os.listdir(os.path.dirname(host.files.conf)) if n.endswith(".boot")] == []


def test_the_rc_script_starts_no_keepalived_of_its_own_where_systemd_is_pid_1(tmp_path, fake_bin):
    host, _synced = stopped_host(tmp_path)
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    emptied = open(host.files.conf).read()
    result = fake_bin.run(("/bin/sh", host.paths.rc_script, "start"))
    assert result.returncode != 0 and "systemd is PID 1 here" in result.stderr
    assert fake_bin.started() == [] and open(host.files.conf).read() == emptied


# --- under systemd: carp-pkg's file is an include of the admin's keepalived.conf ----------------------------------------

ADMIN_CONF = """\
global_defs {
    enable_script_security
}
vrrp_instance admin_v2 {
    state BACKUP
    interface eth1
    virtual_router_id 50
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.168.1.50/24 dev eth1
    }
}
include /etc/keepalived/carp-pkg.conf
"""
GLOBAL_WORDS = ("global_defs", "vrrp_version", "script_user", "enable_script_security", "vrrp_priority")


def systemd_host(tmp_path, main=ADMIN_CONF, defaults=None, active=True):
    host = Host(tmp_path, systemd=True, active=active)
    directory = tmp_path / "etc" / "keepalived"
    directory.mkdir(parents=True, exist_ok=True)
    if main is not None:
        (directory / "keepalived.conf").write_text(main)
    if defaults is not None:
        (tmp_path / "etc" / "default").mkdir(parents=True, exist_ok=True)
        (tmp_path / "etc" / "default" / "keepalived").write_text(defaults)
    return host


def test_an_included_file_has_no_global_defs_so_the_admins_instances_stay_as_they_are(tmp_path):
    host = systemd_host(tmp_path)
    host.sync()
    text = open(host.files.conf).read()
    assert not [line for line in text.splitlines() if line.strip().startswith(GLOBAL_WORDS)]
    instances = kc.parse(text)
    assert len(instances) == 2 and text.count("\n    version 3\n") == 2
    assert [line.split()[-1] for line in text.splitlines() if line.strip().startswith("notify ")] == ["root", "root"]
    # keepalived itself: with carp-pkg's global_defs (vrrp_version 3) the admin's VRRPv2 instance lost its
    # authentication ("VRRP version 3 does not support authentication"); included as written now, it keeps it
    keepalived_accepts(ADMIN_CONF.replace(kc.CONF, host.files.conf), {"eth0", "eth1"})
    # carp-pkg's own keepalived (no systemd) runs the file alone: carp-pkg's global_defs stay
    plain = Host(tmp_path / "plain")
    plain.sync()
    assert "global_defs {\n    vrrp_version 3\n" in open(plain.files.conf).read()


def test_a_systemd_reload_is_checked_on_the_file_the_service_reads_and_a_refusal_changes_nothing(tmp_path):
    host = systemd_host(tmp_path)
    host.sync()
    before = open(host.files.conf).read()
    main = str(tmp_path / "etc" / "keepalived" / "keepalived.conf")
    changed = tmp_path / "changed.xml"
    changed.write_text(open(EXAMPLE).read().replace("<vrrpprio>200</vrrpprio>", "<vrrpprio>20</vrrpprio>"))

    def respond(argv):
        if argv == service_check_argv(main):
            return Result(5, "", "(admin_v2) unknown keyword 'bogus'")
        return host.respond(argv)

    runner = RecordingRunner(respond=respond)
    result = run_cli(["--root", str(tmp_path), "--config", str(changed), "sync", "--backend", "keepalived"],
                     runner=runner)
    assert result.code == 5, result.err
    assert runner.mutating_calls == [service_check_argv(main)]  # nothing reloaded
    assert open(host.files.conf).read() == before  # the previous file is back


def test_the_check_follows_daemon_args_to_the_file_the_service_reads(tmp_path):
    host = systemd_host(tmp_path, main="global_defs {\n}\n",
                        defaults='DAEMON_ARGS="--vrrp -f /etc/keepalived/site.conf"\n')
    (tmp_path / "etc" / "keepalived" / "site.conf").write_text(ADMIN_CONF)
    site = str(tmp_path / "etc" / "keepalived" / "site.conf")
    assert host.sync() == [service_check_argv(site), ("systemctl", "reload", "keepalived")]
    empty = tmp_path / "empty.xml"
    empty.write_text("<pfsense><installedpackages><carp></carp></installedpackages></pfsense>")
    assert host.sync(str(empty)) == [service_check_argv(site), ("systemctl", "reload", "keepalived")]
    # DAEMON_ARGS running keepalived on carp-pkg's file alone: no include, carp-pkg's global_defs stay
    alone = systemd_host(tmp_path / "alone", main=None, defaults=f'DAEMON_ARGS="-f {kc.CONF}"\n')
    assert alone.sync() == [("keepalived", "-t", "-f", alone.files.conf), ("systemctl", "reload", "keepalived")]
    assert "global_defs {" in open(alone.files.conf).read()


@pytest.mark.parametrize("text", [
    "global_defs {\n    vrrp_priority -20\n    enable_script_security\n}\n",
    "global_defs { vrrp_priority -20 }\nglobal_defs {enable_script_security}\n",
    "global_defs\n{\n    vrrp_priority -20 # nice\n    enable_script_security\n}\n",
    "! admin\nglobal_defs {\n    notification_email {\n        vrrp_priority\n    }\n    vrrp_priority -20\n"
    "    enable_script_security\n}\n",
])
def test_global_defs_are_read_in_every_layout_keepalived_accepts(text):
    assert kc.global_keywords(text) - {"notification_email"} == {"vrrp_priority", "enable_script_security"}


def warnings_of(host):
    paths = Paths(str(host.root), config_override=EXAMPLE)
    system = System(RecordingRunner(respond=host.respond), paths, use_sysctl_library=False, dry_run=True)
    backend = get_backend("keepalived", paths=paths)
    return backend.plan(example_config(), backend.read_running(system, paths)).warnings


def test_global_defs_in_an_included_file_count_and_real_time_scheduling_is_warned_about(tmp_path):
    main = "include /etc/keepalived/conf.d/*.conf\n" + ADMIN_CONF.replace("enable_script_security", "")
    host = systemd_host(tmp_path, main=main)
    (tmp_path / "etc" / "keepalived" / "conf.d").mkdir()
    (tmp_path / "etc" / "keepalived" / "conf.d" / "globals.conf").write_text(
        "global_defs {\n    vrrp_priority -20\n    enable_script_security\n}\n")
    assert warnings_of(host) == ()
    (tmp_path / "etc" / "keepalived" / "conf.d" / "globals.conf").write_text(
        "global_defs {\n    vrrp_rt_priority 40\n    enable_script_security\n}\n")
    [warning] = warnings_of(host)
    assert "set `vrrp_rt_priority`" in warning and "replace it with `vrrp_priority -20`" in warning


def test_an_include_inside_global_defs_counts_as_its_body(tmp_path):
    main = ADMIN_CONF.replace("    enable_script_security\n", "    enable_script_security\n    include rt.conf\n")
    host = systemd_host(tmp_path, main=main)
    (tmp_path / "etc" / "keepalived" / "rt.conf").write_text("vrrp_rt_priority 5\n")
    [warning] = warnings_of(host)
    assert "set `vrrp_rt_priority`" in warning
    (tmp_path / "etc" / "keepalived" / "rt.conf").write_text("vrrp_priority -20\n")
    assert warnings_of(host) == ()


def test_an_include_on_the_global_defs_line_counts_and_one_inside_an_instance_is_no_top_level_include(tmp_path):
    main = ("global_defs { include rt.conf }\ninclude /etc/keepalived/carp-pkg.conf\n"
            "vrrp_instance x {\n    include instance.conf\n}\n")
    host = systemd_host(tmp_path, main=main)
    (tmp_path / "etc" / "keepalived" / "rt.conf").write_text("vrrp_rt_priority 50\nenable_script_security\n")
    (tmp_path / "etc" / "keepalived" / "instance.conf").write_text("global_defs {\n    vrrp_priority -20\n}\n")
    [warning] = warnings_of(host)
    assert "set `vrrp_rt_priority`" in warning
    assert kc.include_patterns("/etc/keepalived/keepalived.conf", main) == [kc.CONF]


def test_odd_files_an_include_matches_are_skipped_and_nothing_outside_root_is_read(tmp_path):
    root = tmp_path / "root"
    main = "include /etc/keepalived/conf.d/*.conf\n" + ADMIN_CONF
    host = systemd_host(root, main=main)
    conf_d = root / "etc" / "keepalived" / "conf.d"
    conf_d.mkdir()
    outside = tmp_path / "outside.conf"
    outside.write_text("global_defs {\n    vrrp_rt_priority 40\n}\ninclude /etc/keepalived/carp-pkg.conf\n")
    os.mkfifo(conf_d / "fifo.conf")
    os.symlink("/nonexistent.conf", conf_d / "dangling.conf")
    os.symlink(str(outside), conf_d / "outward.conf")
    (conf_d / "dir.conf").mkdir()
    assert not any("vrrp_rt_priority" in w for w in warnings_of(host))  # and no exit 3 for a FIFO or a dangling link
    defaults = root / "etc" / "default"
    defaults.mkdir(parents=True)
    (defaults / "keepalived").write_text(f'DAEMON_ARGS="-f /../../../../../../..{outside}"\n')
    with pytest.raises(EnvironmentProblem, match="does not read carp-pkg's file"):  # ROOT/.../outside.conf: absent
        warnings_of(host)  # read outside --root, the file would include carp-pkg's and warn about vrrp_rt_priority


@pytest.mark.parametrize("check_rc, code", [(0, 0), (6, 0), (5, 5), (1, 1)])
def test_the_service_check_accepts_only_script_security_warnings(tmp_path, fake_bin, check_rc, code):
    result = fake_bin.run(service_check_argv(str(tmp_path / "keepalived.conf")), check_rc=check_rc)
    assert result.returncode == code
    assert ("only script security warnings" in result.stderr) is (check_rc == 6)


def include_running(tmp_path, globals_found):
    return KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(tmp_path))), systemd=True, service_active=True,
                             service_reads_ours=True, service_conf=kc.MAIN_CONF,
                             service_conf_path=str(tmp_path / "keepalived.conf"), service_globals=globals_found)


def test_an_include_says_which_lines_the_admins_global_defs_want(tmp_path):
    warnings = backend(tmp_path).plan(example_config(), include_running(tmp_path, frozenset())).warnings
    assert any("add `vrrp_priority -20` to the global_defs of /etc/keepalived/keepalived.conf" in w
               for w in warnings)
    assert any("no `enable_script_security` in global_defs" in w and "exits 6, which carp-pkg accepts" in w
               for w in warnings)
    both = frozenset({"vrrp_priority", "enable_script_security"})
    assert backend(tmp_path).plan(example_config(), include_running(tmp_path, both)).warnings == ()
    assert kc.global_keywords(ADMIN_CONF) == {"enable_script_security"}
    # carp-pkg's own keepalived has carp-pkg's global_defs: nothing to say
    assert backend(tmp_path).plan(example_config(), KeepalivedRunning(
        files=KeepalivedFiles.under(Paths(str(tmp_path))))).warnings == ()


# --- what keepalived -t refuses: VIPs per advertisement -------------------------------------------------------------------

def many(family, count):
    if family == 4:
        return [vip(f"10.{i // 250}.{i % 250}.1/8") for i in range(count)]
    return [vip(f"2001:db8:1::{i + 1:x}/64") for i in range(count)]


@pytest.mark.parametrize("family, limit, shown", [(4, 255, "the address count is 8 bits"),
                                                  (6, 89, "(MTU - 62) / 16 addresses")])
def test_validation_refuses_the_vips_keepalived_cannot_advertise_at_the_first_one_over(family, limit, shown, tmp_path):
    assert backend().problems(config(*many(family, limit))) == []
    [problem] = backend().problems(config(*many(family, limit + 1)))
    assert problem.where == f"config[{limit}].ipaddress"
    assert f"advertises {limit + 1} IPv{family} VIPs" in problem.message and f"at most {limit}" in problem.message
    assert shown in problem.message
    # keepalived -t agrees on both sides of the limit
    for count, accepted in ((limit, True), (limit + 1, False)):
        plan = backend(tmp_path).plan(config(*many(family, count)),
                                      KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(tmp_path)))))
        if accepted:
            keepalived_accepts(plan.files[0].content, {"eth1"})
        else:
            with pytest.raises(AssertionError, match="exceeds maximum"):
                keepalived_accepts(plan.files[0].content, {"eth1"})


def test_ipv6_vips_moved_with_an_ipv4_one_are_not_advertised_and_not_limited():
    assert backend().problems(config(vip(), *many(6, 120))) == []


def test_the_cli_says_where_the_limit_is_passed(tmp_path):
    entries = "".join(f"<config><interface>eth1</interface><ipaddress>2001:db8:1::{i + 1:x}</ipaddress>"
                      "<netmask>64</netmask><vhid>1</vhid><protocol>vrrp</protocol></config>" for i in range(90))
    path = tmp_path / "config.xml"
    path.write_text(f"<pfsense><installedpackages><carp>{entries}</carp></installedpackages></pfsense>")
    result = run_cli(["--config", str(path), "validate", "--backend", "keepalived"])
    assert result.code == 3 and "config[89].ipaddress: vhid 1 on eth1 advertises 90 IPv6 VIPs" in result.err


# --- a symbolic link at carp-pkg.conf ----------------------------------------------------------------------------------------

def test_a_symlink_at_carp_pkg_conf_is_refused_never_read_through_nor_replaced(tmp_path, fake_keepalived):
    host = Host(tmp_path)
    host.sync()
    wanted = open(host.files.conf).read()
    target = tmp_path / "elsewhere.conf"
    target.write_text(wanted)  # read through, it would look unchanged
    os.unlink(host.files.conf)
    os.symlink(target, host.files.conf)
    with pytest.raises(EnvironmentProblem, match="is a symbolic link"):
        host.sync()
    assert host.runner.mutating_calls == []
    target.write_text("# something else\n")  # written as before, the link would become a copy
    with pytest.raises(EnvironmentProblem, match="is a symbolic link"):
        host.sync()
    assert os.path.islink(host.files.conf) and target.read_text() == "# something else\n"
    # status does not read through it; stop still stops carp-pkg's own keepalived and leaves the link alone
    fake_keepalived(host.files)
    system = System(RecordingRunner(respond=host.respond), host.paths, use_sysctl_library=False)
    running = backend(tmp_path).read_running(system, host.paths)
    assert running.conf_link and running.vhids == () and running.conf_text is None
    plan = backend(tmp_path).plan(CarpConfig(), running)
    assert [s.argv for s in plan.steps] == [stop_argv(host.files)] and plan.files == ()


# --- numbers in the files carp-pkg reads back: ASCII digits only --------------------------------------------------------------

@pytest.mark.parametrize("text", ["²", "1²", "٣", "１２", "9" * 5000, "-3", "0", "", " ", "12 13", "0x10"])
def test_a_pid_file_holds_ascii_digits_or_no_pid(text):
    assert parse_pid(text) is None
    assert parse_pid("4242\n") == 4242


def test_unicode_digits_in_keepalived_files_crash_no_command(tmp_path):
    host = Host(tmp_path)
    host.sync()
    with open(host.files.pid, "w") as handle:
        handle.write("²\n")
    with open(host.files.state("eth1", 1), "w") as handle:
        handle.write("MASTER 1700000000.5 MASTER ²\n")
    with open(host.files.state("eth0", 2), "w") as handle:
        handle.write("BACKUP ١٧٠٠ BACKUP 1\n")
    text = open(host.files.conf).read().replace("priority 200", "priority ²", 1).replace("advert_int 0.1",
                                                                                            "advert_int inf")
    text = text.replace("virtual_router_id 2", "virtual_router_id ²")
    with open(host.files.conf, "w") as handle:
        handle.write(text)
    for argv in (["status"], ["status", "--json"], ["check"], ["metrics"], ["sync"]):
        result = run_cli(["--root", str(tmp_path), "--config", EXAMPLE, *argv, "--backend", "keepalived"],
                         runner=RecordingRunner(respond=host.respond))
        assert result.code in (0, 1, 2), (argv, result.code, result.err)
    [parsed] = [p for p in kc.parse(text) if p.vrid == 1]
    assert parsed.priority is None and kc.parse_state_record("MASTER 1700000000.5 MASTER ²") == (
        "MASTER", 1700000000.5, None)
    assert kc.parse_state_record("MASTER ١٧٠٠ MASTER 1") == ("MASTER", None, 1)
    assert kc.parse_state_record("MASTER 1700000000.%N MASTER 1") == ("MASTER", 1700000000.0, 1)
    for bad in ("inf", "nan", "1e3", "٣", "²", "-1", "0"):
        assert kc.centiseconds(bad) is None


# --- peers ----------------------------------------------------------------------------------------------------------------

def test_a_peer_that_is_this_hosts_own_address_is_refused(tmp_path):
    cfg = config(replace(vip(), peer="192.168.1.2"))  # eth1's own address: keepalived's unicast_src_ip
    with pytest.raises(EnvironmentProblem, match="is this host's own address on eth1"):
        backend(tmp_path).plan(cfg, KeepalivedRunning(files=KeepalivedFiles.under(Paths(str(tmp_path)))))


def validate_xml(tmp_path, entries):
    path = tmp_path / "config.xml"
    path.write_text(open(EXAMPLE).read().split("<installedpackages>")[0]
                    + f"<installedpackages><carp>{entries}</carp></installedpackages></pfsense>")
    return run_cli(["--config", str(path), "validate", "--backend", "keepalived"])


VRRP_ENTRY = ("<config><interface>{interface}</interface><ipaddress>{address}</ipaddress><vhid>{vhid}</vhid>"
              "<protocol>vrrp</protocol><advskew>{advskew}</advskew>{extra}</config>")


def test_validation_refuses_a_peer_that_is_this_host_or_a_vip(tmp_path):
    own = validate_xml(tmp_path, VRRP_ENTRY.format(interface="wan", address="203.0.113.1", vhid=2, advskew=0,
                                                   extra="<peer>203.0.113.2</peer>"))
    assert own.code == 3 and "config[0].peer: 203.0.113.2 is this host's own address (<wan>)" in own.err
    a_vip = validate_xml(tmp_path, VRRP_ENTRY.format(interface="wan", address="203.0.113.1", vhid=2, advskew=0,
                                                     extra="<peer>203.0.113.5</peer>")
                         + VRRP_ENTRY.format(interface="wan", address="203.0.113.5", vhid=3, advskew=0, extra=""))
    assert a_vip.code == 3 and "config[0].peer: 203.0.113.5 is a virtual IP of this config" in a_vip.err
    fine = validate_xml(tmp_path, VRRP_ENTRY.format(interface="wan", address="203.0.113.1", vhid=2, advskew=0,
                                                    extra="<peer>203.0.113.3</peer>"))
    assert fine.code == 0, fine.err


def test_entries_of_one_vrrp_vhid_need_not_agree_on_advskew(tmp_path):
    two = (VRRP_ENTRY.format(interface="lan", address="192.168.1.1", vhid=1, advskew=0, extra="")
           + VRRP_ENTRY.format(interface="lan", address="2001:db8:1::1", vhid=1, advskew=100, extra=""))
    result = validate_xml(tmp_path, two)
    assert result.code == 0, result.err
    assert "advskew must match" not in result.err and "has no effect" in result.err  # only the usual warning
    carp = two.replace("<protocol>vrrp</protocol>", "")
    assert "advskew must match (100 vs 0)" in validate_xml(tmp_path, carp).err
