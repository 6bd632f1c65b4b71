"""The only module that touches the machine: commands, sysctls, the config lock, mounts and file writes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shlex
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from .errors import CommandError, EnvironmentProblem, InputError, LockError
from .fs import (MAX_SMALL_INPUT_BYTES, PUBLIC_DIR_MODE, ensure_directory, ensure_private_directory, read_bounded,
                 refuse_special_target)
from .paths import NANOBSD_MOUNT, SYSTEM_PATH, Paths

LOCK_FILE_MODE = 0o644
STAGED_SUFFIX_CHARS = 8  # the random part of a staged file's name

COMMAND_TIMEOUT_S = 120


def make_temp_file(directory: str, prefix: str):
    """tempfile.mkstemp without importing tempfile (start-up time): O_CREAT|O_EXCL, mode 0600, a random
    suffix of STAGED_SUFFIX_CHARS characters (remove_stale_staged recognises exactly those)."""
    for _attempt in range(100):
        path = os.path.join(directory, prefix + os.urandom(STAGED_SUFFIX_CHARS // 2).hex())
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def safe_path(inherited: str) -> str:
    """The caller's PATH without empty or relative entries (each means the working directory, where root must
    never pick up an `ifconfig`), then the system directories."""
    kept = [entry for entry in inherited.split(os.pathsep) if entry.startswith("/")]
    return os.pathsep.join(kept + [entry for entry in SYSTEM_PATH.split(os.pathsep) if entry not in kept])


@dataclass(frozen=True)
class Result:
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


class Runner:
    """Runs argv lists. Subclasses decide whether anything really happens."""

    def run(self, argv: Sequence[str], *, mutating: bool = True, check: bool = True,
            input: Optional[str] = None, display: Optional[Sequence[str]] = None) -> Result:
        result = self._execute(tuple(argv), mutating=mutating, input=input)
        if check and result.returncode != 0:
            shown = " ".join(display if display is not None else argv)
            reason = result.stderr.strip() or result.stdout.strip() or "no output"
            raise CommandError(f"command failed (exit {result.returncode}): {shown}", (reason,))
        return result

    def _execute(self, argv: Tuple[str, ...], *, mutating: bool, input: Optional[str]) -> Result:
        raise NotImplementedError


class RealRunner(Runner):
    def _execute(self, argv, *, mutating, input):
        import subprocess  # here, not at the top: commands that run nothing start faster
        env = dict(os.environ)
        env["PATH"] = safe_path(env.get("PATH", ""))
        try:
            completed = subprocess.run(argv, input=input, capture_output=True, text=True, env=env,
                                       timeout=COMMAND_TIMEOUT_S, errors="replace")
        except FileNotFoundError:
            raise EnvironmentProblem(f"command not found: {argv[0]} (is this the right host or --backend?)") from None
        except subprocess.TimeoutExpired:
            raise CommandError(f"command timed out after {COMMAND_TIMEOUT_S} s: {argv[0]}",
                               (f"no answer within {COMMAND_TIMEOUT_S} s",)) from None
        except OSError as exc:  # not executable, exec format error, text file busy, argument list too long
            raise EnvironmentProblem(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        return Result(completed.returncode, completed.stdout, completed.stderr)


class DryRunRunner(Runner):
    """Reads for real (to see what is running), records every change instead of making it."""

    def __init__(self, reader: Optional[Runner] = None):
        self.reader = reader or RealRunner()
        self.skipped: List[Tuple[str, ...]] = []

    def _execute(self, argv, *, mutating, input):
        if mutating:
            self.skipped.append(argv)
            return Result()
        return self.reader._execute(argv, mutating=False, input=input)


class EchoingRunner(Runner):
    """Says each command that changes the host (secrets masked, as `display` gives them) before running it."""

    def __init__(self, inner: Runner, echo: Callable[[str], None]):
        self.inner = inner
        self.echo = echo

    def run(self, argv: Sequence[str], *, mutating: bool = True, check: bool = True,
            input: Optional[str] = None, display: Optional[Sequence[str]] = None) -> Result:
        if mutating:
            self.echo("+ " + " ".join(shlex.quote(word) for word in (display if display is not None else argv)))
        return self.inner.run(argv, mutating=mutating, check=check, input=input, display=display)


@dataclass
class RecordingRunner(Runner):
    """For tests: records every call; `respond` maps an argv to a Result (default: success, no output)."""

    respond: Callable[[Tuple[str, ...]], Result] = field(default=lambda argv: Result())
    calls: List[Tuple[str, ...]] = field(default_factory=list)
    mutating_calls: List[Tuple[str, ...]] = field(default_factory=list)

    def _execute(self, argv, *, mutating, input):
        self.calls.append(argv)
        if mutating:
            self.mutating_calls.append(argv)
        return self.respond(argv)


def _try_freebsd_sysctl(name: str) -> Optional[object]:
    try:
        from freebsd_sysctl import Sysctl  # FreeBSD only
    except ImportError:
        return None
    try:
        return Sysctl(name).value
    except Exception:  # the library raises bare errors for unknown OIDs
        return None


@dataclass
class System:
    runner: Runner
    paths: Paths
    dry_run: bool = False
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    use_sysctl_library: bool = True

    # --- commands -------------------------------------------------------------------------------
    def capture(self, argv: Sequence[str], *, check: bool = True) -> str:
        return self.runner.run(argv, mutating=False, check=check).stdout

    # --- sysctl -----------------------------------------------------------------------------------
    def sysctl_read(self, name: str) -> Optional[int]:
        value = _try_freebsd_sysctl(name) if self.use_sysctl_library else None
        if value is None:
            result = self.runner.run(("sysctl", "-n", name), mutating=False, check=False)
            if result.returncode != 0:
                return None
            value = result.stdout.strip()
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def sysctl_write(self, name: str, value: int) -> None:
        self.runner.run(("sysctl", f"{name}={value}"))

    # --- pfSense config lock ------------------------------------------------------------------------
    @contextlib.contextmanager
    def config_lock(self, timeout_s: float) -> Iterator[None]:
        """pfSense's lock(): flock on /tmp/config.lock, waiting at most timeout_s.

        The lock lives in a world-writable directory: a symlink planted there is refused, never followed
        (following it would create or open a file of the attacker's choosing as root)."""
        if self.dry_run and not os.path.lexists(self.paths.lock):
            yield  # a dry run changes nothing, not even by creating the lock file; nobody holds a missing lock
            return
        ensure_directory(os.path.dirname(self.paths.lock), PUBLIC_DIR_MODE)
        try:
            fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         LOCK_FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockError(f"the config lock {self.paths.lock} is a symbolic link; refusing to follow it "
                                "(someone may be attacking this host: remove the link)") from None
            raise EnvironmentProblem(f"cannot open the config lock {self.paths.lock}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise EnvironmentProblem(f"the config lock {self.paths.lock} is not a regular file (a FIFO or a device); "
                                     "refusing to use it (remove it: pfSense and carp-pkg create it as a file)")
        handle = os.fdopen(fd, "r+")
        try:
            deadline = self.clock() + timeout_s
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.clock() >= deadline:
                        raise LockError(f"the config lock {self.paths.lock} is still held by another process after "
                                        f"{timeout_s:g} s (the pfSense GUI or another carp-pkg); nothing was changed. "
                                        "Try again, or wait longer with --lock-timeout SECONDS") from None
                    self.sleep(0.1)
            yield
        finally:
            handle.close()  # closing releases the flock

    # --- NanoBSD read-only /cf ---------------------------------------------------------------------
    def is_nanobsd(self) -> bool:
        try:
            with open(self.paths.platform_file) as handle:
                return "nanobsd" in handle.read().lower()
        except OSError:
            return False

    @contextlib.contextmanager
    def config_mount_rw(self) -> Iterator[None]:
        """pfSense's conf_mount_rw()/conf_mount_ro(): only NanoBSD keeps /cf read-only."""
        if not self.is_nanobsd():
            yield
            return
        try:
            self.runner.run(("mount", "-u", "-w", "-o", "sync,noatime", NANOBSD_MOUNT))
        except CommandError as exc:
            raise EnvironmentProblem(f"cannot remount {NANOBSD_MOUNT} read-write; nothing was written", exc.details) from None
        try:
            yield
        finally:
            self.runner.run(("mount", "-u", "-r", NANOBSD_MOUNT), check=False)

    # --- files -----------------------------------------------------------------------------------
    def read_text(self, path: str, limit: int = MAX_SMALL_INPUT_BYTES) -> Optional[str]:
        """A state file's text (at most `limit` bytes, regular files only); None when missing."""
        if not os.path.lexists(path):
            return None
        try:
            return read_bounded(path, limit, "state file", allow_pipe=False).decode("utf-8", errors="replace")
        except InputError:
            if not os.path.lexists(path):
                return None  # gone in between (a process that just exited)
            raise

    def ensure_directory(self, directory: str) -> None:
        """carp-pkg's own state dir and everything below it keep secrets: private; other directories are only
        created where missing (0755), never changed."""
        state = os.path.abspath(self.paths.state_dir)
        target = os.path.abspath(directory)
        if target == state or target.startswith(state + os.sep):
            ensure_private_directory(state)
            if target != state:
                ensure_private_directory(target)
        else:
            ensure_directory(target, PUBLIC_DIR_MODE)

    def remove_stale_staged(self, path: str) -> Tuple[str, ...]:
        """Temp copies of `path` left by a write that was killed (SIGKILL, power loss): `.NAME.XXXXXXXX`.
        They may hold secrets, and only carp-pkg makes them, so they go at the start of the next write."""
        directory, name = os.path.split(path)
        prefix = "." + name + "."
        removed = []
        for entry in self.list_dir(directory):
            if not (entry.startswith(prefix) and len(entry) == len(prefix) + STAGED_SUFFIX_CHARS):
                continue
            candidate = os.path.join(directory, entry)
            try:
                info = os.lstat(candidate)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and self.remove_file(candidate):
                removed.append(candidate)
        return tuple(removed)

    def write_atomic(self, path: str, content: str, mode: int, owner: Optional[Tuple[int, int]] = None) -> None:
        """Write a sibling temp file with its final mode, fsync, rename: readers see old or new, never a mix.
        owner: (uid, gid) to keep, when rewriting a file that is not carp-pkg's own (config.xml)."""
        self.stage_atomic(path, content, mode, owner).commit()

    def stage_atomic(self, path: str, content: str, mode: int,
                     owner: Optional[Tuple[int, int]] = None) -> "StagedFile":
        """The first half of write_atomic: the complete temp file, fsynced, not yet renamed into place.

        sync stages the rc script before it changes the host, so a full or read-only disk stops it first."""
        directory = os.path.dirname(path) or "."
        refuse_special_target(path)
        self.ensure_directory(directory)
        try:
            fd, temp_path = make_temp_file(directory, "." + os.path.basename(path) + ".")
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write {path}: {exc.strerror}; the previous file is unchanged") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if owner is not None:
                    os.fchown(handle.fileno(), *owner)
                os.fchmod(handle.fileno(), mode)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            why = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise EnvironmentProblem(f"cannot write {path}: {why}; the previous file is unchanged") from None
        return StagedFile(temp_path, path)

    def snapshot(self, path: str) -> Optional[Tuple[str, int]]:
        """(content, mode) of a file carp-pkg is about to replace, to put it back if the change fails."""
        text = self.read_text(path)
        if text is None:
            return None
        return text, stat.S_IMODE(os.stat(path).st_mode)

    def list_dir(self, path: str) -> Tuple[str, ...]:
        try:
            return tuple(sorted(os.listdir(path)))
        except (FileNotFoundError, NotADirectoryError):
            return ()

    def remove_file(self, path: str) -> bool:
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False


class StreamingProcess:
    """A long-running reader whose stdout is consumed as it comes (tcpdump -w -); always stopped by `stop()`."""

    def __init__(self, argv: Sequence[str], extra_env: Optional[dict] = None):
        import subprocess
        self.argv = tuple(argv)
        env = dict(os.environ)
        env["PATH"] = safe_path(env.get("PATH", ""))
        env.update(extra_env or {})
        try:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except FileNotFoundError:
            raise EnvironmentProblem(f"{self.argv[0]} is not installed") from None
        except PermissionError as exc:
            raise EnvironmentProblem(f"cannot run {self.argv[0]}: {exc}") from None
        self.stdout = self.process.stdout

    def stop(self) -> None:
        import subprocess
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def failure(self, what: str) -> CommandError:
        """The process ended early: its exit status and stderr as a CommandError."""
        import subprocess
        try:
            _, stderr = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.stop()
            stderr = b""
        lines = tuple(line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip())
        return CommandError(f"{what} (exit {self.process.returncode})", lines)


@dataclass
class StagedFile:
    """A complete temp file beside its target: commit() renames it into place, discard() removes it."""

    temp_path: str
    path: str

    def commit(self) -> None:
        try:
            refuse_special_target(self.path)
        except EnvironmentProblem:
            self.discard()
            raise
        try:
            os.replace(self.temp_path, self.path)
        except OSError as exc:
            self.discard()
            raise EnvironmentProblem(f"cannot write {self.path}: {exc.strerror}; the previous file is unchanged") from None
        with contextlib.suppress(OSError):
            dir_fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp_path)


def send_signal(pid: int, signal_number: int) -> bool:
    """Signal a process; False when it is already gone."""
    try:
        os.kill(pid, signal_number)
        return True
    except ProcessLookupError:
        return False
