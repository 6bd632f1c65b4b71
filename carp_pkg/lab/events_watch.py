"""`carp-pkg lab demo` and `lab failover`: print each host's CARP events (transitions, hook results) as they
are written to its event log, while the lab runs."""

from __future__ import annotations

import threading
import time
from typing import Callable, List

from ..events.log import EventLog
from ..paths import Paths
from .layout import HOSTS, LabLayout

POLL_S = 0.1


class EventWatcher:
    """One thread per host following ROOT/var/db/carp-pkg/events.jsonl; `show` gets one formatted line each."""

    def __init__(self, layout: LabLayout, show: Callable[[str], None], existing: bool = True):
        """existing=False: only what is written from now on (a lab that has been up for a while)."""
        self.layout, self.show = layout, show
        self.since = None if existing else time.time()
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []

    def _follow(self, host: str) -> None:
        from ..commands.events import entry_time, format_line
        log = EventLog(Paths(root=self.layout.root(host)).state_dir)
        for entry in log.follow(self._stop.is_set, poll_s=POLL_S):
            if self.since is None or entry_time(entry) >= self.since:
                self.show(f"  [event] host {host}: {format_line(entry)}")

    def start(self) -> "EventWatcher":
        for host in HOSTS:
            thread = threading.Thread(target=self._follow, args=(host,), daemon=True, name=f"lab-events-{host}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, drain_s: float = 1.0) -> None:
        """drain_s: the hosts' last events (a preempting host's MASTER) land a moment after the VIP answers."""
        time.sleep(drain_s)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> "EventWatcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
