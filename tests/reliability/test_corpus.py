"""Issue 7.1: every hostile or odd config.xml in tests/corpus/ gives one clear message and its documented
exit code, with the rc script, the files under the root and the running state untouched, no traceback,
nothing fetched from the network, in bounded time."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.helpers import TESTS, run_cli
from tests.reliability.figures import FIGURES, INPUTS
from tests.reliability.sandbox import (PREVIOUS_SCRIPT, firewall_root, open_listener, read_script, snapshot,
                                       stand_in, stand_in_runner)

CORPUS = os.path.join(TESTS, "corpus")
with open(os.path.join(CORPUS, "cases.json"), encoding="utf-8") as _handle:
    CASES = json.load(_handle)["cases"]

SECRET_FILE_MARKER = "CORPUS-SECRET-FILE-CONTENT-7f3a"
ALWAYS_ABSENT = ("corpus-secret-1", SECRET_FILE_MARKER, "Traceback")
TIME_BOUND_S = 10.0
MESSAGE_BOUND_CHARS = 4096


@pytest.fixture
def listener():
    server = open_listener()
    yield server
    server.sock.close()


def materialize(case, tmp_path, listener) -> str:
    """The case file as committed, or with @PORT@/@SECRET_FILE@ filled in for template cases."""
    source = os.path.join(CORPUS, case["file"])
    if not case.get("template"):
        return source
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_FILE_MARKER + "\n")
    with open(source, "rb") as handle:
        data = handle.read()
    data = data.replace(b"@PORT@", str(listener.port).encode()).replace(b"@SECRET_FILE@", str(secret).encode())
    target = tmp_path / case["file"]
    target.write_bytes(data)
    return str(target)


def run_guarded(argv, runner):
    started = time.monotonic()
    try:
        result = run_cli(argv, runner=runner)
    except Exception as exc:  # anything but CarpError escaping main() is a traceback for the user
        pytest.fail(f"carp-pkg {' '.join(argv[-3:])} raised {type(exc).__name__}: {exc}")
    return result, time.monotonic() - started


def assert_clean_output(case, result, elapsed):
    printed = result.out + result.err
    for absent in ALWAYS_ABSENT + tuple(case.get("absent", ())):
        assert absent not in printed, f"{absent!r} printed"
    assert len(result.err) < MESSAGE_BOUND_CHARS, "the message is not bounded"
    assert elapsed < TIME_BOUND_S


def ids(cases):
    return [c["file"] for c in cases]


def test_manifest_lists_every_corpus_file_once():
    listed = [c["file"] for c in CASES]
    on_disk = sorted(f for f in os.listdir(CORPUS) if f != "cases.json")
    assert sorted(listed) == on_disk and len(set(listed)) == len(listed)
    assert all(c["exit"] in (0, 3) and c["message"] and c["why"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_sync_on_hostile_input(case, tmp_path, listener):
    with FIGURES.case(INPUTS):
        root = firewall_root(tmp_path / "root")
        config = materialize(case, tmp_path, listener)
        fake = stand_in()
        host_before = (fake.ifconfig_output(), dict(fake.sysctls))
        files_before = snapshot(root)
        runner = stand_in_runner(fake)

        result, elapsed = run_guarded(["--root", root, "--config", config, "sync", "--backend", "freebsd"], runner)

        assert result.code == case["exit"], result.err
        shown = result.err if case["exit"] else result.out + result.err
        assert case["message"] in shown
        assert case.get("also", "") in shown
        assert_clean_output(case, result, elapsed)
        assert listener.connections() == 0, "the XML made carp-pkg connect to a server"
        if case["exit"] != 0:
            assert result.err.startswith("carp-pkg: error: ") and result.err.count("carp-pkg: error:") == 1
            assert runner.mutating_calls == [] and fake.mutating_commands == []
            assert (fake.ifconfig_output(), fake.sysctls) == host_before
            assert snapshot(root) == files_before
            return
        for argv in case.get("argv", ()):
            assert tuple(argv) in runner.mutating_calls
        script = read_script(root)
        if case.get("script") == "written" or case.get("argv"):
            assert script != PREVIOUS_SCRIPT and script.startswith("#!/bin/sh")
        assert SECRET_FILE_MARKER not in json.dumps(snapshot(root)) + (script or "")


READ_ONLY_COMMANDS = {
    "validate": ["validate", "--backend", "freebsd"],
    "validate --json": ["validate", "--backend", "freebsd", "--json"],
    "render": ["render", "--backend", "freebsd"],
    "render --format json": ["render", "--backend", "freebsd", "--format", "json"],
}


@pytest.mark.parametrize("command", sorted(READ_ONLY_COMMANDS))
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_read_only_commands_give_the_same_verdict(case, command, tmp_path, listener):
    with FIGURES.case(INPUTS):
        root = firewall_root(tmp_path / "root")
        config = materialize(case, tmp_path, listener)
        runner = stand_in_runner(stand_in())
        files_before = snapshot(root)

        result, elapsed = run_guarded(["--root", root, "--config", config, *READ_ONLY_COMMANDS[command]], runner)

        assert result.code == case["exit"], result.err
        assert_clean_output(case, result, elapsed)
        assert listener.connections() == 0
        assert runner.mutating_calls == [] and snapshot(root) == files_before
        if command == "validate --json":
            data = json.loads(result.out)
            assert data["ok"] is (case["exit"] == 0)
            reported = "\n".join(f"{p['where']}: {p['message']}" for p in data["problems"])
            assert case["message"] in reported or case["exit"] == 0
