import pytest

from carp_pkg.configxml import parse_config_bytes, read_config_xml
from carp_pkg.validate import build_config, check
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


def test_bad_values_fixture_lists_every_problem_with_its_location():
    result = run_cli(["--config", fixture_path("config", "bad-values.xml"), "validate"])
    assert result.code == 3
    for expected in ("config[0].ipaddress: '192.168.1.300' is not an IPv4 or IPv6 address",
                     "config[1].netmask: 33 is outside 1-32",
                     "config[1].vhid: 0 is outside 1-255",
                     "config[1].advskew: 255 is outside 0-254",
                     "config[2].password: is 38 bytes",
                     "config[3].ipaddress: 192.168.1.255 is the broadcast address",
                     "config[4].synciface: 'nosuchif' is not an interface"):
        assert expected in result.err


def test_validate_json_reports_problems_as_data():
    result = run_cli(["--config", fixture_path("config", "bad-values.xml"), "validate", "--json"])
    import json
    data = json.loads(result.out)
    assert result.code == 3 and data["ok"] is False
    assert {"where": "config[1].vhid", "message": "0 is outside 1-255"} in data["problems"]


def test_shared_modern_fixture_password_is_too_long_for_the_kernel():
    problems = [str(p) for p in check(read_config_xml(fixture_path("config", "modern-22-byte-password.xml")))[1]]
    assert problems == [f"config[{i}].password: is 22 bytes; CARP keeps only 19 and would silently cut the rest, "
                        "so peers configured elsewhere would not agree" for i in (0, 1)]


def test_nineteen_bytes_is_the_longest_password():
    assert problems_of("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 19 + "</password>") == []
    assert problems_of("<ipaddress>192.168.1.1</ipaddress><password>" + "x" * 20 + "</password>")


def test_multibyte_password_counts_bytes_not_characters():
    assert problems_of("<ipaddress>192.168.1.1</ipaddress><password>" + "é" * 10 + "</password>")


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
