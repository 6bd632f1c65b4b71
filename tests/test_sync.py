"""sync: the port of sync_package() against a recording Runner (the machine boundary)."""

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from carp_pkg.errors import CarpError
from carp_pkg.system import Result

from tests.helpers import host_runner, read_fixture, run_cli

SEED_RUNNING = """\
em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	inet 203.0.113.2 netmask 0xffffff00 broadcast 203.0.113.255
	inet 203.0.113.1 netmask 0xffffff00 broadcast 203.0.113.255 vhid 2
	carp: BACKUP vhid 2 advbase 1 advskew 10
em1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	inet 192.168.1.2 netmask 0xffffff00 broadcast 192.168.1.255
	inet 192.168.1.1 netmask 0xffffff00 broadcast 192.168.1.255 vhid 1
	carp: MASTER vhid 1 advbase 1 advskew 0
em2: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	inet 10.10.10.1 netmask 0xffffff00 broadcast 10.10.10.255
pfsync0: flags=41<UP,RUNNING> metric 0 mtu 1500
	syncdev: em2 maxupd: 128 defer: off version: 1400
	syncok: 1
"""
BARE_HOST = SEED_RUNNING.split("pfsync0")[0].replace(
    "\tinet 203.0.113.1 netmask 0xffffff00 broadcast 203.0.113.255 vhid 2\n\tcarp: BACKUP vhid 2 advbase 1 advskew 10\n", "").replace(
    "\tinet 192.168.1.1 netmask 0xffffff00 broadcast 192.168.1.255 vhid 1\n\tcarp: MASTER vhid 1 advbase 1 advskew 0\n", "")
SYSCTLS = {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 1, "net.inet.carp.demotion": 0}


def sync(root, runner, *extra):
    return run_cli(["--root", str(root), "sync", "--backend", "freebsd", *extra], runner=runner)


def rc_script(root):
    return root / "usr/local/etc/rc.d/carp.sh"


def test_first_sync_configures_a_bare_host_and_writes_the_script(root):
    runner = host_runner(BARE_HOST, {"net.inet.carp.preempt": 0})
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert ("ifconfig", "em1", "vhid", "1", "advskew", "0", "advbase", "1", "pass", "lan-secret") in runner.mutating_calls
    assert ("ifconfig", "em1", "inet", "192.168.1.1/24", "alias", "vhid", "1") in runner.mutating_calls
    assert ("sysctl", "net.inet.carp.preempt=1") in runner.mutating_calls
    assert stat.S_IMODE(os.stat(rc_script(root)).st_mode) == 0o700
    assert "applied 6 changes" in result.out


def test_resync_of_an_unchanged_config_issues_no_command(root):
    sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}))
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert runner.mutating_calls == []
    assert "no changes needed" in result.out and "rc script unchanged" in result.out


def test_dry_run_prints_the_difference_and_changes_nothing(root):
    (root / "running.txt").write_text(SEED_RUNNING.replace("advskew 10", "advskew 40"))
    runner = host_runner(BARE_HOST, SYSCTLS)
    from carp_pkg.system import DryRunRunner
    dry = DryRunRunner(runner)
    result = run_cli(["--root", str(root), "sync", "--backend", "freebsd", "--dry-run",
                      "--against", str(root / "running.txt")], runner=dry)
    assert result.code == 0, result.err
    assert "ifconfig em0 vhid 2 advskew 10 advbase 1" in result.out
    assert "would apply" in result.out
    assert runner.mutating_calls == [] and dry.skipped == []
    assert not rc_script(root).exists()


def test_a_failing_step_stops_undoes_and_keeps_the_previous_script(root):
    rc_script(root).parent.mkdir(parents=True)
    rc_script(root).write_text("#!/bin/sh\n# previous script\n")

    def fail(argv):
        if argv[:3] == ("ifconfig", "em0", "inet"):
            return Result(1, "", "ifconfig: SIOCAIFADDR: File exists\n")
        return None

    runner = host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}, fail=fail)
    result = sync(root, runner)
    assert result.code == 5
    assert "step 4 of 6 failed" in result.err and "ifconfig em0 inet 203.0.113.1/24 alias vhid 2" in result.err
    assert "SIOCAIFADDR: File exists" in result.err
    assert rc_script(root).read_text() == "#!/bin/sh\n# previous script\n"
    # the VIP added in step 2 was taken back off
    assert runner.mutating_calls[-1] == ("ifconfig", "em1", "inet", "192.168.1.1", "-alias")
    assert "lan-secret" not in result.err


def test_a_step_that_cannot_run_at_all_is_undone_like_a_failure_with_its_own_code(root):
    """A tool missing halfway through (RealRunner: EnvironmentProblem, exit 6) must not leave the host half-changed."""
    from carp_pkg.errors import EnvironmentProblem
    rc_script(root).parent.mkdir(parents=True)
    rc_script(root).write_text("#!/bin/sh\n# previous script\n")

    def fail(argv):
        if argv[:3] == ("ifconfig", "em0", "inet"):
            raise EnvironmentProblem("command not found: ifconfig (is it on PATH?)")
        return None

    runner = host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}, fail=fail)
    result = sync(root, runner)
    assert result.code == 6, result.err
    assert "step 4 of 6 failed" in result.err and "command not found: ifconfig" in result.err
    assert "rolled back 1 of the 3 finished steps" in result.err
    assert runner.mutating_calls[-1] == ("ifconfig", "em1", "inet", "192.168.1.1", "-alias")
    assert rc_script(root).read_text() == "#!/bin/sh\n# previous script\n"


def test_lock_held_elsewhere_times_out_with_the_lock_code_and_changes_nothing(root):
    lock_path = root / "tmp" / "config.lock"
    lock_path.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); "
                               "print('locked', flush=True); time.sleep(30)", str(lock_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        runner = host_runner(BARE_HOST)
        started = time.monotonic()
        result = sync(root, runner, "--lock-timeout", "0.5")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 4
    assert "still held by another process" in result.err and "--lock-timeout" in result.err
    assert waited >= 0.5
    assert runner.calls == [] and not rc_script(root).exists()


def test_invalid_config_exits_3_and_touches_nothing(root):
    (root / "conf" / "config.xml").write_text(read_fixture("config", "bad-values.xml"))
    runner = host_runner(BARE_HOST)
    result = sync(root, runner)
    assert result.code == 3 and "config[1].vhid: 0 is outside 1-255" in result.err
    assert runner.calls == [] and not rc_script(root).exists()


def test_unsafe_xml_exits_3_naming_the_dtd_and_writes_nothing(root):
    (root / "conf" / "config.xml").write_text(read_fixture("config", "bad-xxe.xml"))
    runner = host_runner(BARE_HOST)
    result = sync(root, runner)
    assert result.code == 3 and "DOCTYPE" in result.err
    assert runner.calls == [] and not (root / "usr").exists()


def test_nanobsd_remounts_cf_around_the_writes_only(root):
    (root / "etc").mkdir()
    (root / "etc" / "platform").write_text("nanobsd\n")
    runner = host_runner(BARE_HOST, {"net.inet.carp.preempt": 0})
    assert sync(root, runner).code == 0
    mounts = [c for c in runner.mutating_calls if c[0] == "mount"]
    assert runner.mutating_calls[0] == ("mount", "-u", "-w", "-o", "sync,noatime", "/cf")
    assert runner.mutating_calls[-1] == ("mount", "-u", "-r", "/cf") and len(mounts) == 2


def test_full_install_without_nanobsd_never_remounts(root):
    runner = host_runner(BARE_HOST, {"net.inet.carp.preempt": 0})
    sync(root, runner)
    assert not any(c[0] == "mount" for c in runner.calls)


def test_cf_that_stays_read_only_is_a_clear_error_with_nothing_written(root):
    (root / "etc").mkdir()
    (root / "etc" / "platform").write_text("nanobsd\n")
    runner = host_runner(BARE_HOST, fail=lambda argv: Result(1, "", "mount: /cf: Operation not permitted")
                         if argv[0] == "mount" else None)
    result = sync(root, runner)
    assert result.code == 6 and "cannot remount /cf read-write" in result.err
    assert not rc_script(root).exists()
    assert not any(c[0] == "ifconfig" and len(c) > 1 for c in runner.mutating_calls)


def test_sync_json_reports_the_plan_without_secrets(root):
    result = sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}), "--json")
    data = json.loads(result.out)
    assert data["backend"] == "freebsd" and data["applied"] == 6
    assert "lan-secret" not in result.out


def test_applied_record_is_root_only_and_holds_no_password(root):
    sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}))
    record = root / "var/db/carp-pkg/applied.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert "lan-secret" not in record.read_text()


def test_password_change_touches_only_that_vhid(root):
    sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}))
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("lan-secret", "new-secret"))
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, runner).code == 0
    assert runner.mutating_calls == [("ifconfig", "em1", "vhid", "1", "advskew", "0", "advbase", "1", "pass", "new-secret")]


def test_adopting_a_running_host_resends_only_the_passwords_it_cannot_verify(root):
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, runner).code == 0
    # vhid 1 has a password carp-pkg never applied here: set it once; vhid 2 has none, and FreeBSD
    # ignores an empty key, so there is nothing to send for it
    assert runner.mutating_calls == [("ifconfig", "em1", "vhid", "1", "advskew", "0", "advbase", "1", "pass", "lan-secret")]
    again = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, again).code == 0 and again.mutating_calls == []


# --- issue 11.5: pfSense owns net.inet.carp.preempt ----------------------------------------------------------------
def without_preemption(root):
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("<premption>on</premption>", ""))


def test_on_pfsense_sync_never_lowers_preempt_and_says_why(root):
    without_preemption(root)
    (root / "etc").mkdir()
    (root / "etc" / "platform").write_text("pfSense\n")
    runner = host_runner(SEED_RUNNING, SYSCTLS)  # preempt is 1, as interfaces_sync_setup() left it
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert not any(argv[0] == "sysctl" and "preempt" in argv[1] for argv in runner.mutating_calls)
    assert "this is pfSense: its base system sets net.inet.carp.preempt=1" in result.err
    assert "net.inet.carp.preempt=0" not in rc_script(root).read_text()  # nor at boot


def test_the_pfsense_base_include_alone_marks_a_pfsense_root(root):
    without_preemption(root)
    (root / "etc" / "inc").mkdir(parents=True)
    (root / "etc" / "inc" / "interfaces.inc").write_text("<?php\n")
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, runner).code == 0
    assert ("sysctl", "net.inet.carp.preempt=0") not in runner.mutating_calls


def test_on_plain_freebsd_the_preempt_value_found_at_install_comes_back(root):
    without_preemption(root)
    state = root / "var" / "db" / "carp-pkg"
    state.mkdir(parents=True)
    (state / "manifest.json").write_text('{"files": [], "directories": [], "sysctls_before": '
                                         '{"net.inet.carp.preempt": 1}, "sha256": {}}\n')
    unchanged = host_runner(SEED_RUNNING, SYSCTLS)  # 1 already: nothing to do (the old code forced 0)
    assert sync(root, unchanged).code == 0
    assert not any(argv[0] == "sysctl" for argv in unchanged.mutating_calls)
    lowered = host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.preempt": 0})
    result = sync(root, lowered)
    assert ("sysctl", "net.inet.carp.preempt=1") in lowered.mutating_calls, result.err
    assert "sysctl net.inet.carp.preempt=1" in rc_script(root).read_text()


def test_on_plain_freebsd_without_an_install_record_no_preemption_is_still_0(root):
    without_preemption(root)
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, runner).code == 0
    assert ("sysctl", "net.inet.carp.preempt=0") in runner.mutating_calls


# --- issue 11.3: pfsync is brought up with its peer and defer said explicitly -----------------------------------------
def test_a_stray_syncpeer_and_defer_are_cleared(root):
    stray = SEED_RUNNING.replace("syncdev: em2 maxupd: 128 defer: off", "syncdev: em2 syncpeer: 10.10.10.9 maxupd: 128 defer: on")
    runner = host_runner(stray, SYSCTLS)
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert ("ifconfig", "pfsync0", "syncdev", "em2", "-syncpeer", "-defer", "up") in runner.mutating_calls


def test_a_configured_syncpeer_and_defer_are_set(root):
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("<synciface>opt1</synciface>",
                                                 "<synciface>opt1</synciface><syncpeer>10.10.10.2</syncpeer>"
                                                 "<defer>on</defer>", 1))
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert ("ifconfig", "pfsync0", "syncdev", "em2", "syncpeer", "10.10.10.2", "defer", "up") in runner.mutating_calls
    again = host_runner(SEED_RUNNING.replace("syncdev: em2 maxupd: 128 defer: off",
                                             "syncdev: em2 syncpeer: 10.10.10.2 maxupd: 128 defer: on"), SYSCTLS)
    assert sync(root, again).code == 0
    assert not any(argv[1] == "pfsync0" for argv in again.mutating_calls)


# --- issue 11.4: unicast peers need FreeBSD 14 ---------------------------------------------------------------------
def with_peer(root):
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("<vhid>1</vhid>", "<vhid>1</vhid><peer>192.168.1.3</peer>"))


def test_a_unicast_peer_is_refused_on_a_release_before_14_and_nothing_changes(root):
    with_peer(root)
    runner = host_runner(SEED_RUNNING, {**SYSCTLS, "kern.osreldate": 1302001})
    result = sync(root, runner)
    assert result.code == 3
    assert "unicast CARP peers need FreeBSD 14 or later" in result.err
    assert "config[0].peer: vhid 1 on em1 asks for a unicast peer" in result.err
    assert runner.mutating_calls == [] and not rc_script(root).exists()


def test_a_unicast_peer_is_sent_with_every_vhid_command_on_14(root):
    with_peer(root)
    runner = host_runner(BARE_HOST, {**SYSCTLS, "kern.osreldate": 1401000})
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert ("ifconfig", "em1", "vhid", "1", "advskew", "0", "advbase", "1", "pass", "lan-secret",
            "peer", "192.168.1.3") in runner.mutating_calls
    assert ("ifconfig", "em1", "inet", "192.168.1.1/24", "alias", "vhid", "1", "peer", "192.168.1.3") \
        in runner.mutating_calls
    assert "peer 192.168.1.3" in rc_script(root).read_text()


def test_a_unicast_peer_on_a_host_of_unknown_release_is_planned_with_a_warning(root):
    with_peer(root)
    runner = host_runner(BARE_HOST, SYSCTLS)  # kern.osreldate unreadable, no carp line to tell
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert "unicast CARP peers need FreeBSD 14 or later" in result.err


def test_legacy_pfsync_clears_a_stray_peer_and_defer_and_says_nothing_more_where_defer_is_unknown(root):
    from tests.helpers import fixture_path
    nine = run_cli(["--root", str(root), "sync", "--backend", "freebsd-legacy", "--dry-run", "--against",
                    fixture_path("ifconfig", "freebsd-9-pfsync-defer.txt")])
    assert "ifconfig pfsync0 syncdev em2 -syncpeer -defer up" in nine.out, nine.err
    eight = run_cli(["--root", str(root), "sync", "--backend", "freebsd-legacy", "--dry-run", "--against",
                     fixture_path("ifconfig", "freebsd-8-legacy.txt")])
    assert eight.code == 0 and "pfsync0" not in eight.out  # FreeBSD 8 has no defer keyword to say


def test_the_rc_script_of_a_14_host_carries_the_peers_without_a_release_warning(root):
    with_peer(root)
    assert sync(root, host_runner(BARE_HOST, {**SYSCTLS, "kern.osreldate": 1401000})).code == 0
    script = rc_script(root).read_text()
    assert "peer 192.168.1.3" in script and "need FreeBSD 14" not in script


# --- pfSense owns pfsync (interfaces_sync_setup(): System > High Avail. Sync) and net.inet.carp.allow -------------------
def pfsense(root):
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "platform").write_text("pfSense\n")


def without_pfsync(root):
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("<pfsync>on</pfsync>", "").replace("<synciface>opt1</synciface>", ""))


def test_on_pfsense_pfsync_that_no_entry_asks_for_is_left_to_pfsense(root):
    """pfSense configured pfsync0 from its HA sync settings: carp-pkg must not take it down (the old plan said
    `ifconfig pfsync0 -syncdev -syncpeer down`), nor say that sync would."""
    pfsense(root)
    without_pfsync(root)
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert not any(argv[:2] == ("ifconfig", "pfsync0") for argv in runner.mutating_calls)
    assert "ifconfig pfsync0" not in rc_script(root).read_text()
    checked = run_cli(["--root", str(root), "check", "--backend", "freebsd"], runner=host_runner(SEED_RUNNING, SYSCTLS))
    assert "pfsync0" not in checked.out and "sync turns it off" not in checked.out
    status = run_cli(["--root", str(root), "status", "--backend", "freebsd", "--json"],
                     runner=host_runner(SEED_RUNNING, SYSCTLS))
    assert json.loads(status.out)["pfsync"]["syncdev"] == "em2"  # still shown as it runs
    (root / "running.txt").write_text(SEED_RUNNING)
    stopped = run_cli(["--root", str(root), "stop", "--backend", "freebsd", "--dry-run", "--against",
                       str(root / "running.txt")], runner=host_runner(SEED_RUNNING, SYSCTLS))
    assert stopped.code == 0 and "-alias" in stopped.out and "pfsync0" not in stopped.out


def test_on_pfsense_package_pfsync_fields_are_ignored_with_a_warning(root):
    pfsense(root)
    config = root / "conf" / "config.xml"
    config.write_text(config.read_text().replace("<synciface>opt1</synciface>",
                                                 "<synciface>opt1</synciface><syncpeer>10.10.10.2</syncpeer>"
                                                 "<defer>on</defer>", 1))
    runner = host_runner(SEED_RUNNING.replace("syncdev: em2 ", "syncdev: em0 "), SYSCTLS)
    result = sync(root, runner)
    assert result.code == 0, result.err
    assert not any(argv[:2] == ("ifconfig", "pfsync0") for argv in runner.mutating_calls)
    assert "pfsync is asked for, but this is pfSense: pfSense sets pfsync0 from System > High Avail. Sync" in result.err
    assert "syncpeer and defer fields are ignored" in result.err
    script = rc_script(root).read_text()
    assert "ifconfig pfsync0" not in script  # neither at boot nor in the script's stop
    checked = run_cli(["--root", str(root), "check", "--backend", "freebsd"],
                      runner=host_runner(SEED_RUNNING.replace("syncdev: em2 ", "syncdev: em0 "), SYSCTLS))
    assert "pfsync0" not in checked.out
    validated = run_cli(["--root", str(root), "validate", "--backend", "freebsd", "--json"])
    warnings = json.loads(validated.out)["warnings"]
    assert {"where": "config[0].pfsync", "message": warnings[-1]["message"]} in warnings
    assert "System > High Avail. Sync" in warnings[-1]["message"]


def test_on_plain_freebsd_pfsync_still_follows_the_package(root):
    without_pfsync(root)
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, runner).code == 0
    assert ("ifconfig", "pfsync0", "-syncdev", "-syncpeer", "down") in runner.mutating_calls
    validated = run_cli(["--root", str(root), "validate", "--backend", "freebsd", "--json"])
    assert not any("High Avail" in w["message"] for w in json.loads(validated.out)["warnings"])


def test_on_pfsense_carp_allowed_0_at_sync_time_says_why(root):
    pfsense(root)
    result = sync(root, host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.allow": 0}))
    assert result.code == 0, result.err
    assert ("net.inet.carp.allow is 0, so no vhid sends or accepts advertisements (every vhid is INIT): this is "
            "pfSense, which sets it to 0 when it has no CARP VIP of its own") in result.err
    assert "`carp-pkg enable` or a CARP VIP in pfSense" in result.err
    allowed = sync(root, host_runner(SEED_RUNNING, SYSCTLS))
    assert "net.inet.carp.allow is 0" not in allowed.err
    plain = root / "plain"
    (plain / "conf").mkdir(parents=True)
    (plain / "conf" / "config.xml").write_text((root / "conf" / "config.xml").read_text())
    assert "net.inet.carp.allow is 0" not in sync(plain, host_runner(SEED_RUNNING, {**SYSCTLS,
                                                                                  "net.inet.carp.allow": 0})).err


def test_a_fifo_at_the_config_lock_is_refused_with_its_path_not_a_stream_error(root):
    lock_path = root / "tmp" / "config.lock"
    lock_path.parent.mkdir()
    os.mkfifo(lock_path)
    result = sync(root, host_runner(BARE_HOST))
    assert result.code == 6 and f"the config lock {lock_path} is not a regular file" in result.err


# --- the rollback goes through whatever stands in its way ----------------------------------------------------------

def _plan_of_three():
    from carp_pkg.plan import Plan, Step
    return Plan("test", (Step(("a",), "first", undo=("undo-a",)), Step(("b",), "second", undo=("undo-b",)),
                         Step(("c",), "third", undo=("undo-c",))))


def test_files_that_cannot_be_put_back_do_not_stop_the_undos():
    from carp_pkg.apply import apply_plan
    from carp_pkg.errors import EnvironmentProblem
    from carp_pkg.system import RecordingRunner

    def respond(argv):
        if argv == ("c",):
            raise EnvironmentProblem("command not found: c")
        return Result()

    def put_back():
        raise EnvironmentProblem("cannot write /x: the disk is full; the previous file is unchanged")

    runner = RecordingRunner(respond=respond)
    with pytest.raises(CarpError) as raised:
        apply_plan(_plan_of_three(), runner, before_rollback=put_back)
    assert runner.mutating_calls == [("a",), ("b",), ("c",), ("undo-b",), ("undo-a",)]
    assert raised.value.exit_code == 6
    assert any("could not all be put back: cannot write /x: the disk is full" in d for d in raised.value.details)
    assert not any("back in its previous state" in d for d in raised.value.details)


def test_a_signal_during_one_undo_leaves_the_others_running_and_says_so():
    from carp_pkg.apply import apply_plan
    from carp_pkg.errors import Terminated
    from carp_pkg.system import RecordingRunner

    def respond(argv):
        if argv == ("c",):
            return Result(1, "", "c: failed\n")
        if argv == ("undo-b",):
            raise Terminated(1)  # the SSH session dropped while rolling back
        return Result()

    runner = RecordingRunner(respond=respond)
    with pytest.raises(CarpError) as raised:
        apply_plan(_plan_of_three(), runner)
    assert runner.mutating_calls == [("a",), ("b",), ("c",), ("undo-b",), ("undo-a",)]
    assert raised.value.exit_code == 5
    assert any("undo interrupted by SIGHUP" in d for d in raised.value.details)
    assert "reason: c: failed" in raised.value.details


def test_a_command_that_cannot_be_executed_is_an_environment_problem_not_a_traceback(tmp_path):
    from carp_pkg.errors import EnvironmentProblem
    from carp_pkg.system import RealRunner
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o644)  # not executable
    with pytest.raises(EnvironmentProblem, match="cannot run .*tool: Permission denied"):
        RealRunner().run((str(tool),))
