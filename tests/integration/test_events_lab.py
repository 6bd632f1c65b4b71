"""Issue 13 in the real lab: ucarp's up/down scripts run `carp-pkg event`, which logs the transition and runs
the hooks of each host (ROOT/etc/carp-pkg/hooks.d), detached, with a timeout.

Every hook here records when it started, its arguments, its environment and the host's ucarp state file
(whose timestamp the up/down script writes right after adding or removing the VIP), so the hook latency is
measured from the VIP moving to the hook starting, on the host itself (one clock: the namespaces share it).
"""

import json
import os
import signal
import statistics
import time
from pathlib import Path

import pytest

from carp_pkg.backends.ucarp import instance_dir
from carp_pkg.events.hooks import KILL_GRACE_S, conf_path
from carp_pkg.events.log import EventLog, kind
from carp_pkg.lab.scenarios import SLACK_S, settle
from carp_pkg.paths import Paths
from carp_pkg.system import RealRunner, send_signal
from tests.helpers import add_hook, make_hooks_dir, read_hook_runs, wait_until

pytestmark = pytest.mark.integration

LATENCIES = []  # (host, state, seconds) from every test here: the README figure
HOOK_TIMEOUT_S = 1.0


def recording_hook(out: Path, ucarp_dir: str) -> str:
    return ("#!/bin/sh\n"
            "start=$(date +%s.%N)\n"
            f"moved=$(cat \"{ucarp_dir}/$2-vhid$3.state\" 2>/dev/null)\n"
            "{ echo \"start $start\"; echo \"moved $moved\"; for a in \"$@\"; do echo \"arg $a\"; done; "
            f"/usr/bin/env | sed 's/^/env /'; echo end; }} >> '{out}'\n")


def install_hooks(lab, host, extra=(), timeout=None) -> Path:
    root = Path(lab.layout.root(host))
    directory = make_hooks_dir(root)
    out = root / "hook-runs.txt"
    ucarp_dir = instance_dir(Paths(root=str(root)).state_dir)
    for name, body in (("10-record", recording_hook(out, ucarp_dir)), *extra):
        add_hook(directory, name, body)
    if timeout is not None:
        conf = Path(conf_path(str(root)))
        conf.write_text(f"hook_timeout = {timeout}\n")
        os.chmod(conf, 0o644)
    return out


def with_state(out: Path, state: str, previous=None):
    return [r for r in read_hook_runs(out) if r["env"].get("CARP_STATE") == state
            and (previous is None or r["env"].get("CARP_PREVIOUS_STATE") == previous)]


def latencies(host: str, out: Path):
    """VIP moved (the script's state timestamp) → hook started, for each run whose state file still showed it."""
    found = []
    for run in read_hook_runs(out):
        if run["moved"] is not None and run["moved"][0] == run["env"].get("CARP_STATE"):
            found.append((host, run["env"]["CARP_STATE"], run["start"] - run["moved"][1]))
    return found


def log_entries(lab, host):
    return list(EventLog(Paths(root=lab.layout.root(host)).state_dir).entries())


def vip_address(lab):
    return lab.layout.vip.split("/")[0]


def test_hooks_fire_on_every_transition_and_the_failover_is_in_the_log(make_lab, record_figure):
    lab = make_lab(sync=False)
    out = {host: install_hooks(lab, host) for host in ("a", "b")}
    for host in ("a", "b"):
        lab.sync(host)
    assert settle(lab) == "a"

    # the first settle: both start BACKUP (ucarp runs the down script at start-up), then a becomes MASTER
    wait_until(lambda: with_state(out["a"], "MASTER", "BACKUP"), 10, "MASTER (previous BACKUP) on a")
    wait_until(lambda: with_state(out["b"], "BACKUP"), 10, "BACKUP on b")
    assert not with_state(out["b"], "MASTER")
    first = with_state(out["a"], "MASTER")[0]
    vhid = first["env"]["CARP_VHID"]
    assert first["args"] == ["MASTER", "eth0", vhid]
    assert first["env"]["CARP_VIPS"] == vip_address(lab) and first["env"]["CARP_BACKEND"] == "ucarp"
    assert set(first["env"]) - {"PWD"} == {"CARP_STATE", "CARP_PREVIOUS_STATE", "CARP_VHID", "CARP_INTERFACE",
                                          "CARP_VIPS", "CARP_BACKEND", "CARP_TIME", "PATH"}

    # kill a's processes: b fires MASTER (previous BACKUP) within the failover bound + 1 s
    bound = lab.bound("b")
    pid = lab.ucarp_pid("a")
    killed = time.time()
    send_signal(pid, signal.SIGTERM)
    wait_until(lambda: with_state(out["b"], "MASTER", "BACKUP"), bound + 1.0 + SLACK_S, "MASTER on b")
    took = with_state(out["b"], "MASTER", "BACKUP")[0]["start"] - killed
    record_figure("kill a -> b's MASTER hook starts", took, bound)
    assert took <= bound + 1.0, f"{took:.2f} s > {bound:.2f} + 1 s"
    wait_until(lambda: with_state(out["a"], "BACKUP", "MASTER"), 10, "a's down script fires BACKUP as ucarp exits")

    # the event log and `events --json` on b show it; the hook's result is logged too
    entries = log_entries(lab, "b")
    transitions = [e for e in entries if kind(e) == "transition"]
    assert (transitions[-1]["state"], transitions[-1]["previous"]) == ("MASTER", "BACKUP")
    assert transitions[-1]["vips"] == [vip_address(lab)] and transitions[-1]["interface"] == "eth0"
    wait_until(lambda: any(kind(e) == "hook" and e["state"] == "MASTER" for e in log_entries(lab, "b")), 10,
               "b's hook result in its log")
    shown = [json.loads(line) for line in lab.carp("b", "events", "--json", "--vhid", vhid).stdout.splitlines()]
    assert any(kind(e) == "transition" and e["state"] == "MASTER" and e["previous"] == "BACKUP" for e in shown)
    assert any(kind(e) == "hook" and e["hook"] == "10-record" and e["exit"] == 0 for e in shown)
    status = json.loads(lab.carp("b", "status", "--backend", "ucarp", "--json").stdout)
    assert status["vhids"][0]["last_transition"]["state"] == "MASTER"
    metrics = lab.carp("b", "metrics", "--backend", "ucarp").stdout
    assert f'carp_transitions_total{{interface="eth0",vhid="{vhid}",state="MASTER"}} 1' in metrics

    found = latencies("a", out["a"]) + latencies("b", out["b"])
    LATENCIES.extend(found)
    assert found and all(0 <= seconds < 5 for _, _, seconds in found)


def test_a_hook_past_its_timeout_is_killed_and_logged_and_failover_is_not_delayed(make_lab, record_figure):
    lab = make_lab(sync=False)
    sleeper = ("05-sleeps", "#!/bin/sh\necho sleeping\nexec sleep 30\n")
    out = {host: install_hooks(lab, host, extra=(sleeper,), timeout=HOOK_TIMEOUT_S) for host in ("a", "b")}
    for host in ("a", "b"):
        lab.sync(host)
    assert settle(lab) == "a"
    bound = lab.bound("b")
    pid = lab.ucarp_pid("a")
    takeover = lab.measure("kill ucarp on a (hooks sleep past their timeout)", lambda: send_signal(pid, signal.SIGTERM),
                           "a", "b", 1.1 * bound + SLACK_S)
    record_figure("kill a -> b answers, with a hook sleeping past its timeout", takeover.client_s, bound)
    assert takeover.new_master == "b" and takeover.client_s <= 1.1 * bound  # the sleeping hook delays nothing

    # the hook that sleeps is killed at its timeout and logged; the next hook runs after it
    def killed():
        return [e for e in log_entries(lab, "b") if kind(e) == "hook" and e["hook"] == "05-sleeps"
                and e["state"] == "MASTER"]
    wait_until(killed, HOOK_TIMEOUT_S + KILL_GRACE_S + 10, "b's sleeping hook killed and logged")
    (entry,) = killed()
    assert entry["timed_out"] is True and entry["signal"] == "SIGTERM" and entry["output"] == "sleeping\n"
    assert HOOK_TIMEOUT_S <= entry["duration_s"] < HOOK_TIMEOUT_S + KILL_GRACE_S + 1
    wait_until(lambda: with_state(out["b"], "MASTER", "BACKUP"), 10, "b's recording hook after the sleeper")
    pids = RealRunner().run(("ip", "netns", "pids", lab.layout.namespace("b")), mutating=False).stdout.split()
    commands = []
    for pid_text in pids:
        try:
            commands.append(Path(f"/proc/{pid_text}/comm").read_text().strip())
        except OSError:
            continue
    assert "sleep" not in commands, commands  # the killed hook left no process behind
    assert "KILLED after its timeout" in lab.carp("b", "events").stdout


def test_hook_latency_from_the_vip_moving_to_the_hook_starting(make_lab, record_figure):
    """Several handovers (kill the master, sync it back with preempt); every transition's hook latency."""
    lab = make_lab(sync=False)
    out = {host: install_hooks(lab, host) for host in ("a", "b")}
    for host in ("a", "b"):
        lab.sync(host)
    master = settle(lab)
    for _ in range(3):
        backup = "b" if master == "a" else "a"
        send_signal(lab.ucarp_pid(master), signal.SIGTERM)
        wait_until(lambda: lab.states().get(backup) == "MASTER", lab.bound(backup) + SLACK_S + 1, f"{backup} MASTER")
        lab.sync(master)  # preempt: the lower-advskew host takes it back once it runs again
        master = settle(lab)
    time.sleep(1.0)  # the last hooks finish
    found = latencies("a", out["a"]) + latencies("b", out["b"])
    LATENCIES.extend(found)
    every = sorted(seconds for _, _, seconds in LATENCIES)
    masters = sorted(seconds for _, state, seconds in LATENCIES if state == "MASTER")
    median = statistics.median(every)
    record_figure(f"hook latency, VIP moved -> hook started, median of {len(every)}", median)
    record_figure(f"hook latency on becoming MASTER, median of {len(masters)}", statistics.median(masters))
    print(f"\nhook latency (VIP moved -> hook started), all transitions: median {median * 1000:.0f} ms, "
          f"min {every[0] * 1000:.0f} ms, max {every[-1] * 1000:.0f} ms, n={len(every)}; "
          f"MASTER only: median {statistics.median(masters) * 1000:.0f} ms, n={len(masters)}")
    assert len(every) >= 8
    assert median < 0.5  # the goal is 0.1 s; this machine is shared, so the figure is printed, not gated at 0.1
