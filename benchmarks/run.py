"""carp-pkg benchmarks: parse, plan and resync figures for 10, 100 and 1,000 VIPs, each against the
original carp 0.1.0 on the same config in the same run, parsing a 10 MB config.xml, and reading a
pfSense-shaped 10 MB config.xml against lxml parsing the same bytes into a tree.

Run: make bench (or python benchmarks/run.py). Prints a Markdown table; nothing here asserts a time.
The FreeBSD host is the in-memory stand-in of tests/fakes (FreeBSD 14 ifconfig/sysctl grammar).
"""

from __future__ import annotations

import base64
import os
import random
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


# VmHWM, not ru_maxrss: after fork+exec Linux keeps the parent's high-water mark in ru_maxrss. Both probes
# below run this in their fresh interpreter.
PEAK_KB_SOURCE = """
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return int(next(l for l in status if l.startswith("VmHWM:")).split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

PEAK_RSS_PROBE = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
from carp_pkg.configxml import read_config_xml
from carp_pkg.validate import build_config
""" + PEAK_KB_SOURCE + """baseline = peak_kb()
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


def pfsense_config_xml(target_bytes: int = 10 * 1024 * 1024, vips: int = 200) -> bytes:
    """A config.xml shaped like a big pfSense one: system, interfaces, a long filter ruleset and NAT,
    aliases, certificates, base64 RRD data, installed packages with other packages' sections (their own
    <config> entries too) around installedpackages/carp with `vips` VIPs; CDATA where pfSense writes it."""
    rng = random.Random(12)

    def blob(size: int) -> str:
        return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()

    def rule(i: int) -> str:
        return ("\t\t<rule>\n\t\t\t<id></id>\n\t\t\t<tracker>%d</tracker>\n\t\t\t<type>%s</type>\n"
                "\t\t\t<interface>%s</interface>\n\t\t\t<ipprotocol>inet</ipprotocol>\n\t\t\t<tag></tag>\n"
                "\t\t\t<tagged></tagged>\n\t\t\t<max></max>\n\t\t\t<max-src-nodes></max-src-nodes>\n"
                "\t\t\t<max-src-conn></max-src-conn>\n\t\t\t<max-src-states></max-src-states>\n"
                "\t\t\t<statetimeout></statetimeout>\n\t\t\t<statetype><![CDATA[keep state]]></statetype>\n"
                "\t\t\t<os></os>\n\t\t\t<protocol>tcp</protocol>\n\t\t\t<source>\n\t\t\t\t<address>NET_%d</address>\n"
                "\t\t\t</source>\n\t\t\t<destination>\n\t\t\t\t<network>lanip</network>\n\t\t\t\t<port>%d</port>\n"
                "\t\t\t</destination>\n\t\t\t<descr><![CDATA[Allow service %d <web farm> & friends]]></descr>\n"
                "\t\t\t<updated>\n\t\t\t\t<time>%d</time>\n"
                "\t\t\t\t<username><![CDATA[admin@10.10.0.5 (Local Database)]]></username>\n\t\t\t</updated>\n"
                "\t\t\t<created>\n\t\t\t\t<time>%d</time>\n"
                "\t\t\t\t<username><![CDATA[admin@10.10.0.5 (Local Database)]]></username>\n\t\t\t</created>\n"
                "\t\t</rule>\n") % (1600000000 + i, ("pass", "block", "reject")[i % 3], ("wan", "lan", "opt1")[i % 3],
                                       i % 500, 1 + i % 65535, i, 1650000000 + i, 1640000000 + i)

    def alias(i: int) -> str:
        hosts = " ".join(f"10.{i % 250}.{k}.{(i * 7 + k) % 250 + 1}" for k in range(12))
        details = "||".join(f"server {k} of group {i}" for k in range(12))
        return (f"\t\t<alias>\n\t\t\t<name>NET_{i}</name>\n\t\t\t<type>host</type>\n\t\t\t<address>{hosts}</address>\n"
                f"\t\t\t<descr><![CDATA[Hosts of group {i}]]></descr>\n\t\t\t<detail><![CDATA[{details}]]></detail>\n"
                "\t\t</alias>\n")

    def nat(i: int) -> str:
        return (f"\t\t<rule>\n\t\t\t<source><any></any></source>\n\t\t\t<destination><network>wanip</network>"
                f"<port>{8000 + i}</port></destination>\n\t\t\t<ipprotocol>inet</ipprotocol>\n\t\t\t<protocol>tcp</protocol>\n"
                f"\t\t\t<target>10.10.{i % 250}.{i % 200 + 10}</target>\n\t\t\t<local-port>443</local-port>\n"
                f"\t\t\t<interface>wan</interface>\n\t\t\t<descr><![CDATA[Forward {i}]]></descr>\n"
                f"\t\t\t<associated-rule-id>nat_{i:08x}</associated-rule-id>\n\t\t</rule>\n")

    def vip(i: int) -> str:
        on_lan = i < vips * 3 // 4
        interface, address = ("lan", f"10.10.{i // 200}.{i % 200 + 10}") if on_lan else ("wan", f"198.51.100.{i % 200 + 10}")
        vhid = i + 1 if on_lan else i - vips * 3 // 4 + 1
        sync = "\t\t\t\t<pfsync>on</pfsync>\n\t\t\t\t<synciface>opt1</synciface>\n" if i == 0 else ""
        return (f"\t\t\t<config>\n\t\t\t\t<interface>{interface}</interface>\n\t\t\t\t<ipaddress>{address}</ipaddress>\n"
                f"\t\t\t\t<netmask>{16 if on_lan else 24}</netmask>\n\t\t\t\t<vhid>{vhid % 255 + 1}</vhid>\n"
                f"\t\t\t\t<advbase>1</advbase>\n\t\t\t\t<advskew>{i % 100}</advskew>\n"
                f"\t\t\t\t<password><![CDATA[pw-{vhid % 255 + 1}]]></password>\n\t\t\t\t<premption>on</premption>\n{sync}"
                "\t\t\t</config>\n")

    def package(name: str, rows: int) -> str:
        entries = "".join(f"\t\t\t<config>\n\t\t\t\t<enable>on</enable>\n\t\t\t\t<name>{name}-{k}</name>\n"
                          f"\t\t\t\t<row><value>{k}</value><descr><![CDATA[{name} row {k}]]></descr></row>\n"
                          "\t\t\t</config>\n" for k in range(rows))
        return f"\t\t<{name}>\n{entries}\t\t</{name}>\n"

    head = ("<?xml version=\"1.0\"?>\n<pfsense>\n\t<version>22.2</version>\n\t<lastchange></lastchange>\n"
            "\t<system>\n\t\t<hostname>fw1</hostname>\n\t\t<domain>example.net</domain>\n"
            "\t\t<user>\n\t\t\t<name>admin</name>\n\t\t\t<bcrypt-hash>$2y$10$abcdefghijklmnopqrstuv</bcrypt-hash>\n"
            "\t\t\t<priv>user-shell-access</priv>\n\t\t</user>\n\t\t<timezone>Etc/UTC</timezone>\n\t</system>\n"
            "\t<interfaces>\n"
            "\t\t<wan>\n\t\t\t<enable></enable>\n\t\t\t<if>vtnet0</if>\n\t\t\t<descr><![CDATA[WAN]]></descr>\n"
            "\t\t\t<ipaddr>198.51.100.2</ipaddr>\n\t\t\t<subnet>24</subnet>\n\t\t\t<gateway>WANGW</gateway>\n\t\t</wan>\n"
            "\t\t<lan>\n\t\t\t<enable></enable>\n\t\t\t<if>vtnet1</if>\n\t\t\t<ipaddr>10.10.0.2</ipaddr>\n"
            "\t\t\t<subnet>16</subnet>\n\t\t\t<ipaddrv6>track6</ipaddrv6>\n\t\t</lan>\n"
            "\t\t<opt1>\n\t\t\t<descr><![CDATA[SYNC]]></descr>\n\t\t\t<if>vtnet2</if>\n\t\t\t<enable></enable>\n"
            "\t\t\t<ipaddr>172.16.0.1</ipaddr>\n\t\t\t<subnet>30</subnet>\n\t\t</opt1>\n\t</interfaces>\n")
    aliases = "\t<aliases>\n" + "".join(alias(i) for i in range(3000)) + "\t</aliases>\n"
    nats = "\t<nat>\n\t\t<outbound><mode>automatic</mode></outbound>\n" + "".join(nat(i) for i in range(1500)) + "\t</nat>\n"
    certs = "".join(f"\t<cert>\n\t\t<refid>{i:013x}</refid>\n\t\t<descr><![CDATA[cert {i}]]></descr>\n"
                    f"\t\t<crt>{blob(1800)}</crt>\n\t\t<prv>{blob(2400)}</prv>\n\t</cert>\n" for i in range(20))
    rrd = "\t<rrddata>\n" + "".join(f"\t\t<rrddatafile>\n\t\t\t<filename>{name}.rrd</filename>\n"
                                     f"\t\t\t<xmldata>{blob(400 * 1024)}</xmldata>\n\t\t</rrddatafile>\n"
                                     for name in ("wan-traffic", "lan-traffic", "system-processor", "wan-quality")) + "\t</rrddata>\n"
    packages = ("\t<installedpackages>\n" + "".join(
        f"\t\t<package>\n\t\t\t<name>{name}</name>\n\t\t\t<version>1.0</version>\n"
        f"\t\t\t<configurationfile>{name}.xml</configurationfile>\n\t\t</package>\n"
        for name in ("haproxy", "sudo", "cron", "carp", "pfBlockerNG")) + package("haproxy", 400) + package("sudo", 50)
        + "\t\t<carp>\n" + "".join(vip(i) for i in range(vips)) + "\t\t</carp>\n" + package("pfblockerngglobal", 800)
        + "\t</installedpackages>\n")
    fixed = len(head) + len(aliases) + len(nats) + len(certs) + len(rrd) + len(packages) + 64
    rules, size, count = [], 0, 0
    while fixed + size < target_bytes:
        rules.append(rule(count))
        size += len(rules[-1])
        count += 1
    text = (head + "\t<filter>\n" + "".join(rules) + "\t</filter>\n" + nats + aliases + certs + rrd + packages
            + "</pfsense>\n")
    return text.encode()


# One variant in a fresh interpreter: its peak memory for one read (VmHWM above the interpreter's own
# baseline after imports, the file's bytes included), then the best of `repeats` reads (wall and CPU time).
# VmHWM, not ru_maxrss: after fork+exec Linux keeps the parent's high-water mark in ru_maxrss (this
# benchmark's own documents would show up in the child's figure).
VARIANT_PROBE = """
import resource, sys, time
sys.path.insert(0, sys.argv[3])
from lxml import etree
from carp_pkg.configxml import hardened_parser, parse_config_bytes
from carp_pkg.validate import build_config
""" + PEAK_KB_SOURCE + """variant, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[4])
baseline = peak_kb()
with open(path, "rb") as handle:
    data = handle.read()
wall, cpu = [], []
for run in range(repeats):
    started, started_cpu = time.perf_counter(), time.process_time()
    if variant == "lxml":
        result = etree.fromstring(data, hardened_parser())
    else:
        result = build_config(parse_config_bytes(data, path))
    wall.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
    if run == 0:
        peak = peak_kb() - baseline
    del result  # lxml's tree is freed outside the timing; carp-pkg frees what it reads as it goes, inside it
print(peak, min(wall), min(cpu))
"""


def run_variant(variant: str, path: str, repeats: int) -> tuple:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = subprocess.run([sys.executable, "-c", VARIANT_PROBE, variant, path, repo, str(repeats)],
                           capture_output=True, text=True, check=True)
    peak_kb, wall, cpu = probe.stdout.split()
    return int(peak_kb) / 1024, float(wall), float(cpu)


def lxml_versus_carp_pkg(workdir: str, repeats: int = 9, rounds: int = 3) -> dict:
    """(a) lxml parsing the bytes into a tree with carp-pkg's hardened parser, (b) carp-pkg's parse +
    validate of the same bytes, each in fresh interpreters, alternating (a) and (b) `rounds` times so both
    see the same machine; best of all runs for the times, lowest peak for the memory."""
    from carp_pkg.configxml import parse_config_bytes

    data = pfsense_config_xml()
    path = os.path.join(workdir, "pfsense-10mb.xml")
    with open(path, "wb") as handle:
        handle.write(data)
    vips = len(build_config(parse_config_bytes(data, path)).vips)
    runs = {"lxml": [], "carp-pkg": []}
    for _ in range(rounds):
        for variant, figures in runs.items():
            figures.append(run_variant(variant, path, repeats))
    best = {variant: [min(column) for column in zip(*figures)] for variant, figures in runs.items()}
    return {"size_mb": len(data) / 1048576, "vips": vips, "runs": rounds * repeats,
            "lxml_mb": best["lxml"][0], "lxml_s": best["lxml"][1], "lxml_cpu_s": best["lxml"][2],
            "carp_mb": best["carp-pkg"][0], "carp_s": best["carp-pkg"][1], "carp_cpu_s": best["carp-pkg"][2]}


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
        side = lxml_versus_carp_pkg(workdir)
    print()
    print(f"10 MB config.xml ({big['size_mb']:.1f} MB, {big['vips']:,} VIPs): parse + validate {big['seconds'] * 1000:.0f} ms, "
          f"peak RSS {big['peak_mb']:.0f} MB (the same interpreter with carp_pkg imported and nothing parsed: "
          f"{big['idle_mb']:.0f} MB; ratio {big['peak_mb'] / big['idle_mb']:.1f}x)")
    print()
    print(f"pfSense-shaped config.xml ({side['size_mb']:.1f} MB: filter rules, NAT, aliases, CDATA, certificates, "
          f"base64 RRD data, other packages, {side['vips']} VIPs in installedpackages/carp); each variant in fresh "
          f"interpreters, best of {side['runs']} runs; memory: peak RSS (VmHWM) above the interpreter's baseline "
          "after imports, the file's bytes included:")
    print()
    print("| variant | wall time (ms) | CPU time (ms) | peak memory (MB) |")
    print("|---|---:|---:|---:|")
    print(f"| (a) lxml `etree.fromstring` into a tree (carp-pkg's hardened parser) | {side['lxml_s'] * 1000:.0f} | "
          f"{side['lxml_cpu_s'] * 1000:.0f} | {side['lxml_mb']:.0f} |")
    print(f"| (b) carp-pkg parse + validate | {side['carp_s'] * 1000:.0f} | {side['carp_cpu_s'] * 1000:.0f} | "
          f"{side['carp_mb']:.0f} |")
    print(f"| (b) / (a) | {side['carp_s'] / side['lxml_s']:.2f}x | {side['carp_cpu_s'] / side['lxml_cpu_s']:.2f}x | "
          f"{side['carp_mb'] / side['lxml_mb']:.2f}x |")


if __name__ == "__main__":
    main()
