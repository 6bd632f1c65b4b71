"""Issue 7.2/7.3 in the real two-host ucarp lab (network namespaces): a SIGKILLed ucarp shows up in status and
check, and no process command line ever holds the password. Skipped, loudly, where the lab cannot run."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.helpers import wait_until
from tests.reliability.figures import FAULTS, FIGURES, SECRETS

pytestmark = pytest.mark.integration

from carp_pkg.lab import Lab
from carp_pkg.lab.lab import list_namespaces
from carp_pkg.lab.scenarios import settle
from carp_pkg.system import RealRunner
from tests.integration.conftest import _why_no_lab

MARK = "Sx7-MARKER-lab"


@pytest.fixture
def lab(tmp_path):
    reason, _ = _why_no_lab()
    if reason:
        pytest.skip(f"RELIABILITY LAB TESTS NOT RUN: {reason}")
    made = Lab.create(str(tmp_path / "lab"), prefix=f"crl{os.getpid() % 100000}")
    try:
        made.build(preempt=True)
        for host, skew in (("a", 0), ("b", 100)):
            made.write_config(host, skew, preempt=True, password=MARK)
            made.sync(host)
        yield made
    finally:
        problems = made.teardown()
        left = [ns for ns in list_namespaces(RealRunner()) if ns.startswith(made.layout.prefix + "-")]
        assert not problems and not left, f"lab not cleaned up: {problems} {left}"


def command_lines():
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                found[int(pid)] = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
    return found


def test_no_process_command_line_holds_the_password(lab):
    with FIGURES.case(SECRETS):
        assert settle(lab) == "a"
        ucarps = {pid: line for pid, line in command_lines().items() if line.startswith("ucarp ")}
        assert len(ucarps) >= 2, "both hosts run ucarp"
        assert [line for line in command_lines().values() if MARK in line] == []
        for host in ("a", "b"):
            for directory, _, files in os.walk(lab.layout.root(host)):
                for name in files:
                    path = os.path.join(directory, name)
                    with open(path, "rb") as handle:
                        if MARK.encode() in handle.read():
                            assert os.stat(path).st_mode & 0o077 == 0, path


def test_sigkilled_ucarp_is_reported_by_status_and_check(lab):
    with FIGURES.case(FAULTS):
        assert settle(lab) == "a"
        pid = lab.ucarp_pid("a")
        os.kill(pid, signal.SIGKILL)  # no down script runs: only carp-pkg's own reading can tell
        wait_until(lambda: lab.running("a").vhids[0].state == "STOPPED", 5, "a's ucarp seen as stopped")
        status = json.loads(lab.carp("a", "status", "--backend", "ucarp", "--json").stdout)
        assert "STOPPED" in json.dumps(status)
        check = lab.carp("a", "check", "--backend", "ucarp", check=False)
        assert check.returncode == 2 and "STOPPED" in check.stdout, check.stdout
        wait_until(lambda: lab.states()["b"] == "MASTER", 10, "b takes over")
        # a sync brings the killed instance back, and check is satisfied again
        lab.sync("a")
        wait_until(lambda: lab.carp("a", "check", "--backend", "ucarp", check=False).returncode == 0, 15,
                   "check OK after the resync")
