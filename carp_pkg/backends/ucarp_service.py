"""ExecStart of systemd/carp-pkg-ucarp@.service: run the ucarp instance IF-vhidV that `carp-pkg sync` recorded.

    python3 -m carp_pkg.backends.ucarp_service eth0-vhid1

reads /var/db/carp-pkg/ucarp/eth0-vhid1.json (written by sync, 0600), checks that its argv is a ucarp
command for exactly that instance's files (interface, vhid, password file, up/down scripts: a damaged
or planted record runs nothing), writes the pid file (this process's pid, which ucarp keeps across the
exec, so `status` recognises it as it does a setsid-started one), sends ucarp's stderr to the instance's
log (as the setsid start does: `status`/`check` read "Bad digest" and errors there) and execs ucarp.
The password stays in its 0600 file; it is never on a command line.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence

from ..errors import CarpError, InputError
from ..fs import open_for_writing, read_text_bounded
from .ucarp import SECRET_MODE, SYSTEMD_STATE_DIR, UCARP, InstanceFiles, argv_option, parse_instance_name, parse_record


def checked_argv(files: InstanceFiles, record_text: str) -> List[str]:
    """The recorded argv, if it runs ucarp for exactly this instance; InputError otherwise."""
    argv = list(parse_record(record_text))
    expected = {"-i": files.interface, "-v": str(files.vhid), "-o": files.password, "-u": files.up, "-d": files.down}
    if not argv or argv[0] != UCARP:
        raise InputError(f"{files.record}: not a ucarp command line; run `carp-pkg sync` to write it again")
    wrong = [flag for flag, value in expected.items() if argv_option(argv, flag) != value]
    if wrong:
        raise InputError(f"{files.record}: {', '.join(wrong)} do not name this instance's own interface, vhid and "
                         "files; refusing to run it (run `carp-pkg sync` to write it again)")
    return argv


def prepare(instance: str, directory: str = SYSTEMD_STATE_DIR) -> List[str]:
    parsed = parse_instance_name(instance + ".json")
    if parsed is None:
        raise InputError(f"{instance!r} is not an instance name like eth0-vhid1")
    files = InstanceFiles(directory, *parsed)
    argv = checked_argv(files, read_text_bounded(files.record, what="ucarp instance record"))
    for path in (files.pid, files.log):
        if os.path.islink(path):
            raise InputError(f"refusing {path}: it is a symbolic link")
    pid_fd = open_for_writing(files.pid, SECRET_MODE)
    try:
        os.write(pid_fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(pid_fd)
    log_fd = open_for_writing(files.log, SECRET_MODE)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    return argv


def main(arguments: Optional[Sequence[str]] = None, directory: str = SYSTEMD_STATE_DIR) -> int:
    arguments = list(sys.argv[1:] if arguments is None else arguments)
    if len(arguments) != 1:
        sys.stderr.write("usage: python3 -m carp_pkg.backends.ucarp_service IF-vhidV\n")
        return 2
    try:
        argv = prepare(arguments[0], directory)
        os.execvp(argv[0], argv)
    except CarpError as exc:
        sys.stderr.write(f"carp-pkg-ucarp: {exc}\n")
        return int(exc.exit_code)
    except OSError as exc:
        sys.stderr.write(f"carp-pkg-ucarp: cannot run ucarp: {exc.strerror or exc}\n")
        return 6
    return 1  # not reached: execvp replaced this process


if __name__ == "__main__":
    sys.exit(main())
