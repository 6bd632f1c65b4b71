"""Real two-host labs: network namespaces, a bridge, ucarp. Each test gets its own lab, always torn down.

Needs root, `ip netns` and ucarp (`apt-get install ucarp tcpdump iproute2`, as .ci/run does). Where
they are missing the tests are skipped with the reason in the summary; under CI (CI=true) a missing
tool fails instead (.ci/run installs them), while a machine that cannot create a namespace skips.
"""

import itertools
import os
import shutil
import subprocess

import pytest

from carp_pkg.lab import Lab
from carp_pkg.lab.lab import list_namespaces
from carp_pkg.system import RealRunner

_COUNTER = itertools.count(1)
FIGURES = []  # (test, what, seconds, bound) printed at the end of the run


def _why_no_lab(tools=("ip", "ucarp", "setsid")):
    """(reason, a missing install) or (None, False). Missing tools are CI's fault; a sandbox without
    namespaces is the machine's, and then the tests are skipped, loudly."""
    if os.geteuid() != 0:
        return "not running as root", False
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return "missing " + ", ".join(missing), True
    probe = f"cptprobe{os.getpid()}"
    created = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if created.returncode != 0:
        return f"this machine cannot create a network namespace: {created.stderr.strip()}", False
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None, False


def require_lab(what: str, tools, install: str) -> None:
    """Skip (loudly) where the machine cannot make a lab; fail under CI when a tool is missing (.ci/run installs
    them: a CI run must not pass without the lab)."""
    reason, missing_install = _why_no_lab(tools)
    if reason is not None:
        message = f"{what} NOT RUN: {reason}; they need root, ip netns and {install}"
        if missing_install and os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def lab_ready():
    require_lab("LAB INTEGRATION TESTS", ("ip", "ucarp", "setsid"), "ucarp (apt-get install ucarp tcpdump iproute2)")


@pytest.fixture
def make_lab(lab_ready, tmp_path):
    """make_lab(preempt=True, passwords={host: pw}, sync=True) → a running Lab; torn down after the test."""
    labs = []

    def make(preempt=True, passwords=None, sync=True):
        def configure(lab):
            for host, password in (passwords or {}).items():
                lab.write_config(host, {"a": 0, "b": 100}[host], preempt=preempt, password=password)
        return new_lab(labs, tmp_path, "cpt", preempt=preempt, sync=sync, configure=configure)

    yield make
    tear_down_all(labs)


def new_lab(labs, tmp_path, prefix: str, preempt=True, sync=True, configure=lambda lab: None, **create):
    """A lab of this test (in `labs`, for tear_down_all): built, configured, each host synced unless sync=False."""
    lab = Lab.create(str(tmp_path / f"lab{len(labs)}"), prefix=f"{prefix}{os.getpid()}n{next(_COUNTER)}", **create)
    labs.append(lab)
    lab.build(preempt=preempt)
    configure(lab)
    if sync:
        for host in ("a", "b"):
            lab.sync(host)
    return lab


def tear_down_all(labs) -> None:
    """Every lab a test made is removed, and no namespace of it is left behind."""
    for lab in labs:
        problems = lab.teardown()
        left = [ns for ns in list_namespaces(RealRunner()) if ns.startswith(lab.layout.prefix + "-")]
        assert not problems and not left, f"lab not cleaned up: {problems} {left}"


@pytest.fixture
def record_figure(request):
    def record(what, seconds, bound=None, allowed=None):
        """allowed: what the test accepts (default 1.1 x bound, the ucarp tests' margin)."""
        FIGURES.append((request.node.name, what, seconds, bound, allowed))
        request.node.user_properties.append((what, seconds))
    return record


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("lab figures (seconds)")
    for test, what, seconds, bound, allowed in FIGURES:
        digits = 3 if seconds is not None and seconds < 1 else 2
        shown = "-" if seconds is None else f"{seconds:.{digits}f}"
        limit = "" if bound is None else (f"  (bound {bound:.{digits}f}, allowed 1.1x = {1.1 * bound:.2f})"
                                          if allowed is None else f"  (bound {bound:.3f}, allowed {allowed:.3f})")
        terminalreporter.write_line(f"{what}: {shown}{limit}  [{test}]")
