"""carp-pkg command line: global options, one module per subcommand, and the single CarpError catch."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, TextIO

from . import __version__
from .backends import get_backend
from .backends.base import Backend
from .commands import COMMANDS
from .errors import CarpError, ExitCode, Terminated, UsageError
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
    if os.path.exists(args.root) and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: is not a directory (give the folder that stands for /)")
    paths = Paths(root=args.root, config_override=args.config)
    dry_run = bool(getattr(args, "dry_run", False))
    if runner is None:
        runner = DryRunRunner(RealRunner()) if dry_run else RealRunner()
    return Context(paths=paths, system=System(runner=runner, paths=paths, dry_run=dry_run))


def main(argv: Optional[List[str]] = None, runner: Optional[Runner] = None,
         context_hook: Optional[Callable[[Context], None]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx: Optional[Context] = None

    def report(text: str) -> None:
        (ctx.err if ctx is not None else sys.stderr).write(f"carp-pkg: {text}\n")

    try:
        ctx = make_context(args, runner)
        if context_hook is not None:
            context_hook(ctx)
        return int(args.run(args, ctx))
    except CarpError as exc:
        report(f"error: {exc}")
        return int(exc.exit_code)
    except KeyboardInterrupt as exc:
        report(f"interrupted by {getattr(exc, 'signal_name', 'SIGINT')}")
        return int(getattr(exc, "exit_code", ExitCode.INTERRUPTED))
    except BrokenPipeError:
        return int(ExitCode.OK)
    except OSError as exc:  # the last line of defence: a file-system failure nobody expected, one line
        report(f"error: {os_error_message(exc)}")
        return int(ExitCode.ENVIRONMENT if exc.errno in ENVIRONMENT_ERRNOS else ExitCode.FAILURE)


ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EACCES, errno.EPERM})


def os_error_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{exc.strerror or exc}"


def _raise_terminated(_signum, _frame):
    raise Terminated()


def _open_streams() -> None:
    """A closed stdout or stderr (`>&-`) must not turn into a traceback: output goes nowhere instead."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")


def install_process_guards() -> None:
    """What the carp-pkg process sets up before any command: umask, usable streams, SIGTERM."""
    os.umask(0o022)  # modes are set explicitly; this only guards what child processes create
    _open_streams()
    signal.signal(signal.SIGTERM, _raise_terminated)  # SIGTERM rolls back an apply like Ctrl-C does


def entry_point() -> None:
    install_process_guards()
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except OSError as exc:  # /dev/full, a vanished disk: the output was lost, say so once
        sys.stderr.write(f"carp-pkg: error: cannot write the output: {exc.strerror}\n")
        code = int(ExitCode.ENVIRONMENT)
    finally:
        _quiet_exit_streams()
    sys.exit(code)


def _quiet_exit_streams() -> None:
    """After the output was reported as lost, Python must not print a second traceback when it flushes again."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass
