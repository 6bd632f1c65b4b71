"""What the lab's ucarp puts on the wire, captured with tcpdump and checked with carp_pkg.carpwire."""

import os
import shutil
import subprocess

import pytest

from carp_pkg.carpwire import CARP_GROUP_V4, HMAC_MISMATCH, HMAC_OK, STYLE_FREEBSD, STYLE_UCARP, decode, verify
from carp_pkg.configxml import read_config_xml
from carp_pkg.lab.scenarios import settle
from carp_pkg.pcap import PcapReader
from carp_pkg.validate import build_config

pytestmark = pytest.mark.integration


@pytest.fixture
def tcpdump():
    path = shutil.which("tcpdump")
    if path is None:
        message = "tcpdump is missing (apt-get install tcpdump)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def capture(lab, tcpdump, path, count=3, node="client"):
    subprocess.run(["ip", "netns", "exec", lab.layout.namespace(node), tcpdump, "-i", "eth0", "-U", "-n",
                    "-c", str(count), "-w", str(path), "ip proto 112"], capture_output=True, timeout=20, check=True)
    with open(path, "rb") as handle:
        return [decode(frame.packet) for frame in PcapReader(handle)]


def test_the_master_advertises_its_vhid_advskew_advbase_with_a_valid_hmac(make_lab, tcpdump, tmp_path):
    lab = make_lab()
    assert settle(lab) == "a"
    (group,) = build_config(read_config_xml(lab.layout.config_path("a"))).groups()
    adverts = capture(lab, tcpdump, tmp_path / "carp.pcap")
    assert len(adverts) == 3
    for advert in adverts:
        assert str(advert.source) == lab.layout.address("a").split("/")[0]
        assert advert.destination == CARP_GROUP_V4 and advert.ttl == 255 and advert.checksum_ok
        assert (advert.vhid, advert.advskew, advert.advbase) == (group.vhid, group.advskew, group.advbase) == (1, 0, 1)
        assert verify(advert, group.password, group.addresses, style=STYLE_UCARP) == HMAC_OK
        # one IPv4 address: FreeBSD computes the same digest, which is why the two interoperate
        assert verify(advert, group.password, group.addresses, style=STYLE_FREEBSD) == HMAC_OK
        assert verify(advert, group.password + "x", group.addresses, style=STYLE_UCARP) == HMAC_MISMATCH
    # a ucarp master that has never accepted a peer's advert draws a fresh random counter for each one
    # (carp_prepare_ad with sc_init_counter set), so the HMAC above was checked over three counters
    assert len({a.counter for a in adverts}) == 3


def test_after_failover_the_backup_advertises_its_own_advskew(make_lab, tcpdump, tmp_path):
    lab = make_lab()
    settle(lab)
    (group,) = build_config(read_config_xml(lab.layout.config_path("b"))).groups()
    lab.set_link("a", False)  # ucarp on a exits; b takes over
    adverts = capture(lab, tcpdump, tmp_path / "carp.pcap", count=2)
    assert {str(a.source) for a in adverts} == {lab.layout.address("b").split("/")[0]}
    assert all(a.advskew == group.advskew == 100 for a in adverts)
    assert all(verify(a, group.password, group.addresses, style=STYLE_UCARP) == HMAC_OK for a in adverts)
