"""Issue 12.5/12.9: status says what is true on each platform: "nothing running" when config.xml asks for
vhids that do not run, and no FreeBSD-only fields (sysctls, pfsync) on the Linux backends."""

from __future__ import annotations

import json
import os

from carp_pkg.system import RecordingRunner, Result

from tests.helpers import TESTS, host_runner, read_fixture, run_cli

EXAMPLES = os.path.join(os.path.dirname(TESTS), "examples")


def linux_host():
    def respond(argv):
        if argv[:3] == ("ip", "-j", "addr"):
            return Result(0, '[{"ifname": "eth1", "addr_info": [{"local": "192.168.1.2", "prefixlen": 24}]}]', "")
        return Result()
    return RecordingRunner(respond=respond)


def test_linux_status_names_no_freebsd_sysctl_and_says_nothing_runs(tmp_path):
    result = run_cli(["--root", str(tmp_path), "--config", os.path.join(EXAMPLES, "linux-ucarp.xml"), "status",
                      "--backend", "ucarp"], runner=linux_host())
    assert result.code == 0, result.err
    assert "carp allowed" not in result.out and "demotion" not in result.out and "pfsync" not in result.out
    assert "nothing running: config.xml configures 2 vhids" in result.out
    assert "maintenance: off" in result.out


def test_freebsd_status_of_an_idle_host_says_not_running_and_json_counts_the_configured(tmp_path):
    argv = ["--root", str(tmp_path), "--config", os.path.join(EXAMPLES, "config.xml"), "status", "--backend",
            "freebsd"]
    runner = host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt"), {"net.inet.carp.allow": 1})
    result = run_cli(argv, runner=runner)
    assert "nothing running: config.xml configures 2 vhids" in result.out and "carp allowed: yes" in result.out
    document = json.loads(run_cli([*argv, "--json"], runner=runner).out)
    assert document["configured_vhids"] == 2 and document["vhids"] == []


def test_without_a_readable_config_status_still_shows_what_runs(tmp_path):
    result = run_cli(["--root", str(tmp_path), "--config", str(tmp_path / "missing.xml"), "status", "--backend",
                      "freebsd", "--against", os.path.join(EXAMPLES, "ifconfig-freebsd14.txt")])
    assert result.code == 0 and "em1" in result.out
