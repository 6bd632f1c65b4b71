"""Linux, VRRPv3: keepalived runs the election; carp-pkg writes the one file it owns and reloads it.

    /etc/keepalived/carp-pkg.conf              0600  one vrrp_instance per (interface, vhid) (keepalived_conf.py)
    /var/db/carp-pkg/keepalived/IF-vhidN.notify 0700  keepalived's notify script: records the state, runs `event`
    /var/db/carp-pkg/keepalived/IF-vhidN.state  0600  "STATE TIME RAW PRIO", written by the notify script
    /var/db/carp-pkg/keepalived/keepalived.pid       carp-pkg's own keepalived (main and VRRP process)
    /var/db/carp-pkg/keepalived/vrrp.pid

Who runs keepalived, in this order (decided by `reload_steps`, a pure function of what read_running saw):
1. carp-pkg's own keepalived (its pid file names a live keepalived reading carp-pkg.conf): SIGHUP it;
2. systemd is PID 1 (ROOT/run/systemd/system exists): the keepalived.service of the distribution, which must
   read carp-pkg.conf (the file it reads, keepalived.conf or DAEMON_ARGS' `-f FILE`, `include`s it, or is it;
   otherwise sync refuses and says which line to add): `systemctl reload keepalived`, or `systemctl start
   keepalived` when it is not active. Included, carp-pkg.conf has no global_defs (keepalived_conf.py);
3. anywhere else (containers, the lab, a --root): carp-pkg starts keepalived itself on carp-pkg.conf with its
   pid files in the state dir, and from then on owns it (case 1).
A changed file is checked with keepalived -t before keepalived is told to read it: carp-pkg.conf for carp-pkg's own
keepalived, the file keepalived.service reads for the service (a refusal: exit 5, the previous carp-pkg.conf put
back, nothing reloaded); an unchanged file is neither written nor signalled. Every command is a Step run through
the Runner, with an undo where one exists (a reload's undo is another reload, after sync has put the previous file
back). The shell snippets decide which process is carp-pkg's keepalived exactly as reads_conf() does.

The rc script (boot_plan) is config.xml's boot plan for case 3: it writes carp-pkg.conf (once keepalived -t accepts
it) and the notify scripts itself, since `carp-pkg stop` empties the one and removes the others, then starts
keepalived, or reloads carp-pkg's keepalived when it runs already; where systemd is PID 1 it refuses.

Facts from keepalived 2.2.7, checked in network namespaces here: SIGHUP re-reads the file and keeps the state of
instances whose name stays (no notify for an unchanged state); notify scripts get `INSTANCE NAME STATE PRIO`
appended; SIGTERM removes the VIPs, advertises priority 0 (the backup takes over at once), notifies STOP and
exits; `-t` exits non-zero (5) on an unknown keyword, a VRID outside 1-255, a VIP of the other family or more VIPs
than one advertisement carries (kc.max_advertised), and 6 when the only complaint is script security (scripts, and
no enable_script_security in global_defs: keepalived runs them all the same).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import FrozenSet, Iterable, List, Mapping, Optional, Tuple

from ..errors import CarpError, EnvironmentProblem
from ..events.invocation import event_argv
from ..model import CARP_DEFAULT_PEER, CARP_DEFAULT_PEER6, CarpConfig
from ..paths import Paths
from ..plan import Plan, PlannedFile, Step
from ..running import IPInterface, RunningState, RunningVhid
from . import keepalived_conf as kc
from .base import Backend
from .iproute import parse_ip_addr_json
from .limits import ignored_on_linux

KEEPALIVED = "keepalived"
SERVICE = "keepalived"
SYSTEMD_MARKER = "/run/systemd/system"
STOPPED = "STOPPED"  # the file names the vhid, keepalived is not running
INIT = "INIT"
START_LABEL = "carp-pkg-keepalived-start"
STOP_LABEL = "carp-pkg-keepalived-stop"
RELOAD_LABEL = "carp-pkg-keepalived-reload"
START_WAIT_S = 2
STOP_WAIT_S = 5
CHECK_LABEL = "carp-pkg-keepalived-check"
BOOT_LABEL = "carp-pkg-keepalived-boot"
WRITE_LABEL = "carp-pkg-keepalived-write"
SECURITY_ONLY = 6  # keepalived -t: the configuration is fine but for script security (KEEPALIVED_EXIT_CONFIG_TEST_SECURITY)

# Is the process a pid file names carp-pkg's own keepalived? The same test as reads_conf(): /proc/PID/cmdline's
# argv0 is named `keepalived` and `-f` (or `--use-file`) is followed by exactly the file, so a stale pid file naming
# `tail -f .../carp-pkg.conf`, an editor or any other process that merely mentions the path is never signalled.
# cmdline is NUL-separated: tr makes each argument a line (a newline inside an argument becomes \001, so one argument
# can never pass for two). Sets $pid. Every snippet below starts with it.
OURS_FUNCTION = (
    'ours() { [ -f "$1" ] && [ ! -L "$1" ] || return 1; pid=$(cat -- "$1" 2>/dev/null) || return 1; '
    'case $pid in ""|*[!0-9]*) return 1 ;; esac; '
    "tr '\\n\\000' '\\001\\n' 2>/dev/null <\"/proc/$pid/cmdline\" | { "
    'IFS= read -r argv0 || exit 1; [ "${argv0##*/}" = keepalived ] || exit 1; want=; '
    'while IFS= read -r word || [ -n "$word" ]; do '
    'if [ -n "$want" ] && [ "$word" = "$2" ]; then exit 0; fi; '
    'case $word in -f|--use-file) want=1 ;; *) want= ;; esac; word=; done; exit 1; }; }; '
)
REFUSE_LINK = 'if [ -L "$conf" ]; then echo "refusing $conf: it is a symbolic link" >&2; exit 1; fi; '
# Start keepalived on carp-pkg's file with carp-pkg's pid files, or, when carp-pkg's own keepalived already runs on
# it, reload that one (SIGHUP: never a second keepalived with the first one orphaned). Pid files that are symbolic
# links are refused, stale ones removed (keepalived refuses to start over a pid file naming a live process); then it
# waits for the pid file, so `status` right after sees the process. keepalived forks into the background itself.
RUN = (
    'if ours "$pidfile" "$conf"; then kill -HUP "$pid" || exit 1; '
    'echo "carp-pkg\'s keepalived (pid $pid) runs already: reloaded it (SIGHUP)"; exit 0; fi; '
    'for f in "$pidfile" "$vrrp_pidfile"; do if [ -L "$f" ]; then echo "refusing $f: it is a symbolic link" >&2; '
    'exit 1; fi; done; rm -f "$pidfile" "$vrrp_pidfile" || exit 1; umask 077; "$@" </dev/null >/dev/null || exit $?; '
    f'n=0; while [ ! -s "$pidfile" ] && [ "$n" -lt {START_WAIT_S * 20} ]; do sleep 0.05; n=$((n + 1)); done; '
    '[ -s "$pidfile" ] || { echo "keepalived wrote no $pidfile: see its log (syslog, daemon facility)" >&2; exit 1; }'
)
# sync's start (after its own check step) and anything else that starts it: keepalived -t first, always (the rc
# script runs on after a failed step, so the start itself must not go on).
START_SNIPPET = (
    OURS_FUNCTION + 'pidfile=$1; vrrp_pidfile=$2; conf=$3; shift 3; ' + REFUSE_LINK
    + '"$1" -t -f "$conf" >/dev/null || { echo "keepalived -t refused $conf: keepalived not started" >&2; exit 1; }; '
    + RUN
)
# The rc script's start (the boot plan): carp-pkg.conf as config.xml gives it (`carp-pkg stop` leaves it empty),
# written only once keepalived -t accepts it, then the start above. Where systemd is PID 1 it refuses: there
# keepalived.service reads the file (an include without global_defs) and carp-pkg.service's `carp-pkg sync` brings
# it up; a second keepalived on the same instances would fight the first.
WRITE_TEMP = (
    'dir=${path%/*}; umask 077; mkdir -p -- "$dir" || exit 1; tmp="$dir/.${path##*/}.boot"; '
    'rm -f -- "$tmp" || exit 1; (set -C; printf "%s" "$text" >"$tmp") || exit 1; '
)
BOOT_SNIPPET = (
    OURS_FUNCTION + 'marker=$1; text=$2; pidfile=$3; vrrp_pidfile=$4; conf=$5; shift 5; '
    'if [ -d "$marker" ]; then echo "systemd is PID 1 here: keepalived.service reads $conf and carp-pkg.service '
    '(carp-pkg sync) brings it up; this rc script starts no keepalived of its own" >&2; exit 1; fi; '
    + REFUSE_LINK + 'path=$conf; ' + WRITE_TEMP
    + 'if ! "$1" -t -f "$tmp" >/dev/null; then rm -f -- "$tmp"; echo "keepalived -t refused the configuration: '
      '$conf left as it was, keepalived not started" >&2; exit 1; fi; '
    'chmod 600 "$tmp" && mv -f -- "$tmp" "$conf" || exit 1; ' + RUN
)
# One file of the boot plan (a notify script), written atomically, never through a symbolic link.
WRITE_SNIPPET = (
    'path=$1; mode=$2; text=$3; if [ -L "$path" ]; then echo "refusing $path: it is a symbolic link" >&2; exit 1; '
    'fi; ' + WRITE_TEMP + 'chmod "$mode" "$tmp" && mv -f -- "$tmp" "$path"'
)
RELOAD_SNIPPET = (OURS_FUNCTION + 'ours "$1" "$2" || { echo "carp-pkg\'s keepalived (pid file $1) is not running" >&2; '
                  'exit 1; }; kill -HUP "$pid"')
STOP_SNIPPET = (
    OURS_FUNCTION + 'ours "$1" "$2" || exit 0; kill -TERM "$pid" 2>/dev/null || exit 0; '
    f'n=0; while [ "$n" -lt {STOP_WAIT_S * 20} ]; do '
    'case $(sed -n "s/^State:[[:space:]]*\\(.\\).*/\\1/p" "/proc/$pid/status" 2>/dev/null) in ""|Z|X) exit 0 ;; esac; '
    'sleep 0.05; n=$((n + 1)); done; '
    f'echo "keepalived (pid $pid) still running {STOP_WAIT_S} s after SIGTERM" >&2; exit 1'
)
# keepalived.service's file (keepalived.conf, which includes carp-pkg's): checked before systemctl reload/start.
# Exit 6 is keepalived's "fine but for script security": keepalived.conf has no enable_script_security, so keepalived
# runs the notify scripts (as root: `notify PATH root`) without checking them, as the running service would.
SERVICE_CHECK_SNIPPET = (
    '"$@"; rc=$?; if [ "$rc" -eq ' + str(SECURITY_ONLY) + ' ]; then echo "keepalived -t: only script security '
    'warnings (no enable_script_security in global_defs): accepted" >&2; exit 0; fi; exit "$rc"'
)


def _included_texts(system, paths, patterns) -> Iterable[str]:
    """The texts of the regular files inside --root that the include patterns match (a glob in the last part only)."""
    import fnmatch
    root = os.path.realpath(paths.root)
    for pattern in patterns:
        directory, name = posixpath.split(pattern)
        if any(c in directory for c in "*?["):
            continue  # a glob in a directory part: not followed
        for entry in system.list_dir(paths.under_root(directory)):
            target = posixpath.join(directory, entry)
            if not fnmatch.fnmatchcase(entry, name) or target == kc.CONF:
                continue
            real = os.path.realpath(paths.under_root(target))
            if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
                continue
            try:
                text = system.read_text(real)
            except CarpError:
                continue
            if text is not None:
                yield text


# --- where carp-pkg keeps keepalived's files ----------------------------------------------------------------------

@dataclass(frozen=True)
class KeepalivedFiles:
    root: str = "/"
    conf: str = kc.CONF  # carp-pkg.conf under --root
    directory: str = posixpath.join("/var/db/carp-pkg", kc.SUBDIR)
    main_conf: str = kc.MAIN_CONF
    defaults: str = kc.DEFAULTS
    systemd_marker: str = SYSTEMD_MARKER

    @classmethod
    def under(cls, paths: Paths) -> "KeepalivedFiles":
        return cls(root=paths.root, conf=paths.under_root(kc.CONF), directory=posixpath.join(paths.state_dir, kc.SUBDIR),
                   main_conf=paths.under_root(kc.MAIN_CONF), defaults=paths.under_root(kc.DEFAULTS),
                   systemd_marker=paths.under_root(SYSTEMD_MARKER))

    @property
    def pid(self) -> str:
        return posixpath.join(self.directory, "keepalived.pid")

    @property
    def vrrp_pid(self) -> str:
        return posixpath.join(self.directory, "vrrp.pid")

    def notify(self, interface: str, vhid: int) -> str:
        return posixpath.join(self.directory, kc.file_stem(interface, vhid) + ".notify")

    def state(self, interface: str, vhid: int) -> str:
        return posixpath.join(self.directory, kc.file_stem(interface, vhid) + ".state")


def check_argv(files: KeepalivedFiles) -> Tuple[str, ...]:
    return (KEEPALIVED, "-t", "-f", files.conf)


def daemon_argv(files: KeepalivedFiles) -> Tuple[str, ...]:
    """keepalived on carp-pkg's file only (`--vrrp`: no health checkers, no BFD)."""
    return (KEEPALIVED, "--vrrp", "-f", files.conf, "-p", files.pid, "-r", files.vrrp_pid)


def start_argv(files: KeepalivedFiles) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", START_SNIPPET, START_LABEL, files.pid, files.vrrp_pid, files.conf, *daemon_argv(files))


def boot_argv(files: KeepalivedFiles, conf_text: str) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", BOOT_SNIPPET, BOOT_LABEL, files.systemd_marker, conf_text, files.pid, files.vrrp_pid,
            files.conf, *daemon_argv(files))


def write_argv(path: str, mode: int, text: str) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", WRITE_SNIPPET, WRITE_LABEL, path, f"{mode:o}", text)


def service_check_argv(service_conf_path: str) -> Tuple[str, ...]:
    """keepalived -t on the file keepalived.service reads (exit 6, script security only, accepted)."""
    return ("/bin/sh", "-c", SERVICE_CHECK_SNIPPET, CHECK_LABEL, KEEPALIVED, "-t", "-f", service_conf_path)


def stop_argv(files: KeepalivedFiles) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", STOP_SNIPPET, STOP_LABEL, files.pid, files.conf)


def reload_argv(files: KeepalivedFiles) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", RELOAD_SNIPPET, RELOAD_LABEL, files.pid, files.conf)


SYSTEMCTL_RELOAD = ("systemctl", "reload", SERVICE)
SYSTEMCTL_START = ("systemctl", "start", SERVICE)
SYSTEMCTL_STOP = ("systemctl", "stop", SERVICE)


# --- what is running ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeepalivedVhid(RunningVhid):
    """A vhid as carp-pkg's file gives it to keepalived, with what this host holds and the recorded state."""

    held: Tuple[IPInterface, ...] = ()  # the instance's VIPs currently on the interface
    since: Optional[float] = None  # unix time of the last recorded transition
    last_error: Optional[str] = None
    instance: str = ""


@dataclass(frozen=True)
class KeepalivedRunning(RunningState):
    files: KeepalivedFiles = field(default_factory=KeepalivedFiles)
    conf_text: Optional[str] = None  # carp-pkg.conf as it is on disk (None: absent)
    scripts: Tuple[Tuple[str, str], ...] = ()  # (file name, sha256) of the notify scripts on disk
    leftovers: Tuple[str, ...] = ()  # every *.notify / *.state file name in the directory
    daemon_pid: Optional[int] = None  # carp-pkg's own keepalived, alive and reading carp-pkg.conf
    systemd: bool = False  # systemd is PID 1 on the target
    service_active: Optional[bool] = None  # keepalived.service (asked only when carp-pkg runs none itself)
    service_reads_ours: bool = False  # keepalived.service reads carp-pkg.conf
    service_conf: Optional[str] = None  # the file keepalived.service reads (target path): keepalived.conf or -f FILE
    service_conf_path: Optional[str] = None  # the same under --root
    service_globals: FrozenSet[str] = frozenset()  # keywords of that file's global_defs
    conf_link: bool = False  # carp-pkg.conf is a symbolic link: never read through, never replaced

    @property
    def included(self) -> bool:
        """keepalived.service reads carp-pkg.conf through an include of the admin's file (not on it alone, and
        not carp-pkg's own keepalived): the file then has no global_defs."""
        return self.daemon_pid is None and self.systemd and self.service_conf not in (None, kc.CONF)


def parse_pid(text: Optional[str]) -> Optional[int]:
    """A pid file's number (ASCII digits only: "²" is no pid), else None."""
    pid = kc.number((text or "").strip())
    return pid if pid is not None and pid > 0 else None


def process_alive(proc_status: Optional[str]) -> bool:
    for line in (proc_status or "").splitlines():
        if line.startswith("State:"):
            return line.split(":", 1)[1].strip()[:1] not in ("Z", "X", "")
    return False


def reads_conf(cmdline: Optional[str], conf: str) -> bool:
    """/proc/PID/cmdline (NUL-separated) runs keepalived with `-f conf`."""
    words = (cmdline or "").rstrip("\0").split("\0")
    return bool(words) and posixpath.basename(words[0]) == KEEPALIVED and any(
        word in ("-f", "--use-file") and index + 1 < len(words) and words[index + 1] == conf
        for index, word in enumerate(words))


def running_vhid(parsed: kc.ParsedInstance, state_text: Optional[str], running: bool,
                 addresses: Iterable[Tuple[str, IPInterface]]) -> Optional[KeepalivedVhid]:
    if parsed.interface is None or parsed.vrid is None or not parsed.name.startswith(kc.INSTANCE_PREFIX):
        return None
    state, since, _prio = kc.parse_state_record(state_text)
    vips = parsed.addresses + parsed.excluded
    held = tuple(a for name, a in addresses if name == parsed.interface and a.ip in {v.ip for v in vips})
    family = parsed.addresses[0].version if parsed.addresses else 4
    unicast = parsed.peers[0] if parsed.peers else None
    return KeepalivedVhid(
        interface=parsed.interface, vhid=parsed.vrid,
        state=(state or INIT) if running else STOPPED,
        advbase=0, advskew=0, addresses=vips,
        peer=(unicast or CARP_DEFAULT_PEER) if family == 4 else CARP_DEFAULT_PEER,
        peer6=(unicast or CARP_DEFAULT_PEER6) if family == 6 else CARP_DEFAULT_PEER6,
        protocol="vrrp", vrrpprio=parsed.priority, vrrpinterval=parsed.interval,
        held=held, since=since if running else None, instance=parsed.name,
        last_error=None if running else "keepalived is not running (carp-pkg sync starts it)",
    )


def assemble(files: KeepalivedFiles, conf_text: Optional[str], texts: Mapping[str, Optional[str]],
             daemon_pid: Optional[int], systemd: bool, service_active: Optional[bool], service_reads_ours: bool,
             ip_addr_json: str, service_conf: Optional[str] = None, service_conf_path: Optional[str] = None,
             service_globals: FrozenSet[str] = frozenset(), conf_link: bool = False) -> KeepalivedRunning:
    """texts: the directory's *.notify and *.state files by name (None: unreadable)."""
    names, addresses = parse_ip_addr_json(ip_addr_json)
    running = daemon_pid is not None or bool(service_active)
    vhids = []
    for parsed in kc.parse(conf_text):
        if not _named_well(parsed):
            continue
        stem = kc.file_stem(parsed.interface, parsed.vrid)
        found = running_vhid(parsed, texts.get(stem + ".state"), running, addresses)
        if found is not None and found not in vhids:
            vhids.append(found)
    vips = {(v.interface, a.ip) for v in vhids for a in v.addresses}
    host = tuple((name, a) for name, a in addresses if (name, a.ip) not in vips)
    scripts = tuple((name, kc.digest(text)) for name, text in sorted(texts.items())
                    if name.endswith(".notify") and text is not None)
    return KeepalivedRunning(vhids=tuple(vhids), interfaces=names, host_addresses=host, files=files,
                             conf_text=conf_text, scripts=scripts, leftovers=tuple(sorted(texts)),
                             daemon_pid=daemon_pid, systemd=systemd, service_active=service_active,
                             service_reads_ours=service_reads_ours, service_conf=service_conf,
                             service_conf_path=service_conf_path, service_globals=service_globals,
                             conf_link=conf_link)


def _named_well(parsed: kc.ParsedInstance) -> bool:
    from ..names import valid_device_name
    return bool(parsed.interface) and valid_device_name(parsed.interface) and 1 <= (parsed.vrid or 0) <= 255


# --- deciding -----------------------------------------------------------------------------------------------------

def label(interface: str, vhid: int) -> str:
    return f"vhid {vhid} on {interface}"


def service_check(running: KeepalivedRunning, files: KeepalivedFiles) -> List[Step]:
    """keepalived -t on the file keepalived.service reads (keepalived.conf with carp-pkg's include, or DAEMON_ARGS'
    -f file): what the reload or start would make keepalived read. A refusal stops sync there (exit 5): the previous
    carp-pkg.conf is put back and nothing is reloaded."""
    path = running.service_conf_path or files.main_conf
    shown = running.service_conf or kc.MAIN_CONF
    if shown == kc.CONF:
        return [Step(check_argv(files), "check the configuration (keepalived -t) before keepalived.service reads it")]
    return [Step(service_check_argv(path), f"check {shown}, which keepalived.service reads (it includes carp-pkg's "
                                           "file), with keepalived -t before the service reads it")]


def reload_steps(has_vhids: bool, changed: bool, running: KeepalivedRunning,
                 files: KeepalivedFiles) -> List[Step]:
    """How keepalived learns the new file (see the module docstring); nothing when nothing changed."""
    check = [Step(check_argv(files), "check the configuration (keepalived -t) before keepalived reads it")]
    if not has_vhids:
        if running.daemon_pid is not None:
            return [Step(stop_argv(files), "stop carp-pkg's keepalived: no vhid is configured any more",
                         undo=start_argv(files))]
        if running.systemd and running.service_active and changed:
            return service_check(running, files) + [
                Step(SYSTEMCTL_RELOAD, "reload keepalived.service: carp-pkg's instances are gone", undo=SYSTEMCTL_RELOAD)]
        return []
    if running.daemon_pid is not None:
        if not changed:
            return []
        return check + [Step(reload_argv(files), f"reload carp-pkg's keepalived (pid {running.daemon_pid}, SIGHUP) "
                                                 "with the new configuration", undo=reload_argv(files))]
    if running.systemd:
        if not running.service_reads_ours:
            raise EnvironmentProblem(
                f"systemd runs keepalived here, and keepalived.service does not read carp-pkg's file: add the line "
                f"`include {kc.CONF}` to {running.service_conf or kc.MAIN_CONF} (or run keepalived on it with "
                f"DAEMON_ARGS=\"-f {kc.CONF}\" in {kc.DEFAULTS}), then run `carp-pkg sync` again; nothing was changed")
        if running.service_active:
            if not changed:
                return []
            return service_check(running, files) + [
                Step(SYSTEMCTL_RELOAD, "reload keepalived.service with the new configuration", undo=SYSTEMCTL_RELOAD)]
        return service_check(running, files) + [
            Step(SYSTEMCTL_START, "start keepalived.service (it reads carp-pkg's file)", undo=SYSTEMCTL_STOP)]
    return check + [Step(start_argv(files), f"start keepalived on {kc.CONF} (carp-pkg runs and owns it: pid files in "
                                            "its state dir)", undo=stop_argv(files))]


def link_refusal(files: KeepalivedFiles) -> EnvironmentProblem:
    return EnvironmentProblem(f"{files.conf} is a symbolic link: carp-pkg neither reads through it nor replaces it "
                              "(remove the link, then run `carp-pkg sync`: carp-pkg writes the file itself); "
                              "nothing was changed")


class Keepalived(Backend):
    name = "keepalived"
    summary = "Linux: keepalived runs VRRPv3 (one vrrp_instance per vhid in the file carp-pkg owns)"

    def __init__(self, paths: Optional[Paths] = None):
        self.paths = paths or Paths()
        self.files = KeepalivedFiles.under(self.paths)

    def owned_files(self) -> Tuple[str, ...]:
        """/etc/keepalived/carp-pkg.conf: the one file outside the state dir (the notify scripts, recorded states
        and pid files live in /var/db/carp-pkg/keepalived and go with it)."""
        return (kc.CONF,)

    # -- reconcile -----------------------------------------------------------------------------------------
    def plan(self, config: CarpConfig, running: RunningState) -> Plan:
        if not isinstance(running, KeepalivedRunning):
            running = KeepalivedRunning(interfaces=running.interfaces, host_addresses=running.host_addresses,
                                        host=running.host, files=self.files)
        files = running.files
        groups = config.groups()
        for group in groups:
            if running.interfaces and group.interface not in running.interfaces:
                raise EnvironmentProblem(f"{group.interface} does not exist on this host, so keepalived cannot serve "
                                         f"{label(group.interface, group.vhid)} (interfaces: "
                                         f"{', '.join(running.interfaces)})")
        if running.conf_link:
            return self._linked_plan(config, running)
        instances, scripts = self._instances(config, running)
        conf = kc.render_included(instances) if running.included else kc.render(instances)
        changed = running.conf_text != conf
        on_disk = dict(running.scripts)
        planned = [PlannedFile(files.conf, conf, kc.CONF_MODE)] if changed else []
        planned += [f for f in scripts if on_disk.get(posixpath.basename(f.path)) != kc.digest(f.content)]
        keep = {posixpath.basename(f.path) for f in scripts}
        keep |= {posixpath.basename(files.state(g.interface, g.vhid)) for g in groups}
        removed = tuple(posixpath.join(files.directory, name) for name in running.leftovers if name not in keep)
        steps = reload_steps(bool(groups), changed, running, files)
        return Plan(self.name, tuple(steps), self._warnings(config, running), tuple(planned), removed)

    def _instances(self, config: CarpConfig,
                   running: KeepalivedRunning) -> Tuple[List[kc.Instance], List[PlannedFile]]:
        files = running.files
        host_addresses = tuple(config.host_addresses) + tuple(running.host_addresses)
        event = event_argv(files.root)
        instances, scripts = [], []
        for group in config.groups():
            notify = files.notify(group.interface, group.vhid)
            instance = kc.build_instance(group, config.preempt, host_addresses, notify)
            if instance.source is not None and instance.source in instance.peers:
                raise EnvironmentProblem(f"the unicast peer {instance.source} of {label(group.interface, group.vhid)} "
                                         f"is this host's own address on {group.interface} (keepalived's "
                                         "unicast_src_ip): give the other host's address; nothing was changed")
            instances.append(instance)
            scripts.append(PlannedFile(notify, kc.notify_script(group.interface, group.vhid,
                                                                files.state(group.interface, group.vhid),
                                                                group.addresses, event), kc.SCRIPT_MODE))
        return instances, scripts

    def _linked_plan(self, config: CarpConfig, running: KeepalivedRunning) -> Plan:
        """carp-pkg.conf is a symbolic link: refused up front, except that carp-pkg's own keepalived may still be
        stopped when no vhid is wanted (stop, deinstall): the link itself is left alone, never read or replaced."""
        if config.groups() or (running.systemd and running.service_active and running.daemon_pid is None):
            raise link_refusal(running.files)
        steps = reload_steps(False, False, running, running.files)
        removed = tuple(posixpath.join(running.files.directory, name) for name in running.leftovers)
        return Plan(self.name, tuple(steps), (), (), removed)

    @staticmethod
    def _warnings(config: CarpConfig, running: Optional[KeepalivedRunning] = None) -> Tuple[str, ...]:
        warnings = [str(w) for w in config.warnings]
        if running is not None and running.included and config.groups():
            shown = running.service_conf or kc.MAIN_CONF
            fast = [g for g in config.groups() if g.vrrpinterval < kc.SUBSECOND]
            if "vrrp_rt_priority" in running.service_globals:
                warnings.append(f"the global_defs of {shown} (or a file it includes) set `vrrp_rt_priority`: where "
                                "keepalived lacks CAP_SYS_RESOURCE (Docker's default), keepalived 2.2.7's VRRP process "
                                "is killed on a reload (its RLIMIT_RTTIME cannot be set again) and respawned twice, "
                                "two VRRP processes then advertise at once and the VIPs flap; replace it with "
                                f"`vrrp_priority {kc.NICE}`")
            elif fast and "vrrp_priority" not in running.service_globals:
                warnings.append(f"{label(fast[0].interface, fast[0].vhid)} advertises every "
                                f"{kc.advert_int(fast[0].vrrpinterval)} s: add `vrrp_priority {kc.NICE}` to "
                                f"the global_defs of {shown} (carp-pkg's file is included there and sets no "
                                "global_defs; at the default scheduling a busy host can miss adverts and hand the "
                                "VIPs over for nothing)")
            if "enable_script_security" not in running.service_globals:
                warnings.append(f"{shown} has no `enable_script_security` in global_defs: keepalived runs carp-pkg's "
                                "notify scripts (as root: `notify PATH root`) without checking them and logs a "
                                "SECURITY VIOLATION (keepalived -t exits 6, which carp-pkg accepts); add it there to "
                                "have them checked (your own scripts then need a user: `script_user` or one per "
                                "script)")
        return tuple(warnings + ignored_on_linux(config, KEEPALIVED))

    def stop_plan(self, config: CarpConfig, host=None) -> Plan:
        if not config.groups():
            return Plan(self.name)
        return Plan(self.name, (Step(stop_argv(self.files), "stop carp-pkg's keepalived (a keepalived.service is "
                                                            "systemd's: `systemctl stop keepalived`)"),))

    def boot_plan(self, config: CarpConfig, host=None) -> Plan:
        """The rc script's start: everything from config.xml, nothing observed. It writes carp-pkg.conf and the
        notify scripts itself (`carp-pkg stop` empties the one and removes the others), then keepalived -t and the
        start, or a reload of carp-pkg's keepalived when it runs already; where systemd is PID 1 it refuses (there
        keepalived.service reads the file and carp-pkg.service's `carp-pkg sync` brings it up)."""
        running = KeepalivedRunning(files=self.files)
        if not config.groups():
            return Plan(self.name, (), self._warnings(config))
        instances, scripts = self._instances(config, running)
        steps = [Step(write_argv(f.path, f.mode, f.content), f"write {posixpath.basename(f.path)}, keepalived's notify "
                      "script for the vhid") for f in scripts]
        steps.append(Step(boot_argv(self.files, kc.render(instances)),
                          f"write {kc.CONF} once keepalived -t accepts it, then start keepalived on it (carp-pkg runs "
                          "and owns it), or reload carp-pkg's keepalived if it runs already; not where systemd is "
                          "PID 1 (carp-pkg.service runs `carp-pkg sync` there)"))
        return Plan(self.name, tuple(steps), self._warnings(config))

    # -- observe -------------------------------------------------------------------------------------------
    @staticmethod
    def _included_globals(system, paths, service_conf: str, text: Optional[str]) -> FrozenSet[str]:
        """global_defs keywords of the files keepalived.conf includes (one level; carp-pkg's own file aside), where
        admins often keep them: a whole file (`include /etc/keepalived/conf.d/*.conf`), or the body of global_defs
        (`global_defs { include rt.conf }`). Only for sync's advice: a match that is not a readable regular file
        inside --root (a dangling or outward link, a FIFO, a directory) is skipped."""
        found: FrozenSet[str] = frozenset()
        for in_global_defs in (False, True):
            for included in _included_texts(system, paths, kc.include_patterns(service_conf, text, in_global_defs)):
                found |= kc.global_keywords("global_defs {\n" + included + "\n}\n" if in_global_defs else included)
        return found

    def read_running(self, system, paths) -> KeepalivedRunning:
        files = KeepalivedFiles.under(paths)
        texts = {name: system.read_text(posixpath.join(files.directory, name))
                 for name in system.list_dir(files.directory) if name.endswith((".notify", ".state"))}
        pid = parse_pid(system.read_text(files.pid))
        if pid is not None:
            alive = process_alive(system.read_text(f"/proc/{pid}/status"))
            if not (alive and reads_conf(system.read_text(f"/proc/{pid}/cmdline"), files.conf)):
                pid = None
        systemd = posixpath.basename(files.systemd_marker) in system.list_dir(posixpath.dirname(files.systemd_marker))
        active = reads = service_conf = service_conf_path = None
        service_globals: FrozenSet[str] = frozenset()
        if systemd and pid is None:
            active = system.capture(("systemctl", "is-active", SERVICE), check=False).strip() == "active"
            service_conf = kc.service_conf(system.read_text(files.defaults))
            service_conf_path = paths.under_root(service_conf)
            text = None if service_conf == kc.CONF else system.read_text(service_conf_path)
            reads = kc.service_reads(kc.CONF, service_conf, text)
            service_globals = kc.global_keywords(text) | self._included_globals(system, paths, service_conf, text)
        # a symbolic link at carp-pkg.conf is never read through (nor, later, replaced by a copy of its target)
        conf_link = os.path.islink(files.conf)
        return assemble(files, None if conf_link else system.read_text(files.conf), texts, pid, systemd, active,
                        bool(reads), system.capture(("ip", "-j", "addr", "show")), service_conf=service_conf,
                        service_conf_path=service_conf_path, service_globals=service_globals, conf_link=conf_link)
