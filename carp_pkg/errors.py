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
    INTERRUPTED = 130


class CarpError(Exception):
    """Base of every error carp-pkg reports to the user (message + exit code, never a traceback)."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    def __str__(self) -> str:
        return "\n".join((self.message, *("  " + d for d in self.details)))


class ConfigError(CarpError):
    """config.xml is unreadable, unsafe or invalid."""

    exit_code = ExitCode.INVALID_CONFIG


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
