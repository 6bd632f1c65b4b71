"""The FreeBSD 14 stand-in accepts what FreeBSD accepts, refuses the rest like FreeBSD, and reads back exactly."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg.running import CarpSysctls, RunningPfsync, RunningVhid
from carp_pkg.status import parse_ifconfig, parse_sysctls
from tests.fakes.freebsd import STATE_ENV, FakeFreeBSD

ip = ipaddress.ip_interface
BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes", "bin")
MCAST = {"peer": "224.0.0.18", "peer6": "ff02::12"}


def ok(fake: FakeFreeBSD, *argv: str) -> str:
    code, out, err = fake.run(argv)
    assert code == 0, err
    return out


def fails(fake: FakeFreeBSD, *argv: str) -> str:
    code, out, err = fake.run(argv)
    assert code == 1 and out == ""
    return err


def running(fake: FakeFreeBSD):
    return parse_ifconfig(fake.ifconfig_output())


@pytest.fixture
def fake():
    return FakeFreeBSD({"em0": ["198.51.100.2/24"], "em1": ["10.0.0.2/24"], "em2": ["172.16.0.1/30"]})


@pytest.fixture
def vhid10(fake):
    ok(fake, "ifconfig", "em0", "vhid", "10", "advskew", "100", "advbase", "2", "pass", "s3cret")
    ok(fake, "ifconfig", "em0", "inet", "198.51.100.1/24", "alias", "vhid", "10")
    return fake


# --- the documented forms ---------------------------------------------------------------------------

def test_vhid_then_addresses_round_trip_through_the_parser(vhid10):
    ok(vhid10, "ifconfig", "em0", "inet6", "2001:db8:100::1", "prefixlen", "64", "alias", "vhid", "10")
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.3/32", "alias", "vhid", "10")
    state = running(vhid10)
    assert state.vhids == (RunningVhid("em0", 10, "MASTER", 2, 100, (
        ip("198.51.100.1/24"), ip("198.51.100.3/32"), ip("2001:db8:100::1/64")), **MCAST),)
    assert state.host_addresses == (("em0", ip("198.51.100.2/24")), ("em1", ip("10.0.0.2/24")),
                                    ("em2", ip("172.16.0.1/30")))
    assert state.interfaces == ("em0", "em1", "em2", "lo0", "pfsync0")


def test_vhid_keywords_after_vhid_in_any_order_and_unicast_peers(fake):
    ok(fake, "ifconfig", "em1", "vhid", "20", "pass", "x", "advbase", "3", "advskew", "7",
       "peer", "10.0.0.3", "peer6", "2001:db8::3")
    ok(fake, "ifconfig", "em1", "inet", "10.0.0.1/24", "alias", "vhid", "20", "peer", "10.0.0.3", "peer6", "2001:db8::3")
    assert running(fake).vhid("em1", 20) == RunningVhid("em1", 20, "MASTER", 3, 7, (ip("10.0.0.1/24"),),
                                                         peer="10.0.0.3", peer6="2001:db8::3")
    ok(fake, "ifconfig", "em1", "vhid", "20", "mcast", "mcast6")
    assert running(fake).vhid("em1", 20).peer == "224.0.0.18"


def test_a_vhid_command_without_peer_resets_a_unicast_peer_to_multicast(fake):
    """sbin/ifconfig/carp.c: setcarp_callback() sends the multicast defaults unless peer/peer6 are given,
    for `vhid V advskew ...` and for `inet A alias vhid V` alike."""
    ok(fake, "ifconfig", "em1", "vhid", "20", "pass", "x", "peer", "10.0.0.3", "peer6", "2001:db8::3")
    ok(fake, "ifconfig", "em1", "inet", "10.0.0.1/24", "alias", "vhid", "20")
    assert (running(fake).vhid("em1", 20).peer, running(fake).vhid("em1", 20).peer6) == ("224.0.0.18", "ff02::12")
    ok(fake, "ifconfig", "em1", "vhid", "20", "peer", "10.0.0.3")
    ok(fake, "ifconfig", "em1", "vhid", "20", "advskew", "9")
    assert running(fake).vhid("em1", 20).peer == "224.0.0.18"


def test_pass_keeps_19_bytes_not_19_characters(fake):
    ok(fake, "ifconfig", "em1", "vhid", "20", "pass", "é" * 9 + "xyz")  # 21 bytes
    assert fake.key("em1", 20).encode("utf-8") == ("é" * 9 + "x").encode("utf-8")


def test_updating_a_vhid_keeps_what_is_not_given(vhid10):
    ok(vhid10, "ifconfig", "em0", "vhid", "10", "advskew", "254")
    assert running(vhid10).vhid("em0", 10).advbase == 2
    assert running(vhid10).vhid("em0", 10).advskew == 254
    assert vhid10.key("em0", 10) == "s3cret"


def test_vhid_without_address_is_init(fake):
    ok(fake, "ifconfig", "em0", "vhid", "3", "advskew", "0", "advbase", "1", "pass", "p")
    assert running(fake).vhids == (RunningVhid("em0", 3, "INIT", 1, 0, (), **MCAST),)


def test_state_is_master_unless_told_otherwise(vhid10):
    vhid10.set_state("em0", 10, "BACKUP")
    assert running(vhid10).vhid("em0", 10).state == "BACKUP"
    ok(vhid10, "ifconfig", "em0", "vhid", "10", "state", "master")
    assert running(vhid10).vhid("em0", 10).state == "MASTER"
    with pytest.raises(KeyError):
        vhid10.set_state("em0", 99, "BACKUP")


def test_remove_one_of_several_addresses_keeps_the_vhid(vhid10):
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.3/24", "alias", "vhid", "10")
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.1", "-alias")
    assert running(vhid10).vhid("em0", 10).addresses == (ip("198.51.100.3/24"),)


def test_pfsync_forms(fake):
    ok(fake, "ifconfig", "pfsync0", "syncdev", "em2", "syncpeer", "172.16.0.2", "defer", "maxupd", "64", "up")
    assert running(fake).pfsync == RunningPfsync("em2", "172.16.0.2", 64, True, 1400, True, True)
    ok(fake, "ifconfig", "pfsync0", "-syncpeer", "-defer", "syncif", "em1", "version", "1301")
    assert running(fake).pfsync == RunningPfsync("em1", None, 64, False, 1301, True, True)
    ok(fake, "ifconfig", "pfsync0", "-syncdev", "down")
    assert running(fake).pfsync == RunningPfsync(None, None, 64, False, 1301, True, False)


def test_listing_forms(vhid10):
    assert ok(vhid10, "ifconfig", "-l") == "em0 em1 em2 lo0 pfsync0\n"
    assert ok(vhid10, "ifconfig", "-a") == ok(vhid10, "ifconfig")
    one = ok(vhid10, "ifconfig", "em0")
    assert one.startswith("em0: flags=") and "em1:" not in one
    assert parse_ifconfig(one).vhids == running(vhid10).vhids


# --- refusals, worded like FreeBSD ------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (("em0", "advskew", "5", "vhid", "1"), "ifconfig: advskew requires vhid\n"),
    (("em0", "advbase", "1", "vhid", "1"), "ifconfig: advbase requires vhid\n"),
    (("em0", "pass", "x", "vhid", "1"), "ifconfig: passwd requires vhid\n"),
    (("em0", "state", "master", "vhid", "1"), "ifconfig: state requires vhid\n"),
    (("em0", "vhid", "0"), "ifconfig: vhid must be greater than 0 and less than 255\n"),
    (("em0", "vhid", "256"), "ifconfig: vhid must be greater than 0 and less than 255\n"),
    (("em0", "vhid", "one"), "ifconfig: vhid must be greater than 0 and less than 255\n"),
    (("em0", "vhid", "1", "advskew", "255"), "ifconfig: SIOCSVH: Invalid argument\n"),
    (("em0", "vhid", "1", "advbase", "256"), "ifconfig: SIOCSVH: Invalid argument\n"),
    (("em0", "vhid", "1", "state", "sleepy"), "ifconfig: unknown state\n"),
    (("em0", "vhid", "1", "advskw", "3"), "ifconfig: advskw: bad value\n"),
    (("em0", "vhid", "1", "carpver", "3"), "ifconfig: carpver: bad value\n"),  # a FreeBSD 15 keyword
    (("em0", "-vhid", "1"), "ifconfig: -vhid: bad value\n"),  # no command removes a bare vhid
    (("em0", "vhid"), "ifconfig: 'vhid' requires argument\n"),
    (("em9", "vhid", "1"), "ifconfig: interface em9 does not exist\n"),
    (("em9",), "ifconfig: interface em9 does not exist\n"),
    (("em0", "inet", "192.0.2.300/24", "alias"), "ifconfig: 192.0.2.300/24: bad value\n"),
    (("em0", "inet", "192.0.2.9", "-alias"), "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"),
    (("em0", "inet6", "2001:db8::1", "prefixlen", "129", "alias"), "ifconfig: 129: bad value\n"),
    (("lo0", "vhid", "1"), "ifconfig: SIOCSVH: Operation not supported\n"),
    (("em0", "syncdev", "em1"), "ifconfig: SIOCGETPFSYNCNV: Invalid argument\n"),
    (("pfsync0", "syncdev", "em9"), "ifconfig: SIOCSETPFSYNCNV: Invalid argument\n"),
    (("pfsync0", "maxupd", "256"), "ifconfig: maxupd 256: out of range\n"),
    (("pfsync0", "version", "1200"), "ifconfig: SIOCSETPFSYNCNV: Invalid argument\n"),
    (("pfsync0", "syncpeer", "peer.example"),
     "ifconfig: error in parsing address string: hostname nor servname provided, or not known\n"),
    (("carp0", "create"), "ifconfig: SIOCIFCREATE2: Invalid argument\n"),  # no carpN since FreeBSD 10
])
def test_refusals_read_like_the_real_tool(fake, argv, message):
    before = fake.ifconfig_output()
    assert fails(fake, "ifconfig", *argv) == message
    assert fake.commands == [] and fake.mutation_count == 0
    assert fake.failures == [(("ifconfig", *argv), 1, message)]
    if "SIOCSVH" not in message:
        assert fake.ifconfig_output() == before


@pytest.mark.parametrize("argv", [
    ("em0", "vhid", "1", "advskew", "-1"),
    ("em0", "vhid", "1", "advskew", "ten"),
    ("em0", "vhid", "1", "advbase", "0"),
    ("em0", "vhid", "1x"),
    ("em0", "peer", "192.0.2.3"),
    ("em0", "vhid", "1", "peer", "not-an-ip"),
    ("em0", "mtu", "9000"),
    ("em0", "inet", "192.0.2.5/24", "192.0.2.6"),
    ("pfsync0", "maxupd", "lots"),
])
def test_forms_the_real_tool_would_misread_are_refused_and_say_so(fake, argv):
    err = fails(fake, "ifconfig", *argv)
    assert err.startswith("ifconfig: ") and err.endswith(" [FreeBSD stand-in]\n")
    assert fake.ifconfig_output() == FakeFreeBSD(
        {"em0": ["198.51.100.2/24"], "em1": ["10.0.0.2/24"], "em2": ["172.16.0.1/30"]}).ifconfig_output()


def test_unknown_option_prints_usage(fake):
    assert fails(fake, "ifconfig", "-x").startswith("usage: ifconfig")


def test_rejected_siocsvh_still_leaves_the_new_vhid_behind(fake):
    """carp_ioctl() allocates the vhid before it checks advskew."""
    fails(fake, "ifconfig", "em0", "vhid", "7", "advbase", "3", "advskew", "300", "pass", "p")
    assert running(fake).vhids == (RunningVhid("em0", 7, "INIT", 3, 0, (), **MCAST),)
    assert fake.key("em0", 7) == ""


# --- kernel behaviour the planner must respect ------------------------------------------------------

def test_strict_stand_in_refuses_an_address_for_a_vhid_not_configured_yet(fake):
    err = fails(fake, "ifconfig", "em0", "inet", "198.51.100.1/24", "alias", "vhid", "10")
    assert "vhid 10 is not configured on em0" in err and "no password" in err
    assert running(fake).vhids == ()


def test_real_ifconfig_would_create_that_vhid_with_defaults_and_no_password():
    fake = FakeFreeBSD({"em0": ["198.51.100.2/24"]}, strict=False)
    ok(fake, "ifconfig", "em0", "inet", "198.51.100.1/24", "alias", "vhid", "10")
    assert running(fake).vhids == (RunningVhid("em0", 10, "MASTER", 1, 0, (ip("198.51.100.1/24"),), **MCAST),)
    assert fake.key("em0", 10) == ""


def test_removing_the_last_address_destroys_the_vhid_and_its_password(vhid10):
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.1", "-alias")
    assert running(vhid10).vhids == ()
    with pytest.raises(KeyError):
        vhid10.key("em0", 10)
    assert "not configured" in fails(vhid10, "ifconfig", "em0", "inet", "198.51.100.9/24", "alias", "vhid", "10")


def test_replacing_the_only_address_needs_the_vhid_configured_again(vhid10):
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.1", "-alias")
    ok(vhid10, "ifconfig", "em0", "vhid", "10", "advskew", "100", "advbase", "2", "pass", "s3cret")
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.9/24", "alias", "vhid", "10")
    assert running(vhid10).vhids == (RunningVhid("em0", 10, "MASTER", 2, 100, (ip("198.51.100.9/24"),), **MCAST),)


def test_re_adding_an_address_moves_it_without_destroying_the_emptied_vhid(vhid10):
    ok(vhid10, "ifconfig", "em0", "vhid", "11", "advskew", "5", "pass", "q")
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.1/24", "alias", "vhid", "11")
    state = running(vhid10)
    assert state.vhid("em0", 10) == RunningVhid("em0", 10, "INIT", 2, 100, (), **MCAST)
    assert state.vhid("em0", 11).addresses == (ip("198.51.100.1/24"),)
    assert vhid10.key("em0", 10) == "s3cret"


def test_a_bare_vhid_stays_until_reboot(fake):
    ok(fake, "ifconfig", "em0", "vhid", "3", "pass", "p")
    fails(fake, "ifconfig", "em0", "-vhid", "3")
    assert [v.vhid for v in running(fake).vhids] == [3]
    fake.reboot()
    assert running(fake).vhids == ()


def test_inet_without_alias_replaces_the_first_address(vhid10):
    ok(vhid10, "ifconfig", "em0", "vhid", "12", "pass", "p")
    ok(vhid10, "ifconfig", "em0", "inet", "198.51.100.12/24", "vhid", "12")
    state = running(vhid10)
    assert ("em0", ip("198.51.100.2/24")) not in state.host_addresses
    assert [v.vhid for v in state.vhids] == [10, 12]


def test_the_one_line_carp4_example_replaces_the_host_address():
    fake = FakeFreeBSD({"em0": ["192.168.1.2/24"]}, strict=False)
    ok(fake, "ifconfig", "em0", "vhid", "1", "advskew", "100", "pass", "mekmitasdigoat", "192.168.1.1/24")
    state = running(fake)
    assert state.host_addresses == ()
    assert state.vhids[0].addresses == (ip("192.168.1.1/24"),)


def test_address_without_mask_gets_the_classful_default_and_a_warning(fake):
    code, out, err = fake.run(("ifconfig", "em1", "inet", "10.7.0.1", "alias"))
    assert code == 0 and "WARNING: setting interface address without mask is deprecated" in err
    assert ("em1", ip("10.7.0.1/8")) in running(fake).host_addresses


def test_password_is_cut_to_19_bytes_and_printed_only_with_k(fake):
    ok(fake, "ifconfig", "em0", "vhid", "1", "pass", "abcdefghijklmnopqrstuvwxyz")
    ok(fake, "ifconfig", "em0", "inet", "198.51.100.1/24", "alias", "vhid", "1")
    assert fake.key("em0", 1) == "abcdefghijklmnopqrs"
    assert "abcdefghijklmnopqrs" not in ok(fake, "ifconfig") + ok(fake, "ifconfig", "em0")
    shown = ok(fake, "ifconfig", "-k", "em0")
    assert 'advskew 0 key "abcdefghijklmnopqrs"\n' in shown
    assert "abcdefghijklmnopqrs" not in repr(parse_ifconfig(shown))


def test_empty_pass_keeps_the_old_key(vhid10):
    ok(vhid10, "ifconfig", "em0", "vhid", "10", "pass", "")
    assert vhid10.key("em0", 10) == "s3cret"


def test_carp_allow_0_and_interface_down_put_vhids_in_init(vhid10):
    ok(vhid10, "sysctl", "net.inet.carp.allow=0")
    assert running(vhid10).vhid("em0", 10).state == "INIT"
    ok(vhid10, "sysctl", "net.inet.carp.allow=1")
    ok(vhid10, "ifconfig", "em0", "down")
    assert running(vhid10).vhid("em0", 10).state == "INIT"


# --- sysctl -----------------------------------------------------------------------------------------

def test_demotion_writes_are_relative(fake):
    assert ok(fake, "sysctl", "net.inet.carp.demotion=240") == "net.inet.carp.demotion: 0 -> 240\n"
    assert ok(fake, "sysctl", "net.inet.carp.demotion=240") == "net.inet.carp.demotion: 240 -> 480\n"
    assert ok(fake, "sysctl", "net.inet.carp.demotion=-480") == "net.inet.carp.demotion: 480 -> 0\n"
    assert ok(fake, "sysctl", "-n", "net.inet.carp.demotion") == "0\n"


def test_plain_sysctl_writes_replace(fake):
    assert ok(fake, "sysctl", "net.inet.carp.preempt=1") == "net.inet.carp.preempt: 0 -> 1\n"
    assert ok(fake, "sysctl", "net.inet.carp.preempt=1") == "net.inet.carp.preempt: 1 -> 1\n"
    assert ok(fake, "sysctl", "-n", "net.inet.carp.preempt", "net.inet.carp.allow") == "1\n1\n"


def test_sysctl_listing_reads_back_through_the_parser(fake):
    ok(fake, "sysctl", "net.inet.carp.preempt=1", "net.inet.carp.demotion=17")
    listing = ok(fake, "sysctl", "net.inet.carp")
    assert listing.splitlines()[:2] == ["net.inet.carp.allow: 1", "net.inet.carp.dscp: 56"]
    assert parse_sysctls(listing) == CarpSysctls(allow=1, preempt=1, demotion=17, arpbalance=None)


@pytest.mark.parametrize("argv, message", [
    (("net.inet.carp.arpbalance=1",), "sysctl: unknown oid 'net.inet.carp.arpbalance'\n"),
    (("net.inet.arpbalance=1",), "sysctl: unknown oid 'net.inet.arpbalance'\n"),
    (("-n", "net.inet.carp.arpbalance"), "sysctl: unknown oid 'net.inet.carp.arpbalance'\n"),
    (("net.inet.carp.preempt=yes",), "sysctl: invalid integer 'yes'\n"),
    (("net.inet.carp.dscp=64",), "sysctl: net.inet.carp.dscp=64: Invalid argument\n"),
    (("kern.osrelease=15.0",), "sysctl: oid 'kern.osrelease' is read only\n"),
    (("net.inet.carp=1",), "sysctl: oid 'net.inet.carp' isn't a leaf node\n"),
])
def test_sysctl_refusals(fake, argv, message):
    code, out, err = fake.run(("sysctl", *argv))
    assert (code, out, err) == (1, "", message)
    assert fake.sysctl_value("net.inet.carp.preempt") == 0 and fake.sysctl_value("net.inet.carp.dscp") == 56


def test_sysctl_usage(fake):
    code, _, err = fake.run(("sysctl",))
    assert code == 1 and err.startswith("usage: sysctl")


# --- bookkeeping ------------------------------------------------------------------------------------

def test_commands_record_what_was_accepted_and_count_changes(fake):
    ok(fake, "ifconfig")
    ok(fake, "sysctl", "-n", "net.inet.carp.allow")
    ok(fake, "ifconfig", "em0", "vhid", "1", "pass", "p")
    fails(fake, "ifconfig", "em0", "vhid", "0")
    ok(fake, "sysctl", "net.inet.carp.preempt=1")
    assert fake.commands == [("ifconfig",), ("sysctl", "-n", "net.inet.carp.allow"),
                             ("ifconfig", "em0", "vhid", "1", "pass", "p"), ("sysctl", "net.inet.carp.preempt=1")]
    assert fake.mutating_commands == [("ifconfig", "em0", "vhid", "1", "pass", "p"),
                                      ("sysctl", "net.inet.carp.preempt=1")]
    assert fake.mutation_count == 2
    assert fake.run(("ipfw", "show")) == (127, "", "ipfw: not found\n")


def test_reboot_forgets_carp_pfsync_and_sysctls_but_not_host_addresses(vhid10):
    ok(vhid10, "ifconfig", "pfsync0", "syncdev", "em2", "up")
    ok(vhid10, "sysctl", "net.inet.carp.preempt=1")
    ok(vhid10, "ifconfig", "em1", "inet", "10.0.0.5/24", "alias")
    vhid10.reboot()
    state = running(vhid10)
    assert state.vhids == ()
    assert state.pfsync == RunningPfsync(None, None, 128, False, 1400, True, False)
    assert state.host_addresses == (("em0", ip("198.51.100.2/24")), ("em1", ip("10.0.0.2/24")),
                                    ("em2", ip("172.16.0.1/30")))
    assert vhid10.sysctl_value("net.inet.carp.preempt") == 0


def test_host_without_pfsync_module():
    fake = FakeFreeBSD({"em0": ["192.0.2.2/24"]}, pfsync=False)
    assert fails(fake, "ifconfig", "pfsync0", "syncdev", "em0") == "ifconfig: interface pfsync0 does not exist\n"
    assert running(fake).pfsync is None


def test_state_survives_save_and_load(vhid10, tmp_path):
    ok(vhid10, "ifconfig", "pfsync0", "syncdev", "em2", "up")
    vhid10.set_state("em0", 10, "BACKUP")
    path = str(tmp_path / "state.json")
    vhid10.save(path)
    again = FakeFreeBSD.load(path)
    assert again.ifconfig_output(keys=True) == vhid10.ifconfig_output(keys=True)
    assert again.commands == vhid10.commands and again.key("em0", 10) == "s3cret"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.integers(1, 255),
    st.tuples(st.integers(0, 254), st.integers(1, 255),
              st.lists(st.integers(3, 250), min_size=1, max_size=3, unique=True),
              st.sampled_from(["MASTER", "BACKUP"])),
    max_size=4))
def test_whatever_is_configured_reads_back_exactly(groups):
    fake = FakeFreeBSD({"em0": ["198.51.100.2/24"]})
    expected = []
    for vhid, (advskew, advbase, hosts, state) in groups.items():
        ok(fake, "ifconfig", "em0", "vhid", str(vhid), "advskew", str(advskew), "advbase", str(advbase), "pass", "k")
        addresses = []
        for host in hosts:
            address = ip(f"203.0.{vhid % 200}.{host}/24")
            if any(address in v.addresses for v in expected):
                continue
            ok(fake, "ifconfig", "em0", "inet", str(address), "alias", "vhid", str(vhid))
            addresses.append(address)
        fake.set_state("em0", vhid, state)
        expected.append(RunningVhid("em0", vhid, state if addresses else "INIT", advbase, advskew,
                                    tuple(addresses), **MCAST))
    assert running(fake).vhids == tuple(expected)


# --- the bin/ wrappers, through a real process --------------------------------------------------------

def wrapper_env(state_path: str) -> dict:
    env = dict(os.environ)
    env[STATE_ENV] = state_path
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


def test_bin_wrappers_drive_the_saved_state(fake, tmp_path):
    path = str(tmp_path / "host.json")
    fake.save(path)
    env = wrapper_env(path)
    script = ("set -e\n"
              "ifconfig em0 vhid 10 advskew 100 advbase 1 pass 'two words'\n"
              "ifconfig em0 inet 198.51.100.1/24 alias vhid 10\n"
              "sysctl net.inet.carp.preempt=1\n"
              "ifconfig pfsync0 syncdev em2 up\n")
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "net.inet.carp.preempt: 0 -> 1\n"
    after = FakeFreeBSD.load(path)
    assert after.key("em0", 10) == "two words"
    assert after.mutation_count == 4
    listing = subprocess.run(["ifconfig"], env=env, capture_output=True, text=True, timeout=60)
    state = parse_ifconfig(listing.stdout)
    assert state.vhids == (RunningVhid("em0", 10, "MASTER", 1, 100, (ip("198.51.100.1/24"),), **MCAST),)
    assert state.pfsync.syncdev == "em2"


def test_bin_wrapper_passes_on_the_exit_status_and_message(fake, tmp_path):
    path = str(tmp_path / "host.json")
    fake.save(path)
    done = subprocess.run([os.path.join(BIN, "sysctl"), "net.inet.arpbalance=1"], env=wrapper_env(path),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "sysctl: unknown oid 'net.inet.arpbalance'\n")
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle)["failures"][0][0] == ["sysctl", "net.inet.arpbalance=1"]


def test_bin_wrapper_without_state_file_refuses(tmp_path):
    env = wrapper_env(str(tmp_path / "missing.json"))
    done = subprocess.run([sys.executable, os.path.join(BIN, "ifconfig")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "no state file" in done.stderr
    del env[STATE_ENV]
    done = subprocess.run([os.path.join(BIN, "ifconfig")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and STATE_ENV in done.stderr
