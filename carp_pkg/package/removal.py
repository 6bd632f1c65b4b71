"""Removal reached from --root one component at a time, never following a symbolic link."""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from typing import List

from .manifest import (GONE, KEEP, REFUSE, REMOVE, Decision, EntryNote, FileState, RemovalReport, decide_directory,
                       shown)
from .targets import MAX_STATE_DIR_DEPTH
from ..paths import STATE_DIR

# --- the file system, reached from --root without following links -------------------------------------


def _path_problem(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
        return "a part of its path is a symbolic link or not a directory; links are never followed"
    return f"cannot be reached: {exc.strerror or exc}"


def open_parent(root: str, target: str) -> int:
    """A descriptor of the directory holding `target`, walked down from --root one component at a time with
    O_NOFOLLOW: a symbolic link anywhere below the root ends the walk (OSError) instead of leading outside."""
    parts = [part for part in posixpath.dirname(target).split("/") if part]
    if not target.startswith("/") or any(part in (".", "..") for part in parts):
        raise OSError(errno.EINVAL, "not a plain absolute path")  # the manifest's checks keep these out; twice is safer
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _sha256_at(directory_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0), dir_fd=directory_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def observe_path(root: str, target: str, with_digest: bool = False) -> FileState:
    try:
        directory_fd = open_parent(root, target)
    except FileNotFoundError:
        return FileState("missing")
    except OSError as exc:
        return FileState("unreachable", problem=_path_problem(exc))
    try:
        info = os.stat(posixpath.basename(target), dir_fd=directory_fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            return FileState("symlink")
        if stat.S_ISDIR(info.st_mode):
            return FileState("directory")
        if not stat.S_ISREG(info.st_mode):
            return FileState("special")
        return FileState("file", _sha256_at(directory_fd, posixpath.basename(target)) if with_digest else "")
    except FileNotFoundError:
        return FileState("missing")
    except OSError as exc:
        return FileState("unreachable", problem=f"cannot be read: {exc.strerror or exc}")
    finally:
        os.close(directory_fd)


def remove_at(root: str, target: str, directory: bool = False) -> Decision:
    """Unlink (or rmdir) `target` through its parent's descriptor; what happened, as a Decision."""
    try:
        directory_fd = open_parent(root, target)
    except FileNotFoundError:
        return Decision(target, GONE)
    except OSError as exc:
        return Decision(target, REFUSE, _path_problem(exc))
    name = posixpath.basename(target)
    try:
        info = os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
        if directory != stat.S_ISDIR(info.st_mode) or (not directory and not stat.S_ISREG(info.st_mode)):
            return Decision(target, REFUSE, "changed while deinstall ran: no longer "
                                            + ("a directory" if directory else "a regular file"))
        if directory:
            os.rmdir(name, dir_fd=directory_fd)
        else:
            os.unlink(name, dir_fd=directory_fd)
        return Decision(target, REMOVE)
    except FileNotFoundError:
        return Decision(target, GONE)
    except OSError as exc:
        if directory and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return Decision(target, KEEP, "not empty: holds files that are not carp-pkg's")
        return Decision(target, KEEP, f"cannot be removed: {exc.strerror or exc}")
    finally:
        os.close(directory_fd)


def _remove_tree_contents(directory_fd: int, where: str, depth: int, problems: List[EntryNote]) -> None:
    """Empty the directory behind `directory_fd` without following a link: a link is removed, never entered."""
    if depth > MAX_STATE_DIR_DEPTH:
        problems.append(EntryNote(shown(where), "nested too deeply; left in place"))
        return
    with os.scandir(directory_fd) as listing:
        names = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing]
    for name, is_directory in names:
        path = posixpath.join(where, name)
        try:
            if is_directory:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory_fd)
                try:
                    _remove_tree_contents(child, path, depth + 1, problems)
                finally:
                    os.close(child)
                os.rmdir(name, dir_fd=directory_fd)
            else:
                os.unlink(name, dir_fd=directory_fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.append(EntryNote(shown(path), f"cannot be removed: {exc.strerror or exc}"))


def remove_state_dir(root: str, keep_reason: str = "") -> RemovalReport:
    """carp-pkg's own state dir, recursively (kept, with `keep_reason`, when that is given); a state dir that
    is a symbolic link is refused and left alone."""
    state = observe_path(root, STATE_DIR)
    if state.kind == "missing":
        return RemovalReport()
    if state.kind != "directory":
        return RemovalReport.of(decide_directory(STATE_DIR, state))
    if keep_reason:
        return RemovalReport(kept=(EntryNote(shown(STATE_DIR), keep_reason),))
    problems: List[EntryNote] = []
    try:
        parent_fd = open_parent(root, STATE_DIR)
        try:
            name = posixpath.basename(STATE_DIR)
            state_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
            try:
                _remove_tree_contents(state_fd, STATE_DIR, 0, problems)
            finally:
                os.close(state_fd)
            if not problems:
                os.rmdir(name, dir_fd=parent_fd)
        finally:
            os.close(parent_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return RemovalReport(kept=(EntryNote(shown(STATE_DIR), _path_problem(exc)), *problems))
    if problems:
        return RemovalReport(kept=(EntryNote(shown(STATE_DIR), "could not be emptied"), *problems))
    return RemovalReport(removed=(STATE_DIR,))
