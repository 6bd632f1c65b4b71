"""Issue 7.2: faults injected at the machine boundary (the Runner, the lock, the file system).

Step k of N fails, for every k: the apply stops, the finished steps are undone in reverse, and every change
that stays on the host is named in the message. The lock held elsewhere, /cf staying read-only, a full disk
and a SIGKILL in the middle of the script write leave the previous rc script intact."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import time

import pytest

from carp_pkg.errors import EnvironmentProblem
from carp_pkg import system as carp_system
from carp_pkg.system import Result

from tests.helpers import TESTS, run_cli
from tests.reliability.figures import FAULTS, FIGURES
from tests.reliability.sandbox import (PREVIOUS_SCRIPT, RC_SCRIPT, FaultyRunner, changed_facts, firewall_root,
                                       host_facts, mentioned, read_script, snapshot, stand_in)

PROJECT = os.path.dirname(TESTS)
INTERFACES = """<interfaces>
	<wan><if>em0</if><ipaddr>198.51.100.2</ipaddr><subnet>24</subnet></wan>
	<lan><if>em1</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan>
	<opt1><descr>SYNC</descr><if>em2</if><ipaddr>172.16.0.1</ipaddr><subnet>30</subnet></opt1>
</interfaces>"""


def config_xml(*entries: str) -> str:
    body = "".join(f"<config>{e}</config>" for e in entries)
    return f"<?xml version=\"1.0\"?>\n<pfsense>{INTERFACES}<installedpackages><carp>{body}</carp></installedpackages></pfsense>\n"


FIRST = config_xml(
    "<interface>wan</interface><ipaddress>198.51.100.1</ipaddress><vhid>10</vhid><password>wan-pw</password>"
    "<preempt>on</preempt><pfsync>on</pfsync><synciface>opt1</synciface>",
    "<interface>wan</interface><ipaddress>2001:db8:100::1</ipaddress><netmask>64</netmask><vhid>10</vhid>"
    "<password>wan-pw</password>",
    "<interface>lan</interface><ipaddress>10.0.0.1</ipaddress><vhid>20</vhid><advskew>100</advskew>"
    "<advbase>2</advbase><password>lan-pw</password>",
)
SECOND = config_xml(  # vhid 10 re-skewed and its IPv6 VIP gone, vhid 20 gone, vhid 30 new, pfsync off
    "<interface>wan</interface><ipaddress>198.51.100.1</ipaddress><vhid>10</vhid><advskew>50</advskew>"
    "<password>wan-pw</password><preempt>on</preempt>",
    "<interface>wan</interface><ipaddress>198.51.100.3</ipaddress><vhid>10</vhid><advskew>50</advskew>"
    "<password>wan-pw</password>",
    "<interface>opt1</interface><ipaddress>172.16.0.2</ipaddress><netmask>30</netmask><vhid>30</vhid>"
    "<password>sync-pw</password>",
)
PASSWORDS = ("wan-pw", "lan-pw", "sync-pw")


class Firewall:
    """A root with config.xml, and the stand-in kernel, rebuilt identically for every injected fault."""

    def __init__(self, tmp_path, scenario: str):
        self.root = firewall_root(tmp_path / "root", previous_script=PREVIOUS_SCRIPT)
        self.config = os.path.join(self.root, "conf", "config.xml")
        os.makedirs(os.path.dirname(self.config))
        self.fake = stand_in()
        if scenario == "changed":
            self.write_config(FIRST)
            assert self.sync(FaultyRunner(self.fake)).code == 0
        self.write_config(FIRST if scenario == "fresh" else SECOND)

    def write_config(self, text: str) -> None:
        with open(self.config, "w") as handle:
            handle.write(text)

    def sync(self, runner, *extra):
        return run_cli(["--root", self.root, "sync", "--backend", "freebsd", *extra], runner=runner)


def planned_steps(tmp_path, scenario):
    """N: how many mutating steps the sync of this scenario issues when nothing fails."""
    firewall = Firewall(tmp_path / "count", scenario)
    runner = FaultyRunner(firewall.fake)
    assert firewall.sync(runner).code == 0
    return len(runner.mutating_calls)


STEPS = {"fresh": 7, "changed": 7}  # N per scenario; test_every_step_is_covered checks it did not drift


def step_cases():
    return [(scenario, k, undo_fails) for scenario, n in STEPS.items()
            for k in range(1, n + 1) for undo_fails in (False, True)]


@pytest.mark.parametrize("scenario", sorted(STEPS))
def test_every_step_is_covered(scenario, tmp_path):
    assert planned_steps(tmp_path, scenario) == STEPS[scenario]


@pytest.mark.parametrize("scenario, k, undo_fails", step_cases(),
                         ids=[f"{s}-step{k}{'-undo-fails' if u else ''}" for s, k, u in step_cases()])
def test_step_k_of_n_fails(scenario, k, undo_fails, tmp_path):
    with FIGURES.case(FAULTS):
        n = STEPS[scenario]
        firewall = Firewall(tmp_path, scenario)
        before = host_facts(firewall.fake)
        files_before = snapshot(firewall.root)
        script_before = read_script(firewall.root)
        runner = FaultyRunner(firewall.fake, failing={k, k + 1} if undo_fails else {k})

        result = firewall.sync(runner)

        assert result.code == 5, result.err
        assert f"step {k} of {n} failed" in result.err and "Device busy (injected)" in result.err
        assert "rolled back" in result.err and f"of the {k - 1} finished steps" in result.err
        assert "Traceback" not in result.err and not any(p in result.err for p in PASSWORDS)
        # the finished steps were undone in reverse order, right after the failure
        undo_calls = runner.mutating_calls[k:]
        assert len(undo_calls) <= k - 1
        # the rc script and carp-pkg's record are the previous ones
        assert read_script(firewall.root) == script_before
        assert snapshot(firewall.root) == files_before
        # whatever stays different on the host is named in the message
        left = changed_facts(before, host_facts(firewall.fake))
        unexplained = [fact for fact in left if not mentioned(fact, result.err)]
        assert unexplained == [], result.err
        if "the host is back in its previous state" in result.err:
            assert left == []
        if undo_fails and k > 1:
            assert "undo failed" in result.err or "not undone" in result.err


def _target(argv) -> tuple:
    """What a command acts on: (tool, interface or sysctl name, addresses and numbers it names)."""
    if argv[0] == "sysctl":
        return ("sysctl", argv[1].split("=")[0], frozenset())
    keywords = {"inet", "inet6", "alias", "-alias", "vhid", "advskew", "advbase", "prefixlen", "pass", "up", "down"}
    named = frozenset(w.split("/")[0] for w in argv[2:] if w not in keywords)
    return ("ifconfig", argv[1], named if argv[1] != "pfsync0" else frozenset())


def undoes(undo, step) -> bool:
    tool, target, named = _target(undo)
    step_tool, step_target, step_named = _target(step)
    return (tool, target) == (step_tool, step_target) and (not named or bool(named & step_named))


def test_undo_runs_in_reverse_order_of_the_steps(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "changed")
        last = STEPS["changed"]
        runner = FaultyRunner(firewall.fake, failing={last})
        assert firewall.sync(runner).code == 5
        done, undo = runner.mutating_calls[:last - 1], runner.mutating_calls[last:]
        reverted = []
        for call in undo:
            matches = [i for i, step in enumerate(done) if undoes(call, step)]
            assert matches, f"{call} undoes no earlier step"
            reverted.append(max(matches))
        assert reverted and reverted == sorted(reverted, reverse=True)


def test_reading_the_running_state_fails(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "fresh")

        class ListingFails(FaultyRunner):
            def _execute(self, argv, *, mutating, input):
                if argv == ("ifconfig",):
                    return Result(1, "", "ifconfig: socket: Protocol not supported\n")
                return super()._execute(argv, mutating=mutating, input=input)

        runner = ListingFails(firewall.fake)
        files_before = snapshot(firewall.root)
        result = firewall.sync(runner)
        assert result.code == 5 and "command failed (exit 1): ifconfig" in result.err
        assert "Protocol not supported" in result.err
        assert runner.mutating_calls == [] and snapshot(firewall.root) == files_before


def test_a_missing_tool_is_an_environment_problem(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "fresh")

        class NoIfconfig(FaultyRunner):
            def _execute(self, argv, *, mutating, input):
                raise EnvironmentProblem(f"command not found: {argv[0]} (is this the right host or --backend?)")

        files_before = snapshot(firewall.root)
        result = firewall.sync(NoIfconfig(firewall.fake))
        assert result.code == 6 and "command not found: ifconfig" in result.err
        assert snapshot(firewall.root) == files_before


# --- the config lock ----------------------------------------------------------------------------------

def hold_lock(path, seconds: float = 30):
    """Another process (the pfSense GUI, another carp-pkg) holding the config lock for a while."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); "
                               "print('locked', flush=True); time.sleep(float(sys.argv[2]))", path, str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.mark.parametrize("timeout", ["0", "0.3"])
def test_lock_held_by_another_process_exits_with_the_lock_code(timeout, tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "fresh")
        holder = hold_lock(os.path.join(firewall.root, "tmp", "config.lock"))
        try:
            runner = FaultyRunner(firewall.fake)
            started = time.monotonic()
            result = firewall.sync(runner, "--lock-timeout", timeout)
            waited = time.monotonic() - started
        finally:
            holder.kill()
            holder.wait()
        assert result.code == 4 and "still held by another process" in result.err
        assert waited >= float(timeout) and waited < float(timeout) + 5
        assert runner.calls == [] and read_script(firewall.root) == PREVIOUS_SCRIPT


def test_lock_released_while_waiting_lets_the_sync_through(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "fresh")
        holder = hold_lock(os.path.join(firewall.root, "tmp", "config.lock"), seconds=0.4)
        try:
            result = firewall.sync(FaultyRunner(firewall.fake), "--lock-timeout", "10")
        finally:
            holder.wait()
        assert result.code == 0, result.err


# --- /cf read-only, full disk: real tmpfs mounts where allowed, the os boundary mocked otherwise ----------

def mount_tmpfs(path, size="64k") -> bool:
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def unmount(path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)
    if os.path.ismount(str(path)):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def rc_dir_tmpfs(tmp_path):
    """ROOT/usr/local/etc/rc.d on its own 64 KiB tmpfs holding the previous script; None when mounting fails."""
    root = tmp_path / "root"
    rc_dir = root / os.path.dirname(RC_SCRIPT)
    if not mount_tmpfs(rc_dir):
        yield None
        return
    try:
        yield rc_dir
    finally:
        unmount(rc_dir)


def nanobsd(firewall) -> None:
    os.makedirs(os.path.join(firewall.root, "etc"), exist_ok=True)
    with open(os.path.join(firewall.root, "etc", "platform"), "w") as handle:
        handle.write("nanobsd\n")


def in_sync(tmp_path) -> "Firewall":
    """A firewall whose host already runs the config, but whose rc script is the old one: the sync only writes."""
    firewall = Firewall(tmp_path, "fresh")
    assert firewall.sync(FaultyRunner(firewall.fake)).code == 0
    with open(os.path.join(firewall.root, RC_SCRIPT), "w") as handle:
        handle.write(PREVIOUS_SCRIPT)
    return firewall


def test_cf_that_cannot_be_remounted_is_a_clear_error_with_nothing_done(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "fresh")
        nanobsd(firewall)
        before, files_before = host_facts(firewall.fake), snapshot(firewall.root)

        class MountFails(FaultyRunner):
            def _execute(self, argv, *, mutating, input):
                if argv[0] == "mount":
                    self.calls.append(argv)
                    return Result(1, "", "mount: /cf: Operation not permitted\n")
                return super()._execute(argv, mutating=mutating, input=input)

        result = firewall.sync(MountFails(firewall.fake))
        assert result.code == 6 and "cannot remount /cf read-write; nothing was written" in result.err
        assert host_facts(firewall.fake) == before and snapshot(firewall.root) == files_before


def read_only_rc_dir(firewall, rc_dir, monkeypatch):
    """The remount says yes but the directory stays read-only: a real ro tmpfs, or EROFS at the os boundary."""
    if rc_dir is not None:
        with open(os.path.join(rc_dir, "carp.sh"), "w") as handle:
            handle.write(PREVIOUS_SCRIPT)
        assert subprocess.run(["mount", "-o", "remount,ro", str(rc_dir)]).returncode == 0
        return
    real_make_temp = carp_system.make_temp_file
    rc_path = os.path.dirname(os.path.join(firewall.root, RC_SCRIPT))

    def make_temp_file(directory, prefix):
        if os.path.abspath(directory) == os.path.abspath(rc_path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_make_temp(directory, prefix)

    monkeypatch.setattr("carp_pkg.system.make_temp_file", make_temp_file)


def test_cf_that_stays_read_only_keeps_the_old_script_and_says_so(tmp_path, rc_dir_tmpfs, monkeypatch):
    with FIGURES.case(FAULTS):
        firewall = in_sync(tmp_path)
        nanobsd(firewall)
        read_only_rc_dir(firewall, rc_dir_tmpfs, monkeypatch)
        runner = FaultyRunner(firewall.fake)
        result = firewall.sync(runner)
        assert result.code == 6, result.err
        assert "Read-only file system" in result.err and "the previous file is unchanged" in result.err
        assert read_script(firewall.root) == PREVIOUS_SCRIPT
        assert os.listdir(os.path.dirname(os.path.join(firewall.root, RC_SCRIPT))) == ["carp.sh"]
        assert [c for c in runner.mutating_calls if c[0] == "mount"] == [
            ("mount", "-u", "-w", "-o", "sync,noatime", "/cf"), ("mount", "-u", "-r", "/cf")]
        assert not any(c[0] == "ifconfig" for c in runner.mutating_calls)


def fill(directory) -> None:
    """Fill the file system holding directory up to the last byte."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert os.statvfs(directory).f_bavail == 0


def test_disk_full_keeps_the_old_script(tmp_path, rc_dir_tmpfs, monkeypatch):
    with FIGURES.case(FAULTS):
        firewall = in_sync(tmp_path)
        rc_dir = os.path.dirname(os.path.join(firewall.root, RC_SCRIPT))
        if rc_dir_tmpfs is not None:
            with open(os.path.join(rc_dir, "carp.sh"), "w") as handle:
                handle.write(PREVIOUS_SCRIPT)
            fill(rc_dir)
        else:
            real_fsync = os.fsync

            def fsync(fd):
                if os.path.dirname(os.readlink(f"/proc/self/fd/{fd}")) == os.path.abspath(rc_dir):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real_fsync(fd)

            monkeypatch.setattr("carp_pkg.system.os.fsync", fsync)
        result = firewall.sync(FaultyRunner(firewall.fake))
        assert result.code == 6 and "the disk is full" in result.err and "the previous file is unchanged" in result.err
        assert read_script(firewall.root) == PREVIOUS_SCRIPT
        assert sorted(os.listdir(rc_dir)) in (["carp.sh"], ["carp.sh", "filler"])


def test_disk_full_mocked_at_the_write_boundary_keeps_the_old_script(tmp_path, monkeypatch):
    """The same as above where no tmpfs can be mounted, and on every machine: ENOSPC from fsync."""
    with FIGURES.case(FAULTS):
        firewall = in_sync(tmp_path)
        rc_dir = os.path.dirname(os.path.join(firewall.root, RC_SCRIPT))

        def fsync(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr("carp_pkg.system.os.fsync", fsync)
        result = firewall.sync(FaultyRunner(firewall.fake))
        assert result.code == 6 and "the disk is full" in result.err
        assert read_script(firewall.root) == PREVIOUS_SCRIPT and os.listdir(rc_dir) == ["carp.sh"]


@pytest.mark.parametrize("fault", ["ENOSPC", "EROFS"])
def test_script_write_failing_after_the_apply_undoes_it_or_says_what_is_left(fault, tmp_path, monkeypatch):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "changed")
        before = host_facts(firewall.fake)
        script_before = read_script(firewall.root)
        code = errno.ENOSPC if fault == "ENOSPC" else errno.EROFS
        real_make_temp = carp_system.make_temp_file
        rc_dir = os.path.abspath(os.path.dirname(os.path.join(firewall.root, RC_SCRIPT)))

        def make_temp_file(directory, prefix):
            if os.path.abspath(directory) == rc_dir:
                raise OSError(code, os.strerror(code))
            return real_make_temp(directory, prefix)

        monkeypatch.setattr("carp_pkg.system.make_temp_file", make_temp_file)
        result = firewall.sync(FaultyRunner(firewall.fake))
        assert result.code == 6 and read_script(firewall.root) == script_before
        left = changed_facts(before, host_facts(firewall.fake))
        assert [fact for fact in left if not mentioned(fact, result.err)] == [], result.err


def test_interrupt_in_the_middle_of_the_apply_undoes_the_finished_steps(tmp_path):
    with FIGURES.case(FAULTS):
        firewall = Firewall(tmp_path, "changed")
        before = host_facts(firewall.fake)

        class Interrupted(FaultyRunner):
            pressed = False

            def _execute(self, argv, *, mutating, input):
                if mutating and len(self.mutating_calls) == 3 and not self.pressed:
                    self.pressed = True  # Ctrl-C once, while the fourth command runs
                    raise KeyboardInterrupt
                return super()._execute(argv, mutating=mutating, input=input)

        result = firewall.sync(Interrupted(firewall.fake))
        assert result.code == 130
        left = changed_facts(before, host_facts(firewall.fake))
        assert [fact for fact in left if not mentioned(fact, result.err)] == [], result.err


# --- SIGKILL while the script is written ------------------------------------------------------------------

WRITER = """
import sys
from carp_pkg.paths import Paths
from carp_pkg.system import RecordingRunner, System
path, old, new = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
system = System(RecordingRunner(), Paths("/"))
print("ready", flush=True)
while True:
    system.write_atomic(path, new, 0o700)
    system.write_atomic(path, old, 0o700)
"""


def test_sigkill_at_random_moments_leaves_the_old_or_the_new_script_never_a_mix(tmp_path):
    rc_dir = tmp_path / "rc.d"
    rc_dir.mkdir()
    script = rc_dir / "carp.sh"
    old = "#!/bin/sh\n# old\n" + "".join(f"run ifconfig em0 vhid {i % 255 + 1} pass old-{i}\n" for i in range(40000))
    new = "#!/bin/sh\n# new\n" + "".join(f"run ifconfig em1 vhid {i % 255 + 1} pass new-{i}\n" for i in range(40000))
    (tmp_path / "old").write_text(old)
    (tmp_path / "new").write_text(new)
    script.write_text(old)
    chance = random.Random(7)
    seen = set()
    for attempt in range(25):
        with FIGURES.case(FAULTS):
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(script), str(tmp_path / "old"),
                                       str(tmp_path / "new")], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
            assert writer.stdout.readline().strip() == "ready"
            time.sleep(chance.uniform(0, 0.12))
            writer.kill()
            writer.wait()
            content = script.read_text()
            assert content in (old, new), f"attempt {attempt}: a mix of {len(content)} bytes"
            seen.add("old" if content == old else "new")
            for litter in os.listdir(rc_dir):
                if litter != "carp.sh":  # an interrupted temp file: root-only, and never picked up as a *.sh script
                    assert litter.startswith(".carp.sh.") and not litter.endswith(".sh")
                    assert os.stat(rc_dir / litter).st_mode & 0o077 == 0
    assert seen == {"old", "new"}, "the kills never landed between two writes: the test proved nothing"
