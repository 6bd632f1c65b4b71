"""rc.d/carp: the rc.subr(8) script for plain FreeBSD, run against a minimal rc.subr stand-in.

It proves that `service carp start|stop|status` (and onestart…) reach carp-pkg with the configured
config.xml and flags, that carp_enable gates it, and that the pf anchor is loaded only when asked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "rc.d" / "carp"
STUBS = Path(__file__).resolve().parent / "stubs"
RC_SUBR_LINE = ". /etc/rc.subr"


def header(name: str) -> list:
    return [line.split(":", 1)[1].split() for line in SCRIPT.read_text().splitlines()
            if line.startswith(f"# {name}:")]


def test_script_is_valid_posix_sh():
    result = subprocess.run(["sh", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)


def test_rcorder_header():
    assert header("PROVIDE") == [["carp"]]
    requires = [word for line in header("REQUIRE") for word in line]
    assert "NETWORKING" in requires
    assert "pf" in requires, "pf_start flushes the ruleset; the anchor must be loaded after it"
    assert [word for line in header("KEYWORD") for word in line][:1] == ["shutdown"]


def test_rc_subr_conventions():
    text = SCRIPT.read_text()
    assert text.count(RC_SUBR_LINE) == 1
    assert re.search(r"^name=\"?carp\"?$", text, re.M)
    assert re.search(r"^rcvar=\"?carp_enable\"?$", text, re.M)
    assert re.search(r"^load_rc_config \$name$", text, re.M)
    assert text.rstrip().endswith('run_rc_command "$1"')
    for variable in ("carp_enable", "carp_config", "carp_flags"):
        assert re.search(rf"^: \$\{{{variable}:=", text, re.M), variable


class Host:
    """A fake FreeBSD: the script with rc.subr swapped for the stand-in, a stub carp-pkg and pfctl."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.stub_dir = tmp / "stub"
        (self.stub_dir / "responses").mkdir(parents=True)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        os.symlink(STUBS / "pfctl", self.bin / "pfctl")
        self.config = tmp / "config.xml"
        self.config.write_text("<pfsense/>\n")
        self.rc_conf = tmp / "rc.conf"
        self.rc_conf.write_text("")
        text = SCRIPT.read_text()
        self.script = tmp / "carp"
        self.script.write_text(text.replace(RC_SUBR_LINE, f". {STUBS / 'rc.subr'}"))

    def conf(self, **values) -> None:
        settings = {"carp_config": str(self.config), "carp_program": str(STUBS / "carp-pkg"), **values}
        self.rc_conf.write_text("".join(f'{k}="{v}"\n' for k, v in settings.items()))

    def answer(self, command: str, stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        (self.stub_dir / "responses" / f"{command}.json").write_text(
            json.dumps({"stdout": stdout, "stderr": stderr, "rc": rc}))

    def run(self, argument: str) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "RC_CONF": str(self.rc_conf),
               "CARP_STUB_DIR": str(self.stub_dir), "HOME": str(self.tmp)}
        return subprocess.run(["sh", str(self.script), argument], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=60)

    def calls(self) -> list:
        path = self.stub_dir / "calls.jsonl"
        return [json.loads(line)["argv"] for line in path.read_text().splitlines()] if path.exists() else []

    def pfctl_log(self) -> str:
        path = self.stub_dir / "pfctl.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


@pytest.mark.parametrize("argument, command", [("start", "sync"), ("stop", "stop"), ("status", "status")])
def test_enabled_service_dispatches_to_carp_pkg(host, argument, command):
    host.conf(carp_enable="YES")
    result = host.run(argument)
    assert result.returncode == 0, result.stderr
    assert host.calls() == [["--config", str(host.config), command]]


def test_flags_come_before_the_command_as_separate_words(host):
    host.conf(carp_enable="YES", carp_flags="--root /mnt/fw")
    host.run("start")
    assert host.calls() == [["--root", "/mnt/fw", "--config", str(host.config), "sync"]]


def test_a_config_path_with_spaces_stays_one_argument(host):
    spaced = host.tmp / "my configs" / "config.xml"
    spaced.parent.mkdir()
    spaced.write_text("<pfsense/>\n")
    host.conf(carp_enable="YES", carp_config=str(spaced))
    host.run("start")
    assert host.calls() == [["--config", str(spaced), "sync"]]


def test_disabled_service_does_nothing_on_start_and_stop(host):
    host.conf(carp_enable="NO")
    assert host.run("start").returncode == 0
    assert host.run("stop").returncode == 0
    assert host.calls() == []


def test_disabled_service_refuses_status(host):
    host.conf()
    result = host.run("status")
    assert result.returncode == 1 and "onestatus" in result.stderr
    assert host.calls() == []


def test_one_prefix_runs_even_when_disabled(host):
    host.conf()
    assert host.run("onestart").returncode == 0
    assert host.run("onestatus").returncode == 0
    assert [argv[-1] for argv in host.calls()] == ["sync", "status"]


def test_enable_defaults_to_no_when_rc_conf_is_silent(host):
    host.rc_conf.write_text(f'carp_config="{host.config}"\ncarp_program="{STUBS / "carp-pkg"}"\n')
    host.run("start")
    assert host.calls() == []


def test_missing_config_xml_stops_start_before_carp_pkg_runs(host):
    host.conf(carp_enable="YES", carp_config=str(host.tmp / "absent.xml"))
    result = host.run("start")
    assert result.returncode == 1 and "absent.xml" in result.stderr
    assert host.calls() == []


def test_failed_sync_fails_start(host):
    host.conf(carp_enable="YES", carp_pf_anchor="YES")
    host.answer("sync", stderr="carp-pkg: error: vhid 0\n", rc=3)
    result = host.run("start")
    assert result.returncode != 0
    assert host.pfctl_log() == "", "no pf rules after a failed sync"


def test_pf_anchor_is_loaded_after_sync_when_asked(host):
    host.conf(carp_enable="YES", carp_pf_anchor="YES")
    rules = 'pass quick on em0 inet proto carp from any to 224.0.0.18 no state label "carp-pkg: CARP on em0"'
    host.answer("rules", stdout=rules + "\n")
    assert host.run("start").returncode == 0
    assert [argv[-1] for argv in host.calls()] == ["sync", "rules"]
    assert host.pfctl_log() == f"argv: -a carp -f -\nstdin:\n{rules}\n"


def test_pf_anchor_untouched_when_rules_fail(host):
    host.conf(carp_enable="YES", carp_pf_anchor="YES")
    host.answer("rules", stderr="carp-pkg: error: bad\n", rc=3)
    assert host.run("start").returncode != 0
    assert host.pfctl_log() == "", "an empty load would flush the anchor"


def test_pf_anchor_not_loaded_by_default(host):
    host.conf(carp_enable="YES")
    host.run("start")
    assert host.pfctl_log() == ""


def test_stop_flushes_the_anchor_when_it_manages_it(host):
    host.conf(carp_enable="YES", carp_pf_anchor="YES")
    assert host.run("stop").returncode == 0
    assert host.pfctl_log() == "argv: -a carp -F rules\n"


def test_restart_is_stop_then_start(host):
    host.conf(carp_enable="YES")
    assert host.run("restart").returncode == 0
    assert [argv[-1] for argv in host.calls()] == ["stop", "sync"]


def test_unknown_argument_is_a_usage_error(host):
    host.conf(carp_enable="YES")
    result = host.run("explode")
    assert result.returncode != 0 and "Usage" in result.stderr
    assert host.calls() == []


@pytest.mark.skipif(shutil.which("rcorder") is None, reason="rcorder only exists on FreeBSD")
def test_rcorder_accepts_the_header():  # pragma: no cover - FreeBSD only
    result = subprocess.run(["rcorder", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
