"""Linux: one `ucarp` process per (interface, vhid), wire-compatible with FreeBSD CARP for one IPv4 VIP.

Layout under the state dir (`<root>/var/db/carp-pkg/ucarp/`), one set per instance `IF-vhidV`:

    IF-vhidV.pass   0600  the password (ucarp -o reads its first line; never on a command line)
    IF-vhidV.up     0700  run by ucarp on becoming MASTER: add the VIP, record the state
    IF-vhidV.down   0700  run on becoming BACKUP, at start-up and at exit (-z): remove the VIP, record the state
    IF-vhidV.json   0600  the ucarp argv carp-pkg started (how read_running recognises its processes)
    IF-vhidV.pid          written when the process is started
    IF-vhidV.state        "MASTER|BACKUP <unix time>", written by the two scripts
    IF-vhidV.log          ucarp's warnings and errors (its stderr), emptied at each start

Why not `ucarp -B`: it forks twice and has no pid-file option, so the pid would be lost. The start
step backgrounds ucarp itself under `setsid` and records `$!`; not daemonized, ucarp writes its
warnings to stderr, so the log shows "Bad digest" when a peer's password or VIP differs. The stop
step sends SIGTERM and waits until the process is gone, so the -z down script has removed the VIP
when the step returns. `-n` (neutral) is left out on purpose: the down script that ucarp runs at
start-up records BACKUP at once and removes a VIP that a killed predecessor may have left behind.

Facts from ucarp 1.5.2 (src/carp.c, src/ucarp.c), checked against running processes:
- the scripts get: $1 interface, $2 the -a address, $3 the -x value (carp-pkg passes the prefix length);
- a BACKUP declares the master down after advbase*3 + advskew/256 s, but only notices it when poll()
  wakes, every advbase + advskew/256 s; so the takeover comes 3 x (advbase + advskew/256) s after the
  last advertisement it processed, and adverts reach it up to CAPTURE_TIMEOUT (1 s, the pcap buffer
  timeout) late;
- SIGUSR2 makes a master BACKUP, pauses 3 s, then competes again; with -P it takes the VIP back;
- SIGTERM with -z runs the down script if the process was not BACKUP, then exits;
- when its link goes down, poll() reports POLLERR and ucarp exits (after the -z down script): only
  a new `carp-pkg sync` starts it again;
- a master that has never accepted a peer's advert sends a fresh random counter in each one;
- the password must be non-empty (ucarp refuses to start) and at most 19 bytes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import posixpath
import re
import shlex
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from ..errors import EnvironmentProblem, InputError
from ..events.invocation import event_argv, shell_words
from ..fs import inside
from ..script import comment
from ..validate import valid_device_name
from ..model import CarpConfig, VhidGroup
from ..paths import STATE_DIR
from ..plan import NO_LONGER_CONFIGURED, Plan, PlannedFile, Step
from ..running import IPInterface, RunningState, RunningVhid
from .base import Backend
from .iproute import parse_ip_addr_json
from .limits import ignored_on_linux
from ..fingerprint import password_changed

UCARP = "ucarp"
SUBDIR = "ucarp"
SECRET_MODE = 0o600
SCRIPT_MODE = 0o700
CAPTURE_TIMEOUT_S = 1.0  # ucarp.h CAPTURE_TIMEOUT: pcap hands adverts over up to 1 s late
STOP_WAIT_S = 5
LOG_TAIL_LINES = 40
STATES = ("MASTER", "BACKUP")
INIT = "INIT"  # running, no state recorded yet
STOPPED = "STOPPED"  # carp-pkg started it, the process is gone

# $0 names the step in `ps` and in error messages; the arguments follow it.
START_LABEL = "carp-pkg-ucarp-start"
STOP_LABEL = "carp-pkg-ucarp-stop"
# The state dir is root's own 0700 directory; still, a pid or log file that is a symlink is refused rather
# than followed (a planted link would make root truncate its target), and both are created afresh.
# Under systemd (sd_booted: /run/systemd/system exists) and with the unit installed, an instance of carp-pkg's
# own state dir runs as carp-pkg-ucarp@IF-vhidV.service instead (Restart=always brings back a ucarp that
# exited when its link went down); the unit reads the argv from IF-vhidV.json. Anywhere else (containers,
# the lab, a --root) ucarp runs under setsid as before. The stop step stops the unit and any setsid process.
SYSTEMD_MARKER = "/run/systemd/system"
SYSTEMD_UNIT = "carp-pkg-ucarp@.service"
SYSTEMD_STATE_DIR = posixpath.join(STATE_DIR, SUBDIR)
SYSTEMD_CHECK = (
    f'unit=; if [ -d {SYSTEMD_MARKER} ] && [ "${{pidfile%/*}}" = {SYSTEMD_STATE_DIR} ] '
    f'&& systemctl cat {SYSTEMD_UNIT} >/dev/null 2>&1; then '
    'unit="carp-pkg-ucarp@$(basename "$pidfile" .pid).service"; fi; '
)
START_SNIPPET = (
    'pidfile=$1; log=$2; shift 2; '
    + SYSTEMD_CHECK + 'if [ -n "$unit" ]; then exec systemctl start "$unit"; fi; '
    'for f in "$pidfile" "$log"; do if [ -L "$f" ]; then echo "refusing $f: it is a symbolic link" >&2; exit 1; fi; done; '
    'rm -f "$pidfile" "$log" || exit 1; umask 077; set -C; '
    'setsid "$@" </dev/null >/dev/null 2>"$log" & echo $! > "$pidfile"'
)
# Stop the process the pid file names, if its command line still holds our password-file path
# (a stale pid file after a reboot must not kill a stranger); wait until it is gone or a zombie.
STOP_SNIPPET = (
    'pidfile=$1; ' + SYSTEMD_CHECK + 'if [ -n "$unit" ]; then systemctl stop "$unit" 2>/dev/null; fi; '
    'pid=$(cat "$1" 2>/dev/null) || exit 0; '
    'grep -qaF -- "$2" "/proc/$pid/cmdline" 2>/dev/null || exit 0; '
    'kill -TERM "$pid" 2>/dev/null || exit 0; '
    f'n=0; while [ "$n" -lt {STOP_WAIT_S * 20} ]; do '
    'case $(sed -n "s/^State:[[:space:]]*\\(.\\).*/\\1/p" "/proc/$pid/status" 2>/dev/null) in ""|Z|X) exit 0 ;; esac; '
    'sleep 0.05; n=$((n + 1)); done; '
    f'echo "ucarp (pid $pid) still running {STOP_WAIT_S} s after SIGTERM" >&2; exit 1'
)

SCRIPT_HEAD = """\
#!/bin/sh
{about}
# ucarp passes: $1 interface, $2 virtual address, $3 prefix length (-x).
PATH=/sbin:/bin:/usr/sbin:/usr/bin${{PATH:+:$PATH}}
umask 077
state={state}
"""
RECORD_STATE = """\
rm -f "$state.tmp" && printf '%s %s\\n' {word} "$(date +%s.%N)" > "$state.tmp" && mv -f "$state.tmp" "$state"
"""
# After the state is recorded: the one event path (event log, syslog, user hooks), in the background and
# from / (no working directory can shadow the package), so that ucarp, which waits for this script, is
# never delayed. The interpreter is carp-pkg's own, by its absolute path; see carp_pkg/events/invocation.py.
EVENT_CALL = """\
(cd / && exec {command} </dev/null >/dev/null 2>&1 &)
"""
SCRIPT_END = "exit 0\n"
UP_BODY = """\
ip addr add "$2/$3" dev "$1" 2>/dev/null
# ucarp sends a gratuitous ARP itself right after this script; arping (iputils), when present, adds one
if command -v arping >/dev/null 2>&1; then (arping -q -U -c 1 -I "$1" "$2" >/dev/null 2>&1 &); fi
"""
DOWN_BODY = """\
ip addr del "$2/$3" dev "$1" 2>/dev/null
"""


def master_down_bound(advbase: int, advskew: int) -> float:
    """ucarp's own master-down interval: 3 x (advbase + advskew/256) s (the skew is tripled too)."""
    return 3 * (advbase + advskew / 256)


def failover_bound(advbase: int, advskew: int) -> float:
    """Worst case from losing the master to the backup taking the VIP, with ucarp's 1 s pcap buffer."""
    return master_down_bound(advbase, advskew) + CAPTURE_TIMEOUT_S


# --- where an instance keeps its files --------------------------------------------------------------

@dataclass(frozen=True)
class InstanceFiles:
    directory: str
    interface: str
    vhid: int

    def _path(self, suffix: str) -> str:
        if not valid_device_name(self.interface):
            raise InputError(f"refusing the file name for interface {self.interface!r}: not a device name")
        return inside(self.directory, f"{self.interface}-vhid{int(self.vhid)}.{suffix}")

    password = property(lambda self: self._path("pass"))
    up = property(lambda self: self._path("up"))
    down = property(lambda self: self._path("down"))
    record = property(lambda self: self._path("json"))
    pid = property(lambda self: self._path("pid"))
    state = property(lambda self: self._path("state"))
    log = property(lambda self: self._path("log"))

    def all(self) -> Tuple[str, ...]:
        return (self.password, self.up, self.down, self.record, self.pid, self.state, self.log)


def instance_dir(state_dir: str) -> str:
    return posixpath.join(state_dir, SUBDIR)


def ascii_number(text: str, digits: int) -> bool:
    """ASCII digits only, at most `digits` of them: str.isdigit() takes "²", which int() and float() refuse."""
    return re.fullmatch(f"[0-9]{{1,{digits}}}", text) is not None


def parse_instance_name(name: str) -> Optional[Tuple[str, int]]:
    """`eth0-vhid7.json` → ("eth0", 7)."""
    if not name.endswith(".json"):
        return None
    stem = name[: -len(".json")]
    interface, sep, number = stem.rpartition("-vhid")
    if not sep or not valid_device_name(interface) or not ascii_number(number, 3) or not 1 <= int(number) <= 255:
        return None
    return interface, int(number)


# --- what carp-pkg wants running ------------------------------------------------------------------

def ucarp_argv(group: VhidGroup, source: str, files: InstanceFiles, preempt: bool) -> Tuple[str, ...]:
    address = group.addresses[0]
    argv = [UCARP, "-i", group.interface, "-s", source, "-v", str(group.vhid), "-o", files.password,
            "-a", str(address.ip), "-b", str(group.advbase), "-k", str(group.advskew),
            "-x", str(address.network.prefixlen), "-u", files.up, "-d", files.down]
    if preempt:
        argv.append("-P")
    argv.append("-z")
    return tuple(argv)


def _script_head(files: InstanceFiles, when: str) -> str:
    about = comment(f"Generated by carp-pkg: ucarp runs this for vhid {files.vhid} on {files.interface} {when}.")
    return SCRIPT_HEAD.format(about=about, state=shlex.quote(files.state))


def event_root(directory: str) -> Optional[str]:
    """The --root an instance directory belongs to (`ROOT/var/db/carp-pkg/ucarp`), or None for a directory
    laid out otherwise (then the scripts record the state only)."""
    path = posixpath.normpath(os.path.abspath(directory))
    suffix = posixpath.join(STATE_DIR, SUBDIR)
    if path == suffix:
        return "/"
    return path[: -len(suffix)] if path.endswith(suffix) else None


def _event_call(files: InstanceFiles, word: str) -> str:
    root = event_root(files.directory)
    argv = event_argv(root) if root is not None else None
    if argv is None:
        return comment("no `carp-pkg event` call: this directory is not ROOT/var/db/carp-pkg/ucarp, or the "
                       "interpreter has no absolute path") + "\n"
    words = (*argv, "--source", "ucarp", f"interface={files.interface}", f"vhid={int(files.vhid)}", f"state={word}")
    return EVENT_CALL.format(command=shell_words(words) + ' "vip=$2"')


def up_script(files: InstanceFiles) -> str:
    head = _script_head(files, "when it becomes MASTER")
    return head + UP_BODY + RECORD_STATE.format(word="MASTER") + _event_call(files, "MASTER") + SCRIPT_END


def down_script(files: InstanceFiles) -> str:
    head = _script_head(files, "when it becomes BACKUP, at start-up and when it stops")
    return head + DOWN_BODY + RECORD_STATE.format(word="BACKUP") + _event_call(files, "BACKUP") + SCRIPT_END


def record_text(argv: Sequence[str]) -> str:
    return json.dumps({"argv": list(argv)}, indent=1) + "\n"


def scripts_digest(up: Optional[str], down: Optional[str]) -> Optional[str]:
    if up is None or down is None:
        return None
    import hashlib  # start-up time: only when scripts are compared
    return hashlib.sha256(f"{up}\0{down}".encode("utf-8")).hexdigest()


def start_argv(argv: Sequence[str], files: InstanceFiles) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", START_SNIPPET, START_LABEL, files.pid, files.log, *argv)


def start_step(argv: Sequence[str], files: InstanceFiles, why: str) -> Step:
    return Step(start_argv(argv, files), why, undo=stop_argv(files))


def stop_argv(files: InstanceFiles) -> Tuple[str, ...]:
    return ("/bin/sh", "-c", STOP_SNIPPET, STOP_LABEL, files.pid, files.password)


def address_argv(verb: str, interface: str, address: IPInterface) -> Tuple[str, ...]:
    return ("ip", "addr", verb, str(address), "dev", interface)


# --- what is running --------------------------------------------------------------------------------

@dataclass(frozen=True)
class UcarpVhid(RunningVhid):
    """A RunningVhid with what only ucarp has: the process command line and the VIP actually held."""

    argv: Tuple[str, ...] = ()  # the command line carp-pkg recorded (and the live process matches)
    scripts: Optional[str] = None  # digest of the up/down scripts on disk
    held: Tuple[IPInterface, ...] = ()  # addresses of this vhid currently on the interface
    since: Optional[float] = None  # unix time of the last MASTER/BACKUP change
    peer_mismatch: bool = False  # a peer's adverts failed the HMAC just now: its password or VIP differs
    last_error: Optional[str] = None  # ucarp's last [ERROR] line (why a STOPPED instance died)


@dataclass(frozen=True)
class UcarpRunning(RunningState):
    state_dir: str = ""  # where this host keeps its ucarp files (already under --root)


@dataclass(frozen=True)
class ObservedInstance:
    """Raw text read for one instance; None = the file does not exist."""

    interface: str
    vhid: int
    record: Optional[str] = None
    pid: Optional[str] = None
    cmdline: Optional[str] = None
    proc_status: Optional[str] = None
    state: Optional[str] = None
    up: Optional[str] = None
    down: Optional[str] = None
    log_tail: Optional[str] = None


def parse_log(text: Optional[str], now: float, window_s: float) -> Tuple[bool, Optional[str]]:
    """(a "Bad digest" warning within window_s of now, the last [ERROR] line) from ucarp's stderr.

    Lines look like `2026-11-25T12:08:11.123456: [WARNING] Bad digest - md2=[...] - Check vhid, ...`
    (local time, as ucarp prints it when not daemonized).
    """
    mismatch, error = False, None
    for line in (text or "").splitlines():
        stamp, _, message = line.partition(": ")
        if "[ERROR]" in message:
            error = message.replace("[ERROR]", "").strip()
        if "Bad digest" in message:
            try:
                seen = time.mktime(time.strptime(stamp.split(".")[0], "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                continue
            mismatch = mismatch or now - seen <= window_s
    return mismatch, error


def parse_record(text: Optional[str]) -> Tuple[str, ...]:
    try:
        argv = json.loads(text or "").get("argv")
    except (ValueError, AttributeError):
        return ()
    return tuple(str(a) for a in argv) if isinstance(argv, list) else ()


def parse_pid(text: Optional[str]) -> Optional[int]:
    word = (text or "").strip()
    return int(word) if ascii_number(word, 12) and int(word) > 0 else None


def parse_cmdline(text: Optional[str]) -> Tuple[str, ...]:
    """/proc/PID/cmdline: NUL-separated, NUL-terminated."""
    if not text:
        return ()
    return tuple(text.rstrip("\0").split("\0"))


def process_alive(proc_status: Optional[str]) -> bool:
    """A zombie or dead task is gone for our purposes (an init that does not reap leaves zombies)."""
    for line in (proc_status or "").splitlines():
        if line.startswith("State:"):
            letter = line.split(":", 1)[1].strip()[:1]
            return letter not in ("Z", "X", "")
    return False


def parse_state_file(text: Optional[str]) -> Tuple[Optional[str], Optional[float]]:
    words = (text or "").split()
    if not words or words[0] not in STATES:
        return None, None
    since = None
    if len(words) > 1:
        try:
            since = float(words[1])
        except ValueError:
            digits = words[1].split(".")[0]
            since = float(digits) if ascii_number(digits, 12) else None
    return words[0], since


def argv_option(argv: Sequence[str], flag: str) -> Optional[str]:
    for index, word in enumerate(argv[:-1]):
        if word == flag:
            return argv[index + 1]
    return None


def argv_address(argv: Sequence[str]) -> Optional[IPInterface]:
    address, prefix = argv_option(argv, "-a"), argv_option(argv, "-x") or "32"
    try:
        return ipaddress.ip_interface(f"{address}/{prefix}")
    except ValueError:
        return None


def _int_option(argv: Sequence[str], flag: str) -> int:
    value = argv_option(argv, flag) or ""
    return int(value) if ascii_number(value, 12) else 0


def running_vhid(seen: ObservedInstance, addresses: Iterable[Tuple[str, IPInterface]],
                 now: float) -> Optional[UcarpVhid]:
    argv = parse_record(seen.record)
    if not argv:
        return None
    pid = parse_pid(seen.pid)
    alive = pid is not None and process_alive(seen.proc_status) and parse_cmdline(seen.cmdline) == argv
    state, since = parse_state_file(seen.state)
    address = argv_address(argv)
    held = tuple(a for name, a in addresses if name == seen.interface and address is not None and a.ip == address.ip)
    advbase = _int_option(argv, "-b")
    mismatch, error = parse_log(seen.log_tail, now, failover_bound(advbase, 255) + CAPTURE_TIMEOUT_S)
    return UcarpVhid(
        interface=seen.interface, vhid=seen.vhid,
        state=(state or INIT) if alive else STOPPED,
        advbase=advbase, advskew=_int_option(argv, "-k"),
        addresses=(address,) if address is not None else (),
        pid=pid if alive else None,
        argv=argv, scripts=scripts_digest(seen.up, seen.down), held=held, since=since if alive else None,
        peer_mismatch=mismatch and alive, last_error=error,
    )


def assemble(observed: Sequence[ObservedInstance], ip_addr_json: str, state_dir: str, now: float) -> UcarpRunning:
    """`now`: unix time, to tell a fresh "Bad digest" from one logged before the peer was fixed."""
    names, addresses = parse_ip_addr_json(ip_addr_json)
    vhids = tuple(v for v in (running_vhid(seen, addresses, now) for seen in observed) if v is not None)
    vip_addresses = {(v.interface, a.ip) for v in vhids for a in v.addresses}
    host = tuple((name, a) for name, a in addresses if (name, a.ip) not in vip_addresses)
    return UcarpRunning(vhids=vhids, interfaces=names, host_addresses=host, state_dir=state_dir)


# --- planning ---------------------------------------------------------------------------------------

def source_address(group: VhidGroup, host_addresses: Iterable[Tuple[str, IPInterface]]) -> Optional[str]:
    """The interface's own IPv4 address (ucarp -s): one in the VIP's subnet first, else the first one."""
    vips = {a.ip for a in group.addresses}
    own = [a for name, a in host_addresses if name == group.interface and a.version == 4 and a.ip not in vips]
    in_subnet = [a for a in own if any(a.ip in v.network for v in group.addresses)]
    chosen = (in_subnet or own or [None])[0]
    return str(chosen.ip) if chosen is not None else None


def instance_files_for(group: VhidGroup, state_dir: str) -> Tuple[PlannedFile, ...]:
    files = InstanceFiles(instance_dir(state_dir), group.interface, group.vhid)
    return (
        PlannedFile(files.password, group.password + "\n", SECRET_MODE, secret=True),
        PlannedFile(files.up, up_script(files), SCRIPT_MODE),
        PlannedFile(files.down, down_script(files), SCRIPT_MODE),
    )


def label(interface: str, vhid: int) -> str:
    return f"vhid {vhid} on {interface}"


def describe_change(old: Sequence[str], new: Sequence[str]) -> str:
    names = {"-s": "source", "-a": "address", "-x": "prefix", "-b": "advbase", "-k": "advskew"}
    changes = [f"{name} {argv_option(old, flag)} -> {argv_option(new, flag)}"
               for flag, name in names.items() if argv_option(old, flag) != argv_option(new, flag)]
    if ("-P" in old) != ("-P" in new):
        changes.append("preempt " + ("on" if "-P" in new else "off"))
    return ", ".join(changes)


class Ucarp(Backend):
    name = "ucarp"
    summary = "Linux: one ucarp process per vhid (CARP-compatible for one IPv4 address per vhid)"

    def __init__(self, state_dir: str = STATE_DIR):
        self.state_dir = state_dir

    # -- what ucarp cannot do ------------------------------------------------------------------------
    # -- reconcile -----------------------------------------------------------------------------------
    def plan(self, config: CarpConfig, running: RunningState) -> Plan:
        state_dir = running.state_dir if isinstance(running, UcarpRunning) and running.state_dir else self.state_dir
        host_addresses = config.host_addresses + tuple(running.host_addresses)
        wanted = {(g.interface, g.vhid) for g in config.groups()}
        steps: List[Step] = []
        files: List[PlannedFile] = []
        removed: List[str] = []
        for current in running.vhids:
            if (current.interface, current.vhid) not in wanted:
                steps += self._stop_steps(current, state_dir, NO_LONGER_CONFIGURED)
                removed += InstanceFiles(instance_dir(state_dir), current.interface, current.vhid).all()
        for group in config.groups():
            group_steps, group_files = self._group_changes(group, running, state_dir, host_addresses, config.preempt)
            steps += group_steps
            files += group_files
        return Plan(self.name, tuple(steps), self._warnings(config), tuple(files), tuple(removed))

    def _group_changes(self, group: VhidGroup, running: RunningState, state_dir: str,
                       host_addresses, preempt: bool) -> Tuple[List[Step], List[PlannedFile]]:
        files = InstanceFiles(instance_dir(state_dir), group.interface, group.vhid)
        if running.interfaces and group.interface not in running.interfaces:
            raise EnvironmentProblem(f"{group.interface} does not exist on this host, so ucarp cannot serve "
                                     f"{label(group.interface, group.vhid)} (interfaces: {', '.join(running.interfaces)})")
        source = source_address(group, host_addresses)
        if source is None:
            raise EnvironmentProblem(f"{group.interface} has no IPv4 address of its own; ucarp needs one as its source "
                                     f"address (-s) for {label(group.interface, group.vhid)}: configure the interface "
                                     "address first")
        argv = ucarp_argv(group, source, files, preempt)
        wanted_files = instance_files_for(group, state_dir) + (PlannedFile(files.record, record_text(argv), SECRET_MODE),)
        current = running.vhid(group.interface, group.vhid)
        name = label(group.interface, group.vhid)
        if current is None or current.pid is None:
            why = f"start ucarp for {name} ({group.addresses[0]}, advbase {group.advbase}, advskew {group.advskew})"
            return [start_step(argv, files, why)], list(wanted_files)
        old_argv = getattr(current, "argv", ())
        new_password = password_changed(group, current, running.password_salt)
        if tuple(old_argv) != argv or new_password:
            reasons = describe_change(old_argv, argv) if tuple(old_argv) != argv else ""
            if new_password:
                reasons = ", ".join(r for r in (reasons, "password changed") if r)
            stop = Step(stop_argv(files), f"restart {name}: {reasons or 'command line changed'}",
                        undo=start_argv(old_argv, files) if old_argv else None)
            return [stop, start_step(argv, files, f"start ucarp for {name} with the new settings")], list(wanted_files)
        wanted_scripts = scripts_digest(up_script(files), down_script(files))
        if getattr(current, "scripts", None) != wanted_scripts:
            return [], [f for f in wanted_files if f.path in (files.up, files.down)]
        return [], []

    @staticmethod
    def _stop_steps(current: RunningVhid, state_dir: str, reason: str) -> List[Step]:
        files = InstanceFiles(instance_dir(state_dir), current.interface, current.vhid)
        name = label(current.interface, current.vhid)
        steps: List[Step] = []
        if current.pid is not None:
            # ucarp -z runs the down script on SIGTERM: the VIP goes with the process
            steps.append(Step(stop_argv(files), f"stop ucarp for {name}: it {reason}"))
        else:
            for address in getattr(current, "held", ()):
                steps.append(Step(address_argv("del", current.interface, address),
                                  f"remove {address.ip}, left on {current.interface} by the stopped ucarp for {name}",
                                  undo=address_argv("add", current.interface, address)))
        return steps

    @staticmethod
    def _warnings(config: CarpConfig) -> Tuple[str, ...]:
        warnings = [str(w) for w in config.warnings]  # validation's (e.g. a password cut to its 19 bytes)
        return tuple(warnings + ignored_on_linux(config, UCARP))

    def stop_plan(self, config: CarpConfig, host=None) -> Plan:
        steps = []
        for group in config.groups():
            files = InstanceFiles(instance_dir(self.state_dir), group.interface, group.vhid)
            steps.append(Step(stop_argv(files), f"stop ucarp for {label(group.interface, group.vhid)}"))
        return Plan(self.name, tuple(steps))

    def boot_plan(self, config: CarpConfig, host=None) -> Plan:
        """The rc script's start: needs each interface's own address from config.xml (nothing is observed);
        host facts do not matter here (ucarp sets no sysctl)."""
        try:
            return self.plan(config, UcarpRunning(state_dir=self.state_dir))
        except EnvironmentProblem as exc:
            return Plan(self.name, warnings=(f"no boot commands: {exc.message}; run `carp-pkg sync` at boot instead",))

    # -- observe -------------------------------------------------------------------------------------
    def read_running(self, system, paths) -> UcarpRunning:
        state_dir = paths.state_dir
        directory = instance_dir(state_dir)
        observed = [self._observe(system, directory, interface, vhid)
                    for interface, vhid in sorted(filter(None, map(parse_instance_name, system.list_dir(directory))))]
        ip_json = system.capture(("ip", "-j", "addr", "show"))
        return assemble(observed, ip_json, state_dir, time.time())

    @staticmethod
    def _observe(system, directory: str, interface: str, vhid: int) -> ObservedInstance:
        files = InstanceFiles(directory, interface, vhid)
        pid = parse_pid(system.read_text(files.pid))
        proc = f"/proc/{pid}" if pid is not None else None
        return ObservedInstance(
            interface=interface, vhid=vhid,
            record=system.read_text(files.record),
            pid=str(pid) if pid is not None else None,
            cmdline=system.read_text(proc + "/cmdline") if proc else None,
            proc_status=system.read_text(proc + "/status") if proc else None,
            state=system.read_text(files.state),
            up=system.read_text(files.up), down=system.read_text(files.down),
            log_tail=system.capture(("tail", "-n", str(LOG_TAIL_LINES), files.log), check=False) if proc else None,
        )



