"""The pfSense PHP shims, run with the real `php` against stand-in pfSense includes and a stub carp-pkg.

What a pfSense user would notice: values from carp-pkg can never inject HTML into the status page,
the buttons only act on a POST carrying pfSense's CSRF token, validation problems appear as input
errors on the right field, and a failed sync becomes a notice instead of vanishing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKGXML = ROOT / "pkgxml"
STUBS = Path(__file__).resolve().parent / "stubs"
PHP_STUBS = STUBS / "php"
CARP_PKG_STUB = STUBS / "carp-pkg"
PHP = shutil.which("php")

pytestmark = pytest.mark.skipif(
    PHP is None, reason="LOUD SKIP: php is not installed (apt-get install php-cli); the PHP shims are untested")

TOKEN = "sid:stub-token,1"
HOSTILE = "<script>alert('x')</script>"
STATUS = {
    "backend": "freebsd<b>",
    "maintenance": False,
    "sysctls": {"allow": 1, "preempt": 1, "demotion": 0},
    "vhids": [{"interface": HOSTILE, "vhid": 1, "addresses": ["192.168.1.1/24", "<img src=x onerror=alert(2)>"],
               "state": "MASTER\"><svg onload=alert(3)>", "advbase": 1, "advskew": 0,
               "peer": "10.0.0.2'onmouseover='alert(4)", "peer6": None}],
    "pfsync": {"syncdev": "em2<iframe>", "syncpeer": None, "maxupd": 128, "defer": False, "version": 1400,
               "syncok": True, "up": True},
}
RAW_INJECTIONS = ["<script>", "<img src=x", "<svg onload", "<iframe>", "<b>", "'onmouseover='"]


class Stub:
    """A stub carp-pkg: canned answers in, recorded calls out."""

    def __init__(self, directory: Path):
        self.dir = directory
        (directory / "responses").mkdir(parents=True)
        self.log = directory / "events.jsonl"

    def answer(self, command: str, stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        (self.dir / "responses" / f"{command}.json").write_text(json.dumps({"stdout": stdout, "stderr": stderr, "rc": rc}))

    def calls(self) -> list:
        path = self.dir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def argvs(self) -> list:
        return [call["argv"] for call in self.calls()]

    def events(self) -> list:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def env(self) -> dict:
        return {**os.environ, "CARP_STUB_DIR": str(self.dir), "CARP_PKG_BIN": str(CARP_PKG_STUB),
                "CARP_TEST_LOG": str(self.log)}


@pytest.fixture
def stub(tmp_path):
    stub = Stub(tmp_path / "stub")
    stub.answer("status", stdout=json.dumps(STATUS))
    return stub


def php(args, env, include_path=None):
    include = include_path or f"{PHP_STUBS}:{PKGXML}"
    return subprocess.run([PHP, "-d", f"include_path={include}", "-d", "display_errors=stderr", *args],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)


def page(stub, method="GET", params=None, name="carp_status.php"):
    result = php([str(PHP_STUBS / "run_page.php"), str(PKGXML / name), method, json.dumps(params or {})], stub.env())
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Fatal" not in result.stderr, result.stderr
    return result.stdout


def call_inc(stub, function, *args, console=False):
    env = stub.env()
    if console:
        env["CARP_TEST_CONSOLE"] = "1"
    result = php([str(PHP_STUBS / "call_inc.php"), function, json.dumps(list(args))], env)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Fatal" not in result.stderr, result.stderr
    return json.loads(result.stdout)


# --- syntax ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["carp.inc", "carp_status.php", "carp_rules.php", "carp.priv.inc"])
def test_php_lint(name):
    result = subprocess.run([PHP, "-l", str(PKGXML / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the status page -----------------------------------------------------------------------------------------
def test_status_page_escapes_every_value_from_carp_pkg(stub):
    html = page(stub)
    for raw in RAW_INJECTIONS:
        assert raw not in html, f"unescaped {raw!r} reached the page"
    assert "&lt;script&gt;alert(&#039;x&#039;)&lt;/script&gt;" in html
    assert "192.168.1.1/24, &lt;img src=x onerror=alert(2)&gt;" in html
    assert "MASTER&quot;&gt;&lt;svg onload=alert(3)&gt;" in html
    assert "em2&lt;iframe&gt;" in html
    assert "freebsd&lt;b&gt;" in html


def test_status_page_shows_the_running_state(stub):
    html = page(stub)
    assert "<td>1</td>" in html  # vhid
    assert "<dd>128</dd>" in html  # pfsync maxupd
    assert "<dd>yes</dd>" in html  # syncok
    assert "Maintenance mode: <strong>no</strong>" in html


def test_status_page_form_posts_and_carries_the_csrf_token(stub):
    html = page(stub)
    form_start = html.index('<form action="carp_status.php" method="post"')
    assert html[form_start:].split(">", 1)[1].startswith(f"<input type='hidden' name='__csrf_magic' value=\"{TOKEN}\"")


def test_get_with_an_action_changes_nothing(stub):
    html = page(stub, "GET", {"action": "maintenance_on"})
    assert stub.argvs() == [["status", "--json"]]
    assert "CARP" in html


@pytest.mark.parametrize("action, argv", [
    ("maintenance_on", ["maintenance", "on"]),
    ("maintenance_off", ["maintenance", "off"]),
    ("disable", ["disable"]),
    ("enable", ["enable"]),
    ("reset_demotion", ["demotion", "--reset"]),
])
def test_each_button_runs_its_command_on_post(stub, action, argv):
    page(stub, "POST", {"action": action, "__csrf_magic": TOKEN})
    assert stub.argvs() == [argv, ["status", "--json"]]


def test_post_without_the_csrf_token_runs_nothing(stub):
    html = page(stub, "POST", {"action": "disable"})
    assert "CSRF check failed" in html
    assert stub.argvs() == []


def test_post_with_a_forged_token_runs_nothing(stub):
    page(stub, "POST", {"action": "disable", "__csrf_magic": "sid:forged,1"})
    assert stub.argvs() == []


def test_unknown_action_is_refused_without_reaching_a_shell(stub):
    html = page(stub, "POST", {"action": "disable; touch /tmp/pwned", "__csrf_magic": TOKEN})
    assert stub.argvs() == [["status", "--json"]]
    assert "Unknown action." in html


def test_action_success_message_is_escaped(stub):
    stub.answer("maintenance", stdout="maintenance <b>on</b>\n")
    html = page(stub, "POST", {"action": "maintenance_on", "__csrf_magic": TOKEN})
    assert "maintenance &lt;b&gt;on&lt;/b&gt;" in html
    assert "<b>on</b>" not in html


def test_failed_action_shows_its_error_escaped(stub):
    stub.answer("disable", stderr="carp-pkg: error: <b>sysctl refused</b>\n", rc=5)
    html = page(stub, "POST", {"action": "disable", "__csrf_magic": TOKEN})
    assert "carp-pkg: error: &lt;b&gt;sysctl refused&lt;/b&gt;" in html
    assert "<b>sysctl" not in html


def test_status_failure_is_shown_escaped(stub):
    stub.answer("status", stderr="carp-pkg: error: <script>x</script> unreadable\n", rc=6)
    html = page(stub)
    assert "carp-pkg status failed: carp-pkg: error: &lt;script&gt;x&lt;/script&gt; unreadable" in html
    assert "<script>" not in html


def test_buttons_follow_the_state(stub):
    html = page(stub)
    assert 'value="maintenance_on"' in html and 'value="maintenance_off"' not in html
    assert 'value="disable"' in html and 'value="enable"' not in html
    stub.answer("status", stdout=json.dumps({**STATUS, "maintenance": True, "sysctls": {"allow": 0}}))
    html = page(stub)
    assert 'value="maintenance_off"' in html and 'value="maintenance_on"' not in html
    assert 'value="enable"' in html and 'value="disable"' not in html


def test_no_pfsync_and_no_vhids(stub):
    stub.answer("status", stdout=json.dumps({**STATUS, "vhids": [], "pfsync": None}))
    html = page(stub)
    assert "No CARP virtual host IDs are running." in html
    assert "pfsync is not configured." in html


# --- carp.inc ---------------------------------------------------------------------------------------------
def test_sync_success_is_logged_not_noticed(stub):
    stub.answer("sync", stdout="carp-pkg sync (freebsd): applied 2 changes\n")
    result = call_inc(stub, "carp_sync_package")
    assert result["returned"] is True
    assert stub.argvs() == [["sync"]]
    assert result["events"] == [["log", "carp: carp-pkg sync (freebsd): applied 2 changes"]]


def test_sync_failure_becomes_a_notice_with_its_message(stub):
    stub.answer("sync", stderr="carp-pkg: error: config.xml: vhid 0 is outside 1-255\n", rc=3)
    result = call_inc(stub, "carp_sync_package")
    assert result["returned"] is False
    assert ["notice", "carp-pkg: error: config.xml: vhid 0 is outside 1-255"] in result["events"]


def test_messages_show_on_the_console_during_installation(stub):
    stub.answer("install", stdout="installed\n")
    result = call_inc(stub, "carp_install_command", console=True)
    assert ["status", "installed\n"] in result["events"]


@pytest.mark.parametrize("function, command", [("carp_install_command", "install"),
                                               ("carp_deinstall_command", "deinstall")])
def test_install_and_deinstall_run_their_command(stub, function, command):
    assert call_inc(stub, function)["returned"] is True
    assert stub.argvs() == [[command]]


def test_validation_sends_only_the_entry_fields_as_json(stub):
    posted = {"ipaddress": "10.0.0.1", "netmask": "24", "vhid": "7", "premption": "on", "interface": "lan",
              "xml": "carp.xml", "id": "0", "__csrf_magic": TOKEN, "password": "p'; rm -rf / #"}
    result = call_inc(stub, "carp_validate_input", posted)
    assert result["input_errors"] == []
    (call,) = stub.calls()
    assert call["argv"] == ["validate", "--entry-json", "-"]
    assert json.loads(call["stdin"]) == {"ipaddress": "10.0.0.1", "netmask": "24", "vhid": "7", "premption": "on",
                                         "interface": "lan", "password": "p'; rm -rf / #"}


def test_validation_problems_become_input_errors_on_their_field(stub):
    problems = {"ok": False, "problems": [{"where": "config[0].vhid", "message": "0 is outside 1-255"},
                                          {"where": "config[0].password", "message": "longer than 19 bytes"},
                                          {"where": "config", "message": "vhid 1 is used twice"}]}
    stub.answer("validate", stdout=json.dumps(problems), rc=3)
    result = call_inc(stub, "carp_validate_input", {"vhid": "0"})
    assert result["input_errors"] == ["VHID Group: 0 is outside 1-255",
                                      "Virtual IP Password: longer than 19 bytes",
                                      "config: vhid 1 is used twice"]


def test_validation_that_cannot_run_blocks_the_save_with_a_reason(stub):
    stub.answer("validate", stdout="not json", stderr="carp-pkg: error: python missing\n", rc=6)
    result = call_inc(stub, "carp_validate_input", {"vhid": "1"})
    assert result["input_errors"] == ["carp-pkg could not check this entry: carp-pkg: error: python missing"]


def test_empty_form_is_sent_as_a_json_object(stub):
    call_inc(stub, "carp_validate_input", {})
    assert stub.calls()[0]["stdin"] == "{}"


def test_deleting_an_entry_is_not_validated(stub):
    result = call_inc(stub, "carp_validate_input", {"act": "del", "id": "0"})
    assert result["input_errors"] == [] and stub.argvs() == []


def test_arguments_reach_carp_pkg_intact_through_escapeshellarg(stub):
    hostile = "x'; touch pwned; echo '$(id) `id` \" \\ \n"
    call_inc(stub, "carp_pkg_run", [hostile, "second arg"])
    assert stub.argvs() == [[hostile, "second arg"]]
    assert not (Path.cwd() / "pwned").exists()


def test_default_binary_is_the_installed_carp_pkg(stub):
    env = {k: v for k, v in stub.env().items() if k != "CARP_PKG_BIN"}
    result = php(["-r", 'require "carp.inc"; echo carp_pkg_bin();'], env)
    assert result.stdout == "/usr/local/bin/carp-pkg"


def test_filter_hook_returns_the_rules_for_the_early_ruleset_only(stub):
    rules = 'pass quick on em0 inet proto carp from any to 224.0.0.18 no state label "carp-pkg: CARP on em0"\n'
    stub.answer("rules", stdout=rules)
    assert call_inc(stub, "carp_generate_rules", "pfearly")["returned"] == rules
    assert stub.argvs() == [["rules"]]
    assert call_inc(stub, "carp_generate_rules", "filter")["returned"] == ""
    assert stub.argvs() == [["rules"]]


def test_filter_hook_failure_loads_no_rules_and_says_why(stub):
    stub.answer("rules", stdout="pass quick on", stderr="carp-pkg: error: bad config\n", rc=3)
    result = call_inc(stub, "carp_generate_rules", "pfearly")
    assert result["returned"] == ""
    assert ["notice", "no pf rules for CARP: carp-pkg: error: bad config"] in result["events"]


# --- carp_rules.php -----------------------------------------------------------------------------------------
def rules_script(stub, *args):
    return php([str(PKGXML / "carp_rules.php"), *args], stub.env())


def test_rules_script_prints_carp_pkg_rules(stub):
    stub.answer("rules", stdout="# anchor body\n", stderr="a warning\n", rc=0)
    result = rules_script(stub)
    assert (result.returncode, result.stdout, result.stderr) == (0, "# anchor body\n", "a warning\n")
    assert stub.argvs() == [["rules"]]


def test_rules_script_passes_json_and_anchor_line_and_the_exit_code(stub):
    stub.answer("rules", stderr="carp-pkg: error: invalid\n", rc=3)
    assert rules_script(stub, "--json").returncode == 3
    rules_script(stub, "--anchor-line")
    assert stub.argvs() == [["rules", "--json"], ["rules", "--anchor-line"]]


def test_rules_script_refuses_other_options(stub):
    result = rules_script(stub, "--root=/etc")
    assert result.returncode == 2 and "usage" in result.stderr
    assert stub.argvs() == []
