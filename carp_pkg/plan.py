"""A Plan: the ordered commands (and files) a backend wants run, each with a one-line reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Optional, Tuple

MASK = "***"


NO_LONGER_CONFIGURED = "is no longer in config.xml"  # why a running vhid goes (carp-pkg stop says its own)
PFSYNC_UNWANTED = "no VIP asks for pfsync any more"  # why pfsync goes down (likewise)


@dataclass(frozen=True)
class Step:
    argv: Tuple[str, ...]
    why: str
    secret_positions: FrozenSet[int] = frozenset()  # argv indexes holding a password
    undo: Optional[Tuple[str, ...]] = None  # the command that reverts this step, when one exists

    def shown(self, show_secrets: bool = False) -> Tuple[str, ...]:
        if show_secrets:
            return self.argv
        return tuple(MASK if i in self.secret_positions else arg for i, arg in enumerate(self.argv))


@dataclass(frozen=True)
class PlannedFile:
    """A file a backend needs on disk before its steps run (ucarp password files, up/down scripts)."""

    path: str  # absolute path on the target, joined under --root by the writer
    content: str
    mode: int
    secret: bool = False


@dataclass(frozen=True)
class Plan:
    backend: str
    steps: Tuple[Step, ...] = ()
    warnings: Tuple[str, ...] = ()
    files: Tuple[PlannedFile, ...] = ()
    removed_files: Tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.steps and not self.files and not self.removed_files

    def to_json(self, show_secrets: bool = False) -> dict:
        return {
            "backend": self.backend,
            "steps": [{"argv": list(s.shown(show_secrets)), "why": s.why} for s in self.steps],
            "files": [
                {"path": f.path, "mode": oct(f.mode), "content": f.content if show_secrets or not f.secret else MASK}
                for f in self.files
            ],
            "removed_files": list(self.removed_files),
            "warnings": list(self.warnings),
        }
