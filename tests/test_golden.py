"""Rendered rc scripts and JSON plans for the example configs; a change to output is a reviewed diff.

Regenerate after an intended change with: CARP_PKG_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

import os

import pytest

from tests.helpers import TESTS, fixture_path, run_cli

GOLDEN = os.path.join(TESTS, "golden")
CASES = [(config, backend, fmt)
         for config in ("seed-style", "modern")
         for backend in ("freebsd", "freebsd-legacy")
         for fmt in ("script", "json", "commands")]
SUFFIX = {"script": "sh", "json": "json", "commands": "txt"}


@pytest.mark.parametrize("config, backend, fmt", CASES)
def test_rendered_output_matches_golden(config, backend, fmt, tmp_path):
    result = run_cli(["--root", str(tmp_path), "--config", fixture_path("config", f"{config}.xml"),
                      "render", "--backend", backend, "--format", fmt]
                     + (["--show-secrets"] if fmt == "script" else []))  # the script as sync writes it
    assert result.code == 0, result.err
    # the config path is machine-specific: golden files show it as the pfSense default
    text = result.out.replace(fixture_path("config", f"{config}.xml"), "/conf/config.xml")
    path = os.path.join(GOLDEN, f"{config}.{backend}.{SUFFIX[fmt]}")
    if os.environ.get("CARP_PKG_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read()


# --- issue 11: plans against captures written from the FreeBSD sources (tests/fixtures/ifconfig/README.md) --------
def modern_on_em(text: str) -> str:
    return text.replace("vtnet0", "em0").replace("vtnet1", "em1").replace("vtnet2", "em2")


def pfsense_root(root) -> None:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "platform").write_text("pfSense\n")


def installed_with_preempt_1(root) -> None:
    state = root / "var" / "db" / "carp-pkg"
    state.mkdir(parents=True, exist_ok=True)
    (state / "manifest.json").write_text('{"files": [], "directories": [], "sysctls_before": '
                                         '{"net.inet.carp.preempt": 1}, "sha256": {}}\n')


def no_preempt(text: str) -> str:
    return modern_on_em(text).replace("<preempt>on</preempt>", "")


def long_lan_password(text: str) -> str:
    return modern_on_em(text).replace("<password>lan-secret</password>",
                                      "<password>twenty-four-byte-secret!</password>")


def applied_vrrp_host(root) -> None:
    """Issue 14: carp-pkg applied vrrp-freebsd15.xml before (its record), so vhid 1's password is known."""
    from carp_pkg.fingerprint import password_digest
    state = root / "var" / "db" / "carp-pkg"
    state.mkdir(parents=True, exist_ok=True)
    (state / "applied.json").write_text('{"salt": "s", "vhids": {"igb0/1": "%s", "igb0/5": "%s"}}\n' % (
        password_digest("s", "lan-secret"), password_digest("s", "")))


def vrrp_faster(text: str) -> str:
    return text.replace("<vrrpprio>100</vrrpprio>", "<vrrpprio>200</vrrpprio>").replace(
        "<vrrpinterval>100</vrrpinterval>", "<vrrpinterval>2</vrrpinterval>")


def vrrp_back_to_carp(text: str) -> str:
    return text.replace("<protocol>vrrp</protocol>", "<password>vhid5-secret</password>")


def carp_to_vrrp(text: str) -> str:
    """vhid 1 becomes VRRPv3; its unicast peer goes too (FreeBSD keeps no peer for a VRRPv3 vhid: refused)."""
    return text.replace("<password>lan-secret</password>", "<protocol>vrrp</protocol><vrrpprio>150</vrrpprio>").replace(
        "<peer>192.0.2.3</peer>", "")


# name: (config fixture, how to change it, capture, command, how to prepare the root)
CAPTURE_CASES = {
    # 11.1: maintenance mode says what it achieves (254 is advertised as 240)
    "maintenance-on.freebsd": ("modern.xml", modern_on_em, "freebsd-14.txt",
                               ["maintenance", "on", "--backend", "freebsd", "--dry-run"], None),
    # 11.2: a 24-byte password: a warning, and the vhid gets exactly its first 19 bytes
    "long-password.freebsd": ("modern.xml", long_lan_password, "freebsd-14.txt",
                              ["render", "--backend", "freebsd", "--format", "commands", "--show-secrets"], None),
    # 11.3 + 11.4: unicast CARP peers and the pfsync peer/defer against a FreeBSD 14 host running others
    "unicast-pfsync.freebsd": ("peers.xml", None, "freebsd-14-unicast-peer-pfsync-syncpeer.txt",
                               ["sync", "--backend", "freebsd", "--dry-run"], None),
    # 11.3: pfsync turned off: -syncdev -syncpeer down, as pfSense and OPNsense take it down
    "pfsync-off.freebsd": ("peers.xml", lambda t: t.replace("<pfsync>on</pfsync>", "").replace(
                               "<syncpeer>172.16.0.2</syncpeer>", ""),
                           "freebsd-14-unicast-peer-pfsync-syncpeer.txt",
                           ["sync", "--backend", "freebsd", "--dry-run"], None),
    # 11.10: stop --dry-run against a capture: everything it shows is removed, pfsync with its peer
    "stop.freebsd": ("peers.xml", None, "freebsd-14-unicast-peer-pfsync-syncpeer.txt",
                     ["stop", "--backend", "freebsd", "--dry-run"], None),
    # 11.5: on pfSense the base system owns preempt: never lowered, a warning instead
    "preempt-pfsense.freebsd": ("modern.xml", no_preempt, "freebsd-14.txt",
                                ["sync", "--backend", "freebsd", "--dry-run"], pfsense_root),
    # 11.5: on plain FreeBSD, the value found at install comes back when no VIP preempts
    "preempt-restore.freebsd": ("modern.xml", no_preempt, "freebsd-14.txt",
                                ["sync", "--backend", "freebsd", "--dry-run"], installed_with_preempt_1),
    # 14: FreeBSD 15 VRRPv3 (carpver 3) against the capture it describes: nothing but the preempt sysctl (which a
    # capture does not show) when nothing changed; one vhid command for a new priority and interval; the switches
    # between CARP and VRRPv3 both ways, each a re-creation (FreeBSD 15 refuses to change a vhid's version in place);
    # a fresh host (release unknown: a warning)
    "vrrp-unchanged.freebsd": ("vrrp-freebsd15.xml", None, "freebsd-15-vrrp.txt",
                               ["sync", "--backend", "freebsd", "--dry-run"], applied_vrrp_host),
    "vrrp-prio-interval.freebsd": ("vrrp-freebsd15.xml", vrrp_faster, "freebsd-15-vrrp.txt",
                                   ["sync", "--backend", "freebsd", "--dry-run"], applied_vrrp_host),
    "vrrp-to-carp.freebsd": ("vrrp-freebsd15.xml", vrrp_back_to_carp, "freebsd-15-vrrp.txt",
                             ["sync", "--backend", "freebsd", "--dry-run"], applied_vrrp_host),
    "carp-to-vrrp.freebsd": ("vrrp-freebsd15.xml", carp_to_vrrp, "freebsd-15-vrrp.txt",
                             ["sync", "--backend", "freebsd", "--dry-run"], applied_vrrp_host),
    "vrrp-status.freebsd": ("vrrp-freebsd15.xml", None, "freebsd-15-vrrp.txt",
                            ["status", "--backend", "freebsd"], applied_vrrp_host),
}


@pytest.mark.parametrize("name", sorted(CAPTURE_CASES))
def test_plans_against_captures_match_golden(name, tmp_path):
    config_name, change, capture, command, prepare = CAPTURE_CASES[name]
    root = tmp_path / "root"
    (root / "conf").mkdir(parents=True)
    text = open(fixture_path("config", config_name), encoding="utf-8").read()
    (root / "conf" / "config.xml").write_text(change(text) if change else text)
    if prepare:
        prepare(root)
    result = run_cli(["--root", str(root), *command, "--against", fixture_path("ifconfig", capture)])
    assert result.code == 0, result.err
    shown = f"$ carp-pkg {' '.join(command)} --against {capture}\n{result.out}--- stderr\n{result.err}"
    shown = shown.replace(str(root), "ROOT")
    path = os.path.join(GOLDEN, f"{name}.txt")
    if os.environ.get("CARP_PKG_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(shown)
    with open(path, encoding="utf-8") as handle:
        assert shown == handle.read()
