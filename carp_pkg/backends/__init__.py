"""Backend registry: pick the target by name, or detect it from uname."""

from __future__ import annotations

import os
import re
from typing import Callable, Dict, Tuple

from ..errors import EnvironmentProblem, UsageError
from .base import Backend


def _freebsd() -> Backend:
    from .freebsd import FreeBSD
    return FreeBSD()


def _freebsd_legacy() -> Backend:
    from .freebsd_legacy import FreeBSDLegacy
    return FreeBSDLegacy()


def _ucarp() -> Backend:
    from .ucarp import Ucarp
    return Ucarp()


REGISTRY: Dict[str, Callable[[], Backend]] = {
    "freebsd": _freebsd,
    "freebsd-legacy": _freebsd_legacy,
    "ucarp": _ucarp,
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


def get_backend(name: str = "auto", uname: Tuple[str, str] = None) -> Backend:
    if name == "auto":
        if uname is None:
            info = os.uname()
            uname = (info.sysname, info.release)
        name = detect(*uname)
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}") from None
    return factory()
