"""Small pieces several subcommands share."""

from __future__ import annotations

from .backends import CHOICES
from .backends.base import Backend
from .errors import UsageError
from .running import RunningState


def read_against(backend: Backend, path: str) -> RunningState:
    """A saved `ifconfig` capture as the running state (FreeBSD backends)."""
    from .status import parse_ifconfig
    if backend.name == "ucarp":
        raise UsageError("--against reads FreeBSD ifconfig output; use --backend freebsd or freebsd-legacy")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_ifconfig(handle.read())
    except OSError as exc:
        raise UsageError(f"--against {path}: {exc.strerror}") from None


def add_backend_argument(parser) -> None:
    parser.add_argument("--backend", choices=CHOICES, default="auto",
                        help="target: freebsd (10+), freebsd-legacy (5.4-9, carpN), ucarp (Linux); "
                             "default auto = from uname")
