"""The event log: JSON lines in ROOT/var/db/carp-pkg/events.jsonl (mode 0640), rotated at 1 MiB keeping 3.

Writers (the `event` command, the hook supervisors, several at once on a failover of many vhids) never
lose or mix a line: each line is one `os.write` on a descriptor opened with O_APPEND (the kernel moves to
the end and writes under the inode lock) and is kept below PIPE_BUF. Rotation renames the file (a writer
holding the old descriptor finishes its line in events.jsonl.1) and takes an flock on events.lock, so two
writers crossing 1 MiB together rotate once. Rotation waits for that lock at most LOCK_WAIT_S (then it leaves
rotating to the next writer); the `event` command waits longer for it (it updates transitions.json under it,
and its caller has already put it in the background). Waiting is a blocking flock bounded by a timer
(`flock_within`), so the lock goes to a waiter the moment it is free.

Every file written here is opened by fs.open_for_writing: never through a symlink or a hard link, never a
FIFO or a device (which could block the open), never a file of another user.

Readers get at most READ_LIMIT bytes of each file (the newest ones), never follow a symbolic link and skip
lines that are not JSON objects.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import stat
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import EnvironmentProblem
from ..fs import ensure_private_directory, open_for_writing

LOG_NAME = "events.jsonl"
LOCK_NAME = "events.lock"
ROTATE_BYTES = 1024 * 1024
KEEP = 3  # events.jsonl.1 .. events.jsonl.3 besides the current file
LOG_MODE = 0o640
LOCK_MODE = 0o600
MAX_LINE_BYTES = 3800  # one write, below PIPE_BUF (4096 on Linux, also FreeBSD's atomic pipe write size)
LOCK_WAIT_S = 2.0
READ_LIMIT = 4 * 1024 * 1024
MAX_PENDING = 256 * 1024  # --follow: a "line" longer than this without a newline is dropped
SHRINKABLE = ("output", "vips", "args", "reason")

Entry = Dict[str, object]


def _dump(entry: Entry) -> bytes:
    return (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def _escaped_len(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=True)) - 2


def encode_line(entry: Entry) -> bytes:
    """One JSON line (ASCII: control characters escaped, so it is always exactly one line), shortened to
    MAX_LINE_BYTES by cutting the free-text fields from their end, and saying so ("truncated": true).

    A text is cut by its escaped size (a non-ASCII character is 6 bytes as \\uXXXX, 12 beyond the BMP), so as
    much of its start is kept as fits."""
    line = _dump(entry)
    if len(line) <= MAX_LINE_BYTES:
        return line
    entry = dict(entry)
    entry["truncated"] = True
    line = _dump(entry)
    for key in SHRINKABLE:
        value = entry.get(key)
        if len(line) <= MAX_LINE_BYTES or not value:
            continue
        if isinstance(value, str):
            budget = MAX_LINE_BYTES - (len(line) - _escaped_len(value))  # what this field may take
            low, high = 0, len(value)  # the longest prefix that fits: escaped size only grows with length
            while low < high:
                middle = (low + high + 1) // 2
                if _escaped_len(value[:middle]) <= budget:
                    low = middle
                else:
                    high = middle - 1
            entry[key] = value[:low]
        elif isinstance(value, list):
            while len(line) > MAX_LINE_BYTES and value:
                value = value[:-1]
                entry[key] = value
                line = _dump(entry)
        line = _dump(entry)
    if len(line) > MAX_LINE_BYTES:  # nothing left to cut: keep the kind and time only
        line = _dump({k: entry[k] for k in ("kind", "time") if k in entry} | {"truncated": True})
    return line


def why(error: OSError) -> str:
    """An OSError from writing, in words: a full or read-only disk is named as such."""
    return {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
            errno.EDQUOT: "the disk quota is exceeded", errno.EFBIG: "the file is too large"}.get(
        error.errno, error.strerror or str(error))


def decode_line(line: bytes) -> Optional[Entry]:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


def kind(entry: Entry) -> str:
    """"transition" for the record itself (it has exactly the record's fields), else its `kind`."""
    value = entry.get("kind")
    return value if isinstance(value, str) else "transition"


class _Expired(Exception):
    pass


_waiting = False  # flock_within is in a blocking flock that its timer may end


def _expire(signum, frame) -> None:  # noqa: ARG001
    if _waiting:
        raise _Expired()


def flock_within(fd: int, wait_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> bool:
    """An exclusive flock on fd within wait_s seconds; whether it was obtained.

    A blocking flock, ended by a one-shot real-time timer (SIGALRM) when wait_s passes: the kernel hands the
    lock to a waiter as soon as it is free, with no polling delay. Where a timer cannot be used (not the
    main thread, or a timer of someone else's already running) it polls every 5 ms instead."""
    global _waiting
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    if wait_s <= 0:
        return False
    previous, timer = None, False
    if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
        try:
            previous, timer = signal.signal(signal.SIGALRM, _expire), True
        except ValueError:  # not the main thread: signals cannot be handled here
            pass
    if not timer:
        deadline = clock() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if clock() >= deadline:
                    return False
                sleep(0.005)
    try:
        _waiting = True
        try:
            signal.setitimer(signal.ITIMER_REAL, wait_s)
            fcntl.flock(fd, fcntl.LOCK_EX)
            _waiting = False
            return True
        except _Expired:
            _waiting = False
            try:  # the timer may have fired just as the lock came: then it is held
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
    finally:
        _waiting = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


class EventLog:
    def __init__(self, state_dir: str, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, LOG_NAME)
        self.lock_path = os.path.join(state_dir, LOCK_NAME)
        self.clock, self.sleep = clock, sleep

    def rotated(self, number: int) -> str:
        return f"{self.path}.{number}"

    def prepare(self) -> Optional[int]:
        """The state dir: a real directory, ours, 0700 (it also keeps ucarp's passwords). Returns the mode it
        had when it had to be tightened (it was open to others: the caller says so), else None."""
        return ensure_private_directory(self.state_dir)

    # --- writing ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, wait_s: float = LOCK_WAIT_S) -> Iterator[bool]:
        """Exclusive flock on events.lock for at most wait_s; yields whether it was obtained.
        EnvironmentProblem when events.lock cannot be opened (a symlink, a FIFO, a hard link, ...)."""
        fd = open_for_writing(self.lock_path, LOCK_MODE, append=True)
        try:
            yield flock_within(fd, wait_s, self.clock, self.sleep)
        finally:
            os.close(fd)  # closing releases the flock

    def append(self, entry: Entry) -> int:
        """Append one line with one write; the file's size afterwards (for rotate_if_needed)."""
        line = encode_line(entry)
        fd = open_for_writing(self.path, LOG_MODE, append=True)
        try:
            try:
                written = os.write(fd, line)
            except OSError as exc:
                raise EnvironmentProblem(f"cannot append to {self.path}: {why(exc)}") from None
            if written != len(line):
                raise EnvironmentProblem(f"cannot append to {self.path}: only {written} of {len(line)} bytes written")
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def write(self, entry: Entry) -> None:
        """append + rotate_if_needed, for writers that do not hold the lock."""
        self.rotate_if_needed(self.append(entry))

    def rotate_if_needed(self, size: int) -> bool:
        """Call without holding the lock. Rotates once even when several writers cross the limit together."""
        if size < ROTATE_BYTES:
            return False
        with self.lock() as held:
            if not held:
                return False  # someone else is at it; the next writer looks again
            try:
                info = os.lstat(self.path)
            except FileNotFoundError:
                return False
            if not stat.S_ISREG(info.st_mode) or info.st_size < ROTATE_BYTES:
                return False  # rotated by another writer while this one waited
            for number in range(KEEP - 1, 0, -1):
                if os.path.lexists(self.rotated(number)):
                    os.replace(self.rotated(number), self.rotated(number + 1))
            os.replace(self.path, self.rotated(1))
            return True

    # --- reading ----------------------------------------------------------------------------------
    def files(self) -> List[str]:
        """The log files that exist, oldest first."""
        names = [self.rotated(n) for n in range(KEEP, 0, -1)] + [self.path]
        return [name for name in names if os.path.lexists(name)]

    def entries(self, include_current: bool = True) -> Iterator[Entry]:
        """Every readable entry, oldest first (at most READ_LIMIT bytes of each file: its newest lines);
        include_current=False: the rotated files only (what `follow` does not show)."""
        for path in self.files():
            if path == self.path and not include_current:
                continue
            data = tail_bytes(path, READ_LIMIT)
            for line in data.splitlines():
                entry = decode_line(line)
                if entry is not None:
                    yield entry

    def follow(self, stop: Callable[[], bool], poll_s: float = 0.2) -> Iterator[Entry]:
        """The current file's entries (its last READ_LIMIT bytes), then every entry appended later, across
        rotations, until stop() is true. The caller shows the rotated files first."""
        fd: Optional[int] = None
        inode: Optional[Tuple[int, int]] = None
        pending = b""
        skip_partial = False  # after a seek into the middle of a line, or a line too long to keep
        first = True
        try:
            while not stop():
                if fd is None:
                    fd, inode = _open_regular(self.path)
                    if fd is None:
                        self.sleep(poll_s)
                        continue
                    size = os.fstat(fd).st_size
                    if first and size > READ_LIMIT:
                        os.lseek(fd, size - READ_LIMIT, os.SEEK_SET)
                        skip_partial = True
                    first = False
                chunk = os.read(fd, 65536)
                if chunk:
                    pending += chunk
                    if skip_partial:
                        if b"\n" not in pending:
                            pending = b"" if len(pending) > MAX_PENDING else pending
                            continue
                        pending = pending.split(b"\n", 1)[1]
                        skip_partial = False
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > MAX_PENDING:
                        pending, skip_partial = b"", True
                    for line in lines:
                        entry = decode_line(line)
                        if entry is not None:
                            yield entry
                    continue
                try:
                    info = os.lstat(self.path)
                    current = (info.st_dev, info.st_ino)
                except FileNotFoundError:
                    current = None
                if current is not None and current != inode:  # rotated: the old file is drained, take the new
                    os.close(fd)
                    fd, pending, skip_partial = None, b"", False
                    continue
                self.sleep(poll_s)
        finally:
            if fd is not None:
                os.close(fd)


def _open_regular(path: str) -> Tuple[Optional[int], Optional[Tuple[int, int]]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None, None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, None
    return fd, (info.st_dev, info.st_ino)


def tail_bytes(path: str, limit: int) -> bytes:
    """The last `limit` bytes of a regular file (starting at a whole line), or b"" for anything else."""
    fd, _ = _open_regular(path)
    if fd is None:
        return b""
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            os.lseek(fd, size - limit, os.SEEK_SET)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if size > limit:
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        return data
    finally:
        os.close(fd)
