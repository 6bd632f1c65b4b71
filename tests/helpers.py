import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

from carp_pkg import cli
from carp_pkg.events.hooks import hooks_dir
from carp_pkg.system import RecordingRunner, Result

TESTS = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(TESTS, "fixtures")


def fixture_path(*parts: str) -> str:
    return os.path.join(FIXTURES, *parts)


def read_fixture(*parts: str) -> str:
    with open(fixture_path(*parts), encoding="utf-8") as handle:
        return handle.read()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(argv, runner=None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()

    def capture(ctx):
        ctx.out, ctx.err = out, err

    code = cli.main(list(argv), runner=runner, context_hook=capture)
    return CliResult(code, out.getvalue(), err.getvalue())


def host_runner(ifconfig_text: str = "", sysctls=None, fail=None) -> RecordingRunner:
    """A recording Runner that answers `ifconfig` and `sysctl -n` like a host; `fail(argv)` → Result to fail a step."""
    sysctls = dict(sysctls or {})

    def respond(argv):
        if fail is not None:
            failure = fail(argv)
            if failure is not None:
                return failure
        if argv == ("ifconfig",):
            return Result(0, ifconfig_text, "")
        if argv[:2] == ("sysctl", "-n"):
            if argv[2] in sysctls:
                return Result(0, f"{sysctls[argv[2]]}\n", "")
            return Result(1, "", f"sysctl: unknown oid '{argv[2]}'\n")
        return Result()

    return RecordingRunner(respond=respond)


def wait_until(predicate, timeout, what):
    """Poll predicate every 0.1 s until it is truthy (returned) or timeout seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


# --- user hooks that record how they were run ---------------------------------------------------------------

def make_hooks_dir(root) -> Path:
    directory = Path(hooks_dir(str(root)))
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    os.chmod(directory.parent, 0o755)
    return directory


def add_hook(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = directory / name
    path.write_text(body)
    os.chmod(path, mode)
    return path


def recording_hook(out: Path) -> str:
    """A hook that appends its start time, its arguments (one per line) and its environment to `out`."""
    return (f"#!/bin/sh\nstart=$(date +%s.%N)\n{{ echo \"start $start\"; for a in \"$@\"; do echo \"arg $a\"; done; "
            f"/usr/bin/env | sed 's/^/env /'; echo end; }} >> '{out}'\n")


def read_hook_runs(out: Path):
    """[{start, moved, args, env}] from a recording hook's file (moved: (state, unix time) from the lab's hook,
    which also records the host's ucarp state file; else None)."""
    runs, current = [], None
    for line in out.read_text().splitlines() if out.exists() else []:
        word, _, rest = line.partition(" ")
        if word == "start":
            current = {"start": float(rest), "moved": None, "args": [], "env": {}}
        elif word == "moved":
            parts = rest.split()
            current["moved"] = (parts[0], float(parts[1])) if len(parts) == 2 else None
        elif word == "arg":
            current["args"].append(rest)
        elif word == "env":
            name, _, value = rest.partition("=")
            current["env"][name] = value
        elif word == "end":
            runs.append(current)
    return runs
