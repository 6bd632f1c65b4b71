"""install / deinstall: the package's pfSense hooks, done so that deinstall leaves nothing behind.

install records in a manifest exactly what it created (files, directories, the sysctl values it
found); deinstall stops CARP, restores those sysctls and removes what the manifest lists.

The manifest is a file on disk, so deinstall treats it as hostile input:
- its schema is checked entry by entry; a damaged entry is refused and reported, the valid ones are
  still acted on (deinstall must always be able to stop CARP);
- only carp-pkg's own files are removed: the exact targets of PACKAGE_FILES, RC_SCRIPT, CONFIG_LOCK
  and the manifest, and the files the backend's sync wrote outside the state dir (BACKEND_FILES:
  keepalived's /etc/keepalived/carp-pkg.conf), each a regular file reached from --root without following any
  symbolic link; a symlink, a directory or a device in their place is refused, never followed;
- a package file whose sha256 differs from the one install recorded was edited by the admin: kept;
- a directory is removed only when empty, only when it is a parent of those targets, and never a
  system directory (/usr, /etc, /var, /tmp, ...);
- the state dir is removed with everything in it, never through a symbolic link.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from lxml import etree

from . import __version__
from .backends.base import Backend
from .backends.keepalived_conf import CONF as KEEPALIVED_CONF
from .configxml import CARP_PATH, parse_document, read_config_bytes
from .errors import CarpError, EnvironmentProblem
from .events import devd
from .events.invocation import event_argv
from .fs import PRIVATE_DIR_MODE, PUBLIC_DIR_MODE, ensure_directory, ensure_private_directory, open_for_writing, read_bounded
from .paths import CONFIG_LOCK, RC_SCRIPT, STATE_DIR, Paths
from .plan import Plan
from .sync import SyncResult, execute, observe, sync, teardown_plan
from .system import System

MANIFEST_MODE = 0o600
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
LOCK_FILE_MODE = 0o644
DIRECTORY_MODE = PUBLIC_DIR_MODE
STATE_DIR_MODE = PRIVATE_DIR_MODE  # it keeps the applied record's salt and ucarp passwords: root only
# (file in pkgxml/, where pfSense expects it)
PACKAGE_FILES: Tuple[Tuple[str, str], ...] = (
    ("carp.xml", "/usr/local/pkg/carp.xml"),
    ("carp.inc", "/usr/local/pkg/carp.inc"),
    ("carp.priv.inc", "/etc/inc/priv/carp.priv.inc"),
    ("carp_status.php", "/usr/local/www/carp_status.php"),
    ("carp_rules.php", "/usr/local/pkg/pf/carp_rules.php"),
)
# carp_rules.php is a command for manual use (`php .../carp_rules.php | pfctl -a carp -f -`), hence executable.
# pfSense never runs it: run_plugins() (util.inc) takes only *.sh and *.inc from /usr/local/pkg/pf. The filter
# gets the rules from carp.inc's carp_generate_rules("pfearly"), named by carp.xml's <filter_rules_needed>.
EXECUTABLE = frozenset({"/usr/local/pkg/pf/carp_rules.php"})
SYSCTLS_BY_BACKEND = {
    "freebsd": ("net.inet.carp.preempt",),
    "freebsd-legacy": ("net.inet.carp.preempt", "net.inet.carp.arpbalance"),
    "ucarp": (),
}
MANIFEST_TARGET = STATE_DIR + "/manifest.json"


def ancestors(target: str) -> Tuple[str, ...]:
    """The directories above `target`, deepest first, without `/`."""
    found = []
    parent = posixpath.dirname(target)
    while parent not in ("/", ""):
        found.append(parent)
        parent = posixpath.dirname(parent)
    return tuple(found)


# everything deinstall may ever remove: these files, their empty parents (not the system's) and the state dir
OWN_FILES: FrozenSet[str] = frozenset({target for _, target in PACKAGE_FILES} | {devd.TARGET}
                                      | {RC_SCRIPT, CONFIG_LOCK, MANIFEST_TARGET})
OWN_DIRECTORIES: FrozenSet[str] = frozenset(directory for target in OWN_FILES for directory in ancestors(target))
# files a backend's sync writes outside the state dir (Backend.owned_files()); deinstall removes exactly these, when a
# regular file reached without a symbolic link, and never their directories (/etc/keepalived is keepalived's)
BACKEND_FILES: FrozenSet[str] = frozenset({KEEPALIVED_CONF})
SYSTEM_DIRECTORIES: FrozenSet[str] = frozenset({"/", "/etc", "/tmp", "/usr", "/usr/local", "/usr/local/etc",
                                                "/var", "/var/db"})  # never removed, even when empty
SYSCTL_NAME = re.compile(r"net\.inet\.carp\.[a-z_]+")
SYSCTL_RANGE = (-(2 ** 31), 2 ** 31 - 1)
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MANIFEST_KEYS = ("files", "directories", "sysctls_before", "sha256")
SHOWN_MAX = 100
MAX_REFUSALS_LISTED = 40  # a 4 MiB manifest can hold a million bad entries: list these, count the rest
MAX_SYSCTLS = 8  # install records at most two; each one restored costs a command
MAX_STATE_DIR_DEPTH = 8


def package_source_dir(explicit: Optional[str] = None) -> str:
    """Where pkgxml/ lives: --source, the installed share/carp-pkg/pkgxml, or the source checkout."""
    candidates = [explicit] if explicit else [
        os.path.join(sys.prefix, "share", "carp-pkg", "pkgxml"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pkgxml"),
    ]
    for candidate in candidates:
        if candidate and all(os.path.isfile(os.path.join(candidate, name)) for name, _ in PACKAGE_FILES):
            return candidate
    raise EnvironmentProblem("cannot find the package files (carp.xml, carp.inc, ...); give their folder with --source")


# --- data ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What install created, as target paths (joined under --root when used)."""

    files: Tuple[str, ...] = ()
    directories: Tuple[str, ...] = ()  # created by install, deepest removed first
    sysctls_before: Mapping[str, Optional[int]] = field(default_factory=dict)
    hashes: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"files": list(self.files), "directories": list(self.directories),
                           "sysctls_before": dict(self.sysctls_before), "sha256": dict(self.hashes)}, indent=1) + "\n"

    def with_file(self, target: str, digest: str = "") -> "Manifest":
        files = self.files if target in self.files else self.files + (target,)
        hashes = {**self.hashes, target: digest} if digest else self.hashes
        return replace(self, files=files, hashes=hashes)

    def with_directories(self, directories: Tuple[str, ...]) -> "Manifest":
        """`directories` outermost first, as install creates them."""
        return replace(self, directories=self.directories + tuple(d for d in directories if d not in self.directories))

    def with_sysctl_found(self, name: str, value: Optional[int]) -> "Manifest":
        """The first value install found wins: a re-install must not record its own setting as the original."""
        if name in self.sysctls_before:
            return self
        return replace(self, sysctls_before={**self.sysctls_before, name: value})


@dataclass(frozen=True)
class EntryNote:
    """One manifest entry (or path) deinstall refused or kept, and why."""

    entry: str
    reason: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.reason}"

    def to_json(self) -> Dict[str, str]:
        return {"entry": self.entry, "reason": self.reason}


@dataclass(frozen=True)
class ManifestReading:
    """The manifest's valid entries, the refused ones, and whether it had to be refused as a whole."""

    manifest: Manifest = field(default_factory=Manifest)
    refused: Tuple[EntryNote, ...] = ()
    unreadable: bool = False
    unverifiable: FrozenSet[str] = frozenset()  # files whose recorded sha256 is damaged: kept, not removed


REMOVE, KEEP, REFUSE, GONE = "remove", "keep", "refuse", "gone"


@dataclass(frozen=True)
class FileState:
    """What lstat found at a target, reached from --root without following a link."""

    kind: str  # missing | file | symlink | directory | special | unreachable
    digest: str = ""
    problem: str = ""


@dataclass(frozen=True)
class Decision:
    target: str
    action: str  # REMOVE | KEEP | REFUSE | GONE
    reason: str = ""

    def note(self) -> EntryNote:
        return EntryNote(shown(self.target), self.reason)


@dataclass(frozen=True)
class RemovalReport:
    removed: Tuple[str, ...] = ()
    kept: Tuple[EntryNote, ...] = ()
    refused: Tuple[EntryNote, ...] = ()

    def __add__(self, other: "RemovalReport") -> "RemovalReport":
        return RemovalReport(self.removed + other.removed, self.kept + other.kept, self.refused + other.refused)

    @classmethod
    def of(cls, decision: Decision) -> "RemovalReport":
        if decision.action == REMOVE:
            return cls(removed=(decision.target,))
        if decision.action == KEEP:
            return cls(kept=(decision.note(),))
        if decision.action == REFUSE:
            return cls(refused=(decision.note(),))
        return cls()


@dataclass(frozen=True)
class InstallOutcome:
    manifest: Manifest
    sync: SyncResult
    dropped: Tuple[EntryNote, ...] = ()  # entries of an earlier, damaged manifest that were not carried over


@dataclass(frozen=True)
class InstallPreview:
    files: Tuple[Tuple[str, int], ...]  # (target, mode) install would place
    manifest: Manifest  # as install would write it
    sync: SyncResult  # the first sync, as a dry run
    dropped: Tuple[EntryNote, ...] = ()

    def to_json(self) -> Dict[str, object]:
        return {"dry_run": True, "would_place": [{"path": t, "mode": oct(m)} for t, m in self.files],
                "manifest": json.loads(self.manifest.to_json()),
                "dropped_from_old_manifest": [n.to_json() for n in self.dropped], "sync": self.sync.to_json()}


@dataclass(frozen=True)
class DeinstallReport:
    dry_run: bool
    removal: RemovalReport
    plan: Optional[Plan] = None  # dry runs: what would be stopped
    restored_sysctls: Tuple[str, ...] = ()
    purged: bool = False
    notes: Tuple[str, ...] = ()
    leftover_steps: int = 0

    @property
    def refused(self) -> Tuple[EntryNote, ...]:
        return self.removal.refused

    def to_json(self) -> Dict[str, object]:
        removal = {"kept": [n.to_json() for n in self.removal.kept],
                   "refused": [n.to_json() for n in self.removal.refused]}
        if self.dry_run:
            return {"dry_run": True, "would_remove": list(self.removal.removed), **removal,
                    "steps": self.plan.to_json()["steps"] if self.plan is not None else []}
        return {"dry_run": False, "removed": list(self.removal.removed), **removal,
                "restored_sysctls": list(self.restored_sysctls), "purged": self.purged, "notes": list(self.notes),
                "leftover_steps": self.leftover_steps}


# --- pure decisions -------------------------------------------------------------------------------------


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def shown(value: object) -> str:
    """A manifest value made safe to print: JSON-escaped (no control characters reach the terminal), short."""
    if isinstance(value, str):
        text = json.dumps(value)
    elif value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else "a huge number"
    else:
        text = json_type(value)
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 4] + "...\""


def is_plain_absolute(path: str) -> bool:
    """/a/b with no `..`, `.`, `//`, trailing slash or control character."""
    return (path.startswith("/") and not path.startswith("//") and posixpath.normpath(path) == path
            and path.isprintable())


def file_target_problem(target: object) -> Optional[str]:
    """Why a `files` entry is refused, or None when it names one of carp-pkg's own files."""
    if not isinstance(target, str):
        return f"is {json_type(target)}, not a path"
    if not is_plain_absolute(target):
        return "is not a plain absolute path (relative, `..`, `.`, `//` or a control character)"
    if target in OWN_FILES:
        return None
    return "is not one of the files carp-pkg installs; carp-pkg removes only its own files"


def directory_target_problem(target: object) -> Optional[str]:
    """Why a `directories` entry is refused, or None when it is a parent of carp-pkg's own files."""
    if not isinstance(target, str):
        return f"is {json_type(target)}, not a path"
    if not is_plain_absolute(target):
        return "is not a plain absolute path (relative, `..`, `.`, `//` or a control character)"
    if target in OWN_DIRECTORIES:
        return None
    return "is not a parent directory of carp-pkg's files; carp-pkg removes only directories it could have created"


def sysctl_problem(name: str, value: object) -> Optional[str]:
    if not SYSCTL_NAME.fullmatch(name):
        return "is not a CARP sysctl (net.inet.carp.NAME); only those are restored"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"the value is {json_type(value)}, not an integer or null"
    if not SYSCTL_RANGE[0] <= value <= SYSCTL_RANGE[1]:
        return "the value is out of range for a sysctl"
    return None


def digest_problem(value: object) -> Optional[str]:
    if not isinstance(value, str) or not SHA256_HEX.fullmatch(value):
        return "is not a sha256 (64 hexadecimal digits)"
    return None


def _refused_whole(reason: str) -> ManifestReading:
    return ManifestReading(refused=(EntryNote("manifest", reason),), unreadable=True)


def parse_manifest(data: bytes) -> ManifestReading:
    """The manifest's bytes → its valid entries and the refused ones; never raises."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _refused_whole("is not UTF-8 text; nothing it lists was removed")
    except (ValueError, RecursionError) as exc:
        return _refused_whole(f"is not JSON ({str(exc)[:80]}); nothing it lists was removed")
    if not isinstance(document, dict):
        return _refused_whole(f"is {json_type(document)}, not a JSON object; nothing it lists was removed")
    refusals = RefusalList()
    for key in document:
        if key not in MANIFEST_KEYS:
            refusals.add(f"manifest[{shown(key)}]", "unknown key, ignored")

    def entries(key: str, expected: type, required: bool = True):
        if key not in document:
            if required:
                refusals.add(key, "is missing")
            return expected()
        value = document[key]
        if not isinstance(value, expected):
            refusals.add(key, f"is {json_type(value)}, not {json_type(expected())}")
            return expected()
        return value

    files: Dict[str, None] = {}  # insertion-ordered set
    for index, target in enumerate(entries("files", list)):
        problem = file_target_problem(target)
        if problem:
            refusals.add(f"files[{index}] {shown(target)}", problem)
        else:
            files[target] = None
    directories: Dict[str, None] = {}
    for index, target in enumerate(entries("directories", list)):
        problem = directory_target_problem(target)
        if problem:
            refusals.add(f"directories[{index}] {shown(target)}", problem)
        else:
            directories[target] = None
    sysctls: Dict[str, Optional[int]] = {}
    for name, value in entries("sysctls_before", dict).items():
        problem = sysctl_problem(name, value)
        if not problem and len(sysctls) >= MAX_SYSCTLS:
            problem = f"more than {MAX_SYSCTLS} sysctls listed; install records at most two"
        if problem:
            refusals.add(f"sysctls_before[{shown(name)}]", problem)
        else:
            sysctls[name] = value
    hashes: Dict[str, str] = {}
    unverifiable = set()
    for target, digest in entries("sha256", dict, required=False).items():
        target_problem, value_problem = file_target_problem(target), digest_problem(digest)
        if target_problem or value_problem:
            refusals.add(f"sha256[{shown(target)}]", target_problem or value_problem)
            if not target_problem:
                unverifiable.add(target)
        else:
            hashes[target] = digest.lower()
    manifest = Manifest(tuple(files), tuple(directories), sysctls, hashes)
    return ManifestReading(manifest, refusals.notes(), unverifiable=frozenset(unverifiable))


class RefusalList:
    """Collects refused entries: the first MAX_REFUSALS_LISTED in full, the rest only counted."""

    def __init__(self) -> None:
        self.listed: List[EntryNote] = []
        self.unlisted = 0

    def add(self, entry: str, reason: str) -> None:
        if len(self.listed) < MAX_REFUSALS_LISTED:
            self.listed.append(EntryNote(entry, reason))
        else:
            self.unlisted += 1

    def notes(self) -> Tuple[EntryNote, ...]:
        more = (EntryNote("manifest", f"{self.unlisted} more refused entries not listed"),) if self.unlisted else ()
        return (*self.listed, *more)


def decide_file(target: str, state: FileState, recorded_digest: Optional[str], unverifiable: bool) -> Decision:
    """Remove a file only when it is a regular file and, if install recorded its sha256, still that file."""
    if state.kind == "missing":
        return Decision(target, GONE)
    if state.kind == "symlink":
        return Decision(target, REFUSE, "is a symbolic link; links are never followed or removed")
    if state.kind == "directory":
        return Decision(target, REFUSE, "is a directory, not a file carp-pkg installed")
    if state.kind == "special":
        return Decision(target, REFUSE, "is not a regular file (a device, socket or pipe)")
    if state.kind == "unreachable":
        return Decision(target, REFUSE, state.problem)
    if unverifiable:
        return Decision(target, KEEP, "its recorded sha256 is damaged, so carp-pkg cannot tell whether it was edited")
    if recorded_digest and state.digest != recorded_digest:
        return Decision(target, KEEP, "changed since install (sha256 differs): kept for the admin to review")
    return Decision(target, REMOVE)


def decide_directory(target: str, state: FileState) -> Decision:
    """Remove (if empty) a directory install created; never a system directory or anything not a directory."""
    if target in SYSTEM_DIRECTORIES:
        return Decision(target, KEEP, "a system directory; never removed")
    if state.kind == "missing":
        return Decision(target, GONE)
    if state.kind == "directory":
        return Decision(target, REMOVE)
    if state.kind == "symlink":
        return Decision(target, REFUSE, "is a symbolic link; links are never followed or removed")
    if state.kind == "unreachable":
        return Decision(target, REFUSE, state.problem)
    return Decision(target, REFUSE, "is not a directory")


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


# --- install and deinstall --------------------------------------------------------------------------------


class Installer:
    def __init__(self, system: System, paths: Paths, backend: Backend):
        self.system, self.paths, self.backend = system, paths, backend

    @property
    def root(self) -> str:
        return os.path.realpath(self.paths.root)

    def read_manifest(self) -> ManifestReading:
        """The manifest, read only when reached from --root without a link and only if a regular file."""
        state = observe_path(self.root, MANIFEST_TARGET)
        if state.kind == "missing":
            return ManifestReading()
        if state.kind != "file":
            reason = decide_file(MANIFEST_TARGET, state, None, False).reason
            return _refused_whole(f"{self.paths.manifest}: {reason}; nothing it lists was removed")
        try:
            data = read_bounded(self.paths.manifest, what="carp-pkg manifest")
        except CarpError as exc:
            return _refused_whole(f"{exc.message}; nothing it lists was removed")
        return parse_manifest(data)

    def save(self, manifest: Manifest) -> None:
        self.system.write_atomic(self.paths.manifest, manifest.to_json(), MANIFEST_MODE)

    def missing_parents(self, target: str) -> Tuple[str, ...]:
        """The directories above `target` that do not exist yet, outermost first."""
        missing = []
        for parent in ancestors(target):
            if os.path.lexists(self.paths.under_root(parent)):
                break
            missing.append(parent)
        return tuple(reversed(missing))

    def make_parents(self, target: str) -> None:
        """Create the missing directories above `target`, each 0755 whatever the umask."""
        parent = self.paths.under_root(posixpath.dirname(target))
        if not os.path.lexists(parent):
            ensure_directory(parent, DIRECTORY_MODE)

    def create_lock_file(self) -> None:
        """pfSense's /tmp/config.lock with an explicit mode (taking the lock would create it with the umask's)."""
        self.make_parents(CONFIG_LOCK)
        os.close(open_for_writing(self.paths.lock, LOCK_FILE_MODE, append=True))

    def package_files(self, source_dir: str) -> Tuple[Tuple[str, str, int], ...]:
        """(target, content, mode) of every package file install places."""
        files = []
        for name, target in PACKAGE_FILES:
            with open(os.path.join(source_dir, name), encoding="utf-8") as handle:
                content = handle.read().replace("%%PKGVERSION%%", __version__)
            files.append((target, content, EXECUTABLE_MODE if target in EXECUTABLE else FILE_MODE))
        if self.wants_devd():
            files.append((devd.TARGET, self.devd_snippet(), devd.MODE))
        return tuple(files)

    # --- the devd snippet (issue 13: every CARP transition runs `carp-pkg event`) --------------------------
    def wants_devd(self) -> bool:
        """FreeBSD 10+ reports CARP transitions to devd; pfSense's own devd.conf already handles them at a
        higher priority (devd runs only the first matching notify block), so there the package's plugin hook
        must call `carp-pkg event` instead."""
        if self.backend.name != "freebsd":
            return False
        return "pfsense" not in (self.system.read_text(self.paths.platform_file) or "").lower()

    def devd_snippet(self) -> str:
        argv = event_argv(self.paths.root)
        if argv is None:
            raise EnvironmentProblem("cannot write the devd snippet: this Python has no absolute path")
        return devd.snippet(argv)

    def reload_devd(self) -> None:
        """devd reads its configuration at start: restart it (FreeBSD's rc.d script) so the snippet takes effect."""
        self.system.runner.run(("service", "devd", "restart"), check=False)

    def first_manifest(self, reading: ManifestReading) -> Tuple[Manifest, bool]:
        """The manifest before any package file is placed, and whether install creates the lock file."""
        manifest = reading.manifest
        for target in (MANIFEST_TARGET, CONFIG_LOCK):
            manifest = manifest.with_directories(self.missing_parents(target))
        lock_missing = not os.path.lexists(self.paths.lock)
        if lock_missing:
            manifest = manifest.with_file(CONFIG_LOCK)
        manifest = manifest.with_file(MANIFEST_TARGET)
        for name in SYSCTLS_BY_BACKEND.get(self.backend.name, ()):
            if name not in manifest.sysctls_before:
                manifest = manifest.with_sysctl_found(name, self.system.sysctl_read(name))
        return manifest, lock_missing

    def with_package_file(self, manifest: Manifest, target: str, content: str) -> Manifest:
        return manifest.with_directories(self.missing_parents(target)).with_file(
            target, hashlib.sha256(content.encode()).hexdigest())

    def preview(self, source_dir: str, lock_timeout: float) -> InstallPreview:
        """install --dry-run: the files it would place, the manifest it would write, the first sync's plan."""
        reading = self.read_manifest()
        manifest, _lock_missing = self.first_manifest(reading)
        files = self.package_files(source_dir)
        for target, content, _mode in files:
            manifest = self.with_package_file(manifest, target, content)
        manifest = manifest.with_directories(self.missing_parents(RC_SCRIPT)).with_file(RC_SCRIPT)
        result = sync(self.system, self.paths, self.backend, lock_timeout=lock_timeout)
        return InstallPreview(tuple((target, mode) for target, _content, mode in files), manifest, result,
                              reading.refused)

    def install(self, source_dir: str, lock_timeout: float) -> InstallOutcome:
        reading = self.read_manifest()
        manifest, lock_missing = self.first_manifest(reading)
        ensure_private_directory(self.paths.state_dir)  # refuses a state dir that is a link
        self.save(manifest)  # first, so that a half-finished install can still be removed
        if lock_missing:
            self.create_lock_file()
        for target, content, mode in self.package_files(source_dir):
            manifest = self.with_package_file(manifest, target, content)
            self.save(manifest)
            self.make_parents(target)
            self.system.write_atomic(self.paths.under_root(target), content, mode)
        if devd.TARGET in manifest.files:
            self.reload_devd()
        manifest = manifest.with_directories(self.missing_parents(RC_SCRIPT)).with_file(RC_SCRIPT)
        self.save(manifest)
        self.make_parents(RC_SCRIPT)
        result = sync(self.system, self.paths, self.backend, lock_timeout=lock_timeout)
        return InstallOutcome(manifest, result, reading.refused)

    def stop_everything(self) -> Tuple[List[str], Plan]:
        """Run the rc script's stop, then remove whatever CARP is still running (half-finished installs)."""
        notes = []
        if os.path.exists(self.paths.rc_script):
            result = self.system.runner.run(("/bin/sh", self.paths.rc_script, "stop"), check=False)
            if result.returncode != 0:
                notes.append("the rc script's stop reported: " + (result.stderr.strip() or f"exit {result.returncode}"))
        running, _ = observe(self.backend, self.system, self.paths)
        leftovers = teardown_plan(self.backend, running)
        execute(leftovers, self.system)
        return notes, leftovers

    def restore_sysctls(self, manifest: Manifest) -> List[str]:
        restored = []
        for name, before in manifest.sysctls_before.items():
            if before is None:
                continue
            if self.system.sysctl_read(name) != before:
                self.system.sysctl_write(name, before)
                restored.append(f"{name}={before}")
        return restored

    def purge_config(self) -> bool:
        """Remove installedpackages/carp from config.xml, in the file itself: on pfSense /conf is a link to
        /cf/conf, so a link is followed (never replaced), and the owner, mode and comments stay."""
        path = os.path.realpath(self.paths.config_xml)
        root = parse_document(read_config_bytes(path), path, keep_comments=True)
        carp = root.find("/".join(CARP_PATH))
        if carp is None:
            return False
        carp.getparent().remove(carp)
        text = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8").decode("utf-8") + "\n"
        info = os.stat(path)
        self.system.write_atomic(path, text, stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid))
        return True

    def file_decisions(self, reading: ManifestReading, manifest: Manifest) -> Tuple[Decision, ...]:
        return tuple(decide_file(target, observe_path(self.root, target, with_digest=True),
                                 manifest.hashes.get(target), target in reading.unverifiable)
                     for target in manifest.files)

    def remove_files(self, decisions: Tuple[Decision, ...]) -> RemovalReport:
        report = RemovalReport()
        for decision in decisions:
            if decision.action == REMOVE:
                decision = remove_at(self.root, decision.target)
            report += RemovalReport.of(decision)
        return report

    def backend_file_decisions(self) -> Tuple[Decision, ...]:
        """The files the backend's sync wrote outside the state dir (keepalived's carp-pkg.conf), when carp-pkg's."""
        return tuple(decide_file(target, observe_path(self.root, target), None, False)
                     for target in self.backend.owned_files() if target in BACKEND_FILES)

    def remove_installed(self, reading: ManifestReading, manifest: Manifest) -> RemovalReport:
        """Every file but the lock (still held), then the state dir (kept with a manifest that was refused)."""
        decisions = tuple(d for d in self.file_decisions(reading, manifest) if d.target != CONFIG_LOCK)
        report = self.remove_files(decisions)
        keep_reason = "holds the manifest carp-pkg refused; fix or remove it by hand" if reading.unreadable else ""
        return report + remove_state_dir(self.root, keep_reason)

    def remove_created(self, reading: ManifestReading, manifest: Manifest) -> RemovalReport:
        """After the lock is released: the lock file and the directories install created, if empty."""
        report = RemovalReport()
        if CONFIG_LOCK in manifest.files:
            lock_only = Manifest(files=(CONFIG_LOCK,))
            report += self.remove_files(self.file_decisions(reading, lock_only))
        for directory in sorted(manifest.directories, key=lambda d: d.count("/"), reverse=True):
            decision = decide_directory(directory, observe_path(self.root, directory))
            if decision.action == REMOVE:
                decision = remove_at(self.root, directory, directory=True)
            report += RemovalReport.of(decision)
        return report

    def deinstall(self, purge: bool, lock_timeout: float) -> DeinstallReport:
        reading = self.read_manifest()
        manifest = reading.manifest
        lock_missing = not os.path.lexists(self.paths.lock)
        if lock_missing:  # taking the lock creates it: leave no trace of that either
            manifest = manifest.with_directories(self.missing_parents(CONFIG_LOCK)).with_file(CONFIG_LOCK)
        parsed = RemovalReport(refused=reading.refused)
        if self.system.dry_run:
            running, _ = observe(self.backend, self.system, self.paths)
            plan = teardown_plan(self.backend, running)
            decisions = tuple(d for d in self.file_decisions(reading, manifest) if d.target != CONFIG_LOCK)
            decisions += self.backend_file_decisions()
            would = parsed
            for decision in decisions:
                would += RemovalReport.of(decision)
            return DeinstallReport(dry_run=True, removal=would, plan=plan)
        if lock_missing:
            self.create_lock_file()
        with self.system.config_lock(lock_timeout), self.system.config_mount_rw():
            notes, leftovers = self.stop_everything()
            restored = self.restore_sysctls(manifest)
            purged = self.purge_config() if purge else False
            removal = self.remove_files(self.backend_file_decisions()) + self.remove_installed(reading, manifest)
        removal = parsed + removal + self.remove_created(reading, manifest)
        if devd.TARGET in removal.removed:
            self.reload_devd()
        return DeinstallReport(dry_run=False, removal=removal, restored_sysctls=tuple(restored), purged=purged,
                               notes=tuple(notes), leftover_steps=len(leftovers.steps))
