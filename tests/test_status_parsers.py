"""carp_pkg.status: every captured ifconfig format parses to exactly what the host runs, and nothing else."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg.running import CarpSysctls, RunningPfsync, RunningState, RunningVhid
from carp_pkg.status import parse_ifconfig, parse_sysctls, pfsync_json, sysctls_from_mapping, vhid_rows
from tests.helpers import read_fixture

ip = ipaddress.ip_interface
MCAST = {"peer": "224.0.0.18", "peer6": "ff02::12"}


def parse_fixture(name: str) -> RunningState:
    return parse_ifconfig(read_fixture("ifconfig", name))


# --- every fixture, spelled out -------------------------------------------------------------------

def test_freebsd_14_parent_interface_vhids_with_peer_lines():
    assert parse_fixture("freebsd-14.txt") == RunningState(
        unicast_capable=True,  # peer lines / pfsync version: (14+)
        vhids=(
            RunningVhid("em0", 10, "MASTER", 1, 0, (ip("198.51.100.1/24"), ip("2001:db8:100::1/64")), **MCAST),
            RunningVhid("em1", 20, "BACKUP", 2, 100, (ip("10.0.0.1/24"),), **MCAST),
        ),
        pfsync=RunningPfsync(syncdev="em2", syncpeer=None, maxupd=128, defer=False, version=1400, syncok=True,
                             up=True),
        interfaces=("em0", "em1", "em2", "lo0", "pfsync0"),
        host_addresses=(("em0", ip("198.51.100.2/24")), ("em0", ip("2001:db8:100::2/64")),
                        ("em1", ip("10.0.0.2/24")), ("em2", ip("172.16.0.1/30"))),
    )


def test_freebsd_12_vhid_without_address_and_pfsync_with_syncpeer():
    assert parse_fixture("freebsd-12.txt") == RunningState(
        unicast_capable=False,  # carp or pfsync lines of a release before 14
        vrrp_capable=False,  # ... so no `carpver 3` either (FreeBSD 15)
        vhids=(
            RunningVhid("em0", 1, "BACKUP", 1, 0, (ip("192.168.1.1/24"),)),
            RunningVhid("em0", 3, "INIT", 1, 50, ()),
        ),
        pfsync=RunningPfsync(syncdev="em2", syncpeer="10.10.10.2", maxupd=128, defer=True, version=None,
                             syncok=True, up=True),
        interfaces=("em0", "pfsync0"),
        host_addresses=(("em0", ip("192.168.1.2/24")),),
    )


def test_freebsd_8_carp_interfaces_take_the_vhid_from_their_carp_line():
    assert parse_fixture("freebsd-8-legacy.txt") == RunningState(
        unicast_capable=False,  # carp or pfsync lines of a release before 14
        vrrp_capable=False,  # ... so no `carpver 3` either (FreeBSD 15)
        vhids=(
            RunningVhid("carp0", 1, "MASTER", 1, 0, (ip("192.168.1.1/24"),)),
            RunningVhid("carp1", 2, "BACKUP", 1, 10, (ip("203.0.113.1/24"),)),
        ),
        pfsync=RunningPfsync(syncdev="em2", syncpeer=None, maxupd=128, defer=None, version=None, syncok=None,
                             up=True),
        interfaces=("em1", "carp0", "carp1", "pfsync0"),
        host_addresses=(("em1", ip("192.168.1.2/24")),),
    )


def test_freebsd_9_pfsync_defer_on_with_syncpeer_and_an_unconfigured_carp_interface():
    assert parse_fixture("freebsd-9-pfsync-defer.txt") == RunningState(
        unicast_capable=False,  # carp or pfsync lines of a release before 14
        vrrp_capable=False,  # ... so no `carpver 3` either (FreeBSD 15)
        vhids=(
            RunningVhid("carp0", 1, "MASTER", 1, 0, (ip("192.0.2.1/24"), ip("192.0.2.3/32"))),
            RunningVhid("carp1", 2, "BACKUP", 2, 100, (ip("2001:db8:2::1/64"),)),
        ),
        pfsync=RunningPfsync(syncdev="em2", syncpeer="10.10.10.2", maxupd=128, defer=True, version=None,
                             syncok=None, up=True),
        interfaces=("em0", "em2", "lo0", "carp0", "carp1", "carp2", "pfsync0"),
        host_addresses=(("em0", ip("192.0.2.2/24")), ("em2", ip("10.10.10.1/24"))),
    )


def test_freebsd_13_two_vhids_on_one_interface_with_ipv6_vips():
    assert parse_fixture("freebsd-13-two-vhids-ipv6.txt") == RunningState(
        unicast_capable=False,  # carp or pfsync lines of a release before 14
        vrrp_capable=False,  # ... so no `carpver 3` either (FreeBSD 15)
        vhids=(
            RunningVhid("vtnet0", 1, "MASTER", 1, 0,
                        (ip("203.0.113.10/24"), ip("203.0.113.11/32"), ip("2001:db8:113::10/64"))),
            RunningVhid("vtnet0", 2, "BACKUP", 1, 100, (ip("203.0.113.20/24"), ip("2001:db8:113::20/64"))),
        ),
        pfsync=RunningPfsync(syncdev="vtnet1", syncpeer=None, maxupd=128, defer=False, version=None, syncok=True,
                             up=True),
        interfaces=("vtnet0", "vtnet1", "lo0", "pfsync0"),
        host_addresses=(("vtnet0", ip("203.0.113.2/24")), ("vtnet0", ip("2001:db8:113::2/64")),
                        ("vtnet1", ip("10.20.0.1/30"))),
    )


def test_freebsd_15_unicast_peer_and_a_vrrp_vhid():
    assert parse_fixture("freebsd-15-vrrp.txt") == RunningState(
        unicast_capable=True,  # peer lines / pfsync version: (14+)
        vrrp_capable=True,  # a vrrp: line (15+)
        vhids=(
            RunningVhid("igb0", 1, "MASTER", 1, 0, (ip("192.0.2.1/24"),), peer="192.0.2.3", peer6="ff02::12"),
            # carpver 3: the kernel reports prio/interval, so advbase/advskew are 0 ("not CARP timing").
            RunningVhid("igb0", 5, "BACKUP", 0, 0, (ip("192.0.2.5/24"),), protocol="vrrp", vrrpprio=100,
                        vrrpinterval=100),
        ),
        pfsync=RunningPfsync(syncdev="igb1", syncpeer="10.0.0.2", maxupd=64, defer=True, version=1500, syncok=False,
                             up=True),
        interfaces=("igb0", "igb1", "pfsync0"),
        host_addresses=(("igb0", ip("192.0.2.2/24")), ("igb1", ip("10.0.0.1/24"))),
    )


def test_ifconfig_k_keys_are_parsed_past():
    assert parse_fixture("freebsd-14-ifconfig-k.txt") == RunningState(
        unicast_capable=True,  # peer lines / pfsync version: (14+)
        vhids=(
            RunningVhid("em0", 10, "MASTER", 1, 0, (ip("198.51.100.1/24"),), **MCAST),
            RunningVhid("em0", 11, "BACKUP", 1, 100, (ip("198.51.100.9/24"),), **MCAST),
            RunningVhid("em0", 12, "BACKUP", 3, 7, (), **MCAST),
        ),
        interfaces=("em0",),
        host_addresses=(("em0", ip("198.51.100.2/24")),),
    )


@pytest.mark.parametrize("key", ["Tr0ub4dor&3 spaced", 'qu"ote vhid 99', "Tr0ub4dor", "qu\"ote"])
def test_ifconfig_k_key_text_appears_nowhere_in_the_result(key):
    state = parse_fixture("freebsd-14-ifconfig-k.txt")
    assert key not in repr(state)
    assert key not in json.dumps(vhid_rows(state))


def test_host_without_carp_has_no_vhids_and_no_pfsync():
    assert parse_fixture("freebsd-14-no-carp.txt") == RunningState(
        interfaces=("em0", "em1", "lo0"),
        host_addresses=(("em0", ip("198.51.100.2/24")), ("em0", ip("2001:db8:100::2/64"))),
    )


def test_pfsync_without_syncdev_and_down():
    state = parse_fixture("freebsd-14-pfsync-no-syncdev.txt")
    assert state.pfsync == RunningPfsync(syncdev=None, syncpeer=None, maxupd=128, defer=False, version=1400,
                                         syncok=True, up=False)
    assert state.vhids == ()


# --- pfsync formats written inline ----------------------------------------------------------------

@pytest.mark.parametrize("lines, expected", [
    # <= 9 without syncdev: ifpfsync.c prints "pfsync: " only in front of syncdev.
    ("\tsyncpeer: 10.0.0.2 maxupd: 128 defer: off",
     RunningPfsync(syncpeer="10.0.0.2", maxupd=128, defer=False)),
    # 10-13 without syncdev.
    ("\tsyncpeer: 10.0.0.2 maxupd: 200 defer: on\n\tsyncok: 0",
     RunningPfsync(syncpeer="10.0.0.2", maxupd=200, defer=True, syncok=False)),
    # 14+ on a pfsync0 never configured: no leading tab.
    ("maxupd: 128 defer: off version: 1301\n\tsyncok: 1",
     RunningPfsync(maxupd=128, defer=False, version=1301, syncok=True)),
    # 10-13 with nothing set prints no status at all.
    ("\tgroups: pfsync", RunningPfsync()),
])
def test_pfsync_status_variants(lines, expected):
    state = parse_ifconfig(f"pfsync0: flags=41<UP,RUNNING> metric 0 mtu 1500\n{lines}\n")
    assert state.pfsync == expected


def test_pfsync_fields_outside_a_pfsync_interface_are_ignored():
    state = parse_ifconfig("em0: flags=8843<UP> metric 0 mtu 1500\n\tsyncdev: em1 maxupd: 128 defer: off\n")
    assert state.pfsync is None


# --- damaged input --------------------------------------------------------------------------------

def test_damaged_lines_are_skipped_and_the_rest_is_kept():
    text = (
        "\tcarp: MASTER vhid 1 advbase 1 advskew 0\n"  # before any interface header
        "em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
        "\tinet 999.1.1.1 netmask 0xffffff00 broadcast 192.0.2.255\n"
        "\tinet 192.0.2.9 netmask 0xff00ff00\n"  # non-contiguous mask
        "\tinet 192.0.2.8 netmask 0xffffff00 vhid seven\n"
        "\tinet6 zz::1 prefixlen 64 vhid 1\n"
        "\tinet 192.0.2.2 netmask 0xffffff00 broadcast 192.0.2.255\n"
        "\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255 vhid 1\n"
        "\tcarp: MASTER vhid x advbase 1 advskew 0\n"
        "\tcarp: BACKUP vhid 1 advbase 1\n"
        "\tcarp: MASTER vhid 1 advbase 1 advskew 0\n"
        "\tcarp: BACKUP vhid 1 advbase 9 advskew 9\n"  # a second line for vhid 1: the first one counts
        "\t      peer 224.0.0.18\n"
        "\tinet\n"
        "\tsyncok: 1\n"
        "garbage: without flags\n"
    )
    assert parse_ifconfig(text) == RunningState(
        unicast_capable=False,  # its one carp: line has no well-formed peer line under it
        vrrp_capable=False,
        vhids=(RunningVhid("em0", 1, "MASTER", 1, 0, (ip("192.0.2.1/24"),)),),
        interfaces=("em0",),
        host_addresses=(("em0", ip("192.0.2.2/24")),),
    )


def test_vip_whose_carp_line_was_cut_off_is_neither_a_vhid_nor_a_host_address():
    text = "em0: flags=8843<UP> metric 0 mtu 1500\n\tinet 192.0.2.1 netmask 0xffffff00 vhid 4\n"
    assert parse_ifconfig(text) == RunningState(interfaces=("em0",))


def test_peer_line_only_belongs_to_the_carp_line_just_above_it():
    text = ("em0: flags=8843<UP> metric 0 mtu 1500\n\tcarp: MASTER vhid 1 advbase 1 advskew 0\n"
            "\tmedia: Ethernet autoselect\n\t      peer 192.0.2.7 peer6 ff02::12\n")
    assert parse_ifconfig(text).vhids == (RunningVhid("em0", 1, "MASTER", 1, 0),)


def test_other_address_notations_are_read():
    text = ("em0: flags=8843<UP> metric 0 mtu 1500\n"
            "\tinet 192.0.2.1/24 broadcast 192.0.2.255 vhid 3\n"
            "\tinet 192.0.2.2 netmask 255.255.255.128\n"
            "\tinet6 2001:db8::5/48 vhid 3\n"
            "\tinet6 fe80::1%em0 prefixlen 64 scopeid 0x1 vhid 3\n"
            "\tinet 10.9.9.1 --> 10.9.9.2 netmask 0xffffffff\n"
            "\tcarp: BACKUP vhid 3 advbase 1 advskew 0\n")
    state = parse_ifconfig(text)
    assert state.vhids[0].addresses == (ip("192.0.2.1/24"), ip("2001:db8::5/48"), ip("fe80::1/64"))
    assert state.host_addresses == (("em0", ip("192.0.2.2/25")), ("em0", ip("10.9.9.1/32")))


@pytest.mark.parametrize("value", [None, 42, b"", "", "\n\n", "\x00\x01"])
def test_empty_or_wrong_input_gives_an_empty_state(value):
    assert parse_ifconfig(value) == RunningState()


def test_bytes_input_is_decoded():
    raw = read_fixture("ifconfig", "freebsd-12.txt").encode() + b"\xff\xfe\n"
    assert parse_ifconfig(raw) == parse_fixture("freebsd-12.txt")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_without_raising(text):
    parse_ifconfig(text)
    parse_sysctls(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(read_fixture("ifconfig", "freebsd-14.txt").splitlines()
                                + read_fixture("ifconfig", "freebsd-9-pfsync-defer.txt").splitlines()
                                + ["\tcarp:", "\tinet 1.2.3.4 netmask", "\tvrrp: MASTER vrid 300 prio x"])))
def test_any_shuffle_of_real_lines_parses_into_consistent_state(lines):
    state = parse_ifconfig("\n".join(lines))
    assert all(v.interface in state.interfaces for v in state.vhids)
    assert all(name in state.interfaces for name, _ in state.host_addresses)


# --- sysctls --------------------------------------------------------------------------------------

def test_sysctl_text_of_freebsd_14():
    text = ("net.inet.carp.allow: 1\nnet.inet.carp.dscp: 56\nnet.inet.carp.preempt: 1\nnet.inet.carp.log: 1\n"
            "net.inet.carp.demotion: 240\nnet.inet.carp.senderr_demotion_factor: 240\n"
            "net.inet.carp.ifdown_demotion_factor: 240\n")
    assert parse_sysctls(text) == CarpSysctls(allow=1, preempt=1, demotion=240, arpbalance=None)


def test_sysctl_text_of_freebsd_9_with_arpbalance_and_noise():
    text = ("net.inet.carp.allow: 0\nnet.inet.carp.preempt: 0\nnet.inet.carp.log: 1\n"
            "net.inet.carp.arpbalance: 1\nnet.inet.carp.suppress_preempt: 0\n"
            "net.inet.carp.stats: Format:S,carpstats Length:76 Dump:0x00\nsomething odd\n"
            "net.inet.carp.preempt: 1\n")
    assert parse_sysctls(text) == CarpSysctls(allow=0, preempt=0, demotion=None, arpbalance=1)


def test_sysctl_assignment_lines_are_read_too():
    assert parse_sysctls("net.inet.carp.preempt=1\nnet.inet.carp.demotion=-10") == \
        CarpSysctls(preempt=1, demotion=-10)


def test_sysctls_from_a_mapping_skip_values_that_are_not_numbers():
    values = {"net.inet.carp.allow": "1", "net.inet.carp.preempt": 0, "net.inet.carp.demotion": "lots",
              "net.inet.carp.arpbalance": None, "allow": 5}
    assert sysctls_from_mapping(values) == CarpSysctls(allow=1, preempt=0)
    assert parse_sysctls(values) == CarpSysctls(allow=1, preempt=0)


# --- JSON rows ------------------------------------------------------------------------------------

def test_vhid_rows_for_status_json():
    assert vhid_rows(parse_fixture("freebsd-14.txt")) == [
        {"interface": "em0", "vhid": 10, "addresses": ["198.51.100.1/24", "2001:db8:100::1/64"], "state": "MASTER",
         "advbase": 1, "advskew": 0, "peer": "224.0.0.18", "peer6": "ff02::12", "protocol": "carp", "vrrpprio": None, "vrrpinterval": None},
        {"interface": "em1", "vhid": 20, "addresses": ["10.0.0.1/24"], "state": "BACKUP", "advbase": 2,
         "advskew": 100, "peer": "224.0.0.18", "peer6": "ff02::12", "protocol": "carp", "vrrpprio": None, "vrrpinterval": None},
    ]


def test_vhid_rows_of_a_legacy_host_have_no_peer():
    rows = vhid_rows(parse_fixture("freebsd-8-legacy.txt"))
    assert rows[1] == {"interface": "carp1", "vhid": 2, "addresses": ["203.0.113.1/24"], "state": "BACKUP",
                       "advbase": 1, "advskew": 10, "peer": None, "peer6": None, "protocol": "carp", "vrrpprio": None, "vrrpinterval": None}
    json.dumps(rows)


def test_vhid_rows_of_a_vrrp_vhid_show_its_priority_and_interval():
    """Issue 14: a FreeBSD 15 `carpver 3` vhid in `status --json`."""
    rows = vhid_rows(parse_fixture("freebsd-15-vrrp.txt"))
    assert rows[1] == {"interface": "igb0", "vhid": 5, "addresses": ["192.0.2.5/24"], "state": "BACKUP",
                       "advbase": 0, "advskew": 0, "peer": None, "peer6": None, "protocol": "vrrp", "vrrpprio": 100,
                       "vrrpinterval": 100}
    assert rows[0]["protocol"] == "carp"


def test_pfsync_json():
    assert pfsync_json(parse_fixture("freebsd-12.txt").pfsync) == {
        "syncdev": "em2", "syncpeer": "10.10.10.2", "maxupd": 128, "defer": True, "version": None, "syncok": True,
        "up": True}
    assert pfsync_json(None) is None


def test_freebsd_14_unicast_peer_and_pfsync_syncpeer_defer_capture():
    """Issue 11.3/11.4: written from FreeBSD 14 carp.c carp_status() and ifpfsync.c pfsync_status()."""
    state = parse_fixture("freebsd-14-unicast-peer-pfsync-syncpeer.txt")
    assert state.unicast_capable is True
    assert [(v.interface, v.vhid, v.peer, v.peer6) for v in state.vhids] == [
        ("em0", 10, "198.51.100.3", "ff02::12"), ("em1", 20, "224.0.0.18", "ff02::12")]
    assert (state.pfsync.syncdev, state.pfsync.syncpeer, state.pfsync.defer, state.pfsync.version) == (
        "em2", "172.16.0.2", True, 1400)


def test_status_json_shows_the_unicast_peers_and_the_pfsync_peer(tmp_path):
    from tests.helpers import fixture_path, run_cli
    result = run_cli(["--root", str(tmp_path), "status", "--backend", "freebsd", "--json", "--against",
                      fixture_path("ifconfig", "freebsd-14-unicast-peer-pfsync-syncpeer.txt")])
    data = json.loads(result.out)
    assert [(v["vhid"], v["peer"], v["peer6"]) for v in data["vhids"]] == [
        (10, "198.51.100.3", "ff02::12"), (20, "224.0.0.18", "ff02::12")]
    assert (data["pfsync"]["syncpeer"], data["pfsync"]["defer"]) == ("172.16.0.2", True)
