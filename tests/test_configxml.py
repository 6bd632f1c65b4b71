import glob
import ipaddress
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg import configxml
from carp_pkg.configxml import CHUNK_BYTES, RawConfig, _read_pruned, _read_streamed, parse_config_bytes, read_config_xml
from carp_pkg.errors import ConfigError

from tests.helpers import TESTS, fixture_path, run_cli
from tests.reliability.strategies import valid_configs


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


# The pruned reader (issue 12.12): lxml builds the tree in C, chunk by chunk, complete parts are replayed into
# the streaming collector and deleted. It must give the very verdict of the streaming reference on every
# input, whatever the chunk boundaries, or leave the document to the reference (None).

CHUNK_SIZES = (1, 2, 7, 64, 4096, CHUNK_BYTES)
SAMPLES = sorted(glob.glob(os.path.join(TESTS, "corpus", "*.xml")) + glob.glob(fixture_path("config", "*.xml")))


def verdict(read, data: bytes, *args):
    """A RawConfig, or the message of the ConfigError (the same source name for both readers)."""
    try:
        return read(data, "t.xml", *args)
    except ConfigError as exc:
        return str(exc)


def assert_same_as_reference(data: bytes, chunk_sizes=CHUNK_SIZES, deferred_ok: bool = False):
    """The pruned reader agrees with the reference at every chunk size; unless deferred_ok, it reads the
    document itself (no fallback) whenever the reference reads it or finds a semantic error in it."""
    reference = verdict(_read_streamed, data)
    for chunk in chunk_sizes:
        pruned = verdict(_read_pruned, data, chunk)
        if pruned is None:
            assert deferred_ok, f"chunk {chunk}: left to the reference ({reference!r:.200})"
        else:
            assert pruned == reference, f"chunk {chunk}"
    return reference


def readable(data: bytes) -> bool:
    if not data or data.isspace():
        return False
    try:
        configxml.refuse_dtd_and_entities(data, "t.xml")
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("path", SAMPLES, ids=os.path.basename)
def test_pruned_reader_agrees_with_the_reference_on_every_corpus_file(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if not readable(data):
        return  # refused before either reader runs
    reference = verdict(_read_streamed, data)
    libxml2_or_root = not isinstance(reference, RawConfig) and any(message in reference for message in (
        "not well-formed", "nested more than", "cannot read this XML encoding", "the root element is"))
    ascii_compatible = configxml._handle_offset(data) is not None
    assert_same_as_reference(data, deferred_ok=libxml2_or_root or not ascii_compatible)


INTERESTING = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment before the root -->\n<?pi before?>\n<pfsense>\n'
    b'<version>22.2</version><system><config><vhid>99</vhid></config></system>\n'
    b'<interfaces>\n'
    b' <wan><if> vtnet0 </if><descr><![CDATA[ W<A>N ]]></descr><ipaddr>198.51.100.2</ipaddr><subnet>24</subnet>'
    b'</wan>\n'
    b' <lan><!-- c --><if>vt<x>ignored</x>net<!-- d -->1<y/></if><if>second-if-ignored</if>'
    b'<ipaddr>10.0.0.2</ipaddr><subnet>24</subnet><ipaddrv6>track6</ipaddrv6></lan>\n'
    b' <opt1><descr>SY<?pi x?>NC &amp; more</descr><if>vtnet2</if><enable/></opt1>\n'
    b' <opt2><descr>no device</descr></opt2><x:opt3 xmlns:x="urn:x"><if>em9</if></x:opt3>\n'
    b'</interfaces>\n'
    b'<filter><rule><descr><![CDATA[a rule]]></descr><config><vhid>7</vhid></config></rule></filter>\n'
    b'<installedpackages>\n'
    b' <haproxy><config><vhid>5</vhid><password>not-ours</password></config></haproxy>\n'
    b' <x:carp xmlns:x="urn:x"><config><vhid>6</vhid></config></x:carp>\n'
    b' <carp>\n'
    b'  <!-- first entry -->\n'
    b'  <config><interface>lan</interface><ipaddress> 10.0.0.1 </ipaddress><netmask>24</netmask><vhid>1</vhid>'
    b'<password>  a <!-- c --> b <![CDATA[ <c> ]]> &#x9;&lt;d&gt;<?pi y?> </password><advskew>0</advskew></config>\n'
    b'  <config attr="x"><interface>wan</interface><vhid>2</vhid><vhid>3</vhid><vhid><n/></vhid>'
    b'<premption>on</premption><preempt>on</preempt><pfsync><on>yes</on><deeper><more/></deeper>tail</pfsync>'
    b'<password><![CDATA[  spaces around  ]]></password><colour>blue</colour></config>\n'
    b'  <config/>\n'
    b'  <config>text only</config>\n'
    b' </carp>\n'
    b' <pfblockerng><config><interface>lan</interface></config></pfblockerng>\n'
    b'</installedpackages>\n'
    b'<rrddata><data>' + b"QUJD" * 300 + b'</data></rrddata>\n'
    b'</pfsense>\n<!-- a comment after the root -->\n'
)


def test_interesting_sections_split_at_every_chunk_boundary():
    """Comments, CDATA, PIs, entities, nested and repeated fields, tails, namespaced look-alikes and other
    packages' <config> entries, cut at every possible place: the same RawConfig as the reference."""
    reference = assert_same_as_reference(INTERESTING, chunk_sizes=range(1, 160))
    assert_same_as_reference(INTERESTING, chunk_sizes=range(160, len(INTERESTING) + 1, 37))
    lan = reference.interface_named("lan")
    assert lan.device == "vtnet1" and reference.interface_named("wan").device == "vtnet0"
    assert reference.interface_named("opt1").description == "SYNC & more"
    assert reference.interface_named("wan").description == "W<A>N"
    first, second = reference.entries[0], reference.entries[1]
    assert first.fields["password"] == "  a  b  <c>  \t<d> "  # joined around the comment and the PI, not stripped
    assert first.fields["ipaddress"] == "10.0.0.1"
    assert second.fields["vhid"] == "2" and second.repeated == ("vhid",)
    assert second.fields["pfsync"] is None and second.fields["password"] == "  spaces around  "
    assert len(reference.entries) == 4 and reference.entries[2].fields == {} and reference.entries[3].fields == {}


def test_the_carp_section_after_a_huge_unrelated_one_is_read_by_the_pruned_reader():
    rule = (b"<rule><type>pass</type><interface>lan</interface><descr><![CDATA[rule <x> & y]]></descr>"
            b"<source><any/></source><destination><network>lanip</network></destination></rule>\n")
    data = (b'<?xml version="1.0"?>\n<pfsense><interfaces><lan><if>em1</if><ipaddr>10.0.0.2</ipaddr>'
            b'<subnet>24</subnet></lan></interfaces>\n<filter>' + rule * 25_000 + b"</filter>\n<rrddata><data>"
            + b"QUJD" * 500_000 + b"</data></rrddata>\n<installedpackages><carp><config><ipaddress>10.0.0.1"
            b"</ipaddress><vhid>1</vhid><password>pw</password></config></carp></installedpackages></pfsense>\n")
    assert len(data) > 5_000_000
    reference = assert_same_as_reference(data, chunk_sizes=(4096, CHUNK_BYTES, 1 << 20))
    assert reference.entries[0].fields == {"ipaddress": "10.0.0.1", "vhid": "1", "password": "pw"}


@pytest.mark.parametrize("where", ["top-level", "deep-elsewhere", "other-package", "carp-field", "interface-field"])
def test_the_tree_never_holds_much_more_than_a_chunk(where, monkeypatch):
    """Streaming: 500,000 tiny elements anywhere, and the tree under construction stays at about what one
    chunk of 64 KiB holds (a chunk of <a/> is 16,384 elements)."""
    tiny = b"<a/>" * 500_000
    doc = {
        "top-level": b"<pfsense>" + tiny + b"<installedpackages><carp><config><vhid>1</vhid></config></carp>"
                     b"</installedpackages></pfsense>",
        "deep-elsewhere": b"<pfsense><filter><rule><x>" + tiny + b"</x></rule></filter></pfsense>",
        "other-package": b"<pfsense><installedpackages><haproxy>" + tiny + b"</haproxy><carp><config><vhid>1</vhid>"
                         b"</config></carp></installedpackages></pfsense>",
        "carp-field": b"<pfsense><installedpackages><carp><config><vhid>1" + tiny + b"</vhid></config></carp>"
                      b"</installedpackages></pfsense>",
        "interface-field": b"<pfsense><interfaces><lan><if>em" + tiny + b"1</if></lan></interfaces></pfsense>",
    }[where]
    largest = []
    advance = configxml._Replay.advance

    def counting_advance(self, depth=0, final=False):
        if depth == 0:
            largest.append(sum(1 for _ in self.chain[0].elem.iter()))
        advance(self, depth, final)

    monkeypatch.setattr(configxml._Replay, "advance", counting_advance)
    assert_same_as_reference(doc, chunk_sizes=(CHUNK_BYTES,))
    assert len(largest) > 20 and max(largest) < 20_000


FILLER = b"<filter>" + b"<rule><descr>x</descr></rule>" * 40_000 + b"</filter>\n"


@pytest.mark.parametrize("doc, message", [
    (b"<pfsense><interfaces/>" + FILLER + b"<interfaces/></pfsense>", "<interfaces> appears twice"),
    (b"<pfsense><installedpackages/>" + FILLER + b"<installedpackages/></pfsense>",
     "<installedpackages> appears twice"),
    (b"<pfsense><installedpackages><carp/><haproxy>" + FILLER + b"</haproxy><carp/></installedpackages></pfsense>",
     "<installedpackages/carp> appears twice"),
    (b"<pfsense><installedpackages><carp>" + b"<config><vhid>1</vhid></config>" * 5000 + b"<confg/>" + FILLER
     + b"</carp></installedpackages></pfsense>", "holds <confg>"),
], ids=["interfaces", "installedpackages", "carp", "stray-after-5000-entries"])
def test_duplicated_sections_far_apart_and_late_stray_elements(doc, message):
    reference = assert_same_as_reference(doc, chunk_sizes=(999, CHUNK_BYTES))
    assert message in reference


def test_caps_give_the_reference_message_at_any_chunk_size(monkeypatch):
    monkeypatch.setattr(configxml, "MAX_ENTRIES", 3)
    monkeypatch.setattr(configxml, "MAX_FIELDS", 4)
    monkeypatch.setattr(configxml, "MAX_INTERFACES", 2)
    docs = {
        "entries": b"<pfsense><installedpackages><carp>" + b"<config><vhid>1</vhid></config>" * 4
                   + b"</carp></installedpackages></pfsense>",
        "fields": b"<pfsense><installedpackages><carp><config><a/><b/><a/><c/><d/><e/></config></carp>"
                  b"</installedpackages></pfsense>",
        "interfaces": b"<pfsense><interfaces><a><if>e0</if></a><b/><c><if>e1</if></c><d><if>e2</if></d>"
                      b"<e><if>e3</if></e></interfaces></pfsense>",
    }
    expected = {"entries": "more than 3 entries", "fields": "has more than 4 fields",
                "interfaces": "more than 2 interfaces"}
    for name, doc in docs.items():
        reference = assert_same_as_reference(doc, chunk_sizes=range(1, len(doc) + 1, 3))
        assert expected[name] in reference


@pytest.mark.parametrize("doc, message", [
    (b"<pfsense><installedpackages><carp><stray/></carp></installedpackages><a></b></pfsense>", "only <config>"),
    (b"<pfsense><a></b><installedpackages><carp><stray/></carp></installedpackages></pfsense>", "not well-formed"),
    (b"<pfsense><interfaces/><interfaces/>" + b"<d>" * 300 + b"</d>" * 300 + b"</pfsense>", "appears twice"),
    (b"<pfsense>" + b"<d>" * 300 + b"</d>" * 300 + b"<interfaces/><interfaces/></pfsense>", "nested more than"),
    (b"<pfsense><installedpackages><carp><config>" + b"".join(b"<f%d/>" % i for i in range(100))
     + b"<oops></config></carp></installedpackages></pfsense>", "has more than 64 fields"),
], ids=["semantic-then-syntax", "syntax-then-semantic", "twice-then-deep", "deep-then-twice", "fields-then-syntax"])
def test_the_first_problem_in_document_order_is_reported(doc, message):
    """Semantic errors the collector finds and libxml2 errors keep their order, at any chunk boundary."""
    reference = assert_same_as_reference(doc, chunk_sizes=(1, 16, 4096), deferred_ok=True)
    assert message in reference


def test_a_text_node_over_libxml2s_tree_limit_is_read_by_the_reference():
    """Building a tree, libxml2 refuses a text node over 10,000,000 characters (without huge_tree); the
    streaming reference has no such limit, so such a document is left to it and reads as before."""
    data = (b'<?xml version="1.0"?>\n<pfsense><rrddata><data>' + b"Q" * 10_000_001 + b"</data></rrddata>"
            b"<installedpackages><carp><config><vhid>1</vhid></config></carp></installedpackages></pfsense>")
    assert _read_pruned(data, "t.xml") is None
    assert parse_config_bytes(data).entries[0].fields == {"vhid": "1"}


@pytest.mark.parametrize("doc", [
    b"<pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp></installedpackages></pfsense>",
    b"\n  <pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp></installedpackages></pfsense>",
    b"\xef\xbb\xbf<pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp>"
    b"</installedpackages></pfsense>",
    b'\xef\xbb\xbf<?xml version="1.0"?><pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp>'
    b"</installedpackages></pfsense>",
    b"<?xml version='1.0' encoding='ISO-8859-1' standalone='yes' ?>\n<pfsense><installedpackages><carp><config>"
    b"<password>caf\xe9</password></config></carp></installedpackages></pfsense>",
    b"<?xml-stylesheet href='x.xsl'?><pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp>"
    b"</installedpackages></pfsense>",
    b"<!-- -->" * 500 + b"<pfsense><installedpackages><carp><config><vhid>1</vhid></config></carp>"
    b"</installedpackages></pfsense>" + b"<!-- after -->" * 10,
], ids=["no-declaration", "leading-blank", "bom", "bom-declaration", "latin1", "stylesheet-pi", "comments-around"])
def test_prologs_are_read_by_the_pruned_reader(doc):
    """The handle comment goes after the XML declaration or at the start; it never shows in what is read."""
    assert_same_as_reference(doc)


@pytest.mark.parametrize("doc", [
    '<?xml version="1.0" encoding="UTF-16"?><pfsense><installedpackages><carp><config><vhid>1</vhid></config>'
    '</carp></installedpackages></pfsense>'.encode("utf-16"),
    b" <?xml version='1.0'?><pfsense/>",
    b"<opnsense>" + b"<a/>" * 100_000 + b"</opnsense>",
    b"<config><pfsense><installedpackages/></pfsense></config>",
    b'<pfsense xmlns="urn:x"><installedpackages/></pfsense>',
    b"<!-- -->" * 40_000 + b"<pfsense/>",
    b"<!-- -->" * 2000 + b"<pfsense/>",
    b"<pfsense/>" + b"<!---->" * (configxml.MAX_OUTSIDE_COMMENTS + 10),
    b"<pfsense><installedpackages/></pfsense>junk",
], ids=["utf-16", "blank-before-declaration", "wrong-root", "pfsense-not-root", "namespaced-root",
        "long-prologue", "many-comments-before-root", "long-epilogue", "junk-after-root"])
def test_documents_left_to_the_reference_read_as_before(doc):
    assert_same_as_reference(doc, deferred_ok=True)


def test_a_comment_flood_is_left_to_the_reference(monkeypatch):
    """Each comment is a parse event for the pruned reader (none for the reference): past a bound, the
    reference reads the document; below it, comments anywhere change nothing."""
    doc = (b"<pfsense><filter>" + b"<!-- x --><rule/>" * 300 + b"</filter><installedpackages><carp><config>"
           b"<vhid>1<!-- y --></vhid></config></carp></installedpackages></pfsense>")
    assert_same_as_reference(doc, chunk_sizes=(50, CHUNK_BYTES))
    monkeypatch.setattr(configxml, "MAX_COMMENTS", 100)
    assert _read_pruned(doc, "t.xml") is None
    assert parse_config_bytes(doc).entries[0].fields == {"vhid": "1"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs(max_groups=3), st.lists(st.tuples(st.integers(0, 10 ** 6), st.binary(max_size=6)), max_size=3),
       st.integers(1, 300))
def test_damaged_configs_get_the_reference_verdict(wanted, insertions, chunk):
    data = bytearray(wanted.xml())
    for where, inserted in insertions:
        position = where % (len(data) + 1)
        data[position:position] = inserted
    data = bytes(data)
    if readable(data):
        assert_same_as_reference(data, chunk_sizes=(chunk,), deferred_ok=True)
