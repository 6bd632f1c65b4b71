"""`--reliability-report`: print the figures table (category, cases, passed) when the session ends."""

from __future__ import annotations

from tests.reliability.figures import FIGURES

KNOWN_DEFECTS = []  # (test id, reason) of the strict-xfail tests that pin a defect awaiting a fix elsewhere


def pytest_addoption(parser):
    parser.addoption("--reliability-report", action="store_true", default=False,
                     help="print the reliability figures (inputs, faults, secrets, fuzz: cases and passes)")


def pytest_runtest_logreport(report):
    if getattr(report, "wasxfail", None) and report.nodeid.startswith("tests/reliability/"):
        KNOWN_DEFECTS.append((report.nodeid.split("::", 1)[-1], report.wasxfail))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("--reliability-report", default=False):
        return
    terminalreporter.write_sep("=", "carp-pkg reliability figures")
    terminalreporter.write_line(FIGURES.table())
    if KNOWN_DEFECTS:
        terminalreporter.write_line("")
        terminalreporter.write_line(f"{len(KNOWN_DEFECTS)} known defects, pinned by strict xfail tests "
                                    "(counted in cases, not in passed):")
        for test, reason in KNOWN_DEFECTS:
            terminalreporter.write_line(f"- {test}: {reason}")
