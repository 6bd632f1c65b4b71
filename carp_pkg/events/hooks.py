"""User hooks: find them safely, run them detached from the transition, in name order, each with a timeout.

The hooks directory is ROOT/usr/local/etc/carp-pkg/hooks.d on FreeBSD and pfSense, ROOT/etc/carp-pkg/hooks.d
on Linux. Everything in it runs as root, so what may run is decided strictly, and every refusal is logged:
- the directory: not a symbolic link, a directory, owned by root (or the user running carp-pkg), not
  writable by group or others, and neither is its parent (else anyone could swap the directory);
- each entry, in name order: dotfiles and editor or package-manager leftovers (`x~`, `#x#`, `x.bak`,
  `x.orig`, `x.rej`, `x.swp`, `x.dpkg-old`, `x.pkgsave`, ...) are skipped, as are files without an
  execute bit; a symbolic link, anything that is not a regular file, a file writable by group or others
  or owned by someone else, or a name with control characters is refused.

A hook is exec'd directly (no shell: its name is never parsed), with arguments `STATE INTERFACE VHID`,
working directory /, standard input /dev/null, and exactly this environment: CARP_STATE,
CARP_PREVIOUS_STATE, CARP_VHID, CARP_INTERFACE, CARP_VIPS (space-separated, no prefix), CARP_BACKEND,
CARP_TIME, plus a fixed PATH. Its output (stdout and stderr, the first OUTPUT_KEEP bytes) and exit
status go to the event log.

`event` forks a supervisor twice removed (its own session, no inherited descriptors) and returns at once;
the supervisor runs the hooks one after the other, each in a process group of its own. A hook still running
at its timeout gets SIGTERM on its whole group and, KILL_GRACE_S later, SIGKILL on the whole group whether or
not the hook itself has exited by then (a child that ignores SIGTERM does not survive). The hook is not
reaped before that SIGKILL, so the group's id cannot have been reused. A process the hook starts in a session
(or process group) of its own, with setsid(1) or a daemon's double fork, has left the group and escapes the
timeout: it is the hook's to manage.

Order. The hooks of one vhid never overlap and run in the order the events were recorded, newest state last:
each event gets the vhid's next sequence number in transitions.json (under the event log's lock); its
supervisor waits for the vhid's lock (ROOT/var/db/carp-pkg/hook-locks/IF-vhidN.lock, a blocking flock
bounded by MAX_LOCK_WAIT_S) and, once it has it, looks at transitions.json again: if a newer event of the
vhid has been recorded meanwhile, its own hooks are stale and are skipped ("kind": "skipped" in the log,
reason "superseded by a newer transition"). So when a vhid flaps while a hook runs, the events queued behind
it collapse into the newest one: only its hooks run next, and the last hooks to run are always those of the
vhid's final state. (An event that could not be numbered, its transitions.json update having failed, runs
its hooks without that check.) The hooks of one event, once started, all run.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import CarpError
from ..fs import check_private_directory, ensure_private_directory, inside, open_for_writing
from . import transitions
from .log import EventLog, flock_within
from .record import format_time, shown

LINUX_ETC = "/etc/carp-pkg"
FREEBSD_ETC = "/usr/local/etc/carp-pkg"  # FreeBSD and pfSense: local configuration lives under /usr/local
HOOKS_SUBDIR = "hooks.d"
CONF_NAME = "events.conf"
LOCKS_SUBDIR = "hook-locks"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0
KILL_GRACE_S = 2.0
OUTPUT_KEEP = 2048
MAX_HOOKS = 64
MAX_CONF_BYTES = 4096
MAX_LOCK_WAIT_S = 600.0
HOOK_PATH = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
SKIPPED_SUFFIXES = ("~", ".bak", ".orig", ".rej", ".swp", ".swo", ".tmp", ".old", ".new", ".save", ".disabled",
                    ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".dpkg-bak", ".ucf-old", ".ucf-new",
                    ".ucf-dist", ".rpmnew", ".rpmsave", ".rpmorig", ".pkgsave", ".pkgnew", ".sample")


def etc_dir(root: str, platform: Optional[str] = None) -> str:
    target = FREEBSD_ETC if (platform or sys.platform).startswith("freebsd") else LINUX_ETC
    return os.path.join(root, target.lstrip("/"))


def hooks_dir(root: str, platform: Optional[str] = None) -> str:
    return os.path.join(etc_dir(root, platform), HOOKS_SUBDIR)


def conf_path(root: str, platform: Optional[str] = None) -> str:
    return os.path.join(etc_dir(root, platform), CONF_NAME)


class Refusal(NamedTuple):
    what: str  # hooks-dir | hook | config
    path: str
    reason: str

    def entry(self, now: float) -> Dict[str, object]:
        return {"kind": "refused", "time": format_time(now), "what": self.what,
                "path": shown(self.path, 300, tail=True), "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.what} {shown(self.path, 300, tail=True)} refused: {self.reason}"


class Discovery(NamedTuple):
    hooks: Tuple[str, ...] = ()
    refusals: Tuple[Refusal, ...] = ()


def skipped(name: str) -> bool:
    """Dotfiles and the leftovers of editors and package managers never run."""
    return name.startswith(".") or (name.startswith("#") and name.endswith("#")) or name.endswith(SKIPPED_SUFFIXES)


def unsafe(info: os.stat_result, euid: int) -> Optional[str]:
    """Why a file or directory that lstat described may not be trusted to run as root, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link; links are never followed"
    if info.st_uid not in (0, euid):
        return f"is owned by uid {info.st_uid}, not by root; chown root it"
    if info.st_mode & 0o022:
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); chmod go-w it"
    return None


def discover(directory: str, euid: Optional[int] = None) -> Discovery:
    euid = os.geteuid() if euid is None else euid
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return Discovery()  # no hooks configured: nothing to say
    except OSError as exc:
        return Discovery(refusals=(Refusal("hooks-dir", directory, f"cannot be read: {exc.strerror}"),))
    problem = unsafe(info, euid)
    if problem is None and not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    if problem is None:
        parent = os.path.dirname(os.path.abspath(directory))
        parent_problem = unsafe(os.stat(parent), euid)  # where a link leads is what counts for the parent
        if parent_problem:
            problem = f"its parent {parent} {parent_problem} (anyone who may write there can replace hooks.d)"
    if problem is not None:
        return Discovery(refusals=(Refusal("hooks-dir", directory, problem),))
    hooks: List[str] = []
    refusals: List[Refusal] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return Discovery(refusals=(Refusal("hooks-dir", directory, f"cannot be listed: {exc.strerror}"),))
    for name in names:
        if skipped(name):
            continue
        path = os.path.join(directory, name)
        if not name.isprintable():
            refusals.append(Refusal("hook", path, "its name has control characters"))
            continue
        try:
            entry = os.lstat(path)
        except OSError:
            continue  # removed in between
        problem = unsafe(entry, euid)
        if problem is None and not stat.S_ISREG(entry.st_mode):
            problem = "is not a regular file"
        if problem is None and not entry.st_mode & stat.S_IXUSR:
            continue  # not executable: not a hook (a README, a disabled hook)
        if problem is not None:
            refusals.append(Refusal("hook", path, problem))
        elif len(hooks) >= MAX_HOOKS:
            refusals.append(Refusal("hook", path, f"more than {MAX_HOOKS} hooks; the rest do not run"))
        else:
            hooks.append(path)
    return Discovery(tuple(hooks), tuple(refusals))


def read_timeout(path: str, euid: Optional[int] = None) -> Tuple[float, Optional[Refusal]]:
    """`hook_timeout = SECONDS` from events.conf (same ownership rules as a hook), else the default."""
    euid = os.geteuid() if euid is None else euid
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return DEFAULT_TIMEOUT_S, None
    except OSError as exc:
        return DEFAULT_TIMEOUT_S, Refusal("config", path, f"cannot be read: {exc.strerror}")
    problem = unsafe(info, euid) or (None if stat.S_ISREG(info.st_mode) else "is not a regular file")
    if problem is None and info.st_size > MAX_CONF_BYTES:
        problem = f"is larger than {MAX_CONF_BYTES} bytes"
    if problem is not None:
        return DEFAULT_TIMEOUT_S, Refusal("config", path,
                                          f"{problem}; using the default hook timeout {DEFAULT_TIMEOUT_S:g} s")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            text = handle.read(MAX_CONF_BYTES).decode("utf-8", "replace")
    except OSError as exc:
        return DEFAULT_TIMEOUT_S, Refusal("config", path, f"cannot be read: {exc.strerror}")
    timeout = DEFAULT_TIMEOUT_S
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or name != "hook_timeout":
            return DEFAULT_TIMEOUT_S, Refusal("config", path, f"line {number}: {shown(line)} is not "
                                              "`hook_timeout = SECONDS`; using the default")
        try:
            timeout = float(value)
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= MAX_TIMEOUT_S:
            return DEFAULT_TIMEOUT_S, Refusal("config", path, f"line {number}: hook_timeout {shown(value)} is "
                                              f"not a number of seconds in (0, {MAX_TIMEOUT_S:g}]; using the default")
    return timeout, None


# --- running ------------------------------------------------------------------------------------------

def hook_env(record: Dict[str, object]) -> Dict[str, str]:
    """Exactly the variables the hooks are promised, and a fixed PATH; nothing inherited."""
    return {
        "CARP_STATE": str(record["state"]),
        "CARP_PREVIOUS_STATE": str(record.get("previous") or ""),
        "CARP_VHID": str(record["vhid"]),
        "CARP_INTERFACE": str(record["interface"]),
        "CARP_VIPS": " ".join(str(v) for v in record.get("vips") or ()),  # type: ignore[union-attr]
        "CARP_BACKEND": str(record["backend"]),
        "CARP_TIME": str(record["time"]),
        "PATH": HOOK_PATH,
    }


def hook_argv(path: str, record: Dict[str, object]) -> List[str]:
    return [path, str(record["state"]), str(record["interface"]), str(record["vhid"])]


def _kill_group(pid: int, signal_number: int) -> None:
    try:
        os.killpg(pid, signal_number)
    except (ProcessLookupError, PermissionError):
        pass


def run_one(path: str, record: Dict[str, object], timeout_s: float, event_time: float,
            clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> Dict[str, object]:
    """Run one hook to its end or its timeout; the log entry saying how it went."""
    started_wall, started = wall(), clock()
    entry: Dict[str, object] = {"kind": "hook", "time": format_time(started_wall), "interface": record["interface"],
                                "vhid": record["vhid"], "state": record["state"], "event_time": record["time"],
                                "hook": os.path.basename(path), "delay_s": round(max(0.0, started_wall - event_time), 4)}
    try:
        process = subprocess.Popen(hook_argv(path, record), env=hook_env(record), cwd="/", stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                   close_fds=True)
    except OSError as exc:
        entry.update({"exit": None, "error": f"cannot run it: {exc.strerror or exc}", "duration_s": 0.0})
        return entry
    output = bytearray()
    dropped = 0
    timed_out = False
    reader = process.stdout
    fd = reader.fileno()
    os.set_blocking(fd, False)
    deadline = started + timeout_s
    open_output = True

    def take(chunk: bytes) -> None:
        nonlocal dropped
        keep = max(0, OUTPUT_KEEP - len(output))
        output.extend(chunk[:keep])
        dropped += len(chunk) - min(len(chunk), keep)

    while process.poll() is None:
        remaining = deadline - clock()
        if remaining <= 0:
            timed_out = True
            _kill_group(process.pid, signal.SIGTERM)
            grace_end = clock() + KILL_GRACE_S
            while clock() < grace_end:  # the group's grace: end early once the hook is gone and its output closed
                if _exited_unreaped(process) and not open_output:
                    break
                if open_output:
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    chunk = _read(fd) if ready else None
                    if chunk == b"":
                        open_output = False
                    elif chunk:
                        take(chunk)
                else:
                    time.sleep(0.02)
            _kill_group(process.pid, signal.SIGKILL)  # whatever is left of the group, hook exited or not
            process.wait()
            break
        if open_output:
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.05))
            if ready:
                chunk = _read(fd)
                if chunk is None:
                    continue
                if not chunk:
                    open_output = False  # output closed; wait for the exit alone
                    continue
                take(chunk)
        else:
            try:
                process.wait(timeout=min(remaining, 0.5))
            except subprocess.TimeoutExpired:
                pass
    while open_output:  # what is already there; a daemon the hook started may keep the pipe open, so no waiting
        chunk = _read(fd)
        if not chunk:
            break
        take(chunk)
        if dropped > 16 * OUTPUT_KEEP:
            break
    reader.close()
    code = process.returncode
    entry.update({"exit": code if code is not None and code >= 0 else None,
                  "signal": _signal_name(-code) if code is not None and code < 0 else None,
                  "timed_out": timed_out, "duration_s": round(clock() - started, 3),
                  "output": output.decode("utf-8", "replace"), "output_dropped": dropped})
    if timed_out:
        entry["reason"] = f"still running after its timeout of {timeout_s:g} s: killed"
    return entry


def _exited_unreaped(process: subprocess.Popen) -> bool:
    """Whether the hook has exited, leaving it a zombie (not reaped: its pid, the group's id, stays taken)."""
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except (AttributeError, ChildProcessError):  # no waitid here: only the full grace tells
        return False


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read(fd: int) -> Optional[bytes]:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def vhid_lock(state_dir: str, interface: str, vhid: int) -> Tuple[int, Optional[int]]:
    """(the vhid's lock file, opened; the mode hook-locks had when it had to be tightened, else None)."""
    check_private_directory(state_dir)  # `event` made it private: a link or an open one now is refused
    directory = os.path.join(state_dir, LOCKS_SUBDIR)
    loose = ensure_private_directory(directory)  # a real directory of ours, 0700: no symlink followed
    return open_for_writing(inside(directory, f"{interface}-vhid{int(vhid)}.lock"), 0o600, append=True), loose


SUPERSEDED = "superseded by a newer transition"


def supervise(log: EventLog, record: Dict[str, object], event_time: float, hooks: Sequence[str],
              timeout_s: float, clock: Callable[[], float] = time.monotonic,
              wall: Callable[[], float] = time.time, seq: Optional[int] = None) -> None:
    """Run the hooks one after the other, after the hooks of this vhid's earlier events, logging each; skip
    them all (and log that) when a newer event of the vhid (a higher seq in transitions.json) was recorded
    while this one waited. seq None: the event has no number (its transitions.json update failed)."""
    interface, vhid = str(record["interface"]), int(record["vhid"])  # type: ignore[call-overload]
    try:
        lock, loose = vhid_lock(log.state_dir, interface, vhid)
    except CarpError as exc:
        _log_quietly(log, {"kind": "warning", "time": format_time(wall()), "interface": interface, "vhid": vhid,
                           "reason": f"{exc.message}; the hooks run without the vhid's lock"})
        lock, loose = None, None
    try:
        if loose is not None:
            _log_quietly(log, {"kind": "warning", "time": format_time(wall()), "interface": interface, "vhid": vhid,
                               "reason": f"{os.path.join(log.state_dir, LOCKS_SUBDIR)} was mode {loose:04o} (open "
                                         "to others); made it 0700"})
        if lock is not None:
            flock_within(lock, MAX_LOCK_WAIT_S)  # a supervisor stuck far past every timeout must not stop the hooks for good
        newest = transitions.sequence(transitions.read(log.state_dir), interface, vhid)
        if seq is not None and newest > seq:
            _log_quietly(log, {"kind": "skipped", "time": format_time(wall()), "interface": interface, "vhid": vhid,
                               "state": record["state"], "event_time": record["time"], "seq": seq,
                               "newest_seq": newest, "hooks": [os.path.basename(h) for h in hooks],
                               "reason": SUPERSEDED})
            return
        for path in hooks:
            _log_quietly(log, run_one(path, record, timeout_s, event_time, clock, wall))
    finally:
        if lock is not None:
            os.close(lock)


def _log_quietly(log: EventLog, entry: Dict[str, object]) -> None:
    try:
        log.write(entry)
    except (CarpError, OSError):
        pass  # the log went away (deinstall) or the disk is full: the hooks still run


def spawn_detached(work: Callable[[], None]) -> None:
    """Run `work` in a grandchild in a session of its own, with /dev/null as its standard streams and no
    other inherited descriptor, and return as soon as the intermediate child has exited (no zombie is
    left; the caller never waits for `work`). OSError when the fork fails."""
    pid = os.fork()
    if pid != 0:
        os.waitpid(pid, 0)
        return
    try:  # the child: never returns to the caller's code
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.closerange(3, 65536)  # ucarp's packet socket, the caller's pipes: nothing leaks into the hooks
        work()
    except BaseException:  # noqa: BLE001 - a detached worker has nowhere to report; the log has what it did
        pass
    finally:
        os._exit(0)
