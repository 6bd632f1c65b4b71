"""Linux, VRRPv3: keepalived runs the election; carp-pkg writes the one file it owns and reloads it.

    /etc/keepalived/carp-pkg.conf              0600  one vrrp_instance per (interface, vhid) (keepalived_conf.py)
    /var/db/carp-pkg/keepalived/IF-vhidN.notify 0700  keepalived's notify script: records the state, runs `event`
    /var/db/carp-pkg/keepalived/IF-vhidN.state  0600  "STATE TIME RAW PRIO", written by the notify script
    /var/db/carp-pkg/keepalived/keepalived.pid       carp-pkg's own keepalived (main and VRRP process)
    /var/db/carp-pkg/keepalived/vrrp.pid

Who runs keepalived, in this order (decided by `reload_steps`, a pure function of what read_running saw):
1. carp-pkg's own keepalived (its pid file names a live keepalived reading carp-pkg.conf): SIGHUP it;
2. systemd is PID 1 (ROOT/run/systemd/system exists): the keepalived.service of the distribution, which must
   read carp-pkg.conf (keepalived.conf `include`s it, or DAEMON_ARGS has `-f` it; otherwise sync refuses and
   says which line to add): `systemctl reload keepalived`, or `systemctl start keepalived` when it is not active;
3. anywhere else (containers, the lab, a --root): carp-pkg starts keepalived itself on carp-pkg.conf with its
   pid files in the state dir, and from then on owns it (case 1).
A changed file is checked with `keepalived -t -f FILE` before keepalived is told to read it; an unchanged file
is neither written nor signalled. Every command is a Step run through the Runner, with an undo where one exists
(a reload's undo is another reload, after sync has put the previous file back).

Facts from keepalived 2.2.7, checked in network namespaces here: SIGHUP re-reads the file and keeps the state of
instances whose name stays (no notify for an unchanged state); notify scripts get `INSTANCE NAME STATE PRIO`
appended; SIGTERM removes the VIPs, advertises priority 0 (the backup takes over at once), notifies STOP and
exits; `-t` exits non-zero (5) on an unknown keyword, a VRID outside 1-255 or a VIP of the other family.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import EnvironmentProblem
from ..events.invocation import event_argv
from ..model import CARP_DEFAULT_PEER, CARP_DEFAULT_PEER6, CarpConfig, Problem, VhidGroup
from ..paths import Paths
from ..plan import Plan, PlannedFile, Step
from ..running import IPInterface, RunningState, RunningVhid
from . import keepalived_conf as kc
from .base import Backend
from .iproute import parse_ip_addr_json

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
# Start keepalived on carp-pkg's file with carp-pkg's pid files (a symlink there is refused, stale ones removed:
# keepalived refuses to start over a pid file naming a live process) and wait for the pid file, so `status`
# right after `sync` sees the process. keepalived forks into the background itself.
START_SNIPPET = (
    'pidfile=$1; vrrp_pidfile=$2; shift 2; '
    'for f in "$pidfile" "$vrrp_pidfile"; do if [ -L "$f" ]; then echo "refusing $f: it is a symbolic link" >&2; '
    'exit 1; fi; done; rm -f "$pidfile" "$vrrp_pidfile" || exit 1; umask 077; "$@" </dev/null >/dev/null || exit $?; '
    f'n=0; while [ ! -s "$pidfile" ] && [ "$n" -lt {START_WAIT_S * 20} ]; do sleep 0.05; n=$((n + 1)); done; '
    '[ -s "$pidfile" ] || { echo "keepalived wrote no $pidfile: see its log (syslog, daemon facility)" >&2; exit 1; }'
)
# The process the pid file names, if its command line still names carp-pkg's file (a stale pid file after a
# reboot must not signal a stranger).
OURS = 'pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && grep -qaF -- "$2" "/proc/$pid/cmdline" 2>/dev/null'
RELOAD_SNIPPET = (OURS + ' || { echo "carp-pkg\'s keepalived (pid file $1) is not running" >&2; exit 1; }; '
                  'kill -HUP "$pid"')
STOP_SNIPPET = (
    OURS + ' || exit 0; kill -TERM "$pid" 2>/dev/null || exit 0; '
    f'n=0; while [ "$n" -lt {STOP_WAIT_S * 20} ]; do '
    'case $(sed -n "s/^State:[[:space:]]*\\(.\\).*/\\1/p" "/proc/$pid/status" 2>/dev/null) in ""|Z|X) exit 0 ;; esac; '
    'sleep 0.05; n=$((n + 1)); done; '
    f'echo "keepalived (pid $pid) still running {STOP_WAIT_S} s after SIGTERM" >&2; exit 1'
)


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
    return ("/bin/sh", "-c", START_SNIPPET, START_LABEL, files.pid, files.vrrp_pid, *daemon_argv(files))


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

    @property
    def keepalived_running(self) -> bool:
        return self.daemon_pid is not None or bool(self.service_active)


def parse_pid(text: Optional[str]) -> Optional[int]:
    word = (text or "").strip()
    return int(word) if word.isdigit() and int(word) > 0 else None


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
             ip_addr_json: str) -> KeepalivedRunning:
    """texts: the directory's *.notify and *.state files by name (None: unreadable)."""
    names, addresses = parse_ip_addr_json(ip_addr_json)
    running = daemon_pid is not None or bool(service_active)
    vhids = []
    for parsed in kc.parse(conf_text):
        stem = kc.file_stem(parsed.interface, parsed.vrid) if parsed.interface and parsed.vrid else ""
        found = running_vhid(parsed, texts.get(stem + ".state") if stem else None, running, addresses) \
            if stem and _named_well(parsed) else None
        if found is not None and found not in vhids:
            vhids.append(found)
    vips = {(v.interface, a.ip) for v in vhids for a in v.addresses}
    host = tuple((name, a) for name, a in addresses if (name, a.ip) not in vips)
    scripts = tuple((name, kc.digest(text)) for name, text in sorted(texts.items())
                    if name.endswith(".notify") and text is not None)
    return KeepalivedRunning(vhids=tuple(vhids), interfaces=names, host_addresses=host, files=files,
                             conf_text=conf_text, scripts=scripts, leftovers=tuple(sorted(texts)),
                             daemon_pid=daemon_pid, systemd=systemd, service_active=service_active,
                             service_reads_ours=service_reads_ours)


def _named_well(parsed: kc.ParsedInstance) -> bool:
    from ..names import valid_device_name
    return bool(parsed.interface) and valid_device_name(parsed.interface) and 1 <= (parsed.vrid or 0) <= 255


# --- deciding -----------------------------------------------------------------------------------------------------

def label(interface: str, vhid: int) -> str:
    return f"vhid {vhid} on {interface}"


def suggested_prio(advskew: int) -> int:
    """A CARP advskew as a VRRPv3 priority: CARP prefers the lower advskew, VRRP the higher priority."""
    return max(1, min(254, 255 - advskew))


def conversion_hint(group: VhidGroup) -> str:
    interval = min(4095, group.advbase * 100)
    return (f"<protocol>vrrp</protocol>, <vrrpprio>{suggested_prio(group.advskew)}</vrrpprio> (255 - advskew "
            f"{group.advskew}: VRRP prefers the higher priority), <vrrpinterval>{interval}</vrrpinterval> "
            f"(advbase {group.advbase} s in centiseconds, or less for a faster failover)"
            + (" and no <password> (VRRPv3 has no authentication)" if group.password else ""))


def reload_steps(has_vhids: bool, changed: bool, running: KeepalivedRunning,
                 files: KeepalivedFiles) -> List[Step]:
    """How keepalived learns the new file (see the module docstring); nothing when nothing changed."""
    check = [Step(check_argv(files), "check the configuration (keepalived -t) before keepalived reads it")]
    if not has_vhids:
        if running.daemon_pid is not None:
            return [Step(stop_argv(files), "stop carp-pkg's keepalived: no vhid is configured any more",
                         undo=start_argv(files))]
        if running.systemd and running.service_active and changed:
            return [Step(SYSTEMCTL_RELOAD, "reload keepalived.service: carp-pkg's instances are gone",
                         undo=SYSTEMCTL_RELOAD)]
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
                f"`include {kc.CONF}` to {kc.MAIN_CONF} (or run keepalived on it with DAEMON_ARGS=\"-f {kc.CONF}\" "
                f"in {kc.DEFAULTS}), then run `carp-pkg sync` again; nothing was changed")
        if running.service_active:
            if not changed:
                return []
            return check + [Step(SYSTEMCTL_RELOAD, "reload keepalived.service with the new configuration",
                                 undo=SYSTEMCTL_RELOAD)]
        return check + [Step(SYSTEMCTL_START, "start keepalived.service (it reads carp-pkg's file)",
                             undo=SYSTEMCTL_STOP)]
    return check + [Step(start_argv(files), f"start keepalived on {kc.CONF} (carp-pkg runs and owns it: pid files in "
                                            "its state dir)", undo=stop_argv(files))]


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

    # -- what keepalived cannot do ------------------------------------------------------------------------
    def problems(self, config: CarpConfig) -> List[Problem]:
        problems: List[Problem] = []
        for group in config.groups():
            where = config.where(group.interface, group.vhid)
            if ":" in group.interface:
                problems.append(Problem(f"{where}.interface", f"{group.interface!r} cannot be a Linux device (dev_valid_"
                                        "name() refuses ':'; eth0:1 is an address label): name the device itself"))
            if not group.vrrp:
                problems.append(Problem(f"{where}.protocol", f"{label(group.interface, group.vhid)} is a CARP entry, "
                                        "and keepalived speaks VRRPv3, not CARP (carp-pkg never reinterprets one as "
                                        f"the other): to use this backend give it {conversion_hint(group)}, on every "
                                        "host of the cluster (a CARP peer and a VRRP peer ignore each other); or keep "
                                        "CARP with --backend ucarp"))
                continue
            family = kc.advertised_family(group)
            unused = "peer6" if family == 4 else "peer"
            if getattr(group, unused) is not None:
                problems.append(Problem(f"{where}.{unused}", f"{label(group.interface, group.vhid)} is advertised over "
                                        f"IPv{family} only (keepalived gives an instance one address family: IPv4 when "
                                        f"the vhid has an IPv4 VIP), so its {unused} would never be used: remove it"))
        seen: Dict[object, VhidGroup] = {}
        for group in config.groups():
            for address in group.addresses:
                other = seen.setdefault((group.interface, address.ip), group)
                if other is not group:
                    problems.append(Problem(config.where(group.interface, group.vhid),
                                            f"{address.ip} is on vhids {other.vhid} and {group.vhid} of "
                                            f"{group.interface}; keepalived has no ARP load balancing, one address "
                                            "takes one vhid"))
        return problems

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
        host_addresses = tuple(config.host_addresses) + tuple(running.host_addresses)
        event = event_argv(files.root)
        instances, scripts = [], []
        for group in groups:
            notify = files.notify(group.interface, group.vhid)
            instances.append(kc.build_instance(group, config.preempt, host_addresses, notify))
            scripts.append(PlannedFile(notify, kc.notify_script(group.interface, group.vhid,
                                                                files.state(group.interface, group.vhid),
                                                                group.addresses, event), kc.SCRIPT_MODE))
        conf = kc.render(instances)
        changed = running.conf_text != conf
        on_disk = dict(running.scripts)
        planned = [PlannedFile(files.conf, conf, kc.CONF_MODE)] if changed else []
        planned += [f for f in scripts if on_disk.get(posixpath.basename(f.path)) != kc.digest(f.content)]
        keep = {posixpath.basename(f.path) for f in scripts}
        keep |= {posixpath.basename(files.state(g.interface, g.vhid)) for g in groups}
        removed = tuple(posixpath.join(files.directory, name) for name in running.leftovers if name not in keep)
        steps = reload_steps(bool(groups), changed, running, files)
        return Plan(self.name, tuple(steps), self._warnings(config), tuple(planned), removed)

    @staticmethod
    def _warnings(config: CarpConfig) -> Tuple[str, ...]:
        warnings = [str(w) for w in config.warnings]
        if config.pfsync is not None:
            warnings.append(f"pfsync ({config.pfsync.syncdev}) is ignored: Linux has no pfsync; "
                            "conntrackd is the Linux way to share connection state")
        if config.balancing:
            warnings.append("ARP balancing is ignored: keepalived has none, each VIP is plain failover")
        return tuple(warnings)

    def stop_plan(self, config: CarpConfig, host=None) -> Plan:
        if not config.groups():
            return Plan(self.name)
        return Plan(self.name, (Step(stop_argv(self.files), "stop carp-pkg's keepalived (a keepalived.service is "
                                                            "systemd's: `systemctl stop keepalived`)"),))

    def boot_plan(self, config: CarpConfig, host=None) -> Plan:
        return self.plan(config, KeepalivedRunning(files=self.files))

    # -- observe -------------------------------------------------------------------------------------------
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
        active = reads = None
        if systemd and pid is None:
            active = system.capture(("systemctl", "is-active", SERVICE), check=False).strip() == "active"
            reads = kc.service_reads(kc.CONF, system.read_text(files.main_conf), system.read_text(files.defaults))
        return assemble(files, system.read_text(files.conf), texts, pid, systemd, active, bool(reads),
                        system.capture(("ip", "-j", "addr", "show")))
