import ipaddress

import pytest

from carp_pkg.configxml import parse_config_bytes, read_config_xml
from carp_pkg.errors import ConfigError

from tests.helpers import fixture_path, run_cli


def test_seed_style_entries_in_document_order_with_original_field_names():
    raw = read_config_xml(fixture_path("config", "seed-style.xml"))
    assert [e.fields["ipaddress"] for e in raw.entries] == ["192.168.1.1", "203.0.113.1"]
    assert raw.entries[0].fields["premption"] == "on"
    assert raw.entries[1].fields["balancing"] == "on"


def test_interface_map_friendly_to_real_with_host_addresses():
    raw = read_config_xml(fixture_path("config", "modern.xml"))
    wan = raw.interface_named("wan")
    assert wan.device == "vtnet0"
    assert ipaddress.ip_interface("2001:db8:100::2/64") in wan.addresses
    assert raw.interface_named("opt1").description == "SYNC"
    assert raw.interface_with_device("vtnet1").name == "lan"


def test_xxe_is_refused_before_any_file_is_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    doc = (f'<?xml version="1.0"?><!DOCTYPE pfsense [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<pfsense><installedpackages><carp><config><password>&x;</password></config></carp>'
           '</installedpackages></pfsense>').encode()
    with pytest.raises(ConfigError) as caught:
        parse_config_bytes(doc, "evil.xml")
    assert "DOCTYPE" in str(caught.value)
    assert "TOP-SECRET-MARKER" not in str(caught.value)


def test_billion_laughs_is_refused():
    laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)) + "]>"
    with pytest.raises(ConfigError, match="DTD"):
        parse_config_bytes((laughs + "<pfsense>&lol9;</pfsense>").encode(), "lol.xml")


def test_comments_and_processing_instructions_do_not_leak_into_values():
    doc = (b'<pfsense><installedpackages><carp><config><vhid>1<!-- x --></vhid><?pi y?>'
           b'<password>a<!-- c -->b</password></config></carp></installedpackages></pfsense>')
    fields = parse_config_bytes(doc).entries[0].fields
    assert fields["vhid"] == "1"
    assert fields["password"] == "ab"  # the comment is dropped, the text around it joined


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"<pfsense><installedpackages>", "not well-formed"),
    (b"<opnsense/>", "root element is <opnsense>"),
])
def test_unusable_documents_give_one_clear_message(content, message):
    with pytest.raises(ConfigError, match=message):
        parse_config_bytes(content, "x.xml")


def test_missing_carp_section_means_no_entries():
    assert parse_config_bytes(b"<pfsense><installedpackages/></pfsense>").entries == ()


def test_nested_element_in_a_field_is_marked_not_text():
    doc = b"<pfsense><installedpackages><carp><config><vhid><x>1</x></vhid></config></carp></installedpackages></pfsense>"
    assert parse_config_bytes(doc).entries[0].fields["vhid"] is None


def test_missing_file_names_the_option(tmp_path):
    result = run_cli(["--config", str(tmp_path / "nope.xml"), "validate"])
    assert result.code == 3
    assert "no such file" in result.err and "--config" in result.err
