"""Small pieces several subcommands share."""

from __future__ import annotations

import argparse
import math

from .backends import CHOICES
from .backends.base import Backend
from .errors import InputError, UsageError
from .fs import MAX_SMALL_INPUT_BYTES, read_text_bounded
from .running import RunningState


def read_against(backend: Backend, path: str) -> RunningState:
    """A saved `ifconfig` capture as the running state (FreeBSD backends); anything else is refused."""
    from .status import parse_ifconfig
    from .validate import device_name_problem, valid_device_name
    if backend.name in ("ucarp", "keepalived"):
        raise UsageError("--against reads FreeBSD ifconfig output; use --backend freebsd or freebsd-legacy")
    try:
        text = read_text_bounded(path, MAX_SMALL_INPUT_BYTES, "saved ifconfig output")
    except InputError as exc:
        raise InputError(f"--against {exc.message}") from None
    state = parse_ifconfig(text)
    if not state.interfaces:
        raise InputError(f"--against {path}: no interface in it; expected the output of FreeBSD `ifconfig`, "
                         "with headers like `em0: flags=8843<UP,BROADCAST,RUNNING> mtu 1500`")
    for name in state.interfaces:
        if not valid_device_name(name):
            raise InputError(f"--against {path}: the interface header {device_name_problem(name)}")
    return state


def read_sysctls_capture(path: str):
    """Saved `sysctl net.inet.carp` output."""
    from .status import parse_sysctls
    return parse_sysctls(read_text_bounded(path, MAX_SMALL_INPUT_BYTES, "saved sysctl output"))


def seconds(text: str) -> float:
    """A duration on the command line: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds, 0 or more")
    return value


def add_lock_timeout_argument(parser) -> None:
    parser.add_argument("--lock-timeout", type=seconds, default=30.0, metavar="SECONDS",
                        help="wait at most this long for the pfSense config lock /tmp/config.lock, then give up "
                             "with exit 4 and nothing changed (default 30)")


def add_backend_argument(parser) -> None:
    parser.add_argument("--backend", choices=CHOICES, default="auto",
                        help="target: freebsd (10+; VRRPv3 on 15+), freebsd-legacy (5.4-9, carpN), ucarp (Linux, "
                             "CARP), keepalived (Linux, VRRPv3); default auto = from uname (Linux: ucarp)")
