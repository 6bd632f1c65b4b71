"""install / deinstall: the package's pfSense hooks leave the root exactly as they found it."""

import hashlib
import json
import os

from tests.helpers import host_runner, run_cli
from tests.test_sync import BARE_HOST, SEED_RUNNING

SYSCTLS_BEFORE = {"net.inet.carp.preempt": 0, "net.inet.carp.allow": 1}


def snapshot(root):
    tree = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(directory, name)
            tree[os.path.relpath(path, root)] = ("dir", os.stat(path).st_mode)
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                tree[os.path.relpath(path, root)] = ("file", os.stat(path).st_mode, hashlib.sha256(handle.read()).hexdigest())
    return tree


def cli(root, runner, *argv):
    return run_cli(["--root", str(root), *argv], runner=runner)


def test_install_places_the_package_files_and_runs_the_first_sync(root):
    runner = host_runner(BARE_HOST, SYSCTLS_BEFORE)
    result = cli(root, runner, "install", "--backend", "freebsd")
    assert result.code == 0, result.err
    for target in ("usr/local/pkg/carp.xml", "usr/local/pkg/carp.inc", "usr/local/www/carp_status.php",
                   "usr/local/pkg/pf/carp_rules.php", "etc/inc/priv/carp.priv.inc", "usr/local/etc/rc.d/carp.sh"):
        assert (root / target).is_file(), target
    manifest = json.loads((root / "var/db/carp-pkg/manifest.json").read_text())
    assert "/usr/local/etc/rc.d/carp.sh" in manifest["files"]
    assert manifest["sysctls_before"] == {"net.inet.carp.preempt": 0}
    assert ("ifconfig", "em1", "inet", "192.168.1.1/24", "alias", "vhid", "1") in runner.mutating_calls


def test_install_then_deinstall_leaves_the_tree_exactly_as_it_was(root):
    before = snapshot(root)
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    runner = host_runner(SEED_RUNNING, {"net.inet.carp.preempt": 1})
    result = cli(root, runner, "deinstall", "--backend", "freebsd")
    assert result.code == 0, result.err
    assert snapshot(root) == before
    assert runner.mutating_calls[0] == ("/bin/sh", str(root / "usr/local/etc/rc.d/carp.sh"), "stop")
    assert ("sysctl", "net.inet.carp.preempt=0") in runner.mutating_calls  # the value install found
    assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls
    assert "config.xml left as it was" in result.out


def test_deinstall_keeps_other_files_in_shared_folders(root):
    (root / "usr/local/www").mkdir(parents=True)
    (root / "usr/local/www/carp_other_tool.php").write_text("not ours")
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd")
    assert (root / "usr/local/www/carp_other_tool.php").read_text() == "not ours"
    assert not (root / "usr/local/www/carp_status.php").exists()


def test_install_and_deinstall_are_idempotent(root):
    before = snapshot(root)
    for _ in range(2):
        assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    for _ in range(2):
        assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd").code == 0
    assert snapshot(root) == before


def test_deinstall_after_a_half_finished_install(root):
    before = snapshot(root)
    config = root / "conf" / "config.xml"
    good = config.read_text()
    config.write_text(good.replace("<vhid>1</vhid>", "<vhid>0</vhid>"))  # the first sync will refuse
    result = cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    assert result.code == 3 and (root / "usr/local/pkg/carp.xml").exists()
    config.write_text(good)
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd").code == 0
    assert snapshot(root) == before


def test_purge_removes_only_the_carp_section(root):
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd", "--purge").code == 0
    text = (root / "conf" / "config.xml").read_text()
    assert "<carp>" not in text and "<hostname>fw1</hostname>" in text and "<installedpackages" in text


def test_deinstall_dry_run_changes_nothing(root):
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    before = snapshot(root)
    from carp_pkg.system import DryRunRunner
    reader = host_runner(SEED_RUNNING, SYSCTLS_BEFORE)
    result = cli(root, DryRunRunner(reader), "deinstall", "--backend", "freebsd", "--dry-run")
    assert result.code == 0 and "ifconfig em1 inet 192.168.1.1 -alias" in result.out
    assert snapshot(root) == before and reader.mutating_calls == []
