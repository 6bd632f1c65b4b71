"""carp-pkg command line: global options, one module per subcommand, and the single CarpError catch."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, TextIO

from . import __version__
from .backends import get_backend
from .backends.base import Backend
from .commands import COMMANDS
from .errors import CarpError, ExitCode
from .model import CarpConfig
from .paths import Paths
from .system import DryRunRunner, RealRunner, Runner, System

EPILOG = """\
exit codes: 0 ok, 1 failure, 2 usage, 3 invalid config.xml, 4 config lock timeout,
5 a command failed, 6 missing tool or unwritable file system (check uses 0-3 as Nagios does).

example: carp-pkg --config examples/config.xml render --format script
"""


@dataclass
class Context:
    paths: Paths
    system: System
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def backend(self, name: str = "auto") -> Backend:
        return get_backend(name, paths=self.paths)

    def load_config(self, backend: Optional[Backend] = None) -> CarpConfig:
        from .sync import load_config
        return load_config(self.paths, backend)

    def print(self, text: str = "") -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")

    def print_json(self, data) -> None:
        self.out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"carp-pkg: warning: {text}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carp-pkg",
        description="CARP failover for pfSense, FreeBSD and Linux: reads installedpackages/carp from "
                    "config.xml and makes the host's CARP match it (a port of pfSense carp 0.1.0).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"carp-pkg {__version__}")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="treat DIR as / for every file carp-pkg reads or writes (staging, tests); default /")
    parser.add_argument("--config", metavar="FILE",
                        help="config.xml to read (default: ROOT/conf/config.xml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module_name in COMMANDS:
        module = importlib.import_module(f"carp_pkg.commands.{module_name}")
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def make_context(args: argparse.Namespace, runner: Optional[Runner]) -> Context:
    paths = Paths(root=args.root, config_override=args.config)
    dry_run = bool(getattr(args, "dry_run", False))
    if runner is None:
        runner = DryRunRunner(RealRunner()) if dry_run else RealRunner()
    return Context(paths=paths, system=System(runner=runner, paths=paths, dry_run=dry_run))


def main(argv: Optional[List[str]] = None, runner: Optional[Runner] = None,
         context_hook: Optional[Callable[[Context], None]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = make_context(args, runner)
    if context_hook is not None:
        context_hook(ctx)
    try:
        return int(args.run(args, ctx))
    except CarpError as exc:
        ctx.err.write(f"carp-pkg: error: {exc}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        ctx.err.write("carp-pkg: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)


def entry_point() -> None:
    sys.exit(main())
