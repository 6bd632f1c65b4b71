"""What the lab is waiting for, while it waits: one line per phase, a live seconds counter on a terminal."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator, Optional, TextIO

TICK_S = 0.1


class Progress:
    """`with progress.phase("waiting for b to answer (up to 6 s)"):` prints the phase, then how long it took.

    On a terminal the line counts the seconds while it waits; elsewhere (CI logs, pipes) only the two lines."""

    def __init__(self, stream: Optional[TextIO] = None, live: Optional[bool] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.live = bool(stream is not None and (live if live is not None else _is_terminal(stream)))
        self.clock = clock

    @contextlib.contextmanager
    def phase(self, text: str) -> Iterator[None]:
        if self.stream is None:
            yield
            return
        started = self.clock()
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(text, started, stop), daemon=True) if self.live else None
        if ticker is not None:
            ticker.start()
        else:
            self._write(f"... {text}\n")
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            self._write(f"{chr(13) if self.live else ''}... {text}: {self.clock() - started:.1f} s\n")

    def _tick(self, text: str, started: float, stop: threading.Event) -> None:
        while not stop.wait(TICK_S):
            self._write(f"\r... {text}: {self.clock() - started:.1f} s")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


QUIET = Progress()
