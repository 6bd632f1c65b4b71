"""File-system primitives that treat every path and every input as hostile.

- Reads are bounded and only from regular files or pipes: `/dev/zero`, `/proc/self/mem` or a
  directory given as an input is refused with one line, never read until memory runs out.
- Files and directories get explicit modes (the caller's umask never decides who may write a
  script that runs as root), and a symlink where carp-pkg creates or truncates a file is refused.
- A file name built from data (an interface name, a vhid) must stay one plain component inside
  its directory.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from typing import Dict, Optional

from .errors import EnvironmentProblem, InputError

MiB = 1024 * 1024
MAX_INPUT_BYTES = 64 * MiB  # config.xml, the largest input carp-pkg reads
MAX_SMALL_INPUT_BYTES = 4 * MiB  # captures, entry JSON, manifests, state files
SAFE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")
PRIVATE_DIR_MODE = 0o700
PUBLIC_DIR_MODE = 0o755


def _describe(error: OSError) -> str:
    return {errno.ENOENT: "no such file", errno.EACCES: "permission denied", errno.EISDIR: "is a directory",
            errno.ENOTDIR: "a part of the path is not a directory", errno.ELOOP: "is a symbolic link",
            errno.EIO: "input/output error (not a file that can be read)"}.get(error.errno, error.strerror or str(error))


def read_bounded(path: str, limit: int = MAX_SMALL_INPUT_BYTES, what: str = "input",
                 hints: Optional[Dict[int, str]] = None, follow_symlinks: bool = True,
                 allow_pipe: bool = True) -> bytes:
    """At most `limit` bytes of a regular file or a pipe (`-` = standard input); anything else is refused.
    hints: errno → advice appended to the message (e.g. where the file usually is);
    follow_symlinks=False: a symlink is refused (files carp-pkg itself wrote, in its own directories);
    allow_pipe=False: a FIFO is refused too (state files: a writer on a planted FIFO would block the read)."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:  # a text stream put in place of stdin (an embedding program, a test)
            return _read_stream(sys.stdin, limit, f"{what} (standard input)").encode("utf-8")
        return _read_stream(stdin, limit, f"{what} (standard input)")
    with open_input(path, what, hints, follow_symlinks, allow_pipe) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise InputError(f"{path}: {_size(size)} is larger than the {_size(limit)} a {what} may be")
        return _read_stream(handle, limit, f"{path} ({what})")


def open_input(path: str, what: str = "input", hints: Optional[Dict[int, str]] = None,
               follow_symlinks: bool = True, allow_pipe: bool = True):
    """A binary stream of a regular file or a pipe; anything else (a directory, a device such as /dev/zero)
    is refused with one line. Opened non-blocking, so a FIFO without a writer cannot hang the open;
    reads block as usual."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        hint = (hints or {}).get(exc.errno, f" ({what})")
        raise InputError(f"{path}: {_describe(exc)}{hint}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path}: is a directory, not a {what}")
        if not (stat.S_ISREG(info.st_mode) or (allow_pipe and stat.S_ISFIFO(info.st_mode))):
            raise InputError(f"{path}: is a device or special file, not a {what}; give a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_stream(handle, limit: int, where: str) -> bytes:
    try:
        data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{where}: {_describe(exc)}") from None
    if data is None:
        data = b""
    if len(data) > limit:
        raise InputError(f"{where}: more than the {_size(limit)} it may be; refusing to read the rest")
    return data


def read_text_bounded(path: str, limit: int = MAX_SMALL_INPUT_BYTES, what: str = "input") -> str:
    return read_bounded(path, limit, what).decode("utf-8", errors="replace")


def _size(count: int) -> str:
    return f"{count / MiB:.0f} MiB" if count >= MiB else f"{count} bytes"


def is_safe_name(name: str) -> bool:
    """One plain path component of the characters carp-pkg allows in device names and its own files."""
    return bool(name) and name not in (".", "..") and all(c in SAFE_NAME_CHARS for c in name)


def inside(directory: str, name: str) -> str:
    """directory/name, refusing a name that could leave the directory (`/`, `..`, control characters)."""
    if not is_safe_name(name):
        raise InputError(f"refusing the file name {name!r}: it must be one plain name of [A-Za-z0-9_.:-], "
                         f"inside {directory}")
    return os.path.join(directory, name)


def ensure_directory(path: str, mode: int = PUBLIC_DIR_MODE) -> None:
    """Create `path` and its missing parents with explicit modes (not the umask's): parents 0755, `path`
    itself `mode`. Directories that exist are left exactly as they are (/tmp stays 1777)."""
    target = os.path.abspath(path)
    missing = []
    current = target
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        wanted = mode if directory == target else PUBLIC_DIR_MODE
        try:
            os.mkdir(directory, wanted)
            os.chmod(directory, wanted)
        except FileExistsError:
            continue  # made by someone else in between: checked below like any existing one
        except OSError as exc:
            raise EnvironmentProblem(f"cannot create the directory {directory}: {_describe(exc)}") from None
    if not os.path.isdir(target):
        raise EnvironmentProblem(f"{path} exists and is not a directory")


def check_private_directory(path: str) -> None:
    """A directory carp-pkg made for itself and still may trust: not a link, ours, closed to others."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: {_describe(exc)}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise EnvironmentProblem(f"{path} is not a real directory (a symbolic link or a file); refusing to use it")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise EnvironmentProblem(f"{path} belongs to uid {info.st_uid} or may be written by others "
                                 f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to trust what it holds")


def ensure_private_directory(path: str) -> Optional[int]:
    """carp-pkg's own state directory: a real directory (not a symlink), owned by the user running carp-pkg,
    and 0700, since it keeps the password salt, ucarp's passwords and the scripts ucarp runs as root.
    Returns the mode it found when it had to tighten it (the directory was open to others: a caller may say
    so), else None."""
    ensure_directory(path, PRIVATE_DIR_MODE)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise EnvironmentProblem(f"{path} is a symbolic link; carp-pkg keeps its files only in a real directory "
                                 "(remove the link)")
    if info.st_uid != os.geteuid():
        raise EnvironmentProblem(f"{path} belongs to uid {info.st_uid}, not to the user running carp-pkg; "
                                 "refusing to keep scripts or secrets there")
    found = stat.S_IMODE(info.st_mode)
    if found != PRIVATE_DIR_MODE:
        try:
            os.chmod(path, PRIVATE_DIR_MODE)
        except OSError as exc:
            raise EnvironmentProblem(f"{path} is open to others and cannot be made private: {_describe(exc)}") from None
        return found
    return None


def refuse_special_target(path: str) -> None:
    """A file carp-pkg replaces by renaming a new one over it must be a regular file or absent: a rename over a
    symbolic link, a device (`--output /dev/null`), a FIFO or a socket would silently replace it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {_describe(exc)}") from None
    if stat.S_ISLNK(info.st_mode):
        raise EnvironmentProblem(f"{path} is a symbolic link, which is not a regular file; refusing to replace it "
                                 "(remove the link, or give the file it points to)")
    if not stat.S_ISREG(info.st_mode):
        raise EnvironmentProblem(f"{path} is not a regular file (a device, FIFO, socket or directory); refusing to "
                                 "replace it")


def open_for_writing(path: str, mode: int, append: bool = False) -> int:
    """A file descriptor for writing a regular file of ours; the file gets exactly `mode`.

    Never follows a symlink, never blocks on a FIFO (opened O_NONBLOCK: a FIFO without a reader is ENXIO,
    with one it is not a regular file), and checks the file before changing it (no O_TRUNC: it is
    truncated only once accepted): a file with another hard link (a name planted elsewhere for the same
    file) or owned by another user is refused, never written through or chmod-ed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EnvironmentProblem(f"{path} is a symbolic link; refusing to write through it (remove the link)") from None
        if exc.errno == errno.ENXIO:
            raise EnvironmentProblem(f"{path} is a FIFO or a device, not a regular file; refusing to write to it") from None
        raise EnvironmentProblem(f"cannot write {path}: {_describe(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EnvironmentProblem(f"{path} is not a regular file; refusing to write to it")
        if info.st_nlink != 1:
            raise EnvironmentProblem(f"{path} has {info.st_nlink} hard links; refusing to write through it "
                                     "(another name of the same file may be anywhere: remove it)")
        if info.st_uid != os.geteuid():
            raise EnvironmentProblem(f"{path} belongs to uid {info.st_uid}, not to the user running carp-pkg; "
                                     "refusing to write to it")
        os.set_blocking(fd, True)
        if not append:
            os.ftruncate(fd, 0)
        os.fchmod(fd, mode)
    except OSError as exc:
        os.close(fd)
        raise EnvironmentProblem(f"cannot write {path}: {_describe(exc)}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd
