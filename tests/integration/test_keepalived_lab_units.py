"""The keepalived lab's pure parts (no root needed): host configs, the multicast block, the raw yardstick's file,
the echo probes, the lab record."""

import json
import struct

import pytest

from carp_pkg.backends.keepalived import Keepalived
from carp_pkg.configxml import read_config_xml
from carp_pkg.errors import InputError
from carp_pkg.lab.configs import default_example, host_config_xml
from carp_pkg.lab.lab import parse_lab_record
from carp_pkg.lab.layout import LabLayout, multicast_block_commands, new_layout
from carp_pkg.lab.ping import checksum, echo_request, reply_sequence
from carp_pkg.lab.raw import raw_conf
from carp_pkg.backends import keepalived_conf as kc
from carp_pkg.validate import build_config

LAYOUT = new_layout("/tmp/lab", "192.168.1.1/24", "carplab42", backend="keepalived", unicast=True)


def test_keepalived_hosts_get_the_example_vip_as_vrrpv3_with_the_other_host_as_unicast_peer(tmp_path):
    for host, address, prio, peer in (("a", "192.168.1.2/24", 200, "192.168.1.3"), ("b", "192.168.1.3/24", 100, None)):
        path = tmp_path / f"{host}.xml"
        path.write_bytes(host_config_xml(default_example(), host, address, 0, True, vrrp=(prio, 2), peer=peer))
        config = build_config(read_config_xml(str(path)))
        (vip,) = config.vips
        assert (str(vip.address), vip.interface, vip.protocol, vip.vrrpprio, vip.vrrpinterval, vip.password,
                vip.peer, vip.preempt) == ("192.168.1.1/24", "eth0", "vrrp", prio, 2, "", peer, True)
        assert config.warnings == () and Keepalived().problems(config) == []


def test_the_unicast_lab_stops_multicast_flooding_on_every_bridge_port():
    assert multicast_block_commands(LAYOUT) == [
        ("ip", "-n", "carplab42-br", "link", "set", "dev", port, "type", "bridge_slave", "mcast_flood", "off")
        for port in ("va", "vb", "vc")]


def test_the_lab_record_keeps_the_backend_and_refuses_one_carp_pkg_would_not_write():
    assert LabLayout.from_json(LAYOUT.to_json()) == LAYOUT
    record = json.dumps({"layout": json.loads(LAYOUT.to_json()), "example": None}).encode()
    assert parse_lab_record(record, "/tmp/lab")[0].backend == "keepalived"
    bad = json.loads(LAYOUT.to_json())
    bad["backend"] = "rm -rf"
    with pytest.raises(InputError, match="backend settings"):
        parse_lab_record(json.dumps({"layout": bad}).encode(), "/tmp/lab")
    old = json.loads(LAYOUT.to_json())
    for key in ("backend", "unicast", "vrrpinterval"):
        del old[key]
    assert parse_lab_record(json.dumps({"layout": old}).encode(), "/tmp/lab")[0].backend == "ucarp"


def test_the_raw_yardstick_has_carp_pkgs_settings_and_no_script():
    from carp_pkg.model import CarpConfig, VirtualIP
    import ipaddress
    config = CarpConfig(vips=(VirtualIP(ipaddress.ip_interface("192.168.1.1/24"), "eth0", 1, protocol="vrrp",
                                        vrrpprio=200, vrrpinterval=2, preempt=True),))
    instance = kc.build_instance(config.groups()[0], True, (), notify=None)
    text = raw_conf(instance)
    assert "vrrp_priority -20" in text and "priority 200" in text and "advert_int 0.02" in text
    assert "\n    notify" not in text and "script_user" not in text and "enable_script_security" not in text


def test_echo_probes():
    packet = echo_request(0x1234, 7)
    assert packet[0] == 8 and checksum(packet) == 0
    header = bytes([0x45]) + bytes(19)
    reply = header + struct.pack("!BBHHH", 0, 0, 0, 0x1234, 7)
    assert reply_sequence(reply, 0x1234) == 7
    assert reply_sequence(reply, 0x4321) is None  # someone else's ping
    assert reply_sequence(header + packet, 0x1234) is None  # a request is no reply
