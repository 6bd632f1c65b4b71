"""One error hierarchy; every class carries the exit code the CLI returns for it."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    INVALID_CONFIG = 3
    LOCKED = 4
    COMMAND_FAILED = 5
    ENVIRONMENT = 6
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


def error_document(message: str, code: int, details=()) -> dict:
    """The one JSON shape of an error, whatever the command (`--json`)."""
    return {"error": {"code": int(code), "message": message, "details": list(details)}}


class CarpError(Exception):
    """Base of every error carp-pkg reports to the user (message + exit code, never a traceback)."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    def __str__(self) -> str:
        return "\n".join((self.message, *("  " + d for d in self.details)))


class InputError(CarpError):
    """An input carp-pkg was given is unreadable, too large, unsafe or malformed: config.xml, a capture
    (ifconfig text, pcap), a JSON entry, a manifest or a state file. Nothing was changed."""

    exit_code = ExitCode.INVALID_CONFIG


class ConfigError(InputError):
    """config.xml is unreadable, unsafe or invalid."""


class LockError(CarpError):
    """The config lock could not be taken within the timeout."""

    exit_code = ExitCode.LOCKED


class CommandError(CarpError):
    """A command run on the system failed."""

    exit_code = ExitCode.COMMAND_FAILED


class EnvironmentProblem(CarpError):
    """The machine lacks something carp-pkg needs (a tool, a writable file system, a backend)."""

    exit_code = ExitCode.ENVIRONMENT


class UsageError(CarpError):
    """The command line asks for something impossible."""

    exit_code = ExitCode.USAGE


class Interrupted(CarpError):
    """Ctrl-C (SIGINT) in the middle of an apply: the finished steps were rolled back."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, details: tuple = (), exit_code: int = ExitCode.INTERRUPTED):
        super().__init__(message, details)
        self.exit_code = ExitCode(exit_code)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, delivered like Ctrl-C so that an apply in progress is rolled back the same way;
    the exit code is 128 + the signal number, as a shell reports it (143, 129)."""

    def __init__(self, signal_number: int = 15):
        super().__init__(signal_number)
        self.signal_name = {1: "SIGHUP", 2: "SIGINT", 15: "SIGTERM"}.get(signal_number, f"signal {signal_number}")
        self.exit_code = 128 + signal_number
