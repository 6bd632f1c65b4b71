"""status, maintenance, disable/enable, demotion through the CLI with a recording Runner."""

import json

from carp_pkg.system import DryRunRunner

from tests.helpers import host_runner, run_cli
from tests.test_sync import BARE_HOST, SEED_RUNNING, SYSCTLS


def cli(root, runner, *argv):
    return run_cli(["--root", str(root), *argv], runner=runner)


def synced(root):
    assert cli(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0}), "sync", "--backend", "freebsd").code == 0


def test_status_json_lists_vhids_sysctls_and_pfsync(root):
    result = cli(root, host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.demotion": 240}),
                 "status", "--backend", "freebsd", "--json")
    data = json.loads(result.out)
    assert [(v["interface"], v["vhid"], v["state"]) for v in data["vhids"]] == [("em0", 2, "BACKUP"), ("em1", 1, "MASTER")]
    assert data["sysctls"] == {"allow": 1, "preempt": 1, "demotion": 240}
    assert data["pfsync"]["syncdev"] == "em2" and data["pfsync"]["syncok"] is True
    assert data["maintenance"] is False


def test_status_shows_disabled_when_carp_is_not_allowed(root):
    result = cli(root, host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.allow": 0}), "status", "--backend", "freebsd")
    assert "DISABLED" in result.out and "MASTER" not in result.out
    assert "carp allowed: NO" in result.out


def test_maintenance_on_raises_every_vhid_to_254_without_resending_passwords(root):
    synced(root)
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    result = cli(root, runner, "maintenance", "on", "--backend", "freebsd")
    assert result.code == 0, result.err
    assert sorted(runner.mutating_calls) == [
        ("ifconfig", "em0", "vhid", "2", "advskew", "254", "advbase", "1"),
        ("ifconfig", "em1", "vhid", "1", "advskew", "254", "advbase", "1"),
    ]
    assert (root / "var/db/carp-pkg/maintenance").exists()
    assert "advskew 254" in (root / "usr/local/etc/rc.d/carp.sh").read_text()


def test_maintenance_is_honoured_by_later_syncs_and_off_restores(root):
    synced(root)
    cli(root, host_runner(SEED_RUNNING, SYSCTLS), "maintenance", "on", "--backend", "freebsd")
    in_maintenance = SEED_RUNNING.replace("advskew 10", "advskew 254").replace("advskew 0", "advskew 254")
    resync = host_runner(in_maintenance, SYSCTLS)
    assert cli(root, resync, "sync", "--backend", "freebsd").code == 0
    assert resync.mutating_calls == []
    assert cli(root, None, "maintenance").out.strip() == "maintenance mode: on"
    off = host_runner(in_maintenance, SYSCTLS)
    assert cli(root, off, "maintenance", "off", "--backend", "freebsd").code == 0
    assert ("ifconfig", "em1", "vhid", "1", "advskew", "0", "advbase", "1") in off.mutating_calls
    assert not (root / "var/db/carp-pkg/maintenance").exists()
    assert "advskew 254" not in (root / "usr/local/etc/rc.d/carp.sh").read_text()


def test_maintenance_dry_run_changes_nothing(root):
    synced(root)
    reader = host_runner(SEED_RUNNING, SYSCTLS)
    dry = DryRunRunner(reader)
    result = cli(root, dry, "maintenance", "on", "--backend", "freebsd", "--dry-run")
    assert "advskew 254" in result.out and reader.mutating_calls == []
    assert not (root / "var/db/carp-pkg/maintenance").exists()


def test_disable_and_enable_flip_carp_allow(root, monkeypatch):
    monkeypatch.setattr("carp_pkg.backends.os.uname", lambda: type("U", (), {"sysname": "FreeBSD", "release": "14.1"})())
    runner = host_runner(SEED_RUNNING, SYSCTLS)
    assert cli(root, runner, "disable").code == 0
    assert runner.mutating_calls == [("sysctl", "net.inet.carp.allow=0")]
    off = host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.allow": 0})
    assert cli(root, off, "enable").code == 0
    assert off.mutating_calls == [("sysctl", "net.inet.carp.allow=1")]
    assert "already 1" in cli(root, host_runner(SEED_RUNNING, SYSCTLS), "enable").out


def test_demotion_reset_writes_the_negative_because_writes_are_relative(root):
    runner = host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.demotion": 240})
    result = cli(root, runner, "demotion", "--reset")
    assert runner.mutating_calls == [("sysctl", "net.inet.carp.demotion=-240")]
    assert "demotion was 240" in result.out
    shown = cli(root, host_runner(SEED_RUNNING, {**SYSCTLS, "net.inet.carp.demotion": 7}), "demotion", "--json")
    assert json.loads(shown.out)["demotion"] == 7


def test_demotion_unreadable_is_an_environment_error(root):
    result = cli(root, host_runner(SEED_RUNNING, {}), "demotion")
    assert result.code == 6 and "net.inet.carp.demotion" in result.err


# --- issue 11.10: maintenance and stop dry runs against a saved capture; 11.1: what maintenance achieves -----------
def capture(root, text=SEED_RUNNING):
    path = root / "saved-ifconfig.txt"
    path.write_text(text)
    return str(path)


def test_maintenance_dry_run_against_a_capture_plans_from_it_and_reads_nothing_live(root):
    synced(root)
    live = host_runner(BARE_HOST, SYSCTLS)  # the live host has no vhid: a plan from it would create them
    dry = DryRunRunner(live)
    result = cli(root, dry, "maintenance", "on", "--backend", "freebsd", "--dry-run", "--against", capture(root))
    assert result.code == 0, result.err
    assert sorted(result.out.splitlines()[:2]) == [
        "ifconfig em0 vhid 2 advskew 254 advbase 1  # update vhid 2 on em0: advskew 10 -> 254",
        "ifconfig em1 vhid 1 advskew 254 advbase 1  # update vhid 1 on em1: advskew 0 -> 254"]
    assert ("ifconfig",) not in live.calls and live.mutating_calls == []
    assert not (root / "var" / "db" / "carp-pkg" / "maintenance").exists()


def test_maintenance_says_254_is_advertised_as_240(root):
    synced(root)
    result = cli(root, host_runner(SEED_RUNNING, SYSCTLS), "maintenance", "on", "--backend", "freebsd")
    assert result.code == 0, result.err
    assert ("that is: every vhid at advskew 254, advertised as 240: a peer at advskew 239 or less "
            "takes over, a peer at 240 or more ties with this host") in result.out
    assert result.out.count("maintenance mode on") == 1  # said once


def test_stop_dry_run_against_a_capture_lists_what_it_holds(root):
    live = host_runner(BARE_HOST, SYSCTLS)
    dry = DryRunRunner(live)
    result = cli(root, dry, "stop", "--backend", "freebsd", "--dry-run", "--against", capture(root))
    assert result.code == 0, result.err
    assert "ifconfig em0 inet 203.0.113.1 -alias  # vhid 2 on em0 is stopped (carp-pkg stop)" in result.out
    assert "no longer in config.xml" not in result.out  # config.xml is as it was: stop is the reason
    assert "ifconfig pfsync0 -syncdev -syncpeer down" in result.out
    assert "would remove 3 items" in result.out
    assert ("ifconfig",) not in live.calls


def test_against_needs_dry_run_for_maintenance_and_stop(root):
    for argv in (["maintenance", "on"], ["stop"]):
        result = cli(root, host_runner(SEED_RUNNING, SYSCTLS), *argv, "--backend", "freebsd",
                     "--against", capture(root))
        assert result.code == 2 and "use it with --dry-run" in result.err
