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
