"""check: config.xml vs the running host as a Nagios plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""

import ipaddress
import json
import re

import pytest

from carp_pkg.check import Status, check, pair_vhids
from carp_pkg.configxml import read_config_xml
from carp_pkg.fingerprint import password_digest
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.running import RunningState
from carp_pkg.status import parse_ifconfig
from carp_pkg.system import RecordingRunner, Result
from carp_pkg.validate import build_config

from tests.helpers import fixture_path, host_runner, read_fixture, run_cli

# modern.xml on em0/em1/em2 describes exactly what freebsd-14.txt shows:
# em0 vhid 10 (198.51.100.1 + 2001:db8:100::1, advskew 0), em1 vhid 20 (10.0.0.1, advbase 2 advskew 100), pfsync on em2.
MODERN_ON_EM = (read_fixture("config", "modern.xml")
                .replace("vtnet0", "em0").replace("vtnet1", "em1").replace("vtnet2", "em2"))
FREEBSD_14 = read_fixture("ifconfig", "freebsd-14.txt")
HEALTHY_SYSCTLS = {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 1, "net.inet.carp.demotion": 0}
PASSWORDS = ("w'n \"q\" $(x) `y`", "lan-secret")
PERFDATA = re.compile(r"^CARP (OK|WARNING|CRITICAL|UNKNOWN) - .+ \| vhids=(\d+);;; masters=(\d+);;; drift=(\d+);;;$")


@pytest.fixture
def host(tmp_path):
    """A firewall root with MODERN_ON_EM, already synced once by carp-pkg (so passwords can be verified)."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text(MODERN_ON_EM)
    synced = run_cli(["--root", str(tmp_path), "sync", "--backend", "freebsd"],
                     runner=host_runner(FREEBSD_14, HEALTHY_SYSCTLS))
    assert synced.code == 0, synced.err
    return tmp_path


def run_check(root, ifconfig=FREEBSD_14, sysctls=None, *extra, fail=None):
    runner = host_runner(ifconfig, HEALTHY_SYSCTLS if sysctls is None else sysctls, fail=fail)
    return run_cli(["--root", str(root), "check", "--backend", "freebsd", *extra], runner=runner)


def perfdata(result):
    match = PERFDATA.match(result.out.splitlines()[0])
    assert match, result.out
    return {"status": match.group(1), "vhids": int(match.group(2)), "masters": int(match.group(3)),
            "drift": int(match.group(4))}


def detail_lines(result):
    return result.out.splitlines()[1:]


def test_a_host_that_matches_its_config_is_ok(host):
    result = run_check(host)
    assert result.code == 0, result.out
    assert result.out == ("CARP OK - 2 vhids as configured (1 MASTER, 1 BACKUP) "
                          "| vhids=2;;; masters=1;;; drift=0;;;\n")


def test_a_wrong_advskew_is_a_warning_with_one_line(host):
    result = run_check(host, FREEBSD_14.replace("BACKUP vhid 20 advbase 2 advskew 100", "BACKUP vhid 20 advbase 2 advskew 50"))
    assert result.code == 1
    assert perfdata(result) == {"status": "WARNING", "vhids": 2, "masters": 1, "drift": 1}
    assert detail_lines(result) == [
        "em1 vhid 20 advskew: expected 100, running 50 (changes which host is preferred as master) (warning)"]


def test_a_configured_vhid_that_is_not_running_is_critical(host):
    without_vhid_20 = (FREEBSD_14.replace("\tinet 10.0.0.1 netmask 0xffffff00 broadcast 10.0.0.255 vhid 20\n", "")
                       .replace("\tcarp: BACKUP vhid 20 advbase 2 advskew 100\n\t      peer 224.0.0.18 peer6 ff02::12\n", ""))
    result = run_check(host, without_vhid_20)
    assert result.code == 2
    assert result.out.startswith("CARP CRITICAL - 1 critical: em1 vhid 20: configured, not running")
    assert perfdata(result)["drift"] == 1


def test_carp_disabled_by_sysctl_is_critical(host):
    result = run_check(host, sysctls={**HEALTHY_SYSCTLS, "net.inet.carp.allow": 0})
    assert result.code == 2
    assert "net.inet.carp.allow: expected 1, running 0 (carp disabled" in result.out


def test_a_vhid_in_init_is_critical(host):
    result = run_check(host, FREEBSD_14.replace("MASTER vhid 10", "INIT vhid 10"))
    assert result.code == 2
    assert any(line.startswith("em0 vhid 10 state: expected MASTER or BACKUP, running INIT") for line in detail_lines(result))


def test_a_missing_vip_address_is_critical_and_an_extra_one_a_warning(host):
    missing = FREEBSD_14.replace("\tinet6 2001:db8:100::1 prefixlen 64 vhid 10\n", "")
    result = run_check(host, missing)
    assert result.code == 2
    assert detail_lines(result) == ["em0 vhid 10 address: 2001:db8:100::1/64 missing (this VIP is not served) (critical)"]

    extra = FREEBSD_14.replace("\tinet 10.0.0.1 netmask 0xffffff00 broadcast 10.0.0.255 vhid 20\n",
                               "\tinet 10.0.0.1 netmask 0xffffff00 broadcast 10.0.0.255 vhid 20\n"
                               "\tinet 10.0.0.9 netmask 0xffffff00 broadcast 10.0.0.255 vhid 20\n")
    result = run_check(host, extra)
    assert result.code == 1
    assert detail_lines(result)[0].startswith("em1 vhid 20 address: 10.0.0.9/24 running but not configured")


def test_a_prefix_length_that_differs_is_a_warning(host):
    result = run_check(host, FREEBSD_14.replace("inet 10.0.0.1 netmask 0xffffff00", "inet 10.0.0.1 netmask 0xffffff80"))
    assert result.code == 1
    assert detail_lines(result) == ["em1 vhid 20 prefix: 10.0.0.1: expected /24, running /25 (warning)"]


def test_a_wrong_advbase_is_a_warning(host):
    result = run_check(host, FREEBSD_14.replace("vhid 20 advbase 2", "vhid 20 advbase 1"))
    assert result.code == 1
    assert detail_lines(result)[0].startswith("em1 vhid 20 advbase: expected 2, running 1")


def test_passwords_cannot_be_verified_before_carp_pkg_applied_them(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text(MODERN_ON_EM)
    result = run_check(tmp_path)
    assert result.code == 1
    assert [line.split(":")[0] for line in detail_lines(result)] == ["em0 vhid 10 password", "em1 vhid 20 password"]
    assert all("cannot verify" in line for line in detail_lines(result))


def test_a_password_changed_since_the_last_sync_is_a_warning_and_never_shown(host):
    config = host / "conf" / "config.xml"
    config.write_text(config.read_text().replace("lan-secret", "new-secret"))
    result = run_check(host)
    assert result.code == 1
    assert detail_lines(result)[0].startswith("em1 vhid 20 password: differs from config.xml")
    as_json = run_check(host, FREEBSD_14, None, "--json")
    for output in (result.out, result.err, as_json.out, as_json.err):
        assert "new-secret" not in output and all(p not in output for p in PASSWORDS)


def test_demotion_and_preempt_drift_are_warnings(host):
    result = run_check(host, sysctls={**HEALTHY_SYSCTLS, "net.inet.carp.demotion": 240, "net.inet.carp.preempt": 0})
    assert result.code == 1
    assert detail_lines(result) == [
        "net.inet.carp.demotion: expected 0, running 240 (every vhid advertises as less preferred: an interface "
        "is down, pfsync is not in sync, or sends failed) (warning)",
        "net.inet.carp.preempt: expected 1, running 0 (warning)",
    ]


@pytest.mark.parametrize("pfsync_lines, expected", [
    ("\tsyncdev: em1 maxupd: 128 defer: off version: 1400\n\tsyncok: 1\n",
     "pfsync0 syncdev: expected em2, running em1"),
    ("\tsyncdev: em2 maxupd: 128 defer: off version: 1400\n\tsyncok: 0\n",
     "pfsync0 syncok: expected 1, running 0"),
    ("\tmaxupd: 128 defer: off version: 1400\n\tsyncok: 1\n",
     "pfsync0 syncdev: expected em2, running none"),
])
def test_pfsync_drift_is_a_warning(host, pfsync_lines, expected):
    running = FREEBSD_14.replace("\tsyncdev: em2 maxupd: 128 defer: off version: 1400\n\tsyncok: 1\n", pfsync_lines)
    result = run_check(host, running)
    assert result.code == 1
    assert [line.startswith(expected) for line in detail_lines(result)] == [True]


def test_a_running_vhid_nobody_configured_is_a_warning(host):
    stray = FREEBSD_14.replace("\tcarp: BACKUP vhid 20 advbase 2 advskew 100\n",
                               "\tcarp: BACKUP vhid 20 advbase 2 advskew 100\n\tcarp: BACKUP vhid 99 advbase 1 advskew 0\n")
    result = run_check(host, stray)
    assert result.code == 1
    assert detail_lines(result) == ["em1 vhid 99: running (BACKUP) but not in config.xml; sync removes it (warning)"]


def test_maintenance_mode_is_one_warning_line_and_not_drift(host):
    (host / "var" / "db" / "carp-pkg" / "maintenance").write_text("")
    in_maintenance = (FREEBSD_14.replace("advbase 1 advskew 0", "advbase 1 advskew 254")
                      .replace("advbase 2 advskew 100", "advbase 2 advskew 254"))
    result = run_check(host, in_maintenance)
    assert result.code == 1
    assert perfdata(result)["drift"] == 0
    assert [line.split(":")[0] for line in detail_lines(result)] == ["maintenance"]
    assert "maintenance mode is on" in detail_lines(result)[0]

    not_yet_applied = run_check(host)  # the flag is set, but vhid 10 still advertises advskew 0
    assert not_yet_applied.code == 1 and perfdata(not_yet_applied)["drift"] == 2
    assert "em0 vhid 10 advskew: expected 254, running 0 (maintenance mode) (warning)" in not_yet_applied.out


def test_critical_lines_come_before_warnings(host):
    running = FREEBSD_14.replace("advbase 2 advskew 100", "advbase 2 advskew 7").replace("MASTER vhid 10", "INIT vhid 10")
    result = run_check(host, running)
    assert result.code == 2
    severities = [line.rsplit("(", 1)[1] for line in detail_lines(result)]
    assert severities == ["critical)", "warning)"]
    assert result.out.startswith("CARP CRITICAL - 1 critical, 1 warning: em0 vhid 10 state")


def test_json_carries_the_status_findings_and_perfdata(host):
    result = run_check(host, FREEBSD_14.replace("advskew 100", "advskew 50"), None, "--json")
    data = json.loads(result.out)
    assert result.code == 1 and data["exit_code"] == 1 and data["status"] == "WARNING"
    assert data["perfdata"] == {"vhids": 2, "masters": 1, "drift": 1}
    assert data["findings"] == [{"severity": "WARNING", "interface": "em1", "vhid": 20, "attribute": "advskew",
                                 "expected": "100", "actual": "50",
                                 "message": "expected 100, running 50 (changes which host is preferred as master)"}]


def test_invalid_config_is_unknown_not_the_usual_exit_3_on_stderr(host):
    (host / "conf" / "config.xml").write_text(read_fixture("config", "bad-values.xml"))
    result = run_check(host)
    assert result.code == 3
    assert result.out.startswith("CARP UNKNOWN - ")
    assert "config[1].vhid: 0 is outside 1-255" in result.out


def test_a_running_state_that_cannot_be_read_is_unknown(host):
    result = run_check(host, fail=lambda argv: Result(1, "", "ifconfig: permission denied\n")
                       if argv == ("ifconfig",) else None)
    assert result.code == 3
    assert result.out.startswith("CARP UNKNOWN - command failed (exit 1): ifconfig")
    assert json.loads(run_check(host, FREEBSD_14, None, "--json", fail=lambda argv: Result(1, "", "no")
                                if argv == ("ifconfig",) else None).out)["status"] == "UNKNOWN"


def test_against_a_saved_capture_checks_that_capture(host):
    (host / "now.txt").write_text(FREEBSD_14.replace("advskew 100", "advskew 60"))
    (host / "carp.txt").write_text("net.inet.carp.allow: 0\nnet.inet.carp.preempt: 1\nnet.inet.carp.demotion: 0\n")
    runner = host_runner("", {})  # the live host says nothing: only the files count
    result = run_cli(["--root", str(host), "check", "--backend", "freebsd", "--against", str(host / "now.txt"),
                      "--sysctls", str(host / "carp.txt")], runner=runner)
    assert result.code == 2
    assert "net.inet.carp.allow: expected 1, running 0" in result.out
    assert "em1 vhid 20 advskew: expected 100, running 60" in result.out
    assert runner.calls == []


def test_against_without_sysctls_skips_the_sysctl_checks(host):
    (host / "now.txt").write_text(FREEBSD_14)
    result = run_cli(["--root", str(host), "check", "--backend", "freebsd", "--against", str(host / "now.txt")])
    assert result.code == 0, result.out


@pytest.mark.parametrize("content", [None, "", "this is not ifconfig output\n"])
def test_an_unusable_capture_is_unknown(host, content):
    path = host / "now.txt"
    if content is not None:
        path.write_text(content)
    result = run_cli(["--root", str(host), "check", "--backend", "freebsd", "--against", str(path)])
    assert result.code == 3 and result.out.startswith("CARP UNKNOWN - --against")


def test_legacy_carp_interfaces_are_matched_to_their_parent_by_vhid():
    config = build_config(read_config_xml(fixture_path("config", "seed-style.xml")))
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-8-legacy.txt"))
    pairs, strays = pair_vhids(config.groups(), running)
    assert [(g.interface, g.vhid, r.interface) for g, r in pairs] == [("em1", 1, "carp0"), ("em0", 2, "carp1")]
    assert strays == []
    report = check(config, running)
    assert {f.attribute for f in report.findings} == {"password"}  # nothing else differs


def test_an_empty_config_on_a_host_without_carp_is_ok():
    report = check(CarpConfig(), parse_ifconfig(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
    assert report.status is Status.OK
    assert report.summary() == "CARP OK - no vhid configured | vhids=0;;; masters=0;;; drift=0;;;"


def ucarp_config():
    address = ipaddress.ip_interface("192.0.2.1/24")
    return CarpConfig(vips=(VirtualIP(address=address, interface="eth0", vhid=7, advskew=0, password="pw"),)), address


def test_ucarp_master_without_its_vip_or_with_a_peer_failing_the_hmac_is_critical():
    from carp_pkg.backends.ucarp import UcarpVhid
    config, address = ucarp_config()
    salt = "s"
    base = dict(interface="eth0", vhid=7, advbase=1, advskew=0, addresses=(address,),
                secret_digest=password_digest(salt, "pw"))
    healthy = RunningState(vhids=(UcarpVhid(state="MASTER", held=(address,), **base),), password_salt=salt)
    assert check(config, healthy).status is Status.OK
    lost_vip = RunningState(vhids=(UcarpVhid(state="MASTER", held=(), **base),), password_salt=salt)
    assert [f.line for f in check(config, lost_vip).findings] == [
        "eth0 vhid 7 held: MASTER but the VIP is not on the interface (the up script failed?)"]
    split = RunningState(vhids=(UcarpVhid(state="BACKUP", peer_mismatch=True, **base),), password_salt=salt)
    report = check(config, split)
    assert report.status is Status.CRITICAL and report.findings[0].attribute == "peer"
    stopped = RunningState(vhids=(UcarpVhid(state="STOPPED", last_error="[ERROR] Unable to bind", **base),),
                           password_salt=salt)
    assert check(config, stopped).findings[0].line == (
        "eth0 vhid 7 state: expected MASTER or BACKUP, running STOPPED ([ERROR] Unable to bind)")
    killed_holding = RunningState(vhids=(UcarpVhid(state="STOPPED", held=(address,), **base),), password_salt=salt)
    lines = [f.line for f in check(config, killed_holding).findings]
    assert any("STOPPED but the VIP is still on the interface" in line for line in lines)


def test_on_the_freebsd_stand_in_check_follows_sync_and_outside_changes(tmp_path):
    from tests.fakes.freebsd import FakeFreeBSD
    fake = FakeFreeBSD({"vtnet0": ["198.51.100.2/24", "2001:db8:100::2/64"], "vtnet1": ["10.0.0.2/24"],
                        "vtnet2": ["172.16.0.1/30"]})
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.xml").write_text(read_fixture("config", "modern.xml"))

    def carp_pkg(*argv):
        runner = RecordingRunner(respond=lambda call: Result(*fake.run(call)))
        return run_cli(["--root", str(tmp_path), *argv, "--backend", "freebsd"], runner=runner)

    assert carp_pkg("check").code == 2  # nothing configured yet: both vhids missing
    assert carp_pkg("sync").code == 0
    assert carp_pkg("check").out.startswith("CARP OK - 2 vhids as configured (2 MASTER, 0 BACKUP)")
    fake.run(("ifconfig", "vtnet1", "vhid", "20", "advskew", "5"))  # someone edits by hand
    drifted = carp_pkg("check")
    assert drifted.code == 1 and "vtnet1 vhid 20 advskew: expected 100, running 5" in drifted.out
    assert carp_pkg("sync").code == 0
    assert carp_pkg("check").code == 0
    fake.run(("sysctl", "net.inet.carp.allow=0"))  # every vhid drops to INIT
    disabled = carp_pkg("check")
    assert disabled.code == 2 and "(carp disabled" in disabled.out
    assert "vtnet0 vhid 10 state: expected MASTER or BACKUP, running INIT" in disabled.out


# --- issue 11 ---------------------------------------------------------------------------------------------------
from carp_pkg.running import HostFacts  # noqa: E402

UNICAST_CAPTURE = read_fixture("ifconfig", "freebsd-14-unicast-peer-pfsync-syncpeer.txt")


def findings_of(config_text, capture, maintenance=False, **running_changes):
    from dataclasses import replace
    from carp_pkg.configxml import parse_config_bytes
    config = build_config(parse_config_bytes(config_text.encode(), "test.xml"))
    running = replace(parse_ifconfig(capture), **running_changes)
    return check(config, running, maintenance)


def test_maintenance_line_says_254_is_advertised_as_240(host):
    (host / "var" / "db" / "carp-pkg" / "maintenance").write_text("")
    result = run_check(host, FREEBSD_14.replace("advskew 0", "advskew 254").replace("advskew 100", "advskew 254"))
    [line] = detail_lines(result)
    assert "advskew 254, which the kernel advertises as 240" in line
    assert "a peer at 240 or more ties with this host" in line


def test_a_unicast_peer_nobody_configured_is_drift(host):
    """11.4: FreeBSD 14 shows each vhid's peers; the old check said nothing about a unicast one."""
    result = run_check(host, FREEBSD_14.replace("peer 224.0.0.18 peer6 ff02::12", "peer 198.51.100.3 peer6 ff02::12", 1))
    assert result.code == 1
    assert ("em0 vhid 10 peer: expected multicast, running 198.51.100.3 (advertisements go elsewhere than config.xml "
            "says; sync sets it again) (warning)") in detail_lines(result)


def test_configured_peers_are_checked_against_the_running_ones():
    report = findings_of(read_fixture("config", "peers.xml"), UNICAST_CAPTURE)
    drift = {(f.subject, f.attribute): (f.expected, f.actual) for f in report.findings if f.attribute != "password"}
    assert drift[("em0 vhid 10", "peer")] == ("198.51.100.4", "198.51.100.3")
    assert drift[("em0 vhid 10", "peer6")] == ("2001:db8:100::4", "multicast")
    assert ("em1 vhid 20", "peer") not in drift  # multicast on both sides
    assert drift[("pfsync0", "defer")] == ("off", "on")  # 11.3
    assert ("pfsync0", "syncpeer") not in drift  # 172.16.0.2 on both sides


def test_a_running_syncpeer_and_defer_the_config_does_not_want_are_drift(host):
    """11.3: the old check compared only the sync device."""
    pfsync = "\tsyncdev: em2 syncpeer: 172.16.0.2 maxupd: 128 defer: on version: 1400\n"
    result = run_check(host, FREEBSD_14.replace("\tsyncdev: em2 maxupd: 128 defer: off version: 1400\n", pfsync))
    lines = detail_lines(result)
    assert ("pfsync0 syncpeer: expected multicast (224.0.0.240), running 172.16.0.2 (pf states go elsewhere than "
            "config.xml says) (warning)") in lines
    assert any(line.startswith("pfsync0 defer: expected off, running on") for line in lines)


def test_a_syncpeer_left_without_pfsync_configured_is_drift():
    config = read_fixture("config", "peers.xml").replace("<pfsync>on</pfsync>", "").replace(
        "<syncpeer>172.16.0.2</syncpeer>", "")
    capture = UNICAST_CAPTURE.replace("syncdev: em2 syncpeer", "syncpeer")
    report = findings_of(config, capture)
    assert [(f.attribute, f.actual) for f in report.findings if f.interface == "pfsync0"] == [("syncpeer", "172.16.0.2")]


def test_a_backup_at_240_or_more_is_flagged_for_maintenance_hand_over_but_not_as_drift():
    """11.1: maintenance mode on the peer (254, advertised as 240) ties with a backup at 240-254."""
    config = MODERN_ON_EM.replace("<advskew>100</advskew>", "<advskew>245</advskew>")
    report = findings_of(config, FREEBSD_14.replace("advskew 100", "advskew 245"),
                         sysctls=parse_ifconfig("").sysctls)
    [flag] = [f for f in report.findings if f.attribute == "handover"]
    assert flag.subject == "em1 vhid 20" and flag.severity is Status.WARNING
    assert "advskew 245 advertises 240" in flag.message and "239 or less" in flag.message
    assert not flag.is_drift


def test_advskew_drift_between_values_that_both_advertise_240_says_so():
    config = MODERN_ON_EM.replace("<advskew>100</advskew>", "<advskew>250</advskew>")
    report = findings_of(config, FREEBSD_14.replace("advskew 100", "advskew 245"))
    [line] = [f.message for f in report.findings if f.attribute == "advskew"]
    assert line == "expected 250, running 245 (both advertise 240 on the wire)"


@pytest.mark.parametrize("host_facts, running_preempt, expected", [
    (HostFacts(pfsense=True), 1, None),  # 11.5: pfSense owns it; 1 is not drift when no VIP preempts
    (HostFacts(pfsense=False), 1, "0"),  # plain FreeBSD, nothing recorded at install: 0 as before
    (HostFacts(pfsense=False, preempt_at_install=1), 1, None),  # the install-time value is what is wanted
    (HostFacts(pfsense=False, preempt_at_install=1), 0, "1"),
])
def test_preempt_drift_follows_who_owns_the_sysctl(host_facts, running_preempt, expected):
    from carp_pkg.running import CarpSysctls
    config = MODERN_ON_EM.replace("<preempt>on</preempt>", "")
    report = findings_of(config, FREEBSD_14, host=host_facts, sysctls=CarpSysctls(allow=1, preempt=running_preempt))
    found = [f.expected for f in report.findings if f.attribute == "net.inet.carp.preempt"]
    assert found == ([] if expected is None else [expected])


def test_on_pfsense_pfsync_is_pfsenses_so_no_difference_is_drift_but_a_pending_bulk_update_still_shows():
    """pfSense sets pfsync0 from System > High Avail. Sync: carp-pkg never changes it there, so neither another sync
    device nor pfsync on without a package entry asking is reported as something sync would fix."""
    other_dev = FREEBSD_14.replace("\tsyncdev: em2 maxupd", "\tsyncdev: em1 maxupd")
    on_pfsense = findings_of(MODERN_ON_EM, other_dev, host=HostFacts(pfsense=True))
    assert [f for f in on_pfsense.findings if f.interface == "pfsync0"] == []
    unasked = findings_of(MODERN_ON_EM.replace("<pfsync>on</pfsync>", ""), FREEBSD_14, host=HostFacts(pfsense=True))
    assert [f for f in unasked.findings if f.interface == "pfsync0"] == []
    plain = findings_of(MODERN_ON_EM, other_dev)
    assert [f.attribute for f in plain.findings if f.interface == "pfsync0"] == ["syncdev"]
    pending = findings_of(MODERN_ON_EM, other_dev.replace("syncok: 1", "syncok: 0"), host=HostFacts(pfsense=True))
    assert [f.line for f in pending.findings if f.interface == "pfsync0"] == [
        "pfsync0 syncok: expected 1, running 0 (the bulk update from the peer has not finished; connections would "
        "drop on failover)"]
