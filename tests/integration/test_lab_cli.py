"""`carp-pkg lab` as a user runs it: up, status, failover, down; and Ctrl-C in the middle leaves nothing behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from carp_pkg.lab.lab import list_namespaces
from carp_pkg.system import RealRunner

pytestmark = pytest.mark.integration


def carp_pkg(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "carp_pkg", *args], capture_output=True, text=True, timeout=timeout)


def lab_namespaces(prefix):
    return [ns for ns in list_namespaces(RealRunner()) if ns.startswith(prefix)]


def test_up_status_failover_down(lab_ready, tmp_path):
    directory = str(tmp_path / "lab")
    up = carp_pkg("lab", "up", "--dir", directory)
    try:
        assert up.returncode == 0, up.stderr
        assert "MASTER: host a" in up.stdout
        status = carp_pkg("lab", "status", "--dir", directory)
        assert status.returncode == 0 and "MASTER" in status.stdout and "BACKUP" in status.stdout
        result = carp_pkg("lab", "failover", "--dir", directory, "--how", "kill")
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("EVENT")
        assert lines[1].split()[:6] == ["kill", "ucarp", "on", "a", "(SIGTERM)", "a"]
        assert " b " in lines[1] and "NONE" not in result.stdout
    finally:
        down = carp_pkg("lab", "down", "--dir", directory)
    assert down.returncode == 0, down.stderr
    assert not os.path.exists(directory)
    assert carp_pkg("lab", "status", "--dir", directory).returncode != 0  # nothing left to show


def test_ctrl_c_during_the_demo_removes_namespaces_and_processes(lab_ready, tmp_path):
    demo = subprocess.Popen([sys.executable, "-m", "carp_pkg", "lab", "demo", "--dir", str(tmp_path / "lab")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prefix = f"carplab{demo.pid}-"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "MASTER" not in _states(tmp_path / "lab"):
            time.sleep(0.1)  # wait until ucarp runs in the lab: the worst moment to be interrupted
        assert lab_namespaces(prefix), "the demo did not start its lab"
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, err
    assert "cleaning up" in err  # the phases go to stderr, stdout keeps the table
    assert lab_namespaces(prefix) == []
    assert not os.path.exists(tmp_path / "lab")


def _states(directory):
    found = []
    for host in ("a", "b"):
        try:
            with open(directory / f"host-{host}" / "var/db/carp-pkg/ucarp/eth0-vhid1.state") as handle:
                found.append(handle.read())
        except OSError:
            pass
    return " ".join(found)
