import pytest

from carp_pkg.configxml import parse_config_bytes, read_config_xml
from carp_pkg.validate import build_config, check, examine
from carp_pkg.errors import ConfigError

from tests.helpers import fixture_path, run_cli

LAN = (b"<interfaces><lan><if>em1</if><ipaddr>192.168.1.2</ipaddr><subnet>24</subnet></lan>"
       b"<wan><if>em0</if><ipaddr>203.0.113.2</ipaddr><subnet>24</subnet></wan>"
       b"<opt1><if>em2</if><ipaddr>10.10.10.1</ipaddr><subnet>24</subnet></opt1></interfaces>")


def config_with(*entries: str, interfaces: bytes = LAN):
    body = "".join(f"<config>{e}</config>" for e in entries).encode()
    return parse_config_bytes(b"<pfsense>" + interfaces + b"<installedpackages><carp>" + body +
                              b"</carp></installedpackages></pfsense>", "test.xml")


def problems_of(*entries: str, **kw):
    return [str(p) for p in check(config_with(*entries, **kw))[1]]


def warnings_of(*entries: str, **kw):
    return [str(w) for w in examine(config_with(*entries, **kw)).warnings]


def test_bad_values_fixture_lists_every_problem_with_its_location():
    result = run_cli(["--config", fixture_path("config", "bad-values.xml"), "validate"])
    assert result.code == 3
    for expected in ("config[0].ipaddress: '192.168.1.300' is not an IPv4 or IPv6 address",
                     "config[1].netmask: 33 is outside 1-32",
                     "config[1].vhid: 0 is outside 1-255",
                     "config[1].advskew: 255 is outside 0-254",
                     "config[3].ipaddress: 192.168.1.255 is the broadcast address",
                     "config[4].synciface: 'nosuchif' is not an interface"):
        assert expected in result.err


def test_validate_json_reports_problems_as_data():
    result = run_cli(["--config", fixture_path("config", "bad-values.xml"), "validate", "--json"])
    import json
    data = json.loads(result.out)
    assert result.code == 3 and data["ok"] is False
    assert {"where": "config[1].vhid", "message": "0 is outside 1-255"} in data["problems"]
    # a long password is accepted (a warning), not one of the problems
    assert not any(p["where"] == "config[2].password" for p in data["problems"])
    assert any(w["where"] == "config[2].password" and "is 38 bytes" in w["message"] for w in data["warnings"])


# --- issue 11.2: passwords longer than 19 bytes work on FreeBSD: accepted, cut to the 19 bytes that count
def test_shared_modern_fixture_22_byte_password_is_accepted_and_keyed_on_its_first_19_bytes():
    result = examine(read_config_xml(fixture_path("config", "modern-22-byte-password.xml")))
    assert result.problems == ()
    assert {g.vhid: g.password for g in result.config.groups()} == {10: 'wan pass "quoted" $', 20: "lan-secret"}
    cut = [str(w) for w in result.warnings if "bytes" in w.message]
    assert cut == [f"config[{i}].password: is 22 bytes; only the first 19 count (characters 1-19): ifconfig strlcpy()s "
                   "the key into CARP_KEY_LEN 20 and the kernel HMACs that buffer, so every FreeBSD host ignores the "
                   "last 3 characters; carp-pkg gives every backend (ucarp too) exactly those 19 bytes"
                   for i in (0, 1)]


def test_nineteen_bytes_is_the_longest_password_without_a_warning():
    assert warnings_of("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 19 + "</password>") == []
    assert problems_of("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 20 + "</password>") == []
    [warning] = warnings_of("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 20 + "</password>")
    assert warning.startswith("config[0].password: is 20 bytes; only the first 19 count (characters 1-19)")
    assert "x" * 19 not in warning  # the password is never shown, not even the part that counts
    config = build_config(config_with("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 19 + "YZ</password>"))
    assert config.vips[0].password == "x" * 19 and config.warnings and "is 21 bytes" in str(config.warnings[0])


def test_multibyte_password_counts_bytes_and_keeps_whole_characters():
    # 9 x 'é' (18 bytes) + 'ab': the 19 bytes end after 'a'
    config = build_config(config_with("<ipaddress>192.168.1.1</ipaddress><password>" + "é" * 9 + "ab</password>"))
    assert config.vips[0].password.encode("utf-8") == ("é" * 9 + "a").encode("utf-8")


def test_a_cut_inside_a_character_is_refused_with_the_reason():
    # 10 x 'é' is 20 bytes: byte 19 is the first half of the tenth character
    [problem] = problems_of("<ipaddress>192.168.1.1</ipaddress><password>" + "é" * 10 + "</password>")
    assert problem.startswith("config[0].password: is 20 bytes, and the 19 bytes every FreeBSD host keeps")
    assert "end inside character 10" in problem and "é" not in problem


# --- issue 11.6: pfSense/OPNsense rewrite passwords with spaces, quotes and backslashes
@pytest.mark.parametrize("password, kinds", [
    ("two words", "a space"), ("it's", "a single quote"), ('say "x"', "a space and a double quote"),
    ("back\\slash", "a backslash"),
])
def test_passwords_a_pfsense_peer_would_rewrite_are_accepted_with_a_warning(password, kinds):
    entry = f"<ipaddress>192.168.1.1</ipaddress><password>{password}</password>"
    assert problems_of(entry) == []
    [warning] = warnings_of(entry)
    assert warning.startswith(f"config[0].password: contains {kinds}: pfSense and OPNsense strip spaces and "
                              "addslashes()")
    assert "both hosts become MASTER" in warning and password not in warning


def test_a_plain_password_has_no_rewriting_warning():
    assert warnings_of("<ipaddress>192.168.1.1</ipaddress><password>plain-Secret.1</password>") == []


# --- issue 11.1: 241-254 advertise 240
@pytest.mark.parametrize("advskew", [241, 250, 254])
def test_advskew_above_240_is_valid_but_warned_that_it_advertises_240(advskew):
    entry = f"<ipaddress>192.168.1.1</ipaddress><advskew>{advskew}</advskew>"
    assert problems_of(entry) == []
    [warning] = warnings_of(entry)
    assert warning.startswith(f"config[0].advskew: {advskew} advertises 240 on the wire, like every advskew from 240 "
                              "to 254 (ip_carp.c caps it at CARP_MAXSKEW 240)")


@pytest.mark.parametrize("advskew", [0, 100, 239])
def test_advskew_below_240_has_no_warning(advskew):
    assert warnings_of(f"<ipaddress>192.168.1.1</ipaddress><advskew>{advskew}</advskew>") == []


def test_advskew_240_already_ties_with_maintenance_mode_and_warns():
    """DEMOTE_ADVSKEW caps at CARP_MAXSKEW 240: a backup at 240 advertises what a master at 254 does."""
    assert [w.split(":")[0] for w in warnings_of("<ipaddress>192.168.1.1</ipaddress><advskew>240</advskew>")] == \
        ["config[0].advskew"]


def test_a_link_local_peer6_is_accepted_without_a_zone():
    """ip_carp.c carp_send_ad_locked scopes a link-local destination to the vhid's own interface."""
    config, problems = check(config_with("<ipaddress>2001:db8::1</ipaddress><netmask>64</netmask>"
                                         "<interface>lan</interface><peer6>fe80::3</peer6>"))
    assert problems == [] and config.vips[0].peer6 == "fe80::3"


def test_warnings_do_not_fail_validate_and_are_shown_on_every_face(tmp_path):
    import json
    path = tmp_path / "config.xml"
    path.write_bytes(b"<pfsense>" + LAN + b"<installedpackages><carp><config><ipaddress>192.168.1.1</ipaddress>"
                     b"<advskew>250</advskew><password>twenty-byte-password</password></config></carp>"
                     b"</installedpackages></pfsense>")
    text = run_cli(["--config", str(path), "validate", "--backend", "freebsd"])
    assert text.code == 0 and "OK (1 VIPs in 1 vhids" in text.out
    assert "carp-pkg: warning: config[0].advskew: 250 advertises 240" in text.err
    assert "carp-pkg: warning: config[0].password: is 20 bytes" in text.err
    data = json.loads(run_cli(["--config", str(path), "validate", "--backend", "freebsd", "--json"]).out)
    assert data["ok"] is True and data["problems"] == []
    assert [w["where"] for w in data["warnings"]] == ["config[0].advskew", "config[0].password"]
    rendered = run_cli(["--config", str(path), "render", "--backend", "freebsd", "--format", "json"])
    assert rendered.code == 0
    assert any(w.startswith("config[0].advskew: 250 advertises 240") for w in json.loads(rendered.out)["warnings"])
    assert "carp-pkg: warning: config[0].password: is 20 bytes" in rendered.err
    script = run_cli(["--config", str(path), "render", "--backend", "freebsd", "--format", "script",
                      "--show-secrets"]).out
    assert "pass twenty-byte-passwor\n" in script  # exactly the 19 bytes that count
    assert "twenty-byte-password" not in script


# --- issue 11.4: unicast CARP peers
PEERED = "<interface>lan</interface><ipaddress>192.168.1.1</ipaddress><vhid>5</vhid>"


def test_peer_and_peer6_are_read_canonical():
    v6 = PEERED.replace("192.168.1.1", "2001:db8::1")
    config = build_config(config_with(PEERED + "<peer>192.168.1.3</peer><peer6>2001:DB8::0:3</peer6>",
                                      v6 + "<peer>192.168.1.3</peer><peer6>2001:db8::3</peer6>"))
    [group] = config.groups()
    assert (group.peer, group.peer6) == ("192.168.1.3", "2001:db8::3")
    assert config.warnings == ()


@pytest.mark.parametrize("field, value, message", [
    ("peer", "2001:db8::3", "'2001:db8::3' is IPv6, not IPv4; an IPv6 peer goes in <peer6>"),
    ("peer6", "192.168.1.3", "'192.168.1.3' is IPv4, not IPv6; an IPv4 peer goes in <peer>"),
    ("peer", "224.0.0.18", "224.0.0.18 is multicast; leave peer empty for the multicast default (224.0.0.18)"),
    ("peer", "peer.example", "'peer.example' is not an IPv4 address"),
    ("peer", "192.168.001.3", "leading zeros"),
    ("peer", "255.255.255.255", "cannot be a peer"),
    ("peer", "0.0.0.0", "cannot be a peer"),
    ("peer6", "fe80::3%em1", "has a zone id"),
    ("peer6", "ff02::12", "is multicast"),
])
def test_peer_values_are_checked(field, value, message):
    [problem] = problems_of(PEERED + f"<{field}>{value}</{field}>")
    assert problem.startswith(f"config[0].{field}: ") and message in problem


def test_an_empty_peer_means_multicast():
    config = build_config(config_with(PEERED + "<peer></peer><peer6/>"))
    assert (config.vips[0].peer, config.vips[0].peer6) == (None, None)


def test_entries_sharing_a_vhid_must_name_the_same_peer():
    problems = problems_of(PEERED + "<peer>192.168.1.3</peer>",
                           PEERED.replace("192.168.1.1", "192.168.1.4") + "<peer>192.168.1.9</peer>")
    assert problems == ["config[1].peer: vhid 5 on em1 is shared with config[0]; peer must match "
                        "(192.168.1.9 vs 192.168.1.3)"]


def test_a_peer_of_a_family_the_vhid_does_not_use_is_warned():
    assert warnings_of(PEERED + "<peer6>2001:db8::3</peer6>") == [
        "config[0].peer6: has no effect: vhid 5 on em1 has no IPv6 address, so it sends no IPv6 advertisements"]


# --- issue 11.3: pfsync syncpeer and defer
SYNC = "<ipaddress>192.168.1.1</ipaddress><pfsync>on</pfsync><synciface>opt1</synciface>"


def test_syncpeer_and_defer_reach_the_pfsync_settings():
    config = build_config(config_with(SYNC + "<syncpeer>10.10.10.2</syncpeer><defer>on</defer>"))
    assert (config.pfsync.syncdev, config.pfsync.syncpeer, config.pfsync.defer) == ("em2", "10.10.10.2", True)
    plain = build_config(config_with(SYNC))
    assert (plain.pfsync.syncpeer, plain.pfsync.defer) == (None, False)


def test_syncpeer_and_defer_given_once_count_for_every_pfsync_entry():
    config = build_config(config_with(SYNC + "<syncpeer>10.10.10.2</syncpeer>",
                                      SYNC.replace("192.168.1.1", "192.168.1.3") + "<vhid>2</vhid><defer>on</defer>"))
    assert (config.pfsync.syncpeer, config.pfsync.defer) == ("10.10.10.2", True)


@pytest.mark.parametrize("extra, message", [
    ("<syncpeer>10.10.10.256</syncpeer>", "config[0].syncpeer: '10.10.10.256' is not an IPv4 address"),
    ("<syncpeer>2001:db8::2</syncpeer>", "config[0].syncpeer: '2001:db8::2' is IPv6, not IPv4"),
    ("<syncpeer>224.0.0.240</syncpeer>", "config[0].syncpeer: 224.0.0.240 is multicast; leave syncpeer empty for the "
                                         "multicast default (224.0.0.240)"),
    ("<defer>later</defer>", "config[0].defer: 'later' is not a checkbox value"),
])
def test_syncpeer_and_defer_values_are_checked(extra, message):
    [problem] = problems_of(SYNC + extra)
    assert problem.startswith(message)


def test_two_entries_must_not_disagree_on_syncpeer_or_defer():
    problems = problems_of(SYNC + "<syncpeer>10.10.10.2</syncpeer><defer>on</defer>",
                           SYNC.replace("192.168.1.1", "192.168.1.3") + "<vhid>2</vhid><syncpeer>10.10.10.3</syncpeer>"
                                                                         "<defer>off</defer>")
    assert problems == ["config[1].syncpeer: pfsync has one sync peer: config[0] uses 10.10.10.2, this uses 10.10.10.3",
                        "config[1].defer: pfsync's defer is one setting: config[0] has it on, this has it off"]


def test_syncpeer_without_pfsync_is_warned_as_having_no_effect():
    assert warnings_of("<ipaddress>192.168.1.1</ipaddress><syncpeer>10.10.10.2</syncpeer>") == [
        "config[0].syncpeer: has no effect: pfsync is not on in this entry (pfsync's settings are read from the "
        "entries with pfsync on)"]


def test_interface_derived_from_the_subnet_that_contains_the_vip():
    config = build_config(config_with("<ipaddress>10.10.10.5</ipaddress>"))
    assert config.vips[0].interface == "em2" and config.vips[0].friendly_interface == "opt1"


def test_no_matching_subnet_says_how_to_fix_it():
    [problem] = problems_of("<ipaddress>172.31.0.1</ipaddress>")
    assert "add <interface>NAME</interface>" in problem and "lan (em1)" in problem


def test_interface_can_be_friendly_or_real_name():
    by_friendly = build_config(config_with("<interface>lan</interface><ipaddress>192.168.1.1</ipaddress>"))
    by_device = build_config(config_with("<interface>em1</interface><ipaddress>192.168.1.1</ipaddress>"))
    assert by_friendly.vips[0].interface == by_device.vips[0].interface == "em1"


@pytest.mark.parametrize("address, fragment", [
    ("192.168.001.001", "leading zeros"),
    ("fe80::1%em0", "zone id"),
    ("::ffff:192.168.1.1", "write 192.168.1.1 instead"),
    ("224.0.0.18", "cannot be a virtual IP"),
    ("192.168.1.0", "network address"),
    ("", "not an IPv4 or IPv6 address"),
])
def test_address_rules(address, fragment):
    [problem] = problems_of(f"<interface>lan</interface><ipaddress>{address}</ipaddress>")
    assert problem.startswith("config[0].ipaddress") and fragment in problem


def test_ipv6_prefix_range_is_1_to_128():
    ok = "<interface>lan</interface><ipaddress>2001:db8::5</ipaddress><netmask>{}</netmask>"
    assert problems_of(ok.format(128)) == []
    assert problems_of(ok.format(129)) == ["config[0].netmask: 129 is outside 1-128 for IPv6"]


@pytest.mark.parametrize("field, value, message", [
    ("vhid", "256", "256 is outside 1-255"),
    ("advskew", "-1", "'-1' is not a whole number"),
    ("advbase", "0", "0 is outside 1-255"),
    ("advbase", "", "is empty"),
    ("preempt", "maybe", "'maybe' is not a checkbox value"),
])
def test_numeric_and_flag_fields(field, value, message):
    [problem] = problems_of(f"<ipaddress>192.168.1.1</ipaddress><{field}>{value}</{field}>")
    assert problem.startswith(f"config[0].{field}: {message}")


@pytest.mark.parametrize("word", ["on", "yes", "true", "ON", "1"])
def test_checkbox_words_that_mean_on(word):
    config = build_config(config_with(f"<ipaddress>192.168.1.1</ipaddress><premption>{word}</premption>"))
    assert config.preempt


def test_vips_sharing_a_vhid_must_agree():
    problems = problems_of("<ipaddress>192.168.1.1</ipaddress><vhid>5</vhid><advskew>0</advskew><password>a</password>",
                           "<ipaddress>192.168.1.3</ipaddress><vhid>5</vhid><advskew>9</advskew><password>b</password>")
    assert any(p.startswith("config[1].advskew") and "0" in p for p in problems)
    assert any(p.startswith("config[1].password") and "differs" in p for p in problems)
    assert not any("a" == p or "'a'" in p for p in problems)  # the password itself is never echoed


def test_one_pfsync_device():
    problems = problems_of("<ipaddress>192.168.1.1</ipaddress><pfsync>on</pfsync><synciface>opt1</synciface>",
                           "<ipaddress>192.168.1.3</ipaddress><vhid>2</vhid><pfsync>on</pfsync><synciface>wan</synciface>")
    assert problems == ["config[1].synciface: pfsync has one sync device: config[0] uses em2, this uses em0"]


def test_duplicate_address_is_refused_unless_balancing():
    twice = ["<ipaddress>192.168.1.1</ipaddress><vhid>1</vhid>{}", "<ipaddress>192.168.1.1</ipaddress><vhid>2</vhid>{}"]
    assert problems_of(*(t.format("") for t in twice))
    assert problems_of(*(t.format("<balancing>on</balancing>") for t in twice)) == []


def test_build_config_raises_with_every_problem():
    with pytest.raises(ConfigError) as caught:
        build_config(config_with("<ipaddress>x</ipaddress><vhid>0</vhid>"))
    assert len(caught.value.details) == 2 and caught.value.exit_code == 3


def test_entry_json_validates_one_gui_entry(root, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO('{"ipaddress": "192.168.1.7", "vhid": "0", "premption": true}'))
    result = run_cli(["--root", str(root), "validate", "--entry-json", "-", "--json"])
    import json
    assert result.code == 3
    assert json.loads(result.out)["problems"] == [{"where": "config[0].vhid", "message": "0 is outside 1-255"}]


@pytest.mark.parametrize("posted, where, message", [
    ('{"ipaddress": "192.168.1.7", "vhid": "7", "vhid": "0"}', "--entry-json -",
     "the field 'vhid' is given twice; give each field once"),
    ('[]', "--entry-json -", "expected a JSON object of field names to values"),
    ('{"ipaddress": "192.168.1.7", "vhid": 1e3}', "config[0].vhid", "'1000.0' is not a whole number"),
])
def test_entry_json_says_what_is_wrong_with_the_posted_text_once(root, monkeypatch, posted, where, message):
    import io
    import json
    monkeypatch.setattr("sys.stdin", io.StringIO(posted))
    result = run_cli(["--root", str(root), "validate", "--entry-json", "-", "--json", "--backend", "freebsd"])
    assert result.code == 3
    assert {"where": where, "message": message} in json.loads(result.out)["problems"], result.out


@pytest.mark.parametrize("backend, message", [
    ("freebsd-legacy", "config[0].peer: vhid 5 on em1 asks for a unicast peer, but FreeBSD 5.4-9 (the freebsd-legacy "
                       "backend) has no unicast CARP"),
    ("ucarp", "config[0].peer: vhid 5 on em1 asks for a unicast peer; ucarp has no unicast CARP"),
])
def test_unicast_peers_are_refused_by_the_backends_that_have_none(backend, message, tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"<pfsense>" + LAN + b"<installedpackages><carp><config>" + (PEERED + "<password>p</password>"
                     "<peer>192.168.1.3</peer>").encode() + b"</config></carp></installedpackages></pfsense>")
    result = run_cli(["--config", str(path), "validate", "--backend", backend])
    assert result.code == 3 and message in result.err
    assert run_cli(["--config", str(path), "validate", "--backend", "freebsd"]).code == 0


def test_a_long_password_gives_ucarp_the_same_19_bytes(tmp_path):
    from carp_pkg.backends.ucarp import Ucarp
    from carp_pkg.running import EMPTY
    config = build_config(config_with("<interface>lan</interface><ipaddress>192.168.1.1</ipaddress>"
                                      "<password>" + "k" * 19 + "-ignored</password>"))
    [password_file] = [f for f in Ucarp(state_dir=str(tmp_path)).plan(config, EMPTY).files if f.secret]
    assert password_file.content == "k" * 19 + "\n"


# --- issue 14: protocol vrrp, vrrpprio, vrrpinterval
VRRP = "<interface>lan</interface><ipaddress>192.168.1.1</ipaddress><vhid>5</vhid><protocol>vrrp</protocol>"


def test_protocol_defaults_to_carp_and_vrrp_reads_its_priority_and_interval():
    plain = build_config(config_with("<ipaddress>192.168.1.1</ipaddress>"))
    assert (plain.vips[0].protocol, plain.vips[0].vrrpprio, plain.vips[0].vrrpinterval) == ("carp", 100, 100)
    [group] = build_config(config_with(VRRP + "<vrrpprio>200</vrrpprio><vrrpinterval>2</vrrpinterval>")).groups()
    assert (group.protocol, group.vrrp, group.vrrpprio, group.vrrpinterval) == ("vrrp", True, 200, 2)
    assert build_config(config_with(VRRP.replace("vrrp<", "VRRP<"))).vips[0].protocol == "vrrp"
    assert build_config(config_with(VRRP.replace("vrrp<", "<"))).vips[0].protocol == "carp"  # empty: the default


@pytest.mark.parametrize("extra, problem", [
    ("<vrrpprio>0</vrrpprio>", "config[0].vrrpprio: 0 is outside 1-254"),
    ("<vrrpprio>255</vrrpprio>", "config[0].vrrpprio: 255 is outside 1-254"),
    ("<vrrpinterval>0</vrrpinterval>", "config[0].vrrpinterval: 0 is outside 1-4095"),
    ("<vrrpinterval>4096</vrrpinterval>", "config[0].vrrpinterval: 4096 is outside 1-4095"),
    ("<vrrpinterval>0.5</vrrpinterval>", "config[0].vrrpinterval: '0.5' is not a whole number"),
    ("<password>secret</password>", "config[0].password: VRRPv3 has no authentication: remove the password"),
])
def test_vrrp_values_are_checked_with_their_place(extra, problem):
    [found] = problems_of(VRRP + extra)
    assert found.startswith(problem)


def test_an_unknown_protocol_is_named():
    assert problems_of(VRRP.replace("vrrp<", "vrrp2<")) == [
        "config[0].protocol: 'vrrp2' is not a protocol: give carp (the default) or vrrp (VRRPv3)"]


def test_fields_of_the_other_protocol_are_warned_only_when_they_differ_from_the_gui_default():
    assert warnings_of(VRRP + "<advskew>0</advskew><advbase>1</advbase>") == []  # what the GUI stores
    assert warnings_of(VRRP + "<advskew>100</advskew>") == [
        "config[0].advskew: has no effect: a VRRP entry (protocol vrrp) has no advskew: its priority and interval "
        "are vrrpprio and vrrpinterval"]
    assert warnings_of(PEERED + "<vrrpprio>100</vrrpprio>") == []
    assert warnings_of(PEERED + "<vrrpinterval>5</vrrpinterval>") == [
        "config[0].vrrpinterval: has no effect: a CARP entry (protocol carp) has no vrrpinterval: it takes effect "
        "with protocol vrrp"]
    assert warnings_of(VRRP + "<advskew>250</advskew>")[0].startswith("config[0].advskew: has no effect")


def test_entries_sharing_a_vhid_must_agree_on_protocol_priority_and_interval():
    second = VRRP.replace("192.168.1.1", "192.168.1.4")
    assert problems_of(VRRP, second.replace("<protocol>vrrp</protocol>", "")) == [
        "config[1].protocol: vhid 5 on em1 is shared with config[0]; protocol must match (carp vs vrrp)"]
    assert problems_of(VRRP + "<vrrpprio>200</vrrpprio>", second + "<vrrpinterval>2</vrrpinterval>") == [
        "config[1].vrrpprio: vhid 5 on em1 is shared with config[0]; vrrpprio must match (100 vs 200)",
        "config[1].vrrpinterval: vhid 5 on em1 is shared with config[0]; vrrpinterval must match (2 vs 100)"]


def test_maintenance_puts_a_vrrp_vhid_at_the_lowest_priority():
    config = build_config(config_with(VRRP + "<vrrpprio>200</vrrpprio>",
                                      PEERED.replace("<vhid>5", "<vhid>6").replace("192.168.1.1", "192.168.1.6")))
    vrrp, carp = config.in_maintenance().groups()
    assert (vrrp.vrrpprio, carp.advskew, carp.vrrpprio) == (1, 254, 100)


@pytest.mark.parametrize("backend, message", [
    ("ucarp", "config[0].protocol: vhid 5 on em1 is VRRPv3 (protocol vrrp); ucarp speaks CARP only: use --backend "
              "keepalived on Linux (or the freebsd backend on FreeBSD 15), or protocol carp"),
    ("freebsd-legacy", "config[0].protocol: vhid 5 on em1 is VRRPv3 (protocol vrrp), but FreeBSD 5.4-9 (the "
                       "freebsd-legacy backend) speaks CARP only: VRRPv3 needs FreeBSD 15 (the freebsd backend, "
                       "`carpver 3`) or Linux (the keepalived backend)"),
])
def test_vrrp_is_refused_by_the_backends_that_cannot_and_they_name_one_that_can(backend, message, tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"<pfsense>" + LAN + b"<installedpackages><carp><config>" + VRRP.encode() +
                     b"</config></carp></installedpackages></pfsense>")
    result = run_cli(["--config", str(path), "validate", "--backend", backend])
    assert result.code == 3 and message in result.err
    assert run_cli(["--config", str(path), "validate", "--backend", "keepalived"]).code == 0
    assert run_cli(["--config", str(path), "validate", "--backend", "freebsd"]).code == 0
