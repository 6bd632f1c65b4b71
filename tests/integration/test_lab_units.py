"""The lab's pure parts (no root needed): names, addresses, the commands that build it, host configs, ARP frames."""

import struct

from carp_pkg.backends.ucarp import Ucarp
from carp_pkg.configxml import read_config_xml
from carp_pkg.lab.configs import default_example, example_vip, host_config_xml
from carp_pkg.lab.lab import Measurement
from carp_pkg.lab.layout import LabLayout, build_commands, new_layout
from carp_pkg.lab.probe import arp_reply_sender, arp_request
from carp_pkg.lab.scenarios import format_table
from carp_pkg.validate import build_config

LAYOUT = new_layout("/tmp/lab", "192.168.1.1/24", "carplab42")


def test_hosts_take_free_addresses_of_the_vip_subnet_never_the_vip():
    assert LAYOUT.addresses == (("a", "192.168.1.2/24"), ("b", "192.168.1.3/24"), ("client", "192.168.1.254/24"))
    assert new_layout("/x", "10.0.0.2/29", "p").addresses == (("a", "10.0.0.1/29"), ("b", "10.0.0.3/29"),
                                                             ("client", "10.0.0.6/29"))
    assert LAYOUT.namespaces == ("carplab42-a", "carplab42-b", "carplab42-client", "carplab42-br")


def test_layout_survives_its_record():
    assert LabLayout.from_json(LAYOUT.to_json()) == LAYOUT


def test_every_link_is_made_inside_the_lab_namespaces():
    commands = build_commands(LAYOUT)
    ours = set(LAYOUT.namespaces)
    for argv in commands:
        assert argv[0] == "ip"
        if argv[1] == "netns":
            assert argv[2:] in (("add", ns) for ns in ours)
        else:
            assert argv[1] == "-n" and argv[2] in ours  # never the machine's own namespace
    veths = [a for a in commands if "veth" in a]
    assert all(a[2] == "carplab42-br" and a[a.index("netns") + 1] in ours for a in veths) and len(veths) == 3
    assert ("ip", "-n", "carplab42-a", "addr", "add", "192.168.1.2/24", "dev", "eth0") in commands


def test_host_configs_come_from_the_bundled_example_with_their_own_address_and_advskew(tmp_path):
    assert example_vip(default_example()) == "192.168.1.1/24"
    for host, address, skew, preempt in (("a", "192.168.1.2/24", 0, True), ("b", "192.168.1.3/24", 100, False)):
        path = tmp_path / f"{host}.xml"
        path.write_bytes(host_config_xml(default_example(), host, address, skew, preempt, password=None))
        raw = read_config_xml(str(path))
        config = build_config(raw)
        (vip,) = config.vips
        assert (str(vip.address), vip.interface, vip.advskew, vip.preempt) == ("192.168.1.1/24", "eth0", skew, preempt)
        assert vip.password == "lan-secret" and config.pfsync is None
        assert [str(a) for i in raw.interfaces for a in i.addresses] == [address]
        assert Ucarp().problems(config) == []


def test_a_host_can_get_another_password(tmp_path):
    path = tmp_path / "b.xml"
    path.write_bytes(host_config_xml(default_example(), "b", "192.168.1.3/24", 100, password="other"))
    assert build_config(read_config_xml(str(path))).vips[0].password == "other"


def test_arp_frames():
    mac, ip, vip = bytes.fromhex("020000000001"), bytes([192, 168, 1, 254]), bytes([192, 168, 1, 1])
    request = arp_request(mac, ip, vip)
    assert request[:6] == b"\xff" * 6 and request[12:14] == b"\x08\x06" and request[38:42] == vip
    sender = bytes.fromhex("7a67b072dcba")
    reply = mac + sender + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + sender + vip + mac + ip
    assert arp_reply_sender(reply, vip) == "7a:67:b0:72:dc:ba"
    assert arp_reply_sender(reply, bytes([192, 168, 1, 9])) is None  # an answer about another address
    assert arp_reply_sender(request, vip) is None  # a request is no answer


def test_the_table_shows_each_handover_and_marks_a_missing_one():
    table = format_table([Measurement("kill ucarp on a (SIGTERM)", "a", "b", 3.84, 3.83, 5.17),
                          Measurement("carp-pkg sync on a (preempt on)", "b", None, None, None, 4.0)])
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["EVENT", "FROM", "TO", "CLIENT"]
    assert "3.84 s" in lines[1] and "5.17 s" in lines[1] and "NONE" in lines[2]
