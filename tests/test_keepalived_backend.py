"""The Linux keepalived backend (issue 14): what it refuses, the one file it writes, how it reloads keepalived,
and how it reads the host back. Only the Runner is replaced; files are real, under a temporary --root."""

import ipaddress
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg.backends import get_backend
from carp_pkg.backends import keepalived_conf as kc
from carp_pkg.backends.keepalived import (
    RELOAD_LABEL, START_LABEL, STOP_LABEL, Keepalived, KeepalivedFiles, KeepalivedRunning, assemble, reads_conf,
    reload_argv, start_argv, stop_argv, suggested_prio,
)
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
    assert calls[1][3] == START_LABEL and calls[1][6:] == (
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
    assert host.sync() == [("keepalived", "-t", "-f", host.files.conf), ("systemctl", "start", "keepalived")]
    host.active = True
    assert host.sync() == []
    changed = tmp_path / "changed.xml"
    changed.write_text(open(EXAMPLE).read().replace("<vrrpprio>200</vrrpprio>", "<vrrpprio>20</vrrpprio>"))
    assert host.sync(str(changed)) == [("keepalived", "-t", "-f", host.files.conf), ("systemctl", "reload", "keepalived")]


@pytest.mark.parametrize("main, defaults, reads", [
    ("include /etc/keepalived/carp-pkg.conf\n", None, True),
    ("! comment\ninclude /etc/keepalived/conf.d/*.conf /etc/keepalived/carp-*.conf\n", None, True),
    ("# include /etc/keepalived/carp-pkg.conf\n", None, False),
    (None, 'DAEMON_ARGS="--vrrp -f /etc/keepalived/carp-pkg.conf"\n', True),
    (None, 'DAEMON_ARGS="--use-file=/etc/keepalived/carp-pkg.conf"\n', True),
    (None, 'DAEMON_ARGS=""\n', False),
])
def test_which_keepalived_service_setups_read_carp_pkgs_file(main, defaults, reads):
    assert kc.service_reads(kc.CONF, main, defaults) is reads


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
    assert [s.argv for s in boot.steps] == [("keepalived", "-t", "-f", files.conf), start_argv(files)]


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
