"""Issue 14 on FreeBSD 15: VRRPv3 vhids (`carpver 3 vrrpprio P vrrpinterval I`) through sync on the stand-in,
the releases that refuse them, and what check and compare say about VRRP vhids."""

import pytest

from carp_pkg.backends import get_backend
from carp_pkg.check import Status, check
from carp_pkg.compare import compare
from carp_pkg.errors import ConfigError
from carp_pkg.paths import Paths
from carp_pkg.status import parse_ifconfig
from carp_pkg.sync import sync
from carp_pkg.system import RecordingRunner, Result, System
from carp_pkg.validate import build_config
from carp_pkg.configxml import parse_config_bytes

from tests.fakes.freebsd import FakeFreeBSD
from tests.helpers import fixture_path, read_fixture, run_cli

HOST = {"igb0": ["192.0.2.2/24"], "igb1": ["10.0.0.1/24"]}
CONFIG = read_fixture("config", "vrrp-freebsd15.xml")
FREEBSD_15 = 1500000


class Host:
    def __init__(self, root, release=FREEBSD_15, text=CONFIG):
        self.root = root
        self.fake = FakeFreeBSD(HOST, release=release)
        (root / "conf").mkdir(parents=True, exist_ok=True)
        self.write(text)

    def write(self, text):
        (self.root / "conf" / "config.xml").write_text(text)

    def edit(self, old, new):
        text = (self.root / "conf" / "config.xml").read_text()
        assert old in text
        self.write(text.replace(old, new))

    def sync(self):
        runner = RecordingRunner(respond=lambda argv: Result(*self.fake.run(argv)))
        paths = Paths(str(self.root))
        sync(System(runner, paths, use_sysctl_library=False), paths, get_backend("freebsd"))
        return runner.mutating_calls

    def vhid(self, number):
        return parse_ifconfig(self.fake.ifconfig_output()).vhid("igb0", number)


def test_a_vrrp_vhid_is_created_with_carpver_3_and_reads_back_as_configured(tmp_path):
    host = Host(tmp_path)
    calls = host.sync()
    assert ("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100", "vrrpinterval", "100") in calls
    assert ("ifconfig", "igb0", "inet", "192.0.2.5/24", "alias", "vhid", "5") in calls
    five = host.vhid(5)
    assert (five.protocol, five.vrrpprio, five.vrrpinterval, [str(a) for a in five.addresses]) == (
        "vrrp", 100, 100, ["192.0.2.5/24"])
    assert "\tvrrp: MASTER vrid 5 prio 100 interval 100" in host.fake.ifconfig_output("igb0")


def test_nothing_changed_means_no_command(tmp_path):
    host = Host(tmp_path)
    host.sync()
    assert host.sync() == []


def test_a_new_priority_and_interval_touch_only_that_vhid(tmp_path):
    host = Host(tmp_path)
    host.sync()
    host.edit("<vrrpprio>100</vrrpprio>", "<vrrpprio>200</vrrpprio>")
    host.edit("<vrrpinterval>100</vrrpinterval>", "<vrrpinterval>2</vrrpinterval>")
    assert host.sync() == [("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "200", "vrrpinterval", "2")]
    assert (host.vhid(5).vrrpprio, host.vhid(5).vrrpinterval) == (200, 2)
    assert host.sync() == []


def test_switching_a_vhid_between_carp_and_vrrp_both_ways(tmp_path):
    host = Host(tmp_path)
    host.sync()
    host.edit("<protocol>vrrp</protocol>", "<password>five-secret</password>")
    assert host.sync() == [("ifconfig", "igb0", "vhid", "5", "carpver", "2", "advskew", "0", "advbase", "1",
                            "pass", "five-secret")]
    assert host.vhid(5).protocol == "carp" and host.fake.key("igb0", 5) == "five-secret"
    assert host.sync() == []
    host.edit("<password>five-secret</password>", "<protocol>vrrp</protocol>")
    assert host.sync() == [("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100", "vrrpinterval", "100")]
    assert host.vhid(5).protocol == "vrrp" and host.sync() == []


def test_maintenance_lowers_a_vrrp_vhid_to_priority_1(tmp_path):
    host = Host(tmp_path)
    host.sync()
    runner = RecordingRunner(respond=lambda argv: Result(*host.fake.run(argv)))
    paths = Paths(str(tmp_path))
    sync(System(runner, paths, use_sysctl_library=False), paths, get_backend("freebsd"), maintenance=True)
    assert ("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "1", "vrrpinterval", "100") in \
        runner.mutating_calls
    assert host.vhid(5).vrrpprio == 1


def test_freebsd_14_refuses_vrrp_with_the_release_it_needs_and_nothing_runs(tmp_path):
    host = Host(tmp_path, release=1401000, text=CONFIG.replace("<peer>192.0.2.3</peer>", ""))
    with pytest.raises(ConfigError) as refused:
        host.sync()
    assert "protocol vrrp needs FreeBSD 15.0 or later" in refused.value.message
    assert refused.value.details == ("config[1].protocol: vhid 5 on igb0 is VRRPv3; use protocol carp on this host "
                                     "(or upgrade it to FreeBSD 15)",)
    assert host.fake.mutation_count == 0


def test_the_stand_in_of_freebsd_14_reads_carpver_as_an_address():
    fake = FakeFreeBSD(HOST)
    assert fake.run(("ifconfig", "igb0", "vhid", "5", "carpver", "3")) == (1, "", "ifconfig: carpver: bad value\n")


def test_a_capture_older_than_14_refuses_vrrp_and_a_14_style_one_warns(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text(CONFIG.replace("<peer>192.0.2.3</peer>", ""))
    old = run_cli(["--root", str(tmp_path), "sync", "--backend", "freebsd", "--dry-run", "--against",
                   fixture_path("ifconfig", "freebsd-13-two-vhids-ipv6.txt")])
    assert old.code == 3 and "needs FreeBSD 15.0 or later" in old.err
    fresh = run_cli(["--root", str(tmp_path), "render", "--backend", "freebsd"])
    assert fresh.code == 0 and "the target's release is not known here" in fresh.err
    assert "ifconfig igb0 vhid 5 carpver 3 vrrpprio 100 vrrpinterval 100" in fresh.out


def config_of(text):
    return build_config(parse_config_bytes(text.encode(), "test.xml"))


def test_check_compares_a_vrrp_vhids_priority_and_interval_not_advskew():
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-15-vrrp.txt"))
    report = check(config_of(CONFIG.replace("<vrrpprio>100</vrrpprio>", "<vrrpprio>90</vrrpprio>")), running)
    vrrp_lines = [f.line for f in report.findings if f.vhid == 5]
    assert vrrp_lines == ["igb0 vhid 5 vrrpprio: expected 90, running 100 (changes which host is preferred as master "
                          "(higher wins))"]
    as_carp = check(config_of(CONFIG.replace("<protocol>vrrp</protocol>", "")), running)
    assert [f.line for f in as_carp.findings if f.vhid == 5] == [
        "igb0 vhid 5 protocol: expected carp, running vrrp (CARP and VRRPv3 peers do not understand each other's "
        "advertisements)"]
    assert check(config_of(CONFIG), running).status is not Status.CRITICAL


def test_compare_lints_vrrp_pairs():
    a = config_of(CONFIG.replace("<vrrpprio>100</vrrpprio>", "<vrrpprio>200</vrrpprio>"))
    b = config_of(CONFIG)
    lines = [f.line for f in compare(a, b) if "vhid 5" in f.where]
    assert lines == ["info: lan vhid 5: A is the preferred master (vrrpprio 200 > 100 on B)"]
    tie = [f.line for f in compare(b, b) if "vhid 5" in f.where]
    assert tie[0].startswith("warning: lan vhid 5: vrrpprio 100 on both")
    slower = config_of(CONFIG.replace("<vrrpinterval>100</vrrpinterval>", "<vrrpinterval>2</vrrpinterval>"))
    assert [f.rule for f in compare(a, slower) if "vhid 5" in f.where] == ["vrrpinterval"]
    carp = config_of(CONFIG.replace("<protocol>vrrp</protocol>", ""))
    [finding] = [f for f in compare(a, carp) if "vhid 5" in f.where]
    assert (finding.level, finding.rule) == ("error", "protocol") and "both hosts become MASTER" in finding.message


# --- any mix of CARP and VRRPv3 vhids reconciles on FreeBSD 15 ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def mixed_configs(draw):
    groups = draw(st.lists(st.tuples(st.sampled_from(("igb0", "igb1")), st.integers(1, 255), st.booleans(),
                                     st.integers(1, 254), st.integers(1, 4095), st.integers(0, 239), st.integers(1, 5)),
                           max_size=5, unique_by=lambda g: (g[0], g[1])))
    entries = []
    for interface, vhid, vrrp, prio, interval, skew, base in groups:
        address = f"192.0.2.{vhid % 250 + 3}" if interface == "igb0" else f"10.0.{vhid}.1"
        netmask = "24" if interface == "igb0" else "16"
        fields = (f"<interface>{'lan' if interface == 'igb0' else 'opt1'}</interface><ipaddress>{address}</ipaddress>"
                  f"<netmask>{netmask}</netmask><vhid>{vhid}</vhid>")
        fields += (f"<protocol>vrrp</protocol><vrrpprio>{prio}</vrrpprio><vrrpinterval>{interval}</vrrpinterval>"
                   if vrrp else f"<advskew>{skew}</advskew><advbase>{base}</advbase><password>pw{vhid}</password>")
        entries.append(f"<config>{fields}</config>")
    unique = {}
    for entry in entries:  # one address per vhid: drop a second vhid that landed on the same address
        unique.setdefault(entry.split("<ipaddress>")[1].split("<")[0], entry)
    return ("<pfsense><interfaces><lan><if>igb0</if><ipaddr>192.0.2.2</ipaddr><subnet>24</subnet></lan>"
            "<opt1><if>igb1</if><ipaddr>10.0.0.2</ipaddr><subnet>16</subnet></opt1></interfaces>"
            f"<installedpackages><carp>{''.join(unique.values())}</carp></installedpackages></pfsense>")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed_configs(), mixed_configs())
def test_any_mix_of_carp_and_vrrp_reads_back_and_resyncs_to_nothing(tmp_path_factory, first, second):
    root = tmp_path_factory.mktemp("host")
    host = Host(root, text=first)
    host.fake.host_config = {"igb0": ["192.0.2.2/24"], "igb1": ["10.0.0.2/16"]}
    host.fake.reboot()
    for text in (first, second):
        host.write(text)
        host.sync()
        assert host.sync() == []
        wanted = {(g.interface, g.vhid): (g.protocol, g.vrrpprio if g.vrrp else g.advskew,
                                          g.vrrpinterval if g.vrrp else g.advbase, frozenset(g.addresses))
                  for g in config_of(text).groups()}
        running = {(v.interface, v.vhid): (v.protocol, v.vrrpprio if v.protocol == "vrrp" else v.advskew,
                                           v.vrrpinterval if v.protocol == "vrrp" else v.advbase, frozenset(v.addresses))
                   for v in parse_ifconfig(host.fake.ifconfig_output()).vhids if v.addresses}
        assert running == wanted
