"""Build, drive, measure and always tear down the two-host ucarp lab."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import carp_pkg

from ..backends.ucarp import Ucarp, failover_bound
from ..errors import EnvironmentProblem, InputError
from ..fs import check_private_directory, ensure_private_directory, open_for_writing, read_bounded
from ..paths import Paths
from ..system import RealRunner, Result, Runner, StreamingProcess, System, send_signal
from .configs import default_example, example_vip, host_config_xml
from .progress import QUIET, Progress
from .layout import (BACKENDS, CLIENT, DEFAULT_ADVSKEW, DEFAULT_VRRPINTERVAL, DEFAULT_VRRPPRIO, HOSTS, LINK, LabLayout,
                     build_commands, multicast_block_commands, new_layout)

SETTLE_MARGIN_S = 3.0
POLL_S = 0.1


class LabError(EnvironmentProblem):
    """The lab could not be built or driven on this machine."""


class NoLab(LabError):
    """There is no lab record where one was asked for."""


NAMESPACE_PREFIX = re.compile(r"\Acarplab[0-9A-Za-z_-]{1,24}\Z")


def parse_lab_record(data: bytes, directory: str) -> Tuple[LabLayout, Optional[str]]:
    """A lab.json as a LabLayout, refusing anything carp-pkg would not have written for this directory."""
    def refuse(why: str) -> InputError:
        return InputError(f"{directory}/lab.json: {why}; refusing to act on it (remove the lab by hand)")
    try:
        record = json.loads(data.decode("utf-8"))
        layout = LabLayout.from_json(json.dumps(record["layout"]))
        example = record.get("example")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise refuse("not a lab record") from None
    if layout.directory != directory:
        raise refuse(f"it names another directory ({layout.directory!r})")
    if not isinstance(layout.prefix, str) or not NAMESPACE_PREFIX.match(layout.prefix):
        raise refuse(f"the namespace prefix {layout.prefix!r} is not one carp-pkg makes")
    try:
        ipaddress.ip_interface(layout.vip)
        for node, address in layout.addresses:
            if node not in (*HOSTS, CLIENT):
                raise ValueError(node)
            ipaddress.ip_interface(address)
    except (ValueError, TypeError):
        raise refuse("its addresses are not addresses") from None
    if example is not None and not isinstance(example, str):
        raise refuse("its example is not a file name")
    if layout.backend not in BACKENDS or not isinstance(layout.unicast, bool) or \
            not isinstance(layout.vrrpinterval, int) or not 1 <= layout.vrrpinterval <= 4095:
        raise refuse("its backend settings are not ones carp-pkg makes")
    return layout, example


class NetnsRunner(Runner):
    """Runs every command inside one network namespace."""

    def __init__(self, namespace: str, inner: Optional[Runner] = None):
        self.namespace = namespace
        self.inner = inner or RealRunner()

    def _execute(self, argv, *, mutating, input):
        return self.inner._execute(("ip", "netns", "exec", self.namespace, *argv), mutating=mutating, input=input)


@dataclass(frozen=True)
class Measurement:
    event: str
    old_master: Optional[str]
    new_master: Optional[str]  # who the client saw answering afterwards (None: nobody took over in time)
    client_s: Optional[float]  # event → first ARP answer from new_master at the client
    host_s: Optional[float]  # event → new_master's MASTER record (its up script's timestamp)
    bound_s: Optional[float]  # the protocol's worst case for this handover (Lab.bound), when one applies
    note: str = ""
    lost: Optional[int] = None  # echo probes the client sent during the handover that got no answer
    probes: Optional[int] = None  # echo probes sent

    def to_json(self) -> dict:
        found = {"event": self.event, "old_master": self.old_master, "new_master": self.new_master,
                 "client_s": self.client_s, "host_s": self.host_s, "bound_s": self.bound_s, "note": self.note}
        if self.probes is not None:
            found.update(lost_probes=self.lost, probes=self.probes)
        return found


class Probe:
    """The client's ARP probe, collected by a thread: [(monotonic time, host or mac)]."""

    def __init__(self, process: StreamingProcess, names: Dict[str, str]):
        self.process = process
        self.names = names
        self.answers: List[Tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            words = line.decode("ascii", "replace").split()
            if len(words) == 2:
                with self._lock:
                    self.answers.append((float(words[0]), self.names.get(words[1], words[1])))

    def since(self, start: float) -> List[Tuple[float, str]]:
        with self._lock:
            return [a for a in self.answers if a[0] >= start]

    def first(self, who: str, start: float) -> Optional[float]:
        return next((t for t, name in self.since(start) if name == who), None)

    def answering(self, window: float = 0.3) -> List[str]:
        now = time.monotonic()
        return sorted({name for t, name in self.since(now - window)})

    def stop(self) -> None:
        self.process.stop()
        self._thread.join(timeout=5)


class Lab:
    def __init__(self, layout: LabLayout, example: Optional[str] = None, runner: Optional[Runner] = None):
        self.layout = layout
        # keepalived fails over within ~0.1 s: the client asks every 5 ms (ucarp's seconds need only 20 ms)
        self.probe_interval = 0.005 if layout.backend == "keepalived" else 0.02
        self.example = example or default_example()
        self.runner = runner or RealRunner()
        self.probes: List[Probe] = []
        self.progress: Progress = QUIET  # the lab command shows what it waits for

    # --- life cycle ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str, example: Optional[str] = None, prefix: Optional[str] = None,
               backend: str = "ucarp", unicast: bool = False, vrrpinterval: int = DEFAULT_VRRPINTERVAL) -> "Lab":
        """prefix: start of the namespace names, unique per lab (default carplab<pid>); backend: ucarp (CARP) or
        keepalived (VRRPv3 at vrrpinterval centiseconds); unicast: multicast blocked, the hosts peer by unicast."""
        example = example or default_example()
        if not os.path.exists(example):
            raise LabError(f"the lab needs the bundled example config.xml: {example} is missing (pass --example FILE)")
        directory = os.path.abspath(directory)
        ensure_private_directory(directory)  # /tmp is shared: a directory someone else made first is refused
        return cls(new_layout(directory, example_vip(example), prefix or f"carplab{os.getpid()}", backend, unicast,
                              vrrpinterval), example)

    @classmethod
    def load(cls, directory: str) -> "Lab":
        """The lab recorded in `directory`, which must be root's own private directory; the record is checked
        as hostile (it names namespaces whose processes teardown kills, and the directory it removes)."""
        directory = os.path.abspath(directory)
        if not os.path.lexists(os.path.join(directory, "lab.json")):
            raise NoLab(f"no lab is up in {directory} (start one with `carp-pkg lab up`)")
        check_private_directory(directory)
        data = read_bounded(os.path.join(directory, "lab.json"), what="lab record", follow_symlinks=False)
        layout, example = parse_lab_record(data, directory)
        return cls(layout, example)

    def save(self) -> None:
        ensure_private_directory(self.layout.directory)
        text = json.dumps({"layout": json.loads(self.layout.to_json()), "example": self.example}, indent=1)
        with os.fdopen(open_for_writing(self.layout.record_path, 0o600), "w", encoding="utf-8") as handle:
            handle.write(text)

    def build(self, preempt: bool = True) -> None:
        """Namespaces, bridge, links and a config.xml per host; on any failure, everything is removed again."""
        check_prerequisites(self.layout.backend)
        self.save()
        try:
            for argv in build_commands(self.layout):
                self.runner.run(argv)
            if self.layout.unicast:
                for argv in multicast_block_commands(self.layout):
                    self.runner.run(argv)
            for host in HOSTS:
                self.write_config(host, DEFAULT_ADVSKEW[host], preempt=preempt)
        except BaseException:
            self.teardown()
            raise

    def teardown(self) -> List[str]:
        """Stop every process in the lab's namespaces, delete the namespaces and the lab directory."""
        problems: List[str] = []
        for probe in self.probes:
            probe.stop()
        existing = set(list_namespaces(self.runner))
        for namespace in self.layout.namespaces:
            if namespace in existing:
                stop_processes_in(namespace, self.runner)
        for namespace in self.layout.namespaces:
            if namespace in existing:
                result = self.runner.run(("ip", "netns", "delete", namespace), check=False)
                if result.returncode != 0:
                    problems.append(f"ip netns delete {namespace}: {result.stderr.strip()}")
        shutil.rmtree(self.layout.directory, ignore_errors=True)
        return problems

    # --- hosts ----------------------------------------------------------------------------------------
    def write_config(self, host: str, advskew: int, preempt: bool = True, password: Optional[str] = None,
                     vrrpprio: Optional[int] = None) -> str:
        """keepalived: the VIP as VRRPv3 at vrrpprio (default: host a 200, b 100) and the lab's interval."""
        path = self.layout.config_path(host)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        vrrp = peer = None
        if self.layout.backend == "keepalived":
            vrrp = (vrrpprio or DEFAULT_VRRPPRIO[host], self.layout.vrrpinterval)
            other = HOSTS[1 - HOSTS.index(host)]
            peer = self.layout.address(other).split("/")[0] if self.layout.unicast else None
        data = host_config_xml(self.example, host, self.layout.address(host), advskew, preempt, password, vrrp, peer)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)
        return path

    def carp_argv(self, host: str, *args: str) -> Tuple[str, ...]:
        """`carp-pkg --root HOSTDIR --config HOSTDIR/conf/config.xml ARGS`, run by this very Python and carp_pkg."""
        return ("env", f"PYTHONPATH={_python_env()['PYTHONPATH']}", sys.executable, "-m", "carp_pkg",
                "--root", self.layout.root(host), "--config", self.layout.config_path(host), *args)

    def carp(self, host: str, *args: str, check: bool = True) -> Result:
        """Run a carp-pkg command inside the host's namespace."""
        return NetnsRunner(self.layout.namespace(host), self.runner).run(self.carp_argv(host, *args), check=check)

    def sync(self, host: str) -> Result:
        return self.carp(host, "sync", "--backend", self.layout.backend)

    def running(self, host: str):
        """What carp-pkg's backend reads on the host (UcarpRunning or KeepalivedRunning)."""
        paths = Paths(root=self.layout.root(host))
        system = System(NetnsRunner(self.layout.namespace(host)), paths)
        if self.layout.backend == "keepalived":
            from ..backends.keepalived import Keepalived
            return Keepalived(paths).read_running(system, paths)
        return Ucarp().read_running(system, paths)

    def states(self) -> Dict[str, str]:
        found = {}
        for host in HOSTS:
            vhids = self.running(host).vhids
            found[host] = vhids[0].state if vhids else "-"
        return found

    def masters(self) -> List[str]:
        return [host for host, state in self.states().items() if state == "MASTER"]

    def ucarp_pid(self, host: str) -> Optional[int]:
        vhids = self.running(host).vhids
        return vhids[0].pid if vhids else None

    def keepalived_pids(self, host: str) -> List[int]:
        """carp-pkg's keepalived on the host: the main process and its VRRP child (from their pid files)."""
        from ..backends.keepalived import KeepalivedFiles, parse_pid
        files = KeepalivedFiles.under(Paths(root=self.layout.root(host)))
        pids = []
        for path in (files.pid, files.vrrp_pid):
            try:
                with open(path, encoding="ascii") as handle:
                    pid = parse_pid(handle.read(64))
            except OSError:
                pid = None
            if pid is not None:
                pids.append(pid)
        return pids

    def drop_vip(self, host: str) -> None:
        """What a crashed host does for the VIP: nothing (a SIGKILLed keepalived leaves it on the link)."""
        self.runner.run(("ip", "-n", self.layout.namespace(host), "addr", "del", self.layout.vip, "dev", LINK),
                        check=False)

    def holders(self) -> List[str]:
        """The hosts that have the VIP on their link now (what the kernel holds, whoever put it there)."""
        vip = ipaddress.ip_interface(self.layout.vip).ip
        found = []
        for host in HOSTS:
            out = self.runner.run(("ip", "-n", self.layout.namespace(host), "-j", "addr", "show", LINK),
                                  mutating=False, check=False).stdout
            try:
                links = json.loads(out or "[]")
            except ValueError:
                links = []
            if any(ipaddress.ip_address(info.get("local", "0.0.0.0")) == vip
                   for link in links for info in link.get("addr_info", [])):
                found.append(host)
        return found

    def set_link(self, host: str, up: bool) -> None:
        self.runner.run(("ip", "-n", self.layout.namespace(host), "link", "set", LINK, "up" if up else "down"))

    def macs(self) -> Dict[str, str]:
        names = {}
        for host in HOSTS:
            out = self.runner.run(("ip", "-n", self.layout.namespace(host), "-j", "link", "show", LINK),
                                  mutating=False).stdout
            names[json.loads(out)[0]["address"].lower()] = host
        return names

    def bound(self, host: str) -> float:
        """The protocol's worst case for `host` to take over: ucarp's master-down plus its capture delay, or
        VRRPv3's master-down interval 3 x interval + (256 - prio) x interval / 256 (keepalived)."""
        vhids = self.running(host).vhids
        if not vhids:
            return 0.0
        if vhids[0].protocol == "vrrp":
            from ..model import vrrp_master_down
            return vrrp_master_down(vhids[0].vrrpinterval or 0, vhids[0].vrrpprio or 0)
        return failover_bound(vhids[0].advbase, vhids[0].advskew)

    # --- watching -------------------------------------------------------------------------------------
    def start_probe(self, seconds: float) -> Probe:
        vip = self.layout.vip.split("/")[0]
        argv = ("ip", "netns", "exec", self.layout.namespace(CLIENT), sys.executable, "-m", "carp_pkg.lab.probe",
                LINK, vip, f"{seconds:.1f}", f"{self.probe_interval:g}")
        process = StreamingProcess(argv, extra_env=_python_env())
        probe = Probe(process, self.macs())
        self.probes.append(probe)
        return probe

    def wait_for_single_master(self, timeout: float) -> str:
        """Exactly one host MASTER, the other BACKUP, and only that host answering the client's ARP."""
        with self.progress.phase(f"waiting for exactly one MASTER answering for {self.layout.vip} "
                                 f"(up to {timeout:.0f} s)"):
            return self._single_master(timeout)

    def _single_master(self, timeout: float) -> str:
        probe = self.start_probe(timeout + 1)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                states = self.states()
                masters = [h for h, s in states.items() if s == "MASTER"]
                if len(masters) == 1 and sorted(states.values()) == ["BACKUP", "MASTER"] \
                        and probe.answering() == masters:
                    return masters[0]
                time.sleep(POLL_S)
            raise LabError(f"no single MASTER after {timeout:.1f} s: states {self.states()}, "
                           f"client sees {probe.answering() or 'nobody'} answering for {self.layout.vip}")
        finally:
            probe.stop()

    def measure(self, event: str, act: Callable[[], None], old_master: Optional[str], expect: Optional[str],
                timeout: float, bounded: bool = True) -> Measurement:
        """Do `act` and time until `expect` answers the client for the VIP (and holds MASTER).

        bounded: the handover waits for ucarp's master-down timer (report failover_bound); a preempting
        return does not (it happens at the first advert the returning host reads).
        """
        probe = self.start_probe(timeout + 2)
        time.sleep(0.3)  # the probe is answering before the clock starts
        start, wall_start = time.monotonic(), time.time()
        client_s = host_s = None
        waiting = f"{event}: waiting for {expect} to answer for {self.layout.vip} (up to {timeout:.0f} s)"
        with self.progress.phase(waiting if expect is not None else event):
            act()
            deadline = start + timeout
            while time.monotonic() < deadline and expect is not None:
                seen = probe.first(expect, start)
                if seen is not None:
                    client_s = seen - start
                    break
                time.sleep(POLL_S / 2)
        if expect is not None:
            vhids = self.running(expect).vhids
            if vhids and vhids[0].state == "MASTER" and vhids[0].since is not None and client_s is not None:
                host_s = max(0.0, vhids[0].since - wall_start)
        probe.stop()
        bound = self.bound(expect) if expect is not None and bounded else None
        return Measurement(event, old_master, expect if client_s is not None else None, client_s, host_s, bound)

    def hold(self, seconds: float) -> Tuple[List[str], Dict[str, str]]:
        """Watch for `seconds`: everyone who answered the client, and the states at the end (flap check)."""
        probe = self.start_probe(seconds + 1)
        start = time.monotonic()
        with self.progress.phase(f"watching for {seconds:.0f} s that nobody flaps back"):
            time.sleep(seconds)
        answered = sorted({name for _, name in probe.since(start)})
        probe.stop()
        return answered, self.states()


# --- machine-level helpers ------------------------------------------------------------------------------

def check_prerequisites(backend: str = "ucarp") -> None:
    if os.geteuid() != 0:
        raise LabError(f"the lab needs root (it creates network namespaces and runs {backend})")
    tools = ("ip", "ucarp", "setsid") if backend == "ucarp" else ("ip", "keepalived")
    missing = [tool for tool in tools if shutil.which(tool, path=_search_path()) is None]
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)}: apt-get install {backend} iproute2")


def _search_path() -> str:
    return os.environ.get("PATH", "") + ":/sbin:/usr/sbin:/bin:/usr/bin"


def list_namespaces(runner: Runner) -> List[str]:
    result = runner.run(("ip", "netns", "list"), mutating=False, check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def stop_processes_in(namespace: str, runner: Runner, grace_s: float = 3.0) -> None:
    """SIGTERM every process in the namespace (ucarp runs its down script), SIGKILL what is left."""
    def pids() -> List[int]:
        out = runner.run(("ip", "netns", "pids", namespace), mutating=False, check=False).stdout
        return [int(word) for word in out.split() if word.isdigit()]

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        remaining = pids()
        for pid in remaining:
            send_signal(pid, sig)
        deadline = time.monotonic() + wait
        while remaining and time.monotonic() < deadline:
            time.sleep(0.05)
            remaining = pids()
        if not remaining:
            return


def _python_env() -> Dict[str, str]:
    """Child Pythons import this very carp_pkg, installed or not."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(carp_pkg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the lab like Ctrl-C does, so its finally-blocks clean up."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
