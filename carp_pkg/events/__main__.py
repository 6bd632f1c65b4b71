"""`python3 -m carp_pkg.events [--root DIR] event ...`: the `event` command alone, started fast.

The same arguments and the same code as `carp-pkg [--root DIR] event ...` (carp_pkg/commands/event.py),
without building the parser of every other command (which imports them all) and without importing
anything a transition does not need (lxml, the config model, dataclasses): devd and the ucarp scripts run
this (see invocation.py), and a hook should start within tens of milliseconds of the VIP moving.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from ..commands import event
from ..errors import CarpError, ExitCode

STATE_DIR = "/var/db/carp-pkg"  # carp_pkg.paths.STATE_DIR (importing paths costs dataclasses; a test holds them equal)


class EventPaths:
    """The two things `event` needs of carp_pkg.paths.Paths."""

    def __init__(self, root: str):
        self.root = root
        self.state_dir = os.path.join(root, STATE_DIR.lstrip("/"))


class EventContext:
    """What `event.run` uses of the CLI's Context; the System (a Runner for devd's `ifconfig`) only when asked."""

    def __init__(self, root: str):
        self.paths = EventPaths(root)
        self.out, self.err = sys.stdout, sys.stderr
        self._system = None

    @property
    def system(self):
        if self._system is None:
            from ..paths import Paths
            from ..system import RealRunner, System
            paths = Paths(root=self.paths.root)
            self._system = System(runner=RealRunner(), paths=paths)
        return self._system

    def print(self, text: str = "") -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")

    def print_json(self, data) -> None:
        self.out.write(json.dumps(data, indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m carp_pkg.events",
                                     description="carp-pkg's `event` command alone (what devd and ucarp run).")
    parser.add_argument("--root", default="/", metavar="DIR", help="treat DIR as / (as carp-pkg --root)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    sub = commands.add_parser(event.NAME, help=event.HELP, description=event.DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    event.add_arguments(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    os.umask(0o022)  # as the carp-pkg command does; every file gets its mode explicitly anyway
    args = build_parser().parse_args(argv)
    try:
        if os.path.exists(args.root) and not os.path.isdir(args.root):
            raise CarpError(f"--root {args.root}: is not a directory")
        return int(event.run(args, EventContext(args.root)))
    except CarpError as exc:
        sys.stderr.write(f"carp-pkg: error: {exc}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except OSError as exc:
        sys.stderr.write(f"carp-pkg: error: {exc.strerror or exc}\n")
        return int(ExitCode.ENVIRONMENT)


if __name__ == "__main__":
    sys.exit(main())
