"""The generated rc script: valid sh, every argv arrives exactly as planned, mode 0700."""

import os
import stat
import subprocess

import pytest

from carp_pkg.backends import get_backend
from carp_pkg.model import CarpConfig, PfsyncSettings, VirtualIP
from carp_pkg.script import render_script
from carp_pkg.system import RecordingRunner, System
from carp_pkg.paths import Paths

import ipaddress

HOSTILE_PASSWORDS = ["two words", "q'uo\"te", "$(touch PWNED)", "`touch PWNED`", "a;b&&c|d>e", "\\n$HOME*"]


def hostile_config():
    vips = tuple(VirtualIP(address=ipaddress.ip_interface(f"192.0.2.{10 + i}/24"), interface="em0", vhid=i + 1,
                           password=pw, advskew=i) for i, pw in enumerate(HOSTILE_PASSWORDS))
    return CarpConfig(vips=vips, pfsync=PfsyncSettings("em2"))


def stub_bin(tmp_path):
    """ifconfig/sysctl stand-ins that append their argv (NUL-separated, one record per line) to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ifconfig", "sysctl"):
        path = bin_dir / tool
        path.write_text('#!/bin/sh\n{ printf "%s\\0" "$(basename "$0")" "$@"; printf "\\n"; } >> "$CALLS_LOG"\n')
        path.chmod(0o755)
    return bin_dir


def run_script(script_path, tmp_path, *args):
    log = tmp_path / "calls.log"
    log.write_bytes(b"")
    env = {"PATH": f"{stub_bin(tmp_path)}:/usr/bin:/bin", "CALLS_LOG": str(log), "HOME": str(tmp_path)}
    result = subprocess.run(["/bin/sh", str(script_path), *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    calls = [tuple(line.split(b"\0")[:-1]) for line in log.read_bytes().split(b"\n") if line]
    return result, [tuple(a.decode() for a in call) for call in calls]


@pytest.fixture(params=["freebsd", "freebsd-legacy"])
def written_script(request, tmp_path):
    backend = get_backend(request.param)
    config = hostile_config()
    start, stop = backend.boot_plan(config), backend.stop_plan(config)
    path = tmp_path / "carp.sh"
    System(RecordingRunner(), Paths(str(tmp_path))).write_atomic(str(path), render_script(start, stop, "/conf/config.xml"), 0o700)
    return path, start, stop


def test_script_passes_sh_n(written_script):
    path, _, _ = written_script
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0


def test_every_argv_arrives_exactly_as_planned_and_nothing_is_executed(written_script, tmp_path):
    path, start, _ = written_script
    result, calls = run_script(path, tmp_path, "start")
    assert result.returncode == 0, result.stderr
    assert calls == [step.argv for step in start.steps]
    assert not (tmp_path / "PWNED").exists()
    for password in HOSTILE_PASSWORDS:
        assert any(password in call for call in calls)


def test_no_argument_means_start_as_2005_pfsense_boot_called_it(written_script, tmp_path):
    path, start, _ = written_script
    _, calls = run_script(path, tmp_path)
    assert calls == [step.argv for step in start.steps]


def test_stop_tears_down_what_start_created(written_script, tmp_path):
    path, _, stop = written_script
    _, calls = run_script(path, tmp_path, "stop")
    assert calls == [step.argv for step in stop.steps] and calls


def test_unknown_argument_is_a_usage_error(written_script, tmp_path):
    path, _, _ = written_script
    result, calls = run_script(path, tmp_path, "bogus")
    assert result.returncode == 64 and calls == []


def test_script_is_written_0700(written_script):
    path, _, _ = written_script
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_a_failing_command_is_reported_and_the_rest_still_runs(tmp_path):
    backend = get_backend("freebsd")
    config = hostile_config()
    path = tmp_path / "carp.sh"
    path.write_text(render_script(backend.boot_plan(config), backend.stop_plan(config), "/conf/config.xml"))
    bin_dir = stub_bin(tmp_path)
    (bin_dir / "sysctl").write_text("#!/bin/sh\necho 'sysctl: unknown oid' >&2\nexit 1\n")
    log = tmp_path / "calls.log"
    log.write_bytes(b"")
    result = subprocess.run(["/bin/sh", str(path)], env={"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS_LOG": str(log)},
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "carp.sh: failed: sysctl net.inet.carp.preempt" in result.stderr
    for password in HOSTILE_PASSWORDS:
        assert password not in result.stderr


@pytest.mark.parametrize("present", [True, False])
def test_filter_reload_runs_only_when_present(tmp_path, present):
    backend = get_backend("freebsd")
    config = hostile_config()
    reload_tool = tmp_path / "rc.filter_configure"
    if present:
        reload_tool.write_text('#!/bin/sh\necho reloaded > "$CALLS_LOG.filter"\n')
        reload_tool.chmod(0o755)
    path = tmp_path / "carp.sh"
    path.write_text(render_script(backend.boot_plan(config), backend.stop_plan(config), "/conf/config.xml",
                                  filter_configure=str(reload_tool)))
    result, calls = run_script(path, tmp_path, "start")
    assert result.returncode == 0
    assert (tmp_path / "calls.log.filter").exists() == present
    assert len(calls) == len(backend.boot_plan(config).steps)
