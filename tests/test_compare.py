"""compare: lint two cluster members' config.xml, one rule at a time, from a consistent pair."""

import ipaddress
import json

import pytest

from carp_pkg.compare import compare
from carp_pkg.model import CarpConfig, VirtualIP

from tests.helpers import fixture_path, read_fixture, run_cli

FW1 = read_fixture("compare", "fw1.xml")
FW2 = read_fixture("compare", "fw2.xml")
WAN_VIP_BLOCK = """\
			<config>
				<interface>wan</interface>
				<ipaddress>198.51.100.1</ipaddress>"""


def pair(tmp_path, fw1=FW1, fw2=FW2):
    (tmp_path / "fw1.xml").write_text(fw1)
    (tmp_path / "fw2.xml").write_text(fw2)
    return str(tmp_path / "fw1.xml"), str(tmp_path / "fw2.xml")


def run_compare(tmp_path, fw1=FW1, fw2=FW2, *extra):
    return run_cli(["compare", *pair(tmp_path, fw1, fw2), *extra])


def lines_of(out, level):
    return [line for line in out.splitlines() if line.startswith(level + ":")]


def changed(text, old, new, count=1):
    assert text.count(old) >= count, f"fixture no longer contains {old!r}"
    return text.replace(old, new, count)


def test_a_consistent_pair_on_different_nics_passes_and_names_the_preferred_master(tmp_path):
    result = run_cli(["compare", fixture_path("compare", "fw1.xml"), fixture_path("compare", "fw2.xml")])
    assert result.code == 0, result.out + result.err
    assert lines_of(result.out, "error") == [] and lines_of(result.out, "warning") == []
    assert "info: wan vhid 10: fw1.xml is the preferred master (advskew 0 < 100 on fw2.xml)" in result.out
    assert "info: lan vhid 20: fw1.xml is the preferred master" in result.out
    assert result.out.rstrip().endswith("fw1.xml vs fw2.xml: 0 errors, 0 warnings")


def test_a_vhid_on_one_side_only_is_an_error(tmp_path):
    fw2 = changed(FW2, "<vhid>20</vhid>", "<vhid>21</vhid>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 1
    errors = lines_of(result.out, "error")
    assert any(line.startswith("error: lan vhid 20: only in fw1.xml") for line in errors)
    assert any(line.startswith("error: lan vhid 21: only in fw2.xml") for line in errors)


def test_the_same_vhid_under_another_interface_name_gets_a_hint(tmp_path):
    fw2 = changed(FW2, "<interface>lan</interface>", "<interface>opt1</interface>").replace(
        "<opt1><descr>SYNC</descr><if>igb2</if><ipaddr>172.16.0.2</ipaddr><subnet>30</subnet></opt1>",
        "<opt1><descr>SYNC</descr><if>igb2</if><ipaddr>172.16.0.2</ipaddr><subnet>30</subnet></opt1>"
        "<opt2><if>igb3</if></opt2>").replace("<synciface>opt1</synciface>", "<synciface>opt2</synciface>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 1
    assert "fw2.xml uses vhid 20 on opt1: is the interface name different?" in result.out


def test_different_vip_sets_for_one_vhid_are_an_error_naming_the_addresses(tmp_path):
    fw2 = changed(FW2, "<ipaddress>2001:db8:100::1</ipaddress>", "<ipaddress>2001:db8:100::7</ipaddress>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 1
    [line] = [l for l in lines_of(result.out, "error") if "VIP sets differ" in l]
    assert line.startswith("error: wan vhid 10:")
    assert "only in fw1.xml: 2001:db8:100::1; only in fw2.xml: 2001:db8:100::7" in line
    assert "both become MASTER" in line


def test_different_passwords_are_an_error_and_neither_password_is_shown(tmp_path):
    fw2 = changed(FW2, "<password>lan-Secret-2</password>", "<password>other-Pass-9</password>")
    human = run_compare(tmp_path, FW1, fw2)
    as_json = run_compare(tmp_path, FW1, fw2, "--json")
    assert human.code == 1 and as_json.code == 1
    assert "error: lan vhid 20: passwords differ (not shown)" in human.out
    for output in (human.out + human.err, as_json.out + as_json.err):
        assert "lan-Secret-2" not in output and "other-Pass-9" not in output and "wan-Secret-1" not in output


def test_a_different_advbase_is_an_error(tmp_path):
    fw2 = changed(FW2, "<advbase>1</advbase>", "<advbase>3</advbase>", 3).replace("<advbase>1</advbase>", "<advbase>3</advbase>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 1
    assert "error: wan vhid 10: advbase differs (fw1.xml 1, fw2.xml 3)" in result.out
    assert "error: lan vhid 20: advbase differs" in result.out


def test_equal_advskew_is_a_tie_warning_but_not_a_failure(tmp_path):
    fw2 = FW2.replace("<advskew>100</advskew>", "<advskew>0</advskew>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 0
    warnings = lines_of(result.out, "warning")
    assert len(warnings) == 2 and all("advskew 0 on both: neither host is preferred" in w for w in warnings)
    assert "0 errors, 2 warnings" in result.out


def test_preempt_on_one_side_only_is_a_warning(tmp_path):
    fw2 = FW2.replace("<preempt>on</preempt>", "")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 0
    assert lines_of(result.out, "warning") == [
        "warning: preemption is on in fw1.xml only: fw1.xml takes the VIPs back when it has the lower advskew, "
        "fw2.xml never does (net.inet.carp.preempt is host-wide)"]


def test_pfsync_on_one_side_only_is_a_warning(tmp_path):
    fw1 = changed(FW1, "<pfsync>on</pfsync>", "")
    result = run_compare(tmp_path, fw1, FW2)
    assert result.code == 0
    [line] = lines_of(result.out, "warning")
    assert line.startswith("warning: pfsync is on in fw2.xml only: fw1.xml neither sends nor receives pf states")


def with_entry(text, interface, address, vhid, password="x", advskew=0):
    entry = (f"\t\t\t<config><interface>{interface}</interface><ipaddress>{address}</ipaddress><netmask>24</netmask>"
             f"<vhid>{vhid}</vhid><advskew>{advskew}</advskew><password>{password}</password></config>\n")
    return changed(text, "\t\t</carp>", entry + "\t\t</carp>")


def test_one_vhid_number_on_different_segments_is_not_a_collision(tmp_path):
    fw1 = with_entry(FW1, "lan", "10.0.0.50", 10, advskew=0)
    fw2 = with_entry(FW2, "lan", "10.0.0.50", 10, advskew=100)
    result = run_compare(tmp_path, fw1, fw2)
    assert result.code == 0, result.out
    assert "collision" not in result.out and "one segment" not in result.out


def test_a_vhid_reused_for_other_vips_on_the_same_segment_is_a_collision(tmp_path):
    # fw1 gets a second leg (opt2) into the LAN subnet and reuses vhid 20 there for another VIP
    fw1 = changed(FW1, "</opt1>", "</opt1><opt2><if>em3</if><ipaddr>10.0.0.4</ipaddr><subnet>24</subnet></opt2>")
    fw1 = with_entry(fw1, "opt2", "10.0.0.60", 20)
    result = run_compare(tmp_path, fw1, FW2)
    assert result.code == 1
    [line] = [l for l in lines_of(result.out, "error") if "one segment" in l]
    assert line.startswith("error: vhid 20: used on one segment for different VIPs")
    assert "10.0.0.1" in line and "10.0.0.60" in line and "00:00:5e:00:01:14" in line


def test_a_vip_prefix_that_differs_is_a_warning(tmp_path):
    fw2 = changed(FW2, "<ipaddress>10.0.0.1</ipaddress>\n\t\t\t\t<netmask>24</netmask>",
                  "<ipaddress>10.0.0.1</ipaddress>\n\t\t\t\t<netmask>25</netmask>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 0
    assert "warning: lan vhid 20: 10.0.0.1 is /24 on fw1.xml but /25 on fw2.xml" in result.out


def test_json_lists_findings_with_level_and_rule(tmp_path):
    fw2 = changed(FW2, "<vhid>20</vhid>", "<vhid>21</vhid>").replace("<preempt>on</preempt>", "")
    result = run_compare(tmp_path, FW1, fw2, "--json")
    data = json.loads(result.out)
    assert result.code == 1 and data["ok"] is False
    assert data["errors"] == 2 and data["warnings"] == 1
    assert {(f["level"], f["rule"]) for f in data["findings"]} >= {("error", "one-side"), ("warning", "preempt")}
    assert [f["level"] for f in data["findings"]] == sorted((f["level"] for f in data["findings"]),
                                                            key=["error", "warning", "info"].index)


def test_an_invalid_file_is_a_clear_config_error(tmp_path):
    fw2 = changed(FW2, "<vhid>20</vhid>", "<vhid>0</vhid>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 3
    assert "fw2.xml" in result.err and "config[2].vhid: 0 is outside 1-255" in result.err
    assert result.out == ""


def test_same_file_names_in_different_directories_are_told_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "config.xml").write_text(FW1)
    (tmp_path / "b" / "config.xml").write_text(FW2.replace("<preempt>on</preempt>", ""))
    result = run_cli(["compare", str(tmp_path / "a" / "config.xml"), str(tmp_path / "b" / "config.xml")])
    assert f"preemption is on in {tmp_path / 'a' / 'config.xml'} only" in result.out


def vip(address, interface, vhid, advskew=0, friendly=""):
    return VirtualIP(address=ipaddress.ip_interface(address), interface=interface, vhid=vhid, advskew=advskew,
                     password="p", friendly_interface=friendly)


def test_without_friendly_names_vhids_match_by_number_across_device_names():
    a = CarpConfig(vips=(vip("192.0.2.1/24", "em0", 1), vip("192.0.2.2/24", "em0", 2, advskew=0)))
    b = CarpConfig(vips=(vip("192.0.2.1/24", "vtnet0", 1, advskew=50), vip("192.0.2.2/24", "vtnet0", 2, advskew=50)))
    findings = compare(a, b)
    assert [f.level for f in findings] == ["info", "info"]
    assert findings[0].where == "em0/vtnet0 vhid 1"


def test_a_vhid_on_two_interfaces_of_one_host_is_matched_per_device_without_names():
    a = CarpConfig(vips=(vip("192.0.2.1/24", "em0", 1), vip("198.51.100.1/24", "em1", 1)))
    b = CarpConfig(vips=(vip("192.0.2.1/24", "em0", 1, 10), vip("198.51.100.1/24", "em1", 1, 10)))
    assert [f.rule for f in compare(a, b)] == ["preferred", "preferred"]


@pytest.mark.parametrize("fw2_change, rule", [
    (("<password>wan-Secret-1</password>", "<password>changed</password>", 2), "password"),
    (("<ipaddress>198.51.100.1</ipaddress>", "<ipaddress>198.51.100.9</ipaddress>", 1), "vips"),
])
def test_each_error_rule_fails_the_pair_on_its_own(tmp_path, fw2_change, rule):
    old, new, count = fw2_change
    fw2 = FW2.replace(old, new, count)
    result = run_compare(tmp_path, FW1, fw2, "--json")
    data = json.loads(result.out)
    assert result.code == 1
    assert [f["rule"] for f in data["findings"] if f["level"] == "error"] == [rule]


# --- issue 11.1: the wire carries at most advskew 240 ------------------------------------------------------------
def test_245_and_250_both_advertise_240_and_are_a_tie_not_a_preference(tmp_path):
    fw1 = FW1.replace("<advskew>0</advskew>", "<advskew>245</advskew>")
    fw2 = FW2.replace("<advskew>100</advskew>", "<advskew>250</advskew>")
    result = run_compare(tmp_path, fw1, fw2)
    assert result.code == 0
    ties = [line for line in lines_of(result.out, "warning") if "neither host is preferred" in line]
    assert len(ties) == 2 and all("advskew 245 (fw1.xml) and 250 (fw2.xml) both advertise 240" in t for t in ties)
    assert "preferred master" not in result.out


def test_a_backup_at_240_or_more_cannot_take_over_from_maintenance_mode(tmp_path):
    fw2 = FW2.replace("<advskew>100</advskew>", "<advskew>240</advskew>")
    result = run_compare(tmp_path, FW1, fw2)
    assert result.code == 0
    [line] = [line for line in lines_of(result.out, "warning") if line.startswith("warning: wan vhid 10")]
    assert line == ("warning: wan vhid 10: fw2.xml backs up at advskew 240, advertised as 240: maintenance mode on "
                    "fw1.xml (254, also advertised as 240) ties with it and cannot hand the VIPs over reliably; give "
                    "fw2.xml 239 or less")
    assert "info: wan vhid 10: fw1.xml is the preferred master (advskew 0 < 240 on fw2.xml)" in result.out


def test_a_backup_at_239_hands_over_cleanly(tmp_path):
    fw2 = FW2.replace("<advskew>100</advskew>", "<advskew>239</advskew>")
    result = run_compare(tmp_path, FW1, fw2)
    assert lines_of(result.out, "warning") == []


# --- issue 11.6: passwords a pfSense/OPNsense member would rewrite ---------------------------------------------------
def test_a_password_a_pfsense_peer_would_rewrite_is_a_warning_and_never_shown(tmp_path):
    spaced = "wan Secret's 1"
    fw1 = FW1.replace("wan-Secret-1", spaced)
    fw2 = FW2.replace("wan-Secret-1", spaced)
    result = run_compare(tmp_path, fw1, fw2, "--json")
    import json as _json
    data = _json.loads(result.out)
    rewrites = [f for f in data["findings"] if f["rule"] == "password-rewrite"]
    assert [f["where"] for f in rewrites] == ["wan vhid 10"] and rewrites[0]["level"] == "warning"
    assert "strip spaces and addslashes()" in rewrites[0]["message"] and "both hosts become MASTER" in rewrites[0]["message"]
    assert spaced not in result.out and data["ok"] is True
