"""The install manifest as data, read as hostile input: every entry checked on its own, pure decisions
about what deinstall may remove."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from .targets import (MANIFEST_KEYS, MAX_REFUSALS_LISTED, MAX_SYSCTLS, OWN_DIRECTORIES, OWN_FILES, SHA256_HEX,
                      SHOWN_MAX, SYSCTL_NAME, SYSCTL_RANGE, SYSTEM_DIRECTORIES)

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
