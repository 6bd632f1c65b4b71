"""Reconcile end to end on the FreeBSD 14 stand-in: sync → stand-in → status → sync again = 0 commands."""

import os
import shutil
import subprocess

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from carp_pkg.backends import get_backend
from carp_pkg.configxml import read_config_xml
from carp_pkg.paths import Paths
from carp_pkg.status import parse_ifconfig
from carp_pkg.sync import sync
from carp_pkg.system import RecordingRunner, Result, System
from carp_pkg.validate import build_config

from tests.fakes.freebsd import STATE_ENV, FakeFreeBSD
from tests.helpers import TESTS, fixture_path, read_fixture, run_cli

HOST = {"vtnet0": ["198.51.100.2/24", "2001:db8:100::2/64"], "vtnet1": ["10.0.0.2/24"], "vtnet2": ["172.16.0.1/30"]}
FAKE_BIN = os.path.join(TESTS, "fakes", "bin")


class Host:
    """A firewall: a config.xml under a root, and the stand-in kernel."""

    def __init__(self, root, config_text, backend="freebsd"):
        self.root = root
        self.fake = FakeFreeBSD(HOST)
        self.config_path = root / "conf" / "config.xml"
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.write(config_text)
        self.backend = get_backend(backend)

    def write(self, text):
        self.config_path.write_text(text)

    def edit(self, old, new):
        text = self.config_path.read_text()
        assert old in text, old
        self.write(text.replace(old, new))

    def runner(self):
        return RecordingRunner(respond=lambda argv: Result(*self.fake.run(argv)))

    def sync(self):
        runner = self.runner()
        paths = Paths(str(self.root))
        sync(System(runner, paths, use_sysctl_library=False), paths, self.backend)
        return runner.mutating_calls

    def desired(self):
        config = build_config(read_config_xml(str(self.config_path)))
        return {(g.interface, g.vhid): (g.advskew, g.advbase, frozenset(g.addresses)) for g in config.groups()}

    def running(self):
        state = parse_ifconfig(self.fake.ifconfig_output())
        return {(v.interface, v.vhid): (v.advskew, v.advbase, frozenset(v.addresses)) for v in state.vhids}


def modern(tmp_path):
    return Host(tmp_path, read_fixture("config", "modern.xml"))


def test_sync_reaches_the_config_and_a_second_sync_issues_nothing(tmp_path):
    host = modern(tmp_path)
    assert host.sync()
    assert host.running() == host.desired()
    assert host.fake.key("vtnet0", 10) == "w'n \"q\" $(x) `y`"
    assert host.fake.sysctl_value("net.inet.carp.preempt") == 1
    state = parse_ifconfig(host.fake.ifconfig_output())
    assert state.pfsync.syncdev == "vtnet2"
    assert host.sync() == []


def test_adding_a_vip_touches_only_it(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.edit("</carp>", "<config><interface>lan</interface><ipaddress>10.0.0.5</ipaddress><netmask>24</netmask>"
              "<vhid>20</vhid><advbase>2</advbase><advskew>100</advskew><password>lan-secret</password></config></carp>")
    assert host.sync() == [("ifconfig", "vtnet1", "inet", "10.0.0.5/24", "alias", "vhid", "20")]
    assert host.running() == host.desired()


def test_removing_one_address_of_a_vhid(tmp_path):
    host = modern(tmp_path)
    host.sync()
    text = host.config_path.read_text()
    start = text.index("<config>", text.index("<config>") + 1)
    host.write(text[:start] + text[text.index("</config>", start) + len("</config>"):])
    assert host.sync() == [("ifconfig", "vtnet0", "inet6", "2001:db8:100::1", "-alias")]
    assert host.running() == host.desired()


def test_removing_a_whole_vhid_takes_it_off_the_interface(tmp_path):
    host = modern(tmp_path)
    host.sync()
    text = host.config_path.read_text()
    start = text.rindex("<config>")
    host.write(text[:start] + text[text.index("</config>", start) + len("</config>"):])
    assert host.sync() == [("ifconfig", "vtnet1", "inet", "10.0.0.1", "-alias")]
    assert ("vtnet1", 20) not in host.running()


def test_changing_the_only_address_keeps_password_and_skew(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.edit("<ipaddress>10.0.0.1</ipaddress>", "<ipaddress>10.0.0.7</ipaddress>")
    assert host.sync() == [("ifconfig", "vtnet1", "inet", "10.0.0.7/24", "alias", "vhid", "20"),  # the vhid never empties
                           ("ifconfig", "vtnet1", "inet", "10.0.0.1", "-alias")]
    assert host.running() == host.desired()
    assert host.fake.key("vtnet1", 20) == "lan-secret"


def test_an_address_moving_to_another_vhid_is_removed_before_it_is_added(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.edit("</carp>", "<config><interface>lan</interface><ipaddress>10.0.0.9</ipaddress><netmask>24</netmask>"
              "<vhid>21</vhid><password>x</password></config></carp>")
    host.sync()
    host.edit("<ipaddress>10.0.0.9</ipaddress><netmask>24</netmask><vhid>21</vhid>",
              "<ipaddress>10.0.0.5</ipaddress><netmask>24</netmask><vhid>21</vhid>")
    host.edit("<ipaddress>10.0.0.1</ipaddress>", "<ipaddress>10.0.0.9</ipaddress>")
    calls = host.sync()
    assert calls.index(("ifconfig", "vtnet1", "inet", "10.0.0.9", "-alias")) < \
        calls.index(("ifconfig", "vtnet1", "inet", "10.0.0.9/24", "alias", "vhid", "20"))
    assert host.running() == host.desired()
    assert host.fake.key("vtnet1", 20) == "lan-secret" and host.fake.key("vtnet1", 21) == "x"


def test_changing_a_password_is_one_command(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.edit("lan-secret", "other-secret")
    assert host.sync() == [("ifconfig", "vtnet1", "vhid", "20", "advskew", "100", "advbase", "2", "pass", "other-secret")]
    assert host.fake.key("vtnet1", 20) == "other-secret"


def test_changing_advskew_does_not_resend_the_password(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.edit("<advskew>100</advskew>", "<advskew>50</advskew>")
    assert host.sync() == [("ifconfig", "vtnet1", "vhid", "20", "advskew", "50", "advbase", "2")]
    assert host.fake.key("vtnet1", 20) == "lan-secret"


def test_pfsync_off_and_on_again(tmp_path):
    host = modern(tmp_path)
    host.sync()
    original = host.config_path.read_text()
    host.edit("<pfsync>on</pfsync>", "")
    assert host.sync() == [("ifconfig", "pfsync0", "-syncdev", "-syncpeer", "down")]
    host.write(original)
    assert host.sync() == [("ifconfig", "pfsync0", "syncdev", "vtnet2", "-syncpeer", "-defer", "up")]


def test_status_and_check_commands_read_the_stand_in(tmp_path):
    host = modern(tmp_path)
    host.sync()
    result = run_cli(["--root", str(tmp_path), "status", "--backend", "freebsd"], runner=host.runner())
    assert "vtnet0" in result.out and "MASTER" in result.out and "w'n" not in result.out


def run_rc_script(host, argument="start"):
    """Boot-time: /bin/sh runs carp.sh with the stand-in's ifconfig/sysctl on PATH."""
    state = host.root / "fake-state.json"
    host.fake.save(str(state))
    env = {"PATH": f"{FAKE_BIN}:/usr/bin:/bin", STATE_ENV: str(state)}
    result = subprocess.run(["/bin/sh", str(host.root / "usr/local/etc/rc.d/carp.sh"), argument],
                            env=env, capture_output=True, text=True)
    host.fake = FakeFreeBSD.load(str(state))
    return result


def test_the_rc_script_brings_a_rebooted_host_to_the_full_config(tmp_path):
    host = modern(tmp_path)
    host.sync()
    host.fake.reboot()
    assert host.running() == {}
    result = run_rc_script(host)
    assert result.returncode == 0, result.stderr
    assert host.running() == host.desired()
    assert host.sync() == []


def test_the_rc_script_stop_removes_everything_start_created(tmp_path):
    host = modern(tmp_path)
    host.sync()
    assert run_rc_script(host, "stop").returncode == 0
    assert host.running() == {}
    assert parse_ifconfig(host.fake.ifconfig_output()).pfsync.syncdev is None


def test_maintenance_survives_a_reboot(tmp_path):
    host = modern(tmp_path)
    host.sync()
    assert run_cli(["--root", str(tmp_path), "maintenance", "on", "--backend", "freebsd"], runner=host.runner()).code == 0
    assert {skew for skew, _, _ in host.running().values()} == {254}
    host.fake.reboot()
    run_rc_script(host)
    assert {skew for skew, _, _ in host.running().values()} == {254}
    assert host.sync() == []
    run_cli(["--root", str(tmp_path), "maintenance", "off", "--backend", "freebsd"], runner=host.runner())
    assert host.running() == host.desired()


def test_legacy_backend_reconciles_carp_interfaces():
    legacy = get_backend("freebsd-legacy")
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-8-legacy.txt"))
    config = build_config(read_config_xml(fixture_path("config", "seed-style.xml")))
    plan = legacy.plan(config, running)
    argvs = [s.argv for s in plan.steps]
    assert not any(a[1] in ("carp0", "carp1") and a[2] in ("create", "destroy") for a in argvs)
    assert ("ifconfig", "pfsync0", "create") not in argvs  # pfsync0 is already there
    only_vhid_1 = config.__class__(vips=config.vips[:1], pfsync=config.pfsync)
    removal = legacy.plan(only_vhid_1, running)
    assert ("ifconfig", "carp1", "destroy") in [s.argv for s in removal.steps]


ADDRESSES = [f"10.0.0.{i}" for i in range(10, 16)]


class EditsConverge(RuleBasedStateMachine):
    """Any sequence of edits to config.xml, each followed by sync, ends with running == config."""

    def __init__(self):
        super().__init__()
        import tempfile
        self.dir = tempfile.mkdtemp()
        from pathlib import Path
        self.entries = {}
        self.host = Host(Path(self.dir), self.document())

    def document(self):
        body = "".join(
            f"<config><interface>lan</interface><ipaddress>{address}</ipaddress><netmask>24</netmask>"
            f"<vhid>{vhid}</vhid><advskew>{skew}</advskew><password>{password}</password></config>"
            for address, (vhid, skew, password) in sorted(self.entries.items()))
        return ("<pfsense><interfaces><lan><if>vtnet1</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan></interfaces>"
                f"<installedpackages><carp>{body}</carp></installedpackages></pfsense>")

    def group_settings(self, vhid):
        for other_vhid, skew, password in self.entries.values():
            if other_vhid == vhid:
                return skew, password
        return None

    @rule(address=st.sampled_from(ADDRESSES), vhid=st.integers(1, 3), skew=st.sampled_from([0, 50, 254]),
          password=st.sampled_from(["a", "b c", "$(x)"]))
    def put(self, address, vhid, skew, password):
        shared = self.group_settings(vhid)
        if shared is not None and self.entries.get(address, (None,))[0] != vhid:
            skew, password = shared
        self.entries[address] = (vhid, skew, password)
        for other, (other_vhid, _, _) in self.entries.items():
            if other_vhid == vhid:
                self.entries[other] = (vhid, skew, password)

    @rule(address=st.sampled_from(ADDRESSES))
    def remove(self, address):
        self.entries.pop(address, None)

    @rule()
    def reboot_and_boot_script(self):
        if (self.host.root / "usr/local/etc/rc.d/carp.sh").exists():
            self.host.fake.reboot()
            run_rc_script(self.host)

    @invariant()
    def synced_matches_config(self):
        self.host.write(self.document())
        self.host.sync()
        assert self.host.running() == self.host.desired()
        for address, (vhid, _, password) in self.entries.items():
            assert self.host.fake.key("vtnet1", vhid) == password
        assert self.host.sync() == []

    def teardown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


EditsConverge.TestCase.settings = settings(max_examples=15, stateful_step_count=6, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_arbitrary_edit_sequences_converge = EditsConverge.TestCase


def test_legacy_resync_of_an_unchanged_config_issues_nothing(tmp_path):
    from tests.helpers import host_runner
    import shutil as _shutil
    (tmp_path / "conf").mkdir()
    _shutil.copy(fixture_path("config", "seed-style.xml"), tmp_path / "conf" / "config.xml")
    bare = "em1: flags=8843<UP> metric 0 mtu 1500\n\tinet 192.168.1.2 netmask 0xffffff00\n"
    first = host_runner(bare, {"net.inet.carp.preempt": 0, "net.inet.carp.arpbalance": 0})
    assert run_cli(["--root", str(tmp_path), "sync", "--backend", "freebsd-legacy"], runner=first).code == 0
    running = read_fixture("ifconfig", "freebsd-8-legacy.txt").replace("pfsync: syncdev: em2 maxupd: 128",
                                                                        "pfsync: syncdev: em2 maxupd: 128 defer: off")
    again = host_runner(running, {"net.inet.carp.preempt": 1, "net.inet.carp.arpbalance": 1})
    result = run_cli(["--root", str(tmp_path), "sync", "--backend", "freebsd-legacy"], runner=again)
    assert result.code == 0, result.err
    assert again.mutating_calls == []


def test_legacy_address_moving_to_another_carp_interface_leaves_before_it_arrives():
    legacy = get_backend("freebsd-legacy")
    running = parse_ifconfig(read_fixture("ifconfig", "freebsd-8-legacy.txt"))  # carp0: 192.168.1.1, carp1: 203.0.113.1
    config = build_config(read_config_xml(fixture_path("config", "seed-style.xml")))
    first, second = config.vips
    swapped = config.__class__(vips=(first.__class__(**{**first.__dict__, "address": second.address}),
                                     second.__class__(**{**second.__dict__, "address": first.address})),
                               pfsync=config.pfsync)
    argvs = [s.argv for s in legacy.plan(swapped, running).steps]
    assert argvs.index(("ifconfig", "carp1", "inet", "203.0.113.1", "-alias")) < \
        argvs.index(("ifconfig", "carp0", "inet", "203.0.113.1/24", "alias"))
    assert argvs.index(("ifconfig", "carp0", "inet", "192.168.1.1", "-alias")) < \
        argvs.index(("ifconfig", "carp1", "inet", "192.168.1.1/24", "alias"))


def test_unicast_peers_survive_every_vhid_command_and_a_second_sync_issues_nothing(tmp_path):
    """Issue 11.4 on the stand-in, which resets a peer on any `vhid` command that does not repeat it
    (sbin/ifconfig/carp.c): the peers are on every vhid command, so they hold; an outside reset is repaired."""
    host = Host(tmp_path, read_fixture("config", "peers.xml").replace("em0", "vtnet0").replace("em1", "vtnet1")
                .replace("em2", "vtnet2"))
    assert host.sync()
    state = parse_ifconfig(host.fake.ifconfig_output())
    assert (state.vhid("vtnet0", 10).peer, state.vhid("vtnet0", 10).peer6) == ("198.51.100.4", "2001:db8:100::4")
    assert state.vhid("vtnet1", 20).peer == "224.0.0.18"
    assert (state.pfsync.syncpeer, state.pfsync.defer) == ("172.16.0.2", False)
    assert host.sync() == []
    host.fake.run(("ifconfig", "vtnet0", "vhid", "10", "advskew", "0"))  # someone's bare vhid command
    assert parse_ifconfig(host.fake.ifconfig_output()).vhid("vtnet0", 10).peer == "224.0.0.18"
    assert host.sync() == [("ifconfig", "vtnet0", "vhid", "10", "advskew", "0", "advbase", "1",
                            "peer", "198.51.100.4", "peer6", "2001:db8:100::4")]
    assert host.sync() == []


def test_a_long_password_reaches_the_kernel_as_its_19_bytes_and_resync_is_quiet(tmp_path):
    host = modern(tmp_path)
    host.edit("<password>lan-secret</password>", "<password>lan-secret-of-24-bytes</password>")
    assert host.sync()
    assert host.fake.key("vtnet1", 20) == "lan-secret-of-24-by"
    assert host.sync() == []
