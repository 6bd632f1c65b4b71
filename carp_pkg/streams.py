"""stdout and stderr as carp-pkg's commands see them: a reader that went away never changes a command's verdict.

`carp-pkg check | true` or `validate | head -1` close the pipe while the command still prints: the rest of the
output is dropped (EPIPE) and the command finishes with its own exit code (CRITICAL stays 2). A full or vanished
disk (`>/dev/full`) on stdout is one error, raised once, exit 6 (3 for check); later output is dropped too, so
nothing reports the same loss twice. On stderr (warnings, progress, `sync -v`) any write error only drops the text.
Text the terminal's encoding cannot show is escaped, never a traceback.
"""

from __future__ import annotations

from typing import TextIO

from .errors import EnvironmentProblem


class OutputLost(EnvironmentProblem):
    """The output could not be written (ENOSPC, EIO, ...): exit 6."""


class TolerantStream:
    """strict: a write error other than EPIPE is OutputLost (stdout: the answer itself was lost); not strict, every
    write error just drops the output (stderr: warnings and progress must not turn a success into a failure)."""

    def __init__(self, stream: TextIO, strict: bool = True):
        self._stream = stream
        self.strict = strict
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            self._guard(self._stream.write, text)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            self._guard(self._stream.flush)

    def _guard(self, call, *args) -> None:
        try:
            call(*args)
        except BrokenPipeError:
            self.broken = True
        except OSError as exc:
            self.broken = True
            if self.strict:
                raise OutputLost(f"cannot write the output: {exc.strerror or exc}") from None

    def __getattr__(self, name):  # fileno, isatty, encoding, buffer...: the real stream's
        return getattr(self._stream, name)


def tolerant(stream: TextIO, strict: bool = True) -> TolerantStream:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (OSError, ValueError):
            pass
    return TolerantStream(stream, strict)


def gone(stream) -> bool:
    """Nobody reads this stream any more, or it cannot be written: streaming commands stop."""
    return bool(getattr(stream, "broken", False))


def quietly(call, *args) -> None:
    """A last word (or flush) that must not fail in turn: the stream may be full or closed too."""
    try:
        call(*args)
    except (OSError, ValueError, OutputLost):
        pass
