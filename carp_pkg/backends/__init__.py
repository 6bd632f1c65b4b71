"""Backend registry: pick the target by name, or detect it from uname."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from ..errors import EnvironmentProblem, UsageError
from .base import Backend

if TYPE_CHECKING:
    from ..paths import Paths


def _freebsd(paths) -> Backend:
    from .freebsd import FreeBSD
    return FreeBSD()


def _freebsd_legacy(paths) -> Backend:
    from .freebsd_legacy import FreeBSDLegacy
    return FreeBSDLegacy()


def _ucarp(paths) -> Backend:
    from .ucarp import Ucarp
    return Ucarp(state_dir=paths.state_dir) if paths is not None else Ucarp()


def _keepalived(paths) -> Backend:
    from .keepalived import Keepalived
    return Keepalived(paths)


REGISTRY: Dict[str, Callable[[Optional["Paths"]], Backend]] = {
    "freebsd": _freebsd,
    "freebsd-legacy": _freebsd_legacy,
    "ucarp": _ucarp,
    "keepalived": _keepalived,  # never chosen by auto: Linux stays ucarp (CARP), VRRPv3 is asked for by name
}
CHOICES = ("auto", *REGISTRY)


def detect(sysname: str, release: str) -> str:
    """`uname -s`/`uname -r` → backend name (pfSense reports FreeBSD)."""
    if sysname == "FreeBSD":
        match = re.match(r"(\d+)", release)
        major = int(match.group(1)) if match else 0
        return "freebsd" if major >= 10 else "freebsd-legacy"
    if sysname == "Linux":
        return "ucarp"
    raise EnvironmentProblem(f"no backend for {sysname} {release}; choose one with --backend ({', '.join(REGISTRY)})")


def resolve(name: str = "auto", uname: Optional[Tuple[str, str]] = None) -> str:
    """The backend's name: auto is the one for this host (uname), any other name must be known."""
    if name == "auto":
        if uname is None:
            info = os.uname()
            uname = (info.sysname, info.release)
        name = detect(*uname)
    if name not in REGISTRY:
        raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}")
    return name


def get_backend(name: str = "auto", uname: Optional[Tuple[str, str]] = None, paths: Optional["Paths"] = None) -> Backend:
    """paths: where the backend keeps its own files (the ucarp state dir under --root)."""
    return REGISTRY[resolve(name, uname)](paths)
