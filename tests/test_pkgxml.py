"""pkgxml/carp.xml: the package GUI in pfSense's packagegui format.

pfSense's pkg_edit.php builds the edit form from <fields>, pkg.php the list from
<adddeleteeditpagefields>, and install_package_xml() registers <menu> and <tabs>; the
<custom_php_*> snippets are eval()'d with carp.inc included. These tests read the XML
the way those pages do and check what a user would see and what old configs rely on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKGXML = ROOT / "pkgxml"
GUI = ET.parse(PKGXML / "carp.xml").getroot()
PHP = shutil.which("php")

ORIGINAL_FIELDS = ["ipaddress", "netmask", "password", "vhid", "advskew", "pfsync", "synciface", "balancing",
                   "premption"]
NEW_FIELDS = ["interface", "advbase", "peer", "peer6", "syncpeer", "defer", "protocol", "vrrpprio", "vrrpinterval"]


def fields() -> dict:
    return {f.findtext("fieldname"): f for f in GUI.find("fields").findall("field") if f.findtext("fieldname")}


def options(name: str) -> list:
    return [int(o.findtext("value")) for o in fields()[name].find("options").findall("option")]


def text_of(name: str) -> str:
    field = fields()[name]
    return f"{field.findtext('fielddescr')} {field.findtext('description')}"


def test_package_identity():
    assert GUI.tag == "packagegui"
    assert GUI.findtext("name") == "carp"  # pkg_edit.php stores entries under installedpackages/<name>/config
    assert GUI.findtext("title") == "CARP (failover)"
    assert GUI.findtext("configpath") == "installedpackages->carp->config"
    assert GUI.findtext("include_file") == "/usr/local/pkg/carp.inc"
    assert GUI.findtext("version") == "%%PKGVERSION%%"


def test_menu_is_under_services():
    menu = GUI.find("menu")
    assert menu.findtext("section") == "Services"
    assert menu.findtext("name") == "CARP (failover)"
    assert menu.findtext("url") == "/pkg.php?xml=carp.xml"


def test_tabs():
    tabs = [(t.findtext("text"), t.findtext("url")) for t in GUI.find("tabs").findall("tab")]
    assert tabs == [("CARP Settings", "/pkg.php?xml=carp.xml"), ("CARP Status", "/carp_status.php")]


def test_the_settings_tab_opens_the_list_like_the_menu():
    """Issue 11.8: entries are a list (<adddeleteeditpagefields>), so the menu and the Settings tab both open
    pkg.php (the list, whose rows link to pkg_edit.php&id=N), as list-type pfSense packages do; a tab on
    pkg_edit.php without an id would open an empty 'add' form instead of the configured VIPs."""
    settings = GUI.find("tabs").findall("tab")[0]
    assert settings.findtext("url") == GUI.find("menu").findtext("url") == "/pkg.php?xml=carp.xml"
    assert GUI.find("adddeleteeditpagefields") is not None


def test_list_page_keeps_the_original_columns():
    columns = [c.findtext("fieldname") for c in GUI.find("adddeleteeditpagefields").findall("columnitem")]
    for original in ("vhid", "ipaddress", "advskew", "pfsync", "balancing", "netmask", "premption"):
        assert original in columns
    checkbox_columns = {c.findtext("fieldname") for c in GUI.find("adddeleteeditpagefields").findall("columnitem")
                        if c.findtext("type") == "checkbox"}
    assert checkbox_columns == {"pfsync", "balancing", "premption"}


def test_every_original_field_plus_interface_and_advbase():
    assert sorted(fields()) == sorted(ORIGINAL_FIELDS + NEW_FIELDS)


def test_preemption_keeps_the_original_misspelt_name_so_old_configs_work():
    assert "premption" in fields() and "preempt" not in fields()
    assert fields()["premption"].findtext("type") == "checkbox"


@pytest.mark.parametrize("name, kind", [
    ("ipaddress", "input"), ("password", "password"), ("pfsync", "checkbox"), ("balancing", "checkbox"),
    ("premption", "checkbox"), ("synciface", "interfaces_selection"), ("interface", "interfaces_selection"),
    ("netmask", "select"), ("vhid", "select"), ("advskew", "select"), ("advbase", "select"),
    ("peer", "input"), ("peer6", "input"), ("syncpeer", "input"), ("defer", "checkbox"),
    ("protocol", "select"), ("vrrpprio", "input"), ("vrrpinterval", "input"),
])
def test_field_types(name, kind):
    assert fields()[name].findtext("type") == kind


@pytest.mark.parametrize("name, low, high, default", [
    ("netmask", 1, 128, 24),  # 1-32 in the original; IPv6 needs up to 128
    ("vhid", 1, 255, 1),  # the original offered 1-30; carp(4) allows 1-255
    ("advskew", 0, 254, 0),
    ("advbase", 1, 255, 1),
])
def test_select_ranges_and_defaults(name, low, high, default):
    assert options(name) == list(range(low, high + 1))
    assert int(fields()[name].findtext("default_value")) == default
    for option in fields()[name].find("options").findall("option"):
        assert option.findtext("name") == option.findtext("value")


def test_advskew_is_described_as_a_skew_not_a_frequency():
    text = text_of("advskew")
    assert "Frequency" not in fields()["advskew"].findtext("fielddescr")
    assert "skew" in text.lower()
    assert "not a frequency" in text


def test_master_down_interval_is_stated_correctly():
    assert "3 × advbase + advskew/256" in text_of("advskew")
    assert "advbase + advskew/256" in text_of("advbase")


def test_help_texts_carry_the_corrections():
    assert "19 bytes" in text_of("password") and "refused" not in text_of("password")
    assert "strip spaces" in text_of("password")  # issue 11.6: pfSense/OPNsense peers rewrite such passwords
    assert "at most 240" in text_of("advskew") and "239 or less" in text_of("advskew")
    assert "FreeBSD 14" in text_of("peer") and "FreeBSD 14" in text_of("peer6")
    assert "224.0.0.240" in text_of("syncpeer") and "Off by default" in text_of("defer")
    assert "On pfSense the base system sets it to 1 whenever it configures High Avail. Sync" in text_of("premption")
    assert "1-128" in text_of("netmask") and "IPv6" in text_of("netmask")
    assert "1-255" in text_of("vhid")
    assert "FreeBSD 5.4 to 9" in text_of("balancing")
    assert "net.inet.carp.preempt" in text_of("premption")
    assert "Synchrnoize" not in (PKGXML / "carp.xml").read_text()


def test_vrrp_fields_say_what_they_do():
    """Issue 14: protocol carp|vrrp, priority 1-254 (higher wins), interval in centiseconds 1-4095."""
    assert [o.findtext("value") for o in fields()["protocol"].find("options").findall("option")] == ["carp", "vrrp"]
    assert fields()["protocol"].findtext("default_value") == "carp"
    assert "FreeBSD 15" in text_of("protocol") and "keepalived" in text_of("protocol")
    assert "no password" in text_of("protocol")
    assert "1-254" in text_of("vrrpprio") and "higher priority wins" in text_of("vrrpprio")
    assert "centiseconds" in text_of("vrrpinterval") and "1-4095" in text_of("vrrpinterval")
    assert fields()["vrrpprio"].findtext("default_value") == fields()["vrrpinterval"].findtext("default_value") == "100"


def test_address_is_required():
    assert fields()["ipaddress"].find("required") is not None


# --- the PHP the XML names must exist in carp.inc ----------------------------------------------------------------
COMMAND_TAGS = ["custom_php_validation_command", "custom_php_resync_config_command", "custom_delete_php_command",
                "custom_php_install_command", "custom_php_deinstall_command"]


def test_every_package_hook_is_wired():
    for tag in COMMAND_TAGS:
        assert GUI.findtext(tag) and GUI.findtext(tag).strip(), tag
    assert GUI.findtext("custom_php_validation_command").strip() == "carp_validate_input($_POST, $input_errors);"
    assert GUI.findtext("custom_php_resync_config_command").strip() == "carp_sync_package();"
    assert GUI.findtext("filter_rules_needed") == "carp_generate_rules"


def php_eval(code: str) -> str:
    result = subprocess.run([PHP, "-d", f"include_path={PKGXML}", "-r", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(PHP is None, reason="LOUD SKIP: php is not installed (apt-get install php-cli)")
def test_functions_named_in_the_xml_exist_in_carp_inc():
    called = set()
    for tag in COMMAND_TAGS:
        called.update(re.findall(r"([a-z_]+)\(", GUI.findtext(tag)))
    called.add(GUI.findtext("filter_rules_needed"))
    defined = json.loads(php_eval(
        'require "carp.inc"; $f = get_defined_functions()["user"]; echo json_encode($f);'))
    assert called <= set(defined), called - set(defined)


@pytest.mark.skipif(PHP is None, reason="LOUD SKIP: php is not installed (apt-get install php-cli)")
def test_carp_inc_sends_exactly_the_xml_fields_to_the_validator():
    sent = json.loads(php_eval('require "carp.inc"; echo json_encode(CARP_PKG_FIELDS);'))
    assert sorted(sent) == sorted(fields())
    labels = json.loads(php_eval('require "carp.inc"; echo json_encode(CARP_PKG_FIELD_LABELS);'))
    assert labels == {name: field.findtext("fielddescr") for name, field in fields().items()}


@pytest.mark.skipif(PHP is None, reason="LOUD SKIP: php is not installed (apt-get install php-cli)")
def test_privilege_covers_the_package_pages():
    matches = json.loads(php_eval(
        'require "carp.priv.inc"; echo json_encode($priv_list["page-services-carp"]["match"]);'))
    for page in ("pkg.php?xml=carp.xml", "pkg_edit.php?xml=carp.xml", "carp_status.php"):
        assert any(page.startswith(m.rstrip("*")) for m in matches), page
    status_page = (PKGXML / "carp_status.php").read_text()
    assert "##|*MATCH=carp_status.php*" in status_page


# --- issue 11.9: pf rules reach pfSense through <filter_rules_needed>, not through /usr/local/pkg/pf
def run_plugins_would_run(name: str) -> bool:
    """pfSense util.inc run_plugins(): of a plugin directory it includes `*.inc` and runs `*.sh`, nothing else."""
    return name.endswith(".inc") or name.endswith(".sh")


def test_the_pf_rules_take_the_filter_path_that_pfsense_runs():
    from carp_pkg.hooks import PACKAGE_FILES
    in_pf_dir = [target for _, target in PACKAGE_FILES if target.startswith("/usr/local/pkg/pf/")]
    # whatever the package keeps in /usr/local/pkg/pf is never run by pfSense, so no rule may depend on it ...
    assert not any(run_plugins_would_run(target) for target in in_pf_dir)
    # ... and the rules reach the filter through the hook pfSense does call on every filter reload
    assert GUI.findtext("filter_rules_needed") == "carp_generate_rules"
    assert "carp_generate_rules" in (PKGXML / "carp.inc").read_text()
    hooks_source = (ROOT / "carp_pkg" / "hooks.py").read_text()
    assert "pfSense runs the pf includes" not in hooks_source
