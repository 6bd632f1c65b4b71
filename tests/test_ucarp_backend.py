"""The Linux ucarp backend: what it refuses, what it plans against what runs, and how it reads the host."""

import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg.backends.ucarp import (
    START_LABEL, STOP_LABEL, STOPPED, InstanceFiles, ObservedInstance, Ucarp, UcarpRunning, UcarpVhid, _int_option,
    assemble, down_script, failover_bound, instance_dir, master_down_bound, parse_instance_name, parse_ip_addr_json,
    parse_pid, parse_state_file, process_alive, record_text, scripts_digest, source_address, start_step, stop_argv,
    ucarp_argv, up_script,
)
from carp_pkg.errors import EnvironmentProblem
from carp_pkg.fingerprint import password_digest
from carp_pkg.model import CarpConfig, VirtualIP
from carp_pkg.plan import PlannedFile

STATE = "/lab/a/var/db/carp-pkg"
DIR = instance_dir(STATE)
SALT = "0123456789abcdef"
HOST = (("eth0", ipaddress.ip_interface("192.168.1.2/24")), ("eth1", ipaddress.ip_interface("10.0.0.2/24")))


def vip(address="192.168.1.1/24", vhid=1, interface="eth0", advskew=0, advbase=1, password="lan-secret",
        preempt=False, **kw):
    return VirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vhid, advbase=advbase,
                     advskew=advskew, password=password, preempt=preempt, **kw)


def config(*vips):
    return CarpConfig(vips=tuple(vips))


def running_after(cfg, host=HOST, pid_base=4000):
    """The host as it is once `cfg` was applied: one live ucarp per vhid, the scripts on disk, digests recorded."""
    vhids = []
    for number, group in enumerate(cfg.groups()):
        files = InstanceFiles(DIR, group.interface, group.vhid)
        argv = ucarp_argv(group, source_address(group, host), files, cfg.preempt)
        vhids.append(UcarpVhid(interface=group.interface, vhid=group.vhid, state="BACKUP", advbase=group.advbase,
                               advskew=group.advskew, addresses=group.addresses, pid=pid_base + number,
                               secret_digest=password_digest(SALT, group.password), argv=argv,
                               scripts=scripts_digest(up_script(files), down_script(files))))
    return UcarpRunning(vhids=tuple(vhids), interfaces=("lo", "eth0", "eth1"), host_addresses=host,
                        password_salt=SALT, state_dir=STATE)


def fresh_host():
    return UcarpRunning(interfaces=("lo", "eth0", "eth1"), host_addresses=HOST, password_salt=SALT, state_dir=STATE)


def ucarp_started(step):
    """The ucarp argv inside a start step (after `sh -c SNIPPET LABEL PIDFILE`)."""
    assert step.argv[:2] == ("/bin/sh", "-c") and step.argv[3] == START_LABEL
    return step.argv[6:]


def option(argv, flag):
    return argv[argv.index(flag) + 1]


# --- what ucarp cannot do --------------------------------------------------------------------------

def test_a_plain_ipv4_config_has_no_problems():
    assert Ucarp().problems(config(vip(), vip("10.0.0.1/24", vhid=2, interface="eth1"))) == []


def test_ipv6_is_refused_with_the_reason():
    problems = Ucarp().problems(config(vip(), vip("2001:db8::1/64", vhid=2)))
    assert [p.where for p in problems] == ["config[1].ipaddress"]
    assert "IPv4 only" in problems[0].message and "2001:db8::1" in problems[0].message


def test_more_than_one_address_per_vhid_is_refused():
    problems = Ucarp().problems(config(vip("192.168.1.1/24"), vip("192.168.1.10/24")))
    assert len(problems) == 1
    assert "exactly one address per vhid" in problems[0].message and "192.168.1.10/24" in problems[0].message


def test_a_vhid_without_password_is_refused_because_ucarp_will_not_start():
    problems = Ucarp().problems(config(vip(password="")))
    assert [p.where for p in problems] == ["config[0].password"]
    assert "refuses to run without one" in problems[0].message


def test_a_linux_device_name_cannot_hold_a_colon_so_validate_agrees_with_sync():
    [problem] = Ucarp().problems(config(vip(interface="eth1:1")))
    assert problem.where == "config[0].interface" and "address label" in problem.message


def test_one_address_on_two_vhids_needs_arp_balancing_which_ucarp_lacks():
    problems = Ucarp().problems(config(vip(vhid=1, balancing=True), vip(vhid=2, balancing=True)))
    assert any("no ARP load balancing" in p.message for p in problems)


def test_pfsync_and_balancing_are_reported_as_ignored():
    from carp_pkg.model import PfsyncSettings
    cfg = replace(config(vip(balancing=True)), pfsync=PfsyncSettings(syncdev="eth1"))
    warnings = Ucarp().plan(cfg, fresh_host()).warnings
    assert any("pfsync" in w for w in warnings) and any("ARP balancing" in w for w in warnings)


# --- planning a fresh host -------------------------------------------------------------------------

def test_fresh_host_gets_files_and_one_start_per_vhid():
    plan = Ucarp().plan(config(vip(), vip("10.0.0.1/24", vhid=2, interface="eth1", advskew=100)), fresh_host())
    assert len(plan.steps) == 2
    first = ucarp_started(plan.steps[0])
    assert first == ("ucarp", "-i", "eth0", "-s", "192.168.1.2", "-v", "1", "-o", f"{DIR}/eth0-vhid1.pass",
                     "-a", "192.168.1.1", "-b", "1", "-k", "0", "-x", "24",
                     "-u", f"{DIR}/eth0-vhid1.up", "-d", f"{DIR}/eth0-vhid1.down", "-z")
    second = ucarp_started(plan.steps[1])
    assert option(second, "-s") == "10.0.0.2" and option(second, "-k") == "100"
    assert plan.steps[0].argv[4:6] == (f"{DIR}/eth0-vhid1.pid", f"{DIR}/eth0-vhid1.log")  # pid and stderr kept


def test_password_only_in_a_0600_file_never_on_a_command_line():
    plan = Ucarp().plan(config(vip(password="s3cr3t-pw")), fresh_host())
    assert all("s3cr3t-pw" not in " ".join(step.argv) for step in plan.steps)
    (password_file,) = [f for f in plan.files if f.path.endswith(".pass")]
    assert password_file == PlannedFile(f"{DIR}/eth0-vhid1.pass", "s3cr3t-pw\n", 0o600, secret=True)
    assert "s3cr3t-pw" not in json.dumps(plan.to_json())
    assert all(f.mode == 0o700 for f in plan.files if f.path.endswith((".up", ".down")))
    assert all("s3cr3t-pw" not in f.content for f in plan.files if not f.secret)


def test_preempt_adds_dash_p():
    plan = Ucarp().plan(config(vip(preempt=True)), fresh_host())
    assert "-P" in ucarp_started(plan.steps[0])
    assert "-P" not in ucarp_started(Ucarp().plan(config(vip()), fresh_host()).steps[0])


def test_source_address_is_the_interface_own_address_in_the_vip_subnet_never_the_vip():
    host = (("eth0", ipaddress.ip_interface("172.16.0.9/16")), ("eth0", ipaddress.ip_interface("192.168.1.1/24")),
            ("eth0", ipaddress.ip_interface("192.168.1.7/24")), ("eth0", ipaddress.ip_interface("fe80::1/64")))
    group = config(vip("192.168.1.1/24")).groups()[0]
    assert source_address(group, host) == "192.168.1.7"
    assert source_address(group, host[:2]) == "172.16.0.9"  # no address in the subnet: the interface's first
    assert source_address(group, host[3:]) is None


def test_an_interface_without_ipv4_address_is_a_clear_environment_problem():
    with pytest.raises(EnvironmentProblem, match="eth0 has no IPv4 address of its own"):
        Ucarp().plan(config(vip()), replace(fresh_host(), host_addresses=HOST[1:]))


def test_a_missing_interface_is_named():
    with pytest.raises(EnvironmentProblem, match="eth7 does not exist"):
        Ucarp().plan(config(vip(interface="eth7")), fresh_host())


def test_the_state_dir_comes_from_what_read_running_saw():
    plan = Ucarp(state_dir="/var/db/carp-pkg").plan(config(vip()), replace(fresh_host(), state_dir="/elsewhere"))
    assert all(f.path.startswith("/elsewhere/ucarp/") for f in plan.files)


# --- reconciling -------------------------------------------------------------------------------------

TWO = config(vip(), vip("10.0.0.1/24", vhid=2, interface="eth1", advskew=100))


def test_unchanged_config_plans_nothing():
    assert Ucarp().plan(TWO, running_after(TWO)).is_empty


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 255), st.integers(0, 254), st.integers(1, 5), st.booleans(),
                          st.text("abcxyz", min_size=1, max_size=19)),
                min_size=0, max_size=6, unique_by=lambda t: t[0]))
def test_any_applied_config_plans_nothing_on_the_next_sync(entries):
    cfg = config(*(vip(f"192.168.1.{100 + vhid % 100}/24" if vhid < 100 else f"10.0.{vhid}.1/16", vhid=vhid,
                       advskew=skew, advbase=base, preempt=pre, password=pw,
                       interface="eth0" if vhid < 100 else "eth1")
                   for vhid, skew, base, pre, pw in entries))
    assert Ucarp().plan(cfg, running_after(cfg)).is_empty


def test_changed_advskew_restarts_only_that_vhid():
    changed = config(vip(), vip("10.0.0.1/24", vhid=2, interface="eth1", advskew=200))
    plan = Ucarp().plan(changed, running_after(TWO))
    stop, start = plan.steps
    assert stop.argv == stop_argv(InstanceFiles(DIR, "eth1", 2))
    assert "advskew 100 -> 200" in stop.why
    assert option(ucarp_started(start), "-k") == "200" and option(ucarp_started(start), "-v") == "2"
    assert {f.path.rsplit("/", 1)[1].split(".")[0] for f in plan.files} == {"eth1-vhid2"}
    assert not plan.removed_files


def test_a_restart_can_be_undone_by_starting_the_old_command_line():
    changed = config(vip(advskew=50), TWO.vips[1])
    stop = Ucarp().plan(changed, running_after(TWO)).steps[0]
    assert option(stop.undo, "-k") == "0" and stop.undo[3] == START_LABEL


def test_password_change_restarts_only_that_vhid_and_the_digest_keeps_it_stable():
    changed = config(replace(TWO.vips[0], password="new-secret"), TWO.vips[1])
    plan = Ucarp().plan(changed, running_after(TWO))
    assert [s.why for s in plan.steps][0].endswith("password changed")
    assert len(plan.steps) == 2 and option(ucarp_started(plan.steps[1]), "-v") == "1"
    assert [f.content for f in plan.files if f.secret] == ["new-secret\n"]
    assert Ucarp().plan(changed, running_after(changed)).is_empty


def test_without_a_remembered_digest_the_password_cannot_be_trusted_and_the_vhid_restarts():
    running = running_after(TWO)
    running = replace(running, vhids=(replace(running.vhids[0], secret_digest=None), running.vhids[1]))
    plan = Ucarp().plan(TWO, running)
    assert len(plan.steps) == 2 and "password changed" in plan.steps[0].why


def test_maintenance_mode_restarts_each_vhid_at_advskew_254():
    plan = Ucarp().plan(TWO.in_maintenance(), running_after(TWO))
    started = [ucarp_started(s) for s in plan.steps if s.argv[3] == START_LABEL]
    assert [option(a, "-k") for a in started] == ["254", "254"]


def test_changed_address_prefix_or_preempt_restarts():
    for changed in (config(vip("192.168.1.5/24"), TWO.vips[1]), config(vip("192.168.1.1/25"), TWO.vips[1]),
                    config(vip(preempt=True), TWO.vips[1])):
        plan = Ucarp().plan(changed, running_after(TWO))
        # preempt is host-wide (like net.inet.carp.preempt): turning it on restarts both
        assert plan.steps and all(s.argv[3] in (START_LABEL, STOP_LABEL) for s in plan.steps)


def test_removed_vhid_is_stopped_and_its_files_removed():
    plan = Ucarp().plan(config(TWO.vips[0]), running_after(TWO))
    (stop,) = plan.steps
    assert stop.argv == stop_argv(InstanceFiles(DIR, "eth1", 2)) and "no longer in config.xml" in stop.why
    assert set(plan.removed_files) == set(InstanceFiles(DIR, "eth1", 2).all())


def test_empty_config_stops_everything():
    plan = Ucarp().plan(CarpConfig(), running_after(TWO))
    assert [s.argv[3] for s in plan.steps] == [STOP_LABEL, STOP_LABEL]
    assert len(plan.removed_files) == 14 and not plan.files


def test_a_dead_ucarp_that_left_its_vip_behind_gets_the_address_removed():
    running = running_after(TWO)
    dead = replace(running.vhids[1], pid=None, state=STOPPED, held=(ipaddress.ip_interface("10.0.0.1/24"),))
    plan = Ucarp().plan(config(TWO.vips[0]), replace(running, vhids=(running.vhids[0], dead)))
    assert [s.argv for s in plan.steps] == [("ip", "addr", "del", "10.0.0.1/24", "dev", "eth1")]
    assert plan.steps[0].undo == ("ip", "addr", "add", "10.0.0.1/24", "dev", "eth1")


def test_a_configured_vhid_whose_ucarp_died_is_started_again():
    running = running_after(TWO)
    dead = replace(running.vhids[0], pid=None, state=STOPPED)
    plan = Ucarp().plan(TWO, replace(running, vhids=(dead, running.vhids[1])))
    assert [s.argv[3] for s in plan.steps] == [START_LABEL]


def test_new_scripts_are_rewritten_without_a_restart():
    running = running_after(TWO)
    old = replace(running.vhids[0], scripts="from-an-older-carp-pkg")
    plan = Ucarp().plan(TWO, replace(running, vhids=(old, running.vhids[1])))
    assert not plan.steps
    assert sorted(f.path for f in plan.files) == [f"{DIR}/eth0-vhid1.down", f"{DIR}/eth0-vhid1.up"]


def test_stop_plan_stops_each_vhid_by_pid_file():
    plan = Ucarp(state_dir=STATE).stop_plan(TWO)
    assert [s.argv[4:] for s in plan.steps] == [(f"{DIR}/eth0-vhid1.pid", f"{DIR}/eth0-vhid1.pass"),
                                                (f"{DIR}/eth1-vhid2.pid", f"{DIR}/eth1-vhid2.pass")]


def test_boot_plan_without_known_addresses_explains_instead_of_failing():
    plan = Ucarp().boot_plan(TWO)
    assert not plan.steps and "run `carp-pkg sync` at boot" in plan.warnings[0]


# --- timing facts ------------------------------------------------------------------------------------

def test_master_down_bound_triples_the_skew_and_failover_adds_the_capture_timeout():
    assert master_down_bound(1, 100) == pytest.approx(4.1719, abs=1e-3)
    assert failover_bound(1, 100) == pytest.approx(5.1719, abs=1e-3)
    assert master_down_bound(2, 0) == 6


# --- reading the host --------------------------------------------------------------------------------

IP_JSON = json.dumps([
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.1.2", "prefixlen": 24},
                                     {"family": "inet", "local": "192.168.1.1", "prefixlen": 24},
                                     {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
])


def observed(argv, pid="4242", cmdline=None, status="State:\tS (sleeping)\n", state="MASTER 1795608491.820736833\n"):
    files = InstanceFiles(DIR, "eth0", 1)
    return ObservedInstance("eth0", 1, record=record_text(argv), pid=pid,
                            cmdline=("\0".join(argv) + "\0") if cmdline is None else cmdline,
                            proc_status=status, state=state, up=up_script(files), down=down_script(files))


NOW = 1795608500.0
ARGV = ucarp_argv(config(vip()).groups()[0], "192.168.1.2", InstanceFiles(DIR, "eth0", 1), False)


def test_parse_ip_addr_json():
    names, addresses = parse_ip_addr_json(IP_JSON)
    assert names == ("lo", "eth0")
    assert ("eth0", ipaddress.ip_interface("fe80::1/64")) in addresses and len(addresses) == 4
    assert parse_ip_addr_json("not json") == ((), ())


def test_a_live_master_is_read_with_its_state_time_and_held_vip():
    running = assemble([observed(ARGV)], IP_JSON, STATE, NOW)
    (vhid,) = running.vhids
    assert (vhid.interface, vhid.vhid, vhid.state, vhid.pid, vhid.advbase, vhid.advskew) == ("eth0", 1, "MASTER", 4242, 1, 0)
    assert vhid.addresses == vhid.held == (ipaddress.ip_interface("192.168.1.1/24"),)
    assert vhid.since == pytest.approx(1795608491.8207)
    # the VIP is not one of the host's own addresses
    assert ("eth0", ipaddress.ip_interface("192.168.1.1/24")) not in running.host_addresses
    assert ("eth0", ipaddress.ip_interface("192.168.1.2/24")) in running.host_addresses


def test_a_pid_now_used_by_another_program_is_not_our_ucarp():
    (vhid,) = assemble([observed(ARGV, cmdline="sshd\0-D\0")], IP_JSON, STATE, NOW).vhids
    assert vhid.state == STOPPED and vhid.pid is None and vhid.since is None


def test_a_zombie_counts_as_stopped():
    assert not process_alive("Name:\tucarp\nState:\tZ (zombie)\n")
    assert process_alive("Name:\tucarp\nState:\tS (sleeping)\n")
    (vhid,) = assemble([observed(ARGV, status="State:\tZ (zombie)\n")], IP_JSON, STATE, NOW).vhids
    assert vhid.state == STOPPED


def test_running_without_a_recorded_state_yet_is_init():
    (vhid,) = assemble([observed(ARGV, state=None)], IP_JSON, STATE, NOW).vhids
    assert vhid.state == "INIT" and vhid.pid == 4242


def _local(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch)) + ".250000"


def test_a_peer_with_another_password_shows_as_a_fresh_bad_digest_in_the_log():
    bad = (f"{_local(NOW - 2)}: [WARNING] Bad digest - md2=[1a2b3c4d...] md=[5e6f7a8b...] - "
           "Check vhid, password and virtual IP address\n")
    (vhid,) = assemble([replace(observed(ARGV), log_tail=bad)], IP_JSON, STATE, NOW).vhids
    assert vhid.peer_mismatch
    (vhid,) = assemble([replace(observed(ARGV), log_tail=bad)], IP_JSON, STATE, NOW + 60).vhids
    assert not vhid.peer_mismatch  # the peer was fixed a minute ago


def test_the_last_error_explains_a_stopped_instance():
    log = f"{_local(NOW - 5)}: [ERROR] Unable to open interface [eth9]: eth9: No such device exists\n"
    (vhid,) = assemble([replace(observed(ARGV, status=None), log_tail=log)], IP_JSON, STATE, NOW).vhids
    assert vhid.state == STOPPED and vhid.last_error == "Unable to open interface [eth9]: eth9: No such device exists"


class FakeSystem:
    """The boundary: files and `ip -j addr` as a host would show them."""

    def __init__(self, files, ip_json):
        self.files, self.ip_json, self.reads = files, ip_json, []

    def read_text(self, path):
        self.reads.append(path)
        return self.files.get(path)

    def list_dir(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.files if p.startswith(prefix) and "/" not in p[len(prefix):])

    def capture(self, argv, check=True):
        if argv[0] == "tail":
            return self.files.get(argv[-1]) or ""
        assert argv == ("ip", "-j", "addr", "show")
        return self.ip_json


def test_read_running_follows_pid_files_into_proc():
    from carp_pkg.paths import Paths
    paths = Paths(root="/lab/a")
    files = InstanceFiles(instance_dir(paths.state_dir), "eth0", 1)
    argv = ucarp_argv(config(vip()).groups()[0], "192.168.1.2", files, False)
    system = FakeSystem({files.record: record_text(argv), files.pid: "4242\n", files.state: "BACKUP 17\n",
                         files.up: up_script(files), files.down: down_script(files),
                         "/proc/4242/cmdline": "\0".join(argv) + "\0", "/proc/4242/status": "State:\tS\n",
                         files.password: "never-read\n"}, IP_JSON)
    running = Ucarp().read_running(system, paths)
    (vhid,) = running.vhids
    assert (vhid.state, vhid.pid, vhid.since) == ("BACKUP", 4242, 17.0)
    assert running.state_dir == paths.state_dir
    assert files.password not in system.reads  # the password stays in its file
    assert Ucarp().plan(config(vip()), replace(running, password_salt=SALT)).steps[0].argv[3] == STOP_LABEL  # no digest


# --- the generated shell really works ---------------------------------------------------------------

def run_script(text, tmp_path, *args):
    path = tmp_path / "script"
    path.write_text(text)
    path.chmod(0o700)
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("make, word", [(up_script, "MASTER"), (down_script, "BACKUP")])
def test_scripts_record_the_state_with_a_timestamp_even_when_ip_fails(make, word, tmp_path):
    state_dir = tmp_path / "a root with spaces"
    state_dir.mkdir()
    files = InstanceFiles(str(state_dir), "carp-no-such", 9)
    before = time.time()
    result = run_script(make(files), tmp_path, "carp-no-such", "192.0.2.1", "24")
    assert result.returncode == 0, result.stderr
    state, since = (state_dir / "carp-no-such-vhid9.state").read_text().split()
    assert state == word and before - 1 <= float(since) <= time.time() + 1


def test_start_records_the_real_pid_and_stop_waits_until_it_is_gone(tmp_path):
    files = InstanceFiles(str(tmp_path), "test0", 3)
    marker = str(tmp_path / "test0-vhid3.pass")  # the stop step only kills a process naming our password file
    sleeper = (sys.executable, "-c", "import time; time.sleep(60)", marker)
    step = start_step(sleeper, files, "test")
    subprocess.run(step.argv, check=True, timeout=10)
    pid = int((tmp_path / "test0-vhid3.pid").read_text())
    deadline = time.time() + 5
    while time.time() < deadline and marker not in open(f"/proc/{pid}/cmdline").read():
        time.sleep(0.01)  # setsid execs in place: the recorded pid is the program itself
    assert marker in open(f"/proc/{pid}/cmdline").read()
    subprocess.run(stop_argv(files), check=True, timeout=10)
    assert not process_alive(_status(pid))


def test_stop_leaves_a_stranger_with_a_stale_pid_alone(tmp_path):
    files = InstanceFiles(str(tmp_path), "test0", 4)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "test0-vhid4.pid").write_text(f"{stranger.pid}\n")
        subprocess.run(stop_argv(files), check=True, timeout=10)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _status(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


# --- numbers in the files ucarp's state dir holds: ASCII digits only ----------------------------------------------

@pytest.mark.parametrize("word", ["²", "1²", "٣", "１２", "9" * 5000])
def test_unicode_digits_are_no_numbers_in_ucarps_files(word):
    assert parse_pid(word) is None
    assert parse_instance_name(f"eth0-vhid{word}.json") is None
    assert parse_state_file(f"MASTER {word}.5x") == ("MASTER", None)
    assert _int_option(["ucarp", "-k", word], "-k") == 0
    assert parse_pid("4242\n") == 4242 and parse_instance_name("eth0-vhid7.json") == ("eth0", 7)


def test_a_unicode_digit_in_a_ucarp_pid_or_state_file_crashes_no_status(tmp_path):
    from carp_pkg.paths import Paths
    from carp_pkg.system import RecordingRunner, Result, System
    paths = Paths(str(tmp_path))
    files = InstanceFiles(instance_dir(paths.state_dir), "eth0", 1)
    os.makedirs(files.directory)
    for path, text in ((files.record, record_text(ARGV)), (files.pid, "²\n"), (files.state, "MASTER ²\n"),
                       (os.path.join(files.directory, "eth0-vhid².json"), record_text(ARGV))):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    system = System(RecordingRunner(respond=lambda argv: Result(0, IP_JSON, "")), paths, use_sysctl_library=False)
    (vhid,) = Ucarp().read_running(system, paths).vhids
    assert (vhid.vhid, vhid.pid, vhid.state) == (1, None, STOPPED)
