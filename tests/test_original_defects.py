"""One regression test per defect of the original carp 0.1.0 (DESIGN.md §1, 1-10)."""

import subprocess

from carp_pkg.backends import get_backend
from carp_pkg.configxml import parse_config_bytes
from carp_pkg.sync import rc_script_text
from carp_pkg.paths import Paths
from carp_pkg.validate import build_config
from carp_pkg.system import Result

from tests.helpers import host_runner, run_cli
from tests.test_sync import BARE_HOST, SEED_RUNNING, SYSCTLS, sync

INTERFACES = b"<interfaces><lan><if>em1</if><ipaddr>192.168.1.2</ipaddr><subnet>24</subnet></lan>" \
             b"<opt1><if>em2</if><ipaddr>10.10.10.1</ipaddr><subnet>24</subnet></opt1></interfaces>"


def config(*entries: str):
    body = "".join(f"<config>{e}</config>" for e in entries).encode()
    return build_config(parse_config_bytes(
        b"<pfsense>" + INTERFACES + b"<installedpackages><carp>" + body + b"</carp></installedpackages></pfsense>"))


def all_argv(backend: str, cfg):
    return [step.argv for step in get_backend(backend).boot_plan(cfg).steps]


def test_defect_01_advskew_is_its_own_keyword_not_glued_to_the_vhid():
    cfg = config("<ipaddress>192.168.1.1</ipaddress><vhid>1</vhid><advskew>0</advskew>")
    for backend in ("freebsd", "freebsd-legacy"):
        vhid_line = next(a for a in all_argv(backend, cfg) if "vhid" in a and "advskew" in a)
        assert vhid_line[vhid_line.index("vhid") + 1] == "1"
        assert vhid_line[vhid_line.index("advskew") + 1] == "0"
        assert "10" not in vhid_line


def test_defect_02_password_does_not_leak_into_the_next_vip():
    cfg = config("<ipaddress>192.168.1.1</ipaddress><vhid>1</vhid><password>first</password>",
                 "<ipaddress>192.168.1.3</ipaddress><vhid>2</vhid>")
    for backend in ("freebsd", "freebsd-legacy"):
        second = [a for a in all_argv(backend, cfg) if "vhid" in a and "2" in a and "advskew" in a]
        assert second and all("pass" not in a and "first" not in a for a in second)


def test_defect_03_checkboxes_stored_as_on_take_effect():
    cfg = config("<ipaddress>192.168.1.1</ipaddress><premption>on</premption><balancing>on</balancing>")
    argv = all_argv("freebsd-legacy", cfg)
    assert ("sysctl", "net.inet.carp.preempt=1") in argv
    assert ("sysctl", "net.inet.carp.arpbalance=1") in argv


def test_defect_04_the_misspelt_premption_field_sets_preempt():
    assert config("<ipaddress>192.168.1.1</ipaddress><premption>on</premption>").preempt
    assert config("<ipaddress>192.168.1.1</ipaddress><preempt>on</preempt>").preempt
    assert ("sysctl", "net.inet.carp.preempt=1") in all_argv(
        "freebsd", config("<ipaddress>192.168.1.1</ipaddress><premption>on</premption>"))


def test_defect_05_no_nonexistent_arpbalance_sysctl():
    cfg = config("<ipaddress>192.168.1.1</ipaddress><balancing>on</balancing>")
    modern = get_backend("freebsd").boot_plan(cfg)
    assert not any("arpbalance" in arg for step in modern.steps for arg in step.argv)
    assert any("no ARP balancing" in w for w in modern.warnings)
    legacy = all_argv("freebsd-legacy", cfg)
    assert ("sysctl", "net.inet.carp.arpbalance=1") in legacy
    assert not any("net.inet.arpbalance" in arg for argv in legacy for arg in argv)


def test_defect_06_no_sleep_per_vip():
    cfg = config(*(f"<ipaddress>192.168.1.{i}</ipaddress><vhid>{i}</vhid>" for i in range(3, 40)))
    for backend in ("freebsd", "freebsd-legacy"):
        script = rc_script_text(get_backend(backend), cfg, Paths())
        assert "sleep" not in script
        assert not any(a[0] == "sleep" for a in all_argv(backend, cfg))


def test_defect_07_script_is_private_and_passwords_cannot_inject(root, tmp_path):
    config_xml = root / "conf" / "config.xml"
    config_xml.write_text(config_xml.read_text().replace("lan-secret", "x; touch PWNED"))
    assert sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0})).code == 0
    script = root / "usr/local/etc/rc.d/carp.sh"
    assert oct(script.stat().st_mode & 0o777) == "0o700"
    assert "'x; touch PWNED'" in script.read_text()
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0


def test_defect_08_pfsync_always_names_its_device():
    problems = run_cli(["--config", "/dev/null", "validate"])  # sanity: empty file is an error, not a crash
    assert problems.code == 3
    from carp_pkg.validate import check
    raw = parse_config_bytes(b"<pfsense>" + INTERFACES + b"<installedpackages><carp><config>"
                             b"<ipaddress>192.168.1.1</ipaddress><pfsync>on</pfsync></config></carp>"
                             b"</installedpackages></pfsense>")
    assert [str(p) for p in check(raw)[1]] == [
        "config[0].synciface: pfsync is on but no sync interface is set (the original wrote `syncif` with no device)"]
    cfg = config("<ipaddress>192.168.1.1</ipaddress><pfsync>on</pfsync><synciface>opt1</synciface>")
    pfsync = [a for a in all_argv("freebsd", cfg) if a[1] == "pfsync0"]
    assert pfsync == [("ifconfig", "pfsync0", "syncdev", "em2", "-syncpeer", "-defer", "up")]


def test_defect_09_resync_changes_only_what_differs_and_removes_what_left(root):
    assert sync(root, host_runner(BARE_HOST, {"net.inet.carp.preempt": 0})).code == 0
    unchanged = host_runner(SEED_RUNNING, SYSCTLS)
    sync(root, unchanged)
    assert unchanged.mutating_calls == []
    config_xml = root / "conf" / "config.xml"
    text = config_xml.read_text()
    config_xml.write_text(text[:text.index("<config>", text.index("<config>") + 1)] + "</carp></installedpackages></pfsense>")
    removed = host_runner(SEED_RUNNING, SYSCTLS)
    assert sync(root, removed).code == 0
    assert removed.mutating_calls == [("ifconfig", "em0", "inet", "203.0.113.1", "-alias")]
    stop = get_backend("freebsd").stop_plan(config("<ipaddress>192.168.1.1</ipaddress>"))
    assert [s.argv for s in stop.steps] == [("ifconfig", "em1", "inet", "192.168.1.1", "-alias")]


def test_defect_10_bad_config_lock_timeout_and_failed_commands_are_never_silent(root):
    config_xml = root / "conf" / "config.xml"
    original = config_xml.read_text()
    config_xml.write_text(original.replace("<vhid>1</vhid>", "<vhid>300</vhid>"))
    assert sync(root, host_runner(BARE_HOST)).code == 3
    config_xml.write_text(original)
    failing = host_runner(BARE_HOST, fail=lambda a: Result(1, "", "ifconfig: ioctl (SIOCSVH): Invalid argument")
                          if "vhid" in a else None)
    result = sync(root, failing)
    assert result.code == 5 and "SIOCSVH" in result.err
