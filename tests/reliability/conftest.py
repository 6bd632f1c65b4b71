"""`--reliability-report`: print the figures table (category, cases, passed) when the session ends."""

from __future__ import annotations

from tests.reliability.figures import FIGURES


def pytest_addoption(parser):
    parser.addoption("--reliability-report", action="store_true", default=False,
                     help="print the reliability figures (inputs, faults, secrets, fuzz: cases and passes)")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("--reliability-report", default=False):
        return
    terminalreporter.write_sep("=", "carp-pkg reliability figures")
    terminalreporter.write_line(FIGURES.table())
