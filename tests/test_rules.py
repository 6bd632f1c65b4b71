"""`carp-pkg rules`: the pf rules that pass CARP and pfsync (the original carp_rules.php's job)."""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carp_pkg.commands import rules as rules_command
from carp_pkg.errors import ConfigError
from carp_pkg.model import CarpConfig, PfsyncSettings, VirtualIP
from carp_pkg.rules import anchor_line, carp_rules, render_rules, rules_json

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("CARP_UPDATE_GOLDEN") == "1"


def vip(address: str, interface: str, vhid: int, **extra) -> VirtualIP:
    return VirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vhid, **extra)


# The seed package's shape: one VIP on LAN and one on WAN, pfsync on the SYNC interface (opt1 = em2).
SEED = CarpConfig(
    vips=(vip("192.168.1.1/24", "em1", 1, password="lan-secret", preempt=True),
          vip("203.0.113.1/24", "em0", 2, advskew=10, balancing=True)),
    pfsync=PfsyncSettings(syncdev="em2", friendly_interface="opt1"),
)
# Dual stack on WAN (one vhid, two families), a second vhid on LAN, pfsync on vtnet2.
MODERN = CarpConfig(
    vips=(vip("198.51.100.1/24", "vtnet0", 10),
          vip("2001:db8:100::1/64", "vtnet0", 10),
          vip("10.0.0.1/24", "vtnet1", 20, advbase=2, advskew=100)),
    pfsync=PfsyncSettings(syncdev="vtnet2", friendly_interface="opt1"),
)
IPV6_ONLY_NO_PFSYNC = CarpConfig(vips=(vip("2001:db8::1/64", "igb0", 5), vip("2001:db8::2/64", "igb0", 6)))
EMPTY = CarpConfig()
# Issue 11: FreeBSD 14+ unicast CARP. vhid 10 on em0 (dual stack) advertises to 198.51.100.4 / 2001:db8:100::4,
# vhid 11 on em0 to the same IPv4 peer (one pair of rules for both), vhid 20 on em1 stays on multicast, and
# vhid 30's peer6 is inert (no IPv6 address: it sends no IPv6 advertisements).
UNICAST = CarpConfig(
    vips=(vip("198.51.100.1/24", "em0", 10, peer="198.51.100.4", peer6="2001:db8:100::4"),
          vip("2001:db8:100::1/64", "em0", 10, peer="198.51.100.4", peer6="2001:db8:100::4"),
          vip("198.51.100.11/24", "em0", 11, peer="198.51.100.4"),
          vip("10.0.0.1/24", "em1", 20),
          vip("10.0.1.1/24", "em3", 30, peer6="2001:db8:300::4")),
    pfsync=PfsyncSettings(syncdev="em2", friendly_interface="opt1", syncpeer="172.16.0.2"),
)

CASES = {"seed": SEED, "modern": MODERN, "ipv6-only": IPV6_ONLY_NO_PFSYNC, "empty": EMPTY, "unicast": UNICAST}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path} (run with CARP_UPDATE_GOLDEN=1 to create it)"
    assert text == path.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_text_matches_golden(case):
    check_golden(f"rules-{case}.txt", render_rules(CASES[case]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_json_matches_golden(case):
    check_golden(f"rules-{case}.json", json.dumps(rules_json(CASES[case]), indent=2) + "\n")


# --- a small grammar for the pf subset carp-pkg writes (pf.conf(5): action quick on IF [af] proto P from to state label)
ADDRESS = r"(?:any|[0-9.]+|[0-9a-fA-F:]+)"
RULE = re.compile(
    r"^pass quick on [A-Za-z][A-Za-z0-9_.\-]{0,14}"
    r"(?: inet| inet6)?"
    r" proto (?:carp|pfsync)"
    rf" from {ADDRESS} to {ADDRESS}"
    r" (?:no state|keep state \(no-sync\))"
    r' label "[^"\n]{1,63}"$'
)


def grammar_errors(text: str) -> list:
    errors = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        if not RULE.match(line):
            errors.append(f"line {number}: {line}")
            continue
        source = line.split(" from ", 1)[1].split(" ", 1)[0]
        destination = line.split(" to ", 1)[1].split(" ", 1)[0]
        family = re.search(r" (inet6?) proto ", line)
        for address in (source, destination):
            if address == "any":
                continue
            parsed = ipaddress.ip_address(address)  # a typo'd group or peer address would raise
            if family is None or family.group(1) != ("inet6" if parsed.version == 6 else "inet"):
                errors.append(f"line {number}: {address} needs the af keyword of its family: {line}")
    return errors


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_rule_line_parses_in_the_pf_subset_grammar(case):
    assert grammar_errors(render_rules(CASES[case])) == []


@pytest.mark.parametrize("broken", [
    'pass quick on em0 proto carp from any to 224.0.0.18 no state label "x" keep',  # trailing junk
    'pass quick on em0 proto carp from any to 224.0.0.18 label "x"',  # no state clause
    'pass on em0 proto carp from any to 224.0.0.18 no state label "x"',  # not quick
    f'pass quick on em0 proto carp from any to any no state label "{"x" * 64}"',  # label too long for pf
])
def test_grammar_check_rejects_broken_rules(broken):
    assert grammar_errors(broken + "\n") != []


def test_grammar_check_rejects_an_impossible_group_address():
    with pytest.raises(ValueError):
        grammar_errors('pass quick on em0 inet proto carp from any to 224.0.0.999 no state label "x"\n')
    with pytest.raises(ValueError):
        grammar_errors('pass quick on em0 inet proto carp from 10.0.0.999 to any no state label "x"\n')


@pytest.mark.parametrize("broken", [
    'pass quick on em0 proto carp from 10.0.0.4 to any no state label "x"',  # an address without its af
    'pass quick on em0 inet proto carp from 2001:db8::4 to any no state label "x"',  # the wrong af
    'pass quick on em0 inet6 proto carp from any to 10.0.0.4 no state label "x"',
])
def test_grammar_check_rejects_an_address_of_the_wrong_family(broken):
    assert grammar_errors(broken + "\n") != []


@pytest.mark.skipif(shutil.which("pfctl") is None, reason="pfctl only exists on FreeBSD/pfSense")
@pytest.mark.parametrize("case", sorted(CASES))
def test_pfctl_accepts_the_rules(case, tmp_path):  # pragma: no cover - FreeBSD only
    rules_file = tmp_path / "carp.rules"
    rules_file.write_text(render_rules(CASES[case]))
    result = subprocess.run(["pfctl", "-nf", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_carp_passes_to_the_multicast_group_of_each_family_on_each_vip_interface():
    texts = [rule.text() for rule in carp_rules(MODERN)]
    assert 'pass quick on vtnet0 inet proto carp from any to 224.0.0.18 no state label "carp-pkg: CARP on vtnet0"' in texts
    assert 'pass quick on vtnet0 inet6 proto carp from any to ff02::12 no state label "carp-pkg: CARP on vtnet0"' in texts
    assert any(t.startswith("pass quick on vtnet1 inet proto carp") for t in texts)
    assert not any(t.startswith("pass quick on vtnet1 inet6") for t in texts), "no IPv6 VIP on vtnet1"


def test_a_unicast_peer_gets_a_rule_for_each_direction_beside_the_group_rule():
    """Issue 11: unicast advertisements go from the peer's address to this host's and back, never to
    224.0.0.18 / ff02::12: the group rule alone would leave them to a default block."""
    texts = [rule.text() for rule in carp_rules(UNICAST) if rule.interface == "em0"]
    assert texts == [
        'pass quick on em0 inet proto carp from any to 224.0.0.18 no state label "carp-pkg: CARP on em0"',
        'pass quick on em0 inet proto carp from 198.51.100.4 to any no state label '
        '"carp-pkg: CARP on em0 peer 198.51.100.4"',
        'pass quick on em0 inet proto carp from any to 198.51.100.4 no state label '
        '"carp-pkg: CARP on em0 peer 198.51.100.4"',
        'pass quick on em0 inet6 proto carp from any to ff02::12 no state label "carp-pkg: CARP on em0"',
        'pass quick on em0 inet6 proto carp from 2001:db8:100::4 to any no state label '
        '"carp-pkg: CARP on em0 peer 2001:db8:100::4"',
        'pass quick on em0 inet6 proto carp from any to 2001:db8:100::4 no state label '
        '"carp-pkg: CARP on em0 peer 2001:db8:100::4"',
    ]


def test_a_multicast_vhid_and_an_inert_peer6_add_no_unicast_rule():
    assert [r.text() for r in carp_rules(UNICAST) if r.interface == "em1"] == [
        'pass quick on em1 inet proto carp from any to 224.0.0.18 no state label "carp-pkg: CARP on em1"']
    em3 = [r for r in carp_rules(UNICAST) if r.interface == "em3"]
    assert [(r.family, r.source, r.destination) for r in em3] == [("inet", "any", "224.0.0.18")]


def test_a_unicast_advertisement_is_passed_by_a_rule_and_a_multicast_one_still_is():
    """Each advertisement a vhid sends or receives, as (af, src, dst), meets a rule on its interface."""
    def passed(interface, family, src, dst):
        return any(r.interface == interface and r.family == family and r.source in ("any", src)
                   and r.destination in ("any", dst) for r in carp_rules(UNICAST) if r.proto == "carp")
    assert passed("em0", "inet", "198.51.100.4", "198.51.100.2")  # the peer's, to this host
    assert passed("em0", "inet", "198.51.100.2", "198.51.100.4")  # this host's, to the peer
    assert passed("em0", "inet6", "2001:db8:100::4", "2001:db8:100::2")
    assert passed("em0", "inet6", "2001:db8:100::2", "2001:db8:100::4")
    assert passed("em1", "inet", "10.0.0.3", "224.0.0.18")
    assert not passed("em1", "inet", "10.0.0.3", "10.0.0.2")  # no unicast hole where no peer is set
    assert not passed("em0", "inet", "198.51.100.9", "198.51.100.2")  # only the configured peer's


def test_a_peer_is_checked_before_it_is_pasted_into_pf_syntax():
    for peer in ("10.0.0.4 to any pass all", '10.0.0.4"', "224.0.0.18", "0.0.0.0", "010.0.0.4", "any"):
        with pytest.raises(ConfigError):
            carp_rules(CarpConfig(vips=(vip("10.0.0.1/24", "em0", 1, peer=peer),)))
    with pytest.raises(ConfigError):  # an IPv6 peer in the IPv4 slot
        carp_rules(CarpConfig(vips=(vip("10.0.0.1/24", "em0", 1, peer="2001:db8::4"),)))
    with pytest.raises(ConfigError):
        carp_rules(CarpConfig(vips=(vip("2001:db8::1/64", "em0", 1, peer6="2001:db8:0:0::4"),)))  # not canonical


def test_one_rule_per_interface_and_family_even_with_many_vhids():
    config = CarpConfig(vips=tuple(vip(f"10.0.0.{n}/24", "em0", n) for n in range(1, 6)))
    assert len(carp_rules(config)) == 1


def test_pfsync_is_passed_on_the_sync_interface_only_when_configured():
    pfsync = [rule for rule in carp_rules(SEED) if rule.proto == "pfsync"]
    assert [r.text() for r in pfsync] == [
        'pass quick on em2 proto pfsync from any to any keep state (no-sync) label "carp-pkg: pfsync on em2"']
    assert not [rule for rule in carp_rules(IPV6_ONLY_NO_PFSYNC) if rule.proto == "pfsync"]


def test_no_password_or_address_of_a_vip_leaks_into_the_rules():
    text = render_rules(SEED)
    assert "lan-secret" not in text
    assert "192.168.1.1" not in text


def test_empty_config_still_prints_a_loadable_anchor_body_that_empties_it():
    text = render_rules(EMPTY)
    assert all(line.startswith("#") for line in text.splitlines())
    assert rules_json(EMPTY)["rules"] == []


@pytest.mark.parametrize("bad", ["em0 pass all", 'em0"', "em0;", "", "0em", "e" * 16])
def test_interface_names_that_would_inject_pf_syntax_are_refused(bad):
    with pytest.raises(ConfigError):
        carp_rules(CarpConfig(vips=(vip("10.0.0.1/24", bad, 1),)))
    with pytest.raises(ConfigError):
        carp_rules(CarpConfig(pfsync=PfsyncSettings(syncdev=bad)))


def test_anchor_line_is_what_the_main_ruleset_needs():
    assert anchor_line() == 'anchor "carp"'
    assert rules_json(SEED)["anchor_line"] == 'anchor "carp"'
    assert rules_json(SEED)["load_command"] == "pfctl -a carp -f -"


# --- property: any valid config gives grammatical rules, one per (interface, family), pfsync iff configured
device_names = st.from_regex(r"\A[a-z]{2,5}[0-9]{1,3}\Z")
v4 = st.integers(min_value=1, max_value=2 ** 24 - 2).map(lambda n: ipaddress.ip_interface(f"{ipaddress.IPv4Address(0x0A000000 + n)}/8"))
v6 = st.integers(min_value=1, max_value=2 ** 64).map(lambda n: ipaddress.ip_interface(f"{ipaddress.IPv6Address((0x20010DB8 << 96) + n)}/64"))
peers = st.one_of(st.none(), st.integers(min_value=1, max_value=254).map(lambda n: f"192.0.2.{n}"))
peers6 = st.one_of(st.none(), st.integers(min_value=1, max_value=2 ** 16).map(
    lambda n: str(ipaddress.IPv6Address((0x20010DB8FFFF << 80) + n))))
vips = st.lists(st.builds(VirtualIP, address=st.one_of(v4, v6), interface=device_names,
                          vhid=st.integers(min_value=1, max_value=255), peer=peers, peer6=peers6), max_size=8)


@settings(max_examples=150, deadline=None)
@given(vips=vips, syncdev=st.one_of(st.none(), device_names))
def test_any_valid_config_gives_grammatical_complete_rules(vips, syncdev):
    config = CarpConfig(vips=tuple(vips), pfsync=PfsyncSettings(syncdev=syncdev) if syncdev else None)
    text = render_rules(config)
    assert grammar_errors(text) == []
    carp = [r for r in carp_rules(config) if r.proto == "carp"]
    groups = [r for r in carp if r.source == "any" and r.destination in ("224.0.0.18", "ff02::12")]
    expected = {(v.interface, v.family) for v in vips}
    assert {(r.interface, r.family) for r in groups} == expected
    assert len(groups) == len(expected)
    # every (interface, family, peer) a vhid advertises to has exactly its two rules, and nothing else is unicast
    wanted = {(g.interface, family, peer) for g in config.groups()
              for family, peer in (("inet", g.peer), ("inet6", g.peer6))
              if peer is not None and any((a.version == 6) == (family == "inet6") for a in g.addresses)}
    unicast = [r for r in carp if r not in groups]
    assert sorted((r.interface, r.family, r.source) for r in unicast if r.source != "any") == sorted(wanted)
    assert sorted((r.interface, r.family, r.destination) for r in unicast if r.source == "any") == sorted(wanted)
    assert sum(r.proto == "pfsync" for r in carp_rules(config)) == (1 if syncdev else 0)


# --- the subcommand, against the documented command contract (ctx.load_config / ctx.print / ctx.print_json)
def run_command(argv, config=SEED):
    parser = argparse.ArgumentParser()
    rules_command.add_arguments(parser)
    args = parser.parse_args(argv)
    out = io.StringIO()
    loaded = []

    def load_config():
        loaded.append(True)
        return config

    def print_json(data):
        out.write(json.dumps(data, indent=2) + "\n")

    ctx = SimpleNamespace(out=out, load_config=load_config, print=lambda text="": out.write(text + "\n"),
                          print_json=print_json)
    return rules_command.run(args, ctx), out.getvalue(), bool(loaded)


def test_command_prints_the_anchor_body():
    code, out, _ = run_command([])
    assert code == 0
    assert out == render_rules(SEED)


def test_command_json():
    code, out, _ = run_command(["--json"])
    assert code == 0
    assert json.loads(out) == rules_json(SEED)


def test_command_anchor_line_needs_no_config():
    code, out, loaded = run_command(["--anchor-line"])
    assert (code, out, loaded) == (0, 'anchor "carp"\n', False)


def test_command_json_and_anchor_line_are_exclusive():
    with pytest.raises(SystemExit):
        run_command(["--json", "--anchor-line"])


# --- end to end through the real CLI, from a seed-style config.xml (active once `rules` is registered)
SEED_CONFIG_XML = """<?xml version="1.0"?>
<pfsense>
	<interfaces>
		<wan><if>em0</if><ipaddr>203.0.113.2</ipaddr><subnet>24</subnet></wan>
		<lan><if>em1</if><ipaddr>192.168.1.2</ipaddr><subnet>24</subnet></lan>
		<opt1><descr>SYNC</descr><if>em2</if><ipaddr>10.10.10.1</ipaddr><subnet>24</subnet><enable/></opt1>
	</interfaces>
	<installedpackages>
		<carp>
			<config>
				<ipaddress>192.168.1.1</ipaddress><netmask>24</netmask><password>lan-secret</password>
				<vhid>1</vhid><advskew>0</advskew><pfsync>on</pfsync><synciface>opt1</synciface>
				<premption>on</premption>
			</config>
			<config>
				<ipaddress>203.0.113.1</ipaddress><netmask>24</netmask><password></password>
				<vhid>2</vhid><advskew>10</advskew><pfsync>on</pfsync><synciface>opt1</synciface>
				<balancing>on</balancing>
			</config>
		</carp>
	</installedpackages>
</pfsense>
"""


def test_cli_passes_the_unicast_peers_of_a_config_xml(capsys, tmp_path):
    """peers.xml: vhid 10 on wan (em0) has peer 198.51.100.4 and peer6 2001:db8:100::4, validated by the CLI."""
    from carp_pkg import cli
    config_xml = Path(__file__).parent / "fixtures" / "config" / "peers.xml"
    assert cli.main(["--root", str(tmp_path), "--config", str(config_xml), "rules"]) == 0
    text = capsys.readouterr().out
    assert grammar_errors(text) == []
    for line in ('pass quick on em0 inet proto carp from 198.51.100.4 to any no state',
                 'pass quick on em0 inet proto carp from any to 198.51.100.4 no state',
                 'pass quick on em0 inet6 proto carp from 2001:db8:100::4 to any no state',
                 'pass quick on em0 inet6 proto carp from any to 2001:db8:100::4 no state',
                 'pass quick on em1 inet proto carp from any to 224.0.0.18 no state'):
        assert line in text
    assert "from 10." not in text and "to 10." not in text  # lan (em1) has no peer


def test_cli_prints_the_golden_rules_for_a_seed_style_config(tmp_path, capsys):
    from carp_pkg import cli
    from carp_pkg.commands import COMMANDS
    if "rules" not in COMMANDS:
        pytest.skip("carp_pkg.commands.COMMANDS does not register 'rules' yet")
    config_xml = tmp_path / "config.xml"
    config_xml.write_text(SEED_CONFIG_XML)
    assert cli.main(["--root", str(tmp_path), "--config", str(config_xml), "rules"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "rules-seed.txt").read_text()
