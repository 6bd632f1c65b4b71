"""metrics: Prometheus text exposition, read back with prometheus_client's own parser."""

import ipaddress
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from carp_pkg.check import check
from carp_pkg.metrics import render_metrics
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.running import RunningState, RunningVhid

from tests.helpers import host_runner, read_fixture, run_cli
from tests.test_check import FREEBSD_14, HEALTHY_SYSCTLS, MODERN_ON_EM, PASSWORDS, host  # noqa: F401 (fixture)


def parse(text):
    """{metric name: {frozenset(labels.items()): value}} and the families' types, via prometheus_client."""
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples, types


def labels(**pairs):
    return frozenset(pairs.items())


def run_metrics(root, ifconfig=FREEBSD_14, sysctls=None, *extra):
    runner = host_runner(ifconfig, HEALTHY_SYSCTLS if sysctls is None else sysctls)
    return run_cli(["--root", str(root), "metrics", "--backend", "freebsd", *extra], runner=runner)


def test_every_vhid_state_is_one_hot_with_its_timers(host):
    result = run_metrics(host)
    assert result.code == 0, result.err
    samples, types = parse(result.out)
    assert set(types.values()) == {"gauge"}
    assert samples["carp_vhid_state"] == {
        labels(interface="em0", vhid="10", state="INIT"): 0, labels(interface="em0", vhid="10", state="BACKUP"): 0,
        labels(interface="em0", vhid="10", state="MASTER"): 1,
        labels(interface="em1", vhid="20", state="INIT"): 0, labels(interface="em1", vhid="20", state="BACKUP"): 1,
        labels(interface="em1", vhid="20", state="MASTER"): 0,
    }
    assert samples["carp_vhid_advskew"] == {labels(interface="em0", vhid="10"): 0, labels(interface="em1", vhid="20"): 100}
    assert samples["carp_vhid_advbase"] == {labels(interface="em0", vhid="10"): 1, labels(interface="em1", vhid="20"): 2}
    assert samples["carp_demotion"] == {labels(): 0} and samples["carp_allow"] == {labels(): 1}
    assert samples["carp_config_drift"] == {labels(): 0} and samples["carp_maintenance"] == {labels(): 0}
    assert samples["carp_pfsync_syncok"] == {labels(): 1}
    assert samples["carp_check_status"] == {labels(): 0} and samples["carp_collector_success"] == {labels(): 1}


def test_every_family_has_help_and_type_lines(host):
    text = run_metrics(host).out
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    for name in names:
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text


def test_drift_counts_the_check_findings_and_matches_check(host):
    drifted = FREEBSD_14.replace("advskew 100", "advskew 50").replace("syncok: 1", "syncok: 0")
    sysctls = {**HEALTHY_SYSCTLS, "net.inet.carp.demotion": 240}
    samples, _ = parse(run_metrics(host, drifted, sysctls).out)
    assert samples["carp_config_drift"] == {labels(): 3}
    assert samples["carp_demotion"] == {labels(): 240}
    assert samples["carp_pfsync_syncok"] == {labels(): 0}
    assert samples["carp_check_status"] == {labels(): 1}
    checked = run_cli(["--root", str(host), "check", "--backend", "freebsd"], runner=host_runner(drifted, sysctls))
    assert "drift=3;;;" in checked.out


def test_maintenance_is_exported_and_not_counted_as_drift(host):
    (host / "var" / "db" / "carp-pkg" / "maintenance").write_text("")
    running = FREEBSD_14.replace("advskew 0", "advskew 254").replace("advskew 100", "advskew 254")
    samples, _ = parse(run_metrics(host, running).out)
    assert samples["carp_maintenance"] == {labels(): 1}
    assert samples["carp_config_drift"] == {labels(): 0}
    assert samples["carp_vhid_advskew"][labels(interface="em1", vhid="20")] == 254


def test_a_missing_vhid_is_configured_without_a_state_and_a_stray_one_is_flagged(host):
    running = (FREEBSD_14.replace("\tcarp: BACKUP vhid 20 advbase 2 advskew 100\n", "")
               .replace("MASTER vhid 10 advbase 1 advskew 0", "MASTER vhid 10 advbase 1 advskew 0\n\tcarp: BACKUP vhid 77 advbase 1 advskew 5"))
    samples, _ = parse(run_metrics(host, running).out)
    assert samples["carp_vhid_configured"] == {labels(interface="em0", vhid="10"): 1,
                                               labels(interface="em1", vhid="20"): 1,
                                               labels(interface="em0", vhid="77"): 0}
    assert not any(dict(key)["vhid"] == "20" for key in samples["carp_vhid_state"])
    assert samples["carp_vhid_state"][labels(interface="em0", vhid="77", state="BACKUP")] == 1


def test_no_password_is_ever_exported(host):
    text = run_metrics(host).out
    assert all(password not in text for password in PASSWORDS)
    assert "secret" not in text.lower() and "digest" not in text.lower()


def test_output_file_is_written_atomically_with_mode_0644(host, tmp_path):
    target_dir = tmp_path / "textfile"
    target_dir.mkdir()
    target = target_dir / "carp.prom"
    target.write_text("carp_collector_success 1\n# previous run\n")
    result = run_metrics(host, FREEBSD_14, None, "--output", str(target))
    assert result.code == 0 and result.out == "" and result.err == ""
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert os.listdir(target_dir) == ["carp.prom"]  # no temp file left behind
    samples, _ = parse(target.read_text())
    assert samples["carp_vhid_state"][labels(interface="em0", vhid="10", state="MASTER")] == 1


def test_a_file_name_the_textfile_collector_ignores_is_warned_about(host, tmp_path):
    result = run_metrics(host, FREEBSD_14, None, "--output", str(tmp_path / "carp.txt"))
    assert result.code == 0 and "only reads files ending in .prom" in result.err


def test_a_failed_read_replaces_the_file_with_collector_failure(host, tmp_path):
    target = tmp_path / "carp.prom"
    run_metrics(host, FREEBSD_14, None, "--output", str(target))
    (host / "conf" / "config.xml").write_text(read_fixture("config", "bad-values.xml"))
    result = run_metrics(host, FREEBSD_14, None, "--output", str(target))
    assert result.code == 3 and "config[1].vhid" in result.err
    samples, _ = parse(target.read_text())
    assert samples == {"carp_collector_success": {labels(): 0}}


@pytest.mark.parametrize("make, why", [
    (lambda path: os.symlink(str(path) + ".real", path), "is a symbolic link"),
    (lambda path: os.mkfifo(path), "is not a regular file"),
    (lambda path: os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3)), "is not a regular file"),  # like /dev/null
    (lambda path: os.mkdir(path), "is not a regular file"),
])
def test_output_never_replaces_a_link_device_or_fifo(host, tmp_path, make, why):
    target = tmp_path / "carp.prom"
    make(target)
    before = os.lstat(target)
    result = run_metrics(host, FREEBSD_14, None, "--output", str(target))
    assert result.code == 6 and why in result.err, result.err
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not any(name.startswith(".carp.prom.") for name in os.listdir(tmp_path))  # no temp file left


def test_output_needs_the_collectors_directory_and_creates_none(host, tmp_path):
    result = run_metrics(host, FREEBSD_14, None, "--output", str(tmp_path / "missing" / "carp.prom"))
    assert result.code == 6 and "does not exist" in result.err
    assert not (tmp_path / "missing").exists()


def test_unknown_sysctls_are_left_out_not_reported_as_zero(host):
    (host / "now.txt").write_text(FREEBSD_14)
    result = run_cli(["--root", str(host), "metrics", "--backend", "freebsd", "--against", str(host / "now.txt")],
                     runner=host_runner("", {}))
    samples, _ = parse(result.out)
    assert "carp_demotion" not in samples and "carp_allow" not in samples and "carp_preempt" not in samples
    assert "# HELP carp_demotion" not in result.out


@pytest.mark.parametrize("name", ['em"0', "em\\0", "em\n0", 'we\\"ird'])
def test_label_values_are_escaped_per_the_exposition_format(name):
    running = RunningState(vhids=(RunningVhid(interface=name, vhid=3, state="MASTER", advbase=1, advskew=0),))
    config = CarpConfig()
    text = render_metrics(config, running, check(config, running))
    samples, _ = parse(text)
    assert samples["carp_vhid_advskew"] == {labels(interface=name, vhid="3"): 0}


def test_an_unexpected_kernel_state_gets_its_own_sample():
    address = ipaddress.ip_interface("192.0.2.1/24")
    config = CarpConfig(vips=(VirtualIP(address=address, interface="em0", vhid=1),))
    running = RunningState(vhids=(RunningVhid(interface="em0", vhid=1, state="DISABLED", advbase=1, advskew=0,
                                              addresses=(address,)),))
    samples, _ = parse(render_metrics(config, running, check(config, running)))
    assert samples["carp_vhid_state"][labels(interface="em0", vhid="1", state="DISABLED")] == 1
    assert sum(samples["carp_vhid_state"].values()) == 1
