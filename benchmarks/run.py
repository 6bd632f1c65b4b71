"""carp-pkg benchmarks: parse, plan and resync figures for 10, 100 and 1,000 VIPs, each against the
original carp 0.1.0 on the same config in the same run, and parsing a 10 MB config.xml.

Run: make bench (or python benchmarks/run.py). Prints a Markdown table; nothing here asserts a time.
The FreeBSD host is the in-memory stand-in of tests/fakes (FreeBSD 14 ifconfig/sysctl grammar).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from carp_pkg.backends import get_backend  # noqa: E402
from carp_pkg.configxml import read_config_xml  # noqa: E402
from carp_pkg.paths import Paths  # noqa: E402
from carp_pkg.running import EMPTY  # noqa: E402
from carp_pkg.sync import sync  # noqa: E402
from carp_pkg.system import RecordingRunner, Result, System  # noqa: E402
from carp_pkg.validate import build_config  # noqa: E402
from tests.fakes.freebsd import FakeFreeBSD  # noqa: E402

VIPS_PER_INTERFACE = 250


def vip_address(index: int) -> str:
    return f"10.{index // VIPS_PER_INTERFACE}.{index % VIPS_PER_INTERFACE // 200}.{index % 200 + 10}"


def config_xml(count: int, changed: int = -1, padding_rules: int = 0) -> str:
    interfaces = (count + VIPS_PER_INTERFACE - 1) // VIPS_PER_INTERFACE
    lines = ['<?xml version="1.0"?>', "<pfsense>", "<interfaces>"]
    lines += [f"<opt{k}><if>em{k}</if><ipaddr>10.{k}.255.1</ipaddr><subnet>16</subnet></opt{k}>" for k in range(interfaces)]
    lines.append("</interfaces>")
    if padding_rules:
        lines.append("<filter>")
        lines += [f"<rule><tracker>{i}</tracker><type>pass</type><interface>lan</interface><ipprotocol>inet</ipprotocol>"
                  f"<descr>padding rule {i} of a large real-world ruleset</descr><source><any/></source>"
                  f"<destination><network>lanip</network><port>{i % 65535}</port></destination></rule>"
                  for i in range(padding_rules)]
        lines.append("</filter>")
    lines.append("<installedpackages><carp>")
    for i in range(count):
        address = vip_address(i) if i != changed else vip_address(i).rsplit(".", 1)[0] + ".250"
        lines.append(f"<config><interface>opt{i // VIPS_PER_INTERFACE}</interface><ipaddress>{address}</ipaddress>"
                     f"<netmask>16</netmask><vhid>{i % VIPS_PER_INTERFACE + 1}</vhid><advskew>{i % 200}</advskew>"
                     f"<password>pw{i}</password><premption>on</premption></config>")
    lines.append("</carp></installedpackages></pfsense>")
    return "\n".join(lines) + "\n"


def best_of(repeats: int, action) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def fake_runner(fake: FakeFreeBSD) -> RecordingRunner:
    return RecordingRunner(respond=lambda argv: Result(*fake.run(argv)))


def resync_figures(count: int, workdir: str) -> dict:
    root = os.path.join(workdir, f"root{count}")
    os.makedirs(os.path.join(root, "conf"))
    config_path = os.path.join(root, "conf", "config.xml")
    with open(config_path, "w") as handle:
        handle.write(config_xml(count))
    interfaces = (count + VIPS_PER_INTERFACE - 1) // VIPS_PER_INTERFACE
    fake = FakeFreeBSD({f"em{k}": [f"10.{k}.255.1/16"] for k in range(interfaces)})
    paths = Paths(root)
    backend = get_backend("freebsd")

    def run_sync():
        runner = fake_runner(fake)
        started = time.perf_counter()
        sync(System(runner, paths, use_sysctl_library=False), paths, backend)
        return runner, time.perf_counter() - started

    first, first_s = run_sync()
    unchanged, unchanged_s = run_sync()
    changed_index = count // 2
    with open(config_path, "w") as handle:
        handle.write(config_xml(count, changed=changed_index))
    one_change, _ = run_sync()
    vhid = str(changed_index % VIPS_PER_INTERFACE + 1)
    iface = f"em{changed_index // VIPS_PER_INTERFACE}"
    old, new = vip_address(changed_index), vip_address(changed_index).rsplit(".", 1)[0] + ".250"
    only_that_vhid = all(c[1] == iface and (vhid in c or old in c or new in c) for c in one_change.mutating_calls)
    return {"first_sync_cmds": len(first.mutating_calls), "first_sync_s": first_s,
            "resync_cmds": len(unchanged.mutating_calls), "resync_s": unchanged_s,
            "change_cmds": len(one_change.mutating_calls), "only_that_vhid": only_that_vhid}


def original_resync(count: int) -> dict:
    """carp 0.1.0 re-ran its whole script: per VIP `ifconfig carpN create`, `ifconfig carpN ...`, `sleep 1`."""
    commands = count * 3 + 3  # + chmod, the script itself, /etc/rc.filter_configure; sysctls not counted
    return {"cmds": commands, "sleep_s": float(count)}


# VmHWM, not ru_maxrss: after fork+exec Linux keeps the parent's high-water mark in ru_maxrss.
PEAK_RSS_PROBE = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
from carp_pkg.configxml import read_config_xml
from carp_pkg.validate import build_config
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return int(next(l for l in status if l.startswith("VmHWM:")).split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
baseline = peak_kb()
if sys.argv[1] != "-":
    started = time.perf_counter()
    config = build_config(read_config_xml(sys.argv[1]))
    print(time.perf_counter() - started, len(config.vips), end=" ")
else:
    print(0, 0, end=" ")
print(peak_kb(), baseline)
"""


def big_config_figures(workdir: str) -> dict:
    path = os.path.join(workdir, "big.xml")
    rules = 10
    while True:
        text = config_xml(1000, padding_rules=rules)
        if len(text) >= 10 * 1024 * 1024:
            break
        rules = int(rules * (10 * 1024 * 1024) / len(text)) + 100
    with open(path, "w") as handle:
        handle.write(text)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = subprocess.run([sys.executable, "-c", PEAK_RSS_PROBE, path, repo], capture_output=True, text=True, check=True)
    seconds, vips, peak_kb, _ = probe.stdout.split()
    idle = subprocess.run([sys.executable, "-c", PEAK_RSS_PROBE, "-", repo], capture_output=True, text=True, check=True)
    idle_peak_kb = idle.stdout.split()[2]
    return {"size_mb": len(text) / 1048576, "seconds": float(seconds), "vips": int(vips),
            "peak_mb": int(peak_kb) / 1024, "idle_mb": int(idle_peak_kb) / 1024}


def main() -> None:
    print("| VIPs | parse (ms) | plan (ms) | first sync: cmds | unchanged resync: cmds / ms | "
          "original resync: cmds + sleep | resync speed-up | one VIP changed: cmds (only that vhid) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    backend = get_backend("freebsd")
    with tempfile.TemporaryDirectory() as workdir:
        for count in (10, 100, 1000):
            path = os.path.join(workdir, f"c{count}.xml")
            with open(path, "w") as handle:
                handle.write(config_xml(count))
            parse_s = best_of(5, lambda: build_config(read_config_xml(path)))
            config = build_config(read_config_xml(path))
            plan_s = best_of(5, lambda: backend.plan(config, EMPTY))
            ours = resync_figures(count, workdir)
            theirs = original_resync(count)
            speedup = theirs["sleep_s"] / ours["resync_s"]
            print(f"| {count:,} | {parse_s * 1000:.1f} | {plan_s * 1000:.1f} | {ours['first_sync_cmds']} | "
                  f"{ours['resync_cmds']} / {ours['resync_s'] * 1000:.0f} | {theirs['cmds']} + {theirs['sleep_s']:.0f} s | "
                  f"{speedup:,.0f}x | {ours['change_cmds']} ({'yes' if ours['only_that_vhid'] else 'NO'}) |")
        big = big_config_figures(workdir)
    print()
    print(f"10 MB config.xml ({big['size_mb']:.1f} MB, {big['vips']:,} VIPs): parse + validate {big['seconds'] * 1000:.0f} ms, "
          f"peak RSS {big['peak_mb']:.0f} MB (the same interpreter with carp_pkg imported and nothing parsed: "
          f"{big['idle_mb']:.0f} MB; ratio {big['peak_mb'] / big['idle_mb']:.1f}x)")


if __name__ == "__main__":
    main()
