"""carp-pkg command line: global options, one module per subcommand, and the single CarpError catch."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Callable, List, Optional, TextIO, Tuple

from . import __version__
from .commands import COMMANDS
from .errors import CarpError, ExitCode, Terminated, UsageError, error_document
from .streams import OutputLost, gone, quietly, tolerant
from .text import printable
from .paths import CONFIG_ENV, PLATFORM_FILE, Paths, default_config

if TYPE_CHECKING:
    from .backends.base import Backend
    from .model import CarpConfig
    from .system import Runner, System

EPILOG = """\
exit codes: 0 ok, 1 failure, 2 usage, 3 invalid input (config.xml, a capture, a manifest, a JSON
entry), 4 config lock timeout, 5 a command failed (finished steps undone), 6 missing tool or
unwritable file system, 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM (finished steps undone);
check uses 0-3 as Nagios does. With --json, errors are JSON on stdout too:
{{"error": {{"code": N, "message": "...", "details": [...]}}}}.

config.xml: --config FILE, else ${env}, else pfSense's /conf/config.xml on pfSense,
/usr/local/etc/carp-pkg/config.xml on FreeBSD, /etc/carp-pkg/config.xml on Linux (under --root).
Here: {here}

example: carp-pkg --config examples/linux-ucarp.xml validate
example: carp-pkg --config examples/config.xml render --backend freebsd --format script
"""


COMMAND_EPILOG = "exit codes and the default config.xml: see `carp-pkg --help`"


class Context:
    """What a command works with: the paths, the one door to the machine (made when a command first needs it:
    validate and render never load it) and the output streams."""

    def __init__(self, paths: Paths, system: Optional["System"] = None, out: Optional[TextIO] = None,
                 err: Optional[TextIO] = None, make_system: Optional[Callable[[], "System"]] = None):
        self.paths = paths
        self._system = system
        self._make_system = make_system
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    @property
    def system(self) -> "System":
        if self._system is None:
            self._system = self._make_system()
        return self._system

    def with_system(self, system: "System") -> "Context":
        return Context(self.paths, system, self.out, self.err)

    def backend(self, name: str = "auto") -> "Backend":
        from .backends import get_backend
        return get_backend(name, paths=self.paths)

    def load_config(self, backend: Optional["Backend"] = None) -> "CarpConfig":
        from .sync import load_config
        return load_config(self.paths, backend)

    def print(self, text: str = "") -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")

    def print_json(self, data) -> None:
        self.out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"carp-pkg: warning: {text}\n")


class BadArguments(UsageError):
    """argparse found the command line wrong; carries the parser whose usage line explains it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised so that main() can answer them in JSON when --json was asked."""

    def error(self, message: str):
        raise BadArguments(self, message)

    def _get_formatter(self):
        # argparse builds a formatter for every add_argument, and without a width it imports shutil (and with it
        # bz2, lzma, fnmatch) only to ask for the terminal's: a few ms of every start-up, on every GUI save
        return self.formatter_class(prog=self.prog, width=help_width())


def help_width() -> int:
    """shutil.get_terminal_size()'s columns (COLUMNS, else the terminal, else 80), less argparse's margin of 2."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def platform_default_config(root: str = "/") -> Tuple[str, str]:
    platform_text = ""
    try:
        with open(os.path.join(root, PLATFORM_FILE.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            platform_text = handle.read(256)
    except OSError:
        pass
    return default_config(root, os.uname().sysname, os.environ, os.path.exists, platform_text)


def requested_command(argv: Optional[List[str]]) -> Optional[str]:
    """The subcommand named on the command line, so that only its module is imported (start-up time: pfSense
    runs carp-pkg on every GUI save, on small ARM boxes); None = all (--help, a typo, the docs generator)."""
    if argv is None:
        return None
    words = iter(argv)
    for word in words:
        if word in ("--root", "--config"):
            next(words, None)
        elif word.startswith("-"):
            continue
        else:
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Optional[List[str]] = None) -> argparse.ArgumentParser:
    """The whole parser, or (given argv) only the part that parses it."""
    path, why = platform_default_config()
    parser = Parser(
        prog="carp-pkg",
        description="CARP failover for pfSense, FreeBSD and Linux: reads installedpackages/carp from "
                    "config.xml and makes the host's CARP match it (a port of pfSense carp 0.1.0).",
        epilog=EPILOG.format(env=CONFIG_ENV, here=f"{path} ({why})"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"carp-pkg {__version__}")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="treat DIR as / for every file carp-pkg reads or writes (staging, tests); default /")
    parser.add_argument("--config", metavar="FILE",
                        help="config.xml to read (default: see below)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    wanted = requested_command(argv)
    version_only = wanted is None and argv is not None and "--version" in argv  # answered before any command
    for module_name in COMMANDS:
        if version_only or (wanted is not None and module_name != wanted):
            continue
        module = importlib.import_module(f"carp_pkg.commands.{module_name}")
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter, epilog=COMMAND_EPILOG)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def make_context(args: argparse.Namespace, runner: Optional["Runner"]) -> Context:
    if os.path.exists(args.root) and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: is not a directory (give the folder that stands for /)")
    config_default = None if args.config else platform_default_config(args.root)[0]
    paths = Paths(root=args.root, config_override=args.config, config_default=config_default)
    dry_run = bool(getattr(args, "dry_run", False))

    def make_system() -> "System":
        from .system import DryRunRunner, RealRunner, System
        chosen = runner if runner is not None else DryRunRunner(RealRunner()) if dry_run else RealRunner()
        return System(runner=chosen, paths=paths, dry_run=dry_run)

    return Context(paths=paths, make_system=make_system)


def asks_for_json(argv: List[str]) -> bool:
    """--json, or render's --format json: either way the caller parses stdout as JSON."""
    pairs = zip(argv, argv[1:])
    return "--json" in argv or "--format=json" in argv or ("--format", "json") in pairs


class Reporter:
    """Where an error goes: JSON on stdout when --json was asked, else one escaped message on stderr. For
    `check` the code is already a Nagios one (0-3), in the JSON document as in the exit status."""

    def __init__(self, wants_json: bool, nagios: bool = False):
        self.wants_json = wants_json
        self.nagios = nagios
        self.ctx: Optional[Context] = None
        self.reported = False

    def __call__(self, message: str, code: int, details=(), label: str = "error: ") -> int:
        self.reported = True
        code = nagios_code(code) if self.nagios else int(code)
        out = self.ctx.out if self.ctx is not None else sys.stdout
        err = self.ctx.err if self.ctx is not None else sys.stderr
        if self.wants_json:
            # one line: streaming commands (sniff, events --follow) print one JSON object per line
            quietly(out.write, json.dumps(error_document(message, code, details)) + "\n")
            quietly(out.flush)  # now, not at exit: a stdout that cannot take it must not turn this error into another
            if gone(out):  # stdout itself was lost (a full disk): say it where it can be read
                quietly(err.write, "carp-pkg: " + label + printable(message) + "\n")
        else:
            lines = (printable(message), *("  " + printable(d) for d in details))
            quietly(err.write, "carp-pkg: " + label + "\n".join(lines) + "\n")
        return code


def main(argv: Optional[List[str]] = None, runner: Optional["Runner"] = None,
         context_hook: Optional[Callable[[Context], None]] = None) -> int:
    """The single top-level catch: every CarpError (and the few OS failures nobody expected) becomes one
    message and its exit code; `check` answers 0-3 whatever happens, as a Nagios plugin must."""
    argv = list(sys.argv[1:] if argv is None else argv)
    report = Reporter(asks_for_json(argv), nagios=is_check(argv))
    return _run(argv, runner, context_hook, report)


def _run(argv: List[str], runner: Optional["Runner"], context_hook, report: Reporter) -> int:
    try:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:  # --help, --version: printed; entry_point's flush says whether it arrived
            return exc.code if isinstance(exc.code, int) else 0
        report.ctx = make_context(args, runner)
        if context_hook is not None:
            context_hook(report.ctx)
        return int(args.run(args, report.ctx))
    except BadArguments as exc:
        if not report.wants_json:
            quietly(exc.parser.print_usage, sys.stderr)
        return report(exc.message, ExitCode.USAGE)
    except CarpError as exc:
        return report(exc.message, exc.exit_code, exc.details)
    except KeyboardInterrupt as exc:
        return report(f"interrupted by {getattr(exc, 'signal_name', 'SIGINT')}",
                      getattr(exc, "exit_code", ExitCode.INTERRUPTED), label="")
    except BrokenPipeError:  # a pipe the command wrote to itself (stdout and stderr drop output instead)
        return report("the reader of the output went away", ExitCode.FAILURE)
    except OSError as exc:  # the last line of defence: a file-system failure nobody expected, one line
        return report(os_error_message(exc),
                      ExitCode.ENVIRONMENT if exc.errno in ENVIRONMENT_ERRNOS else ExitCode.FAILURE)


NAGIOS_COMMAND = "check"


def is_check(argv: List[str]) -> bool:
    """The command is `check` (not merely a word "check" among the arguments, e.g. `--config check`)."""
    return requested_command(argv) == NAGIOS_COMMAND


def nagios_code(_code: int) -> int:
    """A monitoring plugin answers 0-3 whatever happens: a check that could not run is UNKNOWN (3), never
    CRITICAL (a usage error's 2) or an unknown code."""
    return 3


ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EACCES, errno.EPERM})


def os_error_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{exc.strerror or exc}"


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def _open_streams() -> None:
    """A closed stdin, stdout or stderr (`<&-`, `>&-`) must not turn into a traceback: input is empty and
    output goes nowhere instead."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")


def install_process_guards() -> None:
    """What the carp-pkg process sets up before any command: umask, usable streams, SIGTERM."""
    os.umask(0o022)  # modes are set explicitly; this only guards what child processes create
    _open_streams()
    sys.stdout, sys.stderr = tolerant(sys.stdout), tolerant(sys.stderr, strict=False)
    for number in (signal.SIGTERM, signal.SIGHUP):  # roll back an apply like Ctrl-C does (an SSH drop is a SIGHUP)
        signal.signal(number, _raise_terminated)


def entry_point() -> None:
    install_process_guards()
    code = main()
    try:
        sys.stdout.flush()
    except OutputLost as exc:  # /dev/full, a vanished disk: the output was lost, say so once
        quietly(sys.stderr.write, f"carp-pkg: error: {exc.message}\n")
        code = nagios_code(exc.exit_code) if is_check(sys.argv[1:]) else int(exc.exit_code)
    try:
        sys.stderr.flush()
    except OutputLost:
        pass
    # Every file carp-pkg writes is closed when its command returns, and both streams are flushed above: leave
    # without the interpreter's teardown of every loaded module, which took 7-8 ms of a 50 ms `validate` here
    # (pfSense runs validate on every GUI save). Output that could not be written is dropped, not retried.
    os._exit(code)
