"""How devd and the ucarp scripts call `carp-pkg event`: this interpreter and this package, by absolute paths.

    /usr/bin/python3 -I -S -c 'import sys; sys.path[:0] = [sys.argv.pop(1)]; from carp_pkg.events.__main__
        import main; sys.exit(main())' /usr/lib/python3/dist-packages [--root ROOT] event --source ...

is `carp-pkg [--root ROOT] event --source ...` (carp_pkg/events/__main__.py runs the same command code),
started in a way chosen for a program root runs on behalf of the kernel or ucarp, on every transition:
- the interpreter is `sys.executable` and the package directory is the one this carp_pkg was loaded from,
  both absolute: no PATH lookup, and the scripts always run the carp-pkg that wrote them;
- `-I` (isolated): no PYTHONPATH, PYTHONHOME or user site-packages, no working directory on sys.path, so
  nothing in root's environment or current directory can put other code in its place;
- `-S`: no site-packages scan and no .pth processing; the event path needs only the standard library and
  carp_pkg. From exec to a recorded event, 15 runs each on the shared 2-core development machine (median /
  best): 78 / 45 ms this way, 107 / 50 ms as `python -m carp_pkg.events`, 122 / 73 ms as the full `carp-pkg`
  command line; the event path itself avoids lxml and the config model for the same reason.
The code string holds no quote and no `$`, so it fits inside a devd.conf action string as it is.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Optional, Sequence, Tuple

BOOT = "import sys; sys.path[:0] = [sys.argv.pop(1)]; from carp_pkg.events.__main__ import main; sys.exit(main())"


def interpreter() -> Optional[str]:
    """sys.executable when it is an absolute path to an executable file, else None."""
    path = sys.executable
    if path and os.path.isabs(path) and os.access(path, os.X_OK):
        return path
    return None


def package_parent() -> str:
    """The directory that holds this carp_pkg package (site-packages, or a source checkout)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def event_argv(root: str = "/", python: Optional[str] = None) -> Optional[Tuple[str, ...]]:
    """The command up to and including `event`, or None when there is no safe absolute interpreter path."""
    python = python or interpreter()
    if python is None or not os.path.isabs(python):
        return None
    argv: Tuple[str, ...] = (python, "-I", "-S", "-c", BOOT, package_parent())
    if os.path.normpath(root or "/") != "/":
        argv += ("--root", os.path.abspath(root))
    return argv + ("event",)


def is_event_process(cmdline: str, root: str = "/") -> bool:
    """/proc/PID/cmdline (NUL-separated) is a `carp-pkg event` started through event_argv for this root (by the
    ucarp scripts, keepalived's notify script or devd)."""
    words = cmdline.rstrip("\0").split("\0")
    if BOOT not in words or "event" not in words:
        return False
    if os.path.normpath(root or "/") == "/":
        return "--root" not in words
    at = words.index("--root") if "--root" in words else -1
    return 0 <= at < len(words) - 1 and words[at + 1] == os.path.abspath(root)


def shell_words(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in argv)
