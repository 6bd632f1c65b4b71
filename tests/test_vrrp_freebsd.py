"""Issue 14 on FreeBSD 15: VRRPv3 vhids (`carpver 3 vrrpprio P vrrpinterval I`) through sync on the stand-in,
the releases that refuse them, and what check and compare say about VRRP vhids."""

import pytest

from carp_pkg.backends import get_backend
from carp_pkg.check import Status, check
from carp_pkg.compare import compare
from carp_pkg.errors import CommandError, ConfigError
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


def test_switching_a_vhid_between_carp_and_vrrp_both_ways_re_creates_it(tmp_path):
    """FreeBSD 15 refuses to change a vhid's version in place (ip_carp.c carp_ioctl_set(): EINVAL; commit a254d6870e88:
    "you'd need to recreate the VHID"): the vhid loses its VIPs (the last one destroys it), is created anew with the
    other protocol and gets its VIPs back."""
    host = Host(tmp_path)
    host.sync()
    host.edit("<protocol>vrrp</protocol>", "<password>five-secret</password>")
    assert host.sync() == [("ifconfig", "igb0", "inet", "192.0.2.5", "-alias"),
                           ("ifconfig", "igb0", "vhid", "5", "advskew", "0", "advbase", "1", "pass", "five-secret"),
                           ("ifconfig", "igb0", "inet", "192.0.2.5/24", "alias", "vhid", "5")]
    assert host.vhid(5).protocol == "carp" and host.fake.key("igb0", 5) == "five-secret"
    assert [str(a) for a in host.vhid(5).addresses] == ["192.0.2.5/24"]
    assert host.sync() == []
    host.edit("<password>five-secret</password>", "<protocol>vrrp</protocol>")
    assert host.sync() == [("ifconfig", "igb0", "inet", "192.0.2.5", "-alias"),
                           ("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100", "vrrpinterval", "100"),
                           ("ifconfig", "igb0", "inet", "192.0.2.5/24", "alias", "vhid", "5")]
    assert host.vhid(5).protocol == "vrrp" and host.sync() == []
    assert host.fake.failures == []


def test_a_vhid_with_several_vips_switches_protocol_with_all_of_them(tmp_path):
    text = CONFIG.replace("\t\t</carp>", "\t\t\t<config><interface>lan</interface><ipaddress>192.0.2.6</ipaddress>"
                                         "<netmask>24</netmask><vhid>5</vhid><protocol>vrrp</protocol></config>\n"
                                         "\t\t</carp>")
    host = Host(tmp_path, text=text)
    host.sync()
    assert len(host.vhid(5).addresses) == 2
    host.write(text.replace("<protocol>vrrp</protocol>", "<password>five-secret</password>"))
    calls = host.sync()
    assert calls[:2] == [("ifconfig", "igb0", "inet", "192.0.2.5", "-alias"),
                         ("ifconfig", "igb0", "inet", "192.0.2.6", "-alias")]
    assert calls[2][:4] == ("ifconfig", "igb0", "vhid", "5") and "carpver" not in calls[2]
    five = host.vhid(5)
    assert (five.protocol, sorted(str(a) for a in five.addresses)) == ("carp", ["192.0.2.5/24", "192.0.2.6/24"])
    assert host.sync() == [] and host.fake.failures == []


def sync_failing(host, tmp_path, failing):
    """sync against the fake host, every command starting with `failing` refused as ifconfig refuses it."""
    def respond(argv):
        if argv[:len(failing)] == failing:
            return Result(1, "", "ifconfig: SIOCSVH: Invalid argument\n")
        return Result(*host.fake.run(argv))

    runner = RecordingRunner(respond=respond)
    paths = Paths(str(tmp_path))
    with pytest.raises(CommandError) as failed:
        sync(System(runner, paths, use_sysctl_library=False), paths, get_backend("freebsd"))
    return runner, failed.value


def test_a_failed_re_creation_puts_the_vrrp_vhid_back_as_it_ran(tmp_path):
    """The undo of removing a VRRPv3 vhid's VIP re-creates the vhid with it (ifconfig's vhid callback runs before the
    address is added, and VRRPv3 has no key to lose)."""
    host = Host(tmp_path)
    host.sync()
    host.edit("<protocol>vrrp</protocol>", "<password>five-secret</password>")
    runner, failed = sync_failing(host, tmp_path, ("ifconfig", "igb0", "vhid", "5"))
    assert "the host is back in its previous state" in "\n".join(failed.details)
    assert runner.mutating_calls[-1] == ("ifconfig", "igb0", "inet", "192.0.2.5/24", "alias", "vhid", "5", "carpver",
                                         "3", "vrrpprio", "100", "vrrpinterval", "100")
    five = host.vhid(5)
    assert (five.protocol, five.vrrpprio, [str(a) for a in five.addresses]) == ("vrrp", 100, ["192.0.2.5/24"])


def test_a_carp_vhid_switched_away_is_never_put_back_without_its_key(tmp_path):
    """The kernel never shows a CARP key: once the last VIP is gone the vhid cannot be re-created as it ran, and a VIP
    put back on a keyless vhid would make both hosts MASTER, so those removals have no undo (and say so)."""
    host = Host(tmp_path)
    host.sync()
    host.edit("<password>lan-secret</password>", "<protocol>vrrp</protocol>")
    host.edit("<peer>192.0.2.3</peer>", "")
    runner, failed = sync_failing(host, tmp_path, ("ifconfig", "igb0", "vhid", "1"))
    assert any(d.startswith("not undone (vhid 1 on igb0 changes from CARP to VRRPv3") for d in failed.details)
    assert host.vhid(1) is None  # gone with its last VIP, not re-created without its key
    assert runner.mutating_calls[-1] == ("ifconfig", "igb0", "vhid", "1", "carpver", "3", "vrrpprio", "100",
                                         "vrrpinterval", "100")


def test_a_bare_vhid_of_the_other_protocol_is_destroyed_by_attaching_and_removing_a_vip(tmp_path):
    """No command deletes a vhid without addresses, but removing its last address does: a bare VRRPv3 vhid that the
    config wants as CARP gets a VIP for a moment, loses it, and is created anew."""
    host = Host(tmp_path, text=CARP_ONLY.replace("<peer>192.0.2.3</peer>", ""))
    assert host.fake.run(("ifconfig", "igb0", "vhid", "1", "carpver", "3", "vrrpprio", "100"))[0] == 0
    calls = host.sync()
    assert calls[:3] == [("ifconfig", "igb0", "inet", "192.0.2.1/24", "alias", "vhid", "1"),
                         ("ifconfig", "igb0", "inet", "192.0.2.1", "-alias"),
                         ("ifconfig", "igb0", "vhid", "1", "advskew", "0", "advbase", "1", "pass", "lan-secret")]
    one = host.vhid(1)
    assert (one.protocol, [str(a) for a in one.addresses]) == ("carp", ["192.0.2.1/24"])
    assert host.fake.key("igb0", 1) == "lan-secret" and host.sync() == [] and host.fake.failures == []


def test_the_stand_in_of_freebsd_15_refuses_to_switch_a_vhid_in_place():
    fake = FakeFreeBSD(HOST, release=FREEBSD_15)
    assert fake.run(("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100"))[0] == 0
    assert fake.run(("ifconfig", "igb0", "vhid", "5", "carpver", "2", "advskew", "0")) == (
        1, "", "ifconfig: SIOCSVH: Invalid argument\n")
    assert fake.run(("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "90"))[0] == 0  # its own version


# --- FreeBSD 15 keeps a vhid's unicast peer unless told: `mcast`/`mcast6` take it back to multicast -----------------

CARP_ONLY = CONFIG.split("\t\t\t<config>\n\t\t\t\t<interface>lan</interface>\n\t\t\t\t<ipaddress>192.0.2.5")[0] + (
    "\t\t</carp>\n\t</installedpackages>\n</pfsense>\n")
WITH_PEER6 = CARP_ONLY.replace("<peer>192.0.2.3</peer>", "<peer>192.0.2.3</peer><peer6>2001:db8::3</peer6>")


def test_the_stand_in_of_freebsd_15_keeps_a_peer_a_vhid_command_does_not_name():
    fake = FakeFreeBSD(HOST, release=FREEBSD_15)
    assert fake.run(("ifconfig", "igb0", "vhid", "1", "pass", "x", "peer", "192.0.2.3", "peer6", "2001:db8::3"))[0] == 0
    assert fake.run(("ifconfig", "igb0", "inet", "192.0.2.1/24", "alias", "vhid", "1"))[0] == 0
    assert fake.run(("ifconfig", "igb0", "vhid", "1", "advskew", "9"))[0] == 0
    one = parse_ifconfig(fake.ifconfig_output()).vhid("igb0", 1)
    assert (one.advskew, one.peer, one.peer6) == (9, "192.0.2.3", "2001:db8::3")
    assert fake.run(("ifconfig", "igb0", "vhid", "1", "mcast", "mcast6"))[0] == 0
    one = parse_ifconfig(fake.ifconfig_output()).vhid("igb0", 1)
    assert (one.peer, one.peer6) == ("224.0.0.18", "ff02::12")


@pytest.mark.parametrize("text, words, peers", [
    (CARP_ONLY, ("mcast",), ("224.0.0.18", "ff02::12")),
    (WITH_PEER6, ("mcast", "mcast6"), ("224.0.0.18", "ff02::12")),
])
def test_on_freebsd_15_a_peer_the_config_drops_goes_back_to_multicast_with_mcast(tmp_path, text, words, peers):
    host = Host(tmp_path, text=text)
    host.sync()
    assert (host.vhid(1).peer, host.vhid(1).peer6) == ("192.0.2.3", "2001:db8::3" if "peer6" in text else "ff02::12")
    host.write(text.replace("<peer>192.0.2.3</peer>", "").replace("<peer6>2001:db8::3</peer6>", ""))
    assert host.sync() == [("ifconfig", "igb0", "vhid", "1", "advskew", "0", "advbase", "1", *words)]
    assert (host.vhid(1).peer, host.vhid(1).peer6) == peers
    assert host.sync() == []


def test_on_freebsd_14_leaving_the_peer_out_is_enough_and_no_mcast_is_said(tmp_path):
    """14's ifconfig sends the multicast defaults with every vhid command (carp_ctor() calls setcarp_mcast())."""
    host = Host(tmp_path, release=1401000, text=CARP_ONLY)
    host.sync()
    assert host.vhid(1).peer == "192.0.2.3"
    host.write(CARP_ONLY.replace("<peer>192.0.2.3</peer>", ""))
    assert host.sync() == [("ifconfig", "igb0", "vhid", "1", "advskew", "0", "advbase", "1")]
    assert host.vhid(1).peer == "224.0.0.18" and host.sync() == []


def test_a_unicast_peer_set_on_freebsd_15_is_undone_with_mcast():
    """The undo of setting a unicast peer on 15 must say `mcast`: leaving the peer out would keep the new one."""
    from carp_pkg.backends.freebsd import FreeBSD
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-15-vrrp.txt").replace("peer 192.0.2.3", "peer 224.0.0.18"))
    plan = FreeBSD().plan(config_of(CARP_ONLY.replace("<password>lan-secret</password>", "")), running)
    [step] = [s for s in plan.steps if s.argv[:4] == ("ifconfig", "igb0", "vhid", "1")]
    assert step.argv == ("ifconfig", "igb0", "vhid", "1", "advskew", "0", "advbase", "1", "peer", "192.0.2.3")
    assert step.undo == ("ifconfig", "igb0", "vhid", "1", "advskew", "0", "advbase", "1", "mcast")


# --- FreeBSD keeps no unicast peer for a VRRPv3 vhid ----------------------------------------------------------------

VRRP_WITH_PEER = CONFIG.replace("<protocol>vrrp</protocol>", "<protocol>vrrp</protocol><peer>192.0.2.3</peer>"
                                                             "<peer6>2001:db8::3</peer6>")


def test_a_vrrp_vhid_with_a_unicast_peer_is_refused_on_freebsd_with_its_place(tmp_path):
    from carp_pkg.backends.freebsd import FreeBSD
    problems = [str(p) for p in FreeBSD().problems(config_of(VRRP_WITH_PEER))]
    assert [p.split(":")[0] for p in problems] == ["config[1].peer", "config[1].peer6"]
    assert "FreeBSD keeps no peer for a VRRPv3 vhid" in problems[0] and "keepalived backend" in problems[0]
    host = Host(tmp_path, text=VRRP_WITH_PEER)
    with pytest.raises(ConfigError) as refused:
        host.sync()
    assert refused.value.details[0].startswith("config[1].peer: vhid 5 on igb0 is VRRPv3")
    assert host.fake.mutation_count == 0
    validated = run_cli(["--root", str(tmp_path), "validate", "--backend", "freebsd"])
    assert validated.code == 3 and "config[1].peer: vhid 5 on igb0 is VRRPv3" in validated.err


def test_the_keepalived_backend_still_takes_a_unicast_vrrp_peer():
    from carp_pkg.backends.keepalived import Keepalived
    assert Keepalived().problems(config_of(CONFIG.replace("<protocol>vrrp</protocol>",
                                                          "<protocol>vrrp</protocol><peer>192.0.2.3</peer>")
                                           .replace("<password>lan-secret</password>", "<protocol>vrrp</protocol>"))) == []


def test_a_carpver_3_command_never_names_a_peer():
    from carp_pkg.backends.freebsd import FreeBSD
    from carp_pkg.running import RunningState
    plan = FreeBSD().plan(config_of(VRRP_WITH_PEER), RunningState())  # plan() itself, past problems()
    [create] = [s.argv for s in plan.steps if "carpver" in s.argv]
    assert create == ("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100", "vrrpinterval", "100")
    assert not any("peer" in s.argv for s in plan.steps if s.argv[:4] == ("ifconfig", "igb0", "inet", "192.0.2.5/24"))


def test_the_stand_in_of_freebsd_15_keeps_no_peer_for_a_vrrp_vhid():
    fake = FakeFreeBSD(HOST, release=FREEBSD_15)
    assert fake.run(("ifconfig", "igb0", "vhid", "5", "carpver", "3", "vrrpprio", "100", "peer", "192.0.2.3"))[0] == 0
    assert fake.interfaces["igb0"].vhid(5).peer == "224.0.0.18"
    assert "peer" not in fake.ifconfig_output("igb0").split("vrrp:")[1].split("\n")[0]


# --- maintenance says what it does to VRRPv3 vhids ------------------------------------------------------------------

def test_maintenance_on_says_vrrp_vhids_go_to_vrrpprio_1(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text(CONFIG)
    result = run_cli(["--root", str(tmp_path), "maintenance", "on", "--backend", "freebsd", "--dry-run", "--json",
                      "--against", fixture_path("ifconfig", "freebsd-15-vrrp.txt")])
    assert result.code == 0, result.err
    import json
    achieves = json.loads(result.out)["achieves"]
    assert achieves.startswith("every CARP vhid at advskew 254, advertised as 240")
    assert "every VRRPv3 vhid at vrrpprio 1, the lowest VRRPv3 priority" in achieves
    text = run_cli(["--root", str(tmp_path), "maintenance", "on", "--backend", "freebsd", "--dry-run",
                    "--against", fixture_path("ifconfig", "freebsd-15-vrrp.txt")])
    assert f"that is: {achieves}" in text.out
    carp_only = tmp_path / "carp.xml"
    carp_only.write_text(CARP_ONLY)
    plain = run_cli(["--root", str(tmp_path), "--config", str(carp_only), "maintenance", "on", "--backend", "freebsd",
                     "--dry-run", "--json", "--against", fixture_path("ifconfig", "freebsd-15-vrrp.txt")])
    assert json.loads(plain.out)["achieves"].startswith("every vhid at advskew 254") and "vrrpprio" not in plain.out


def test_checks_maintenance_line_names_vrrpprio_1_for_vrrp_vhids():
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-15-vrrp.txt"))
    [mixed] = [f.message for f in check(config_of(CONFIG), running, maintenance=True).findings
               if f.attribute == "maintenance"]
    assert "every CARP vhid is set to advskew 254" in mixed and "every VRRPv3 vhid is set to vrrpprio 1" in mixed
    only_vrrp = CONFIG.replace("<password>lan-secret</password>", "<protocol>vrrp</protocol>").replace(
        "<peer>192.0.2.3</peer>", "")
    [vrrp] = [f.message for f in check(config_of(only_vrrp), running, maintenance=True).findings
              if f.attribute == "maintenance"]
    assert "vrrpprio 1" in vrrp and "advskew" not in vrrp


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
