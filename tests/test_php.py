"""The pfSense PHP shims, run with the real `php` against stand-in pfSense includes and carp-pkg.

What a pfSense user would notice: values from carp-pkg can never inject HTML into the status page,
the buttons only act on a POST carrying pfSense's CSRF token, validation problems appear as input
errors on the right field, and a failed sync becomes a notice instead of vanishing.

The input check runs against the REAL carp-pkg (the one installed next to this Python, given a
fixture config.xml): a stub answering JSON to any command line once hid that the GUI called it
without --json. The stub (tests/stubs/carp-pkg) stays for recording command lines and for failures
the real command cannot be made to produce; its validate answers are taken from the real command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carp_pkg.web.page import PageData, PageOptions, render_fragment

ROOT = Path(__file__).resolve().parent.parent
PKGXML = ROOT / "pkgxml"
STUBS = Path(__file__).resolve().parent / "stubs"
PHP_STUBS = STUBS / "php"
CARP_PKG_STUB = STUBS / "carp-pkg"
CONFIGS = Path(__file__).resolve().parent / "fixtures" / "config"
PHP = shutil.which("php")
# The real carp-pkg: the console script of the environment running these tests.
CARP_PKG_REAL = Path(sys.executable).parent / "carp-pkg"
# Anything PHP says about the code itself, on stdout or stderr.
PHP_DIAGNOSTIC = re.compile(r"\b(Warning|Notice|Deprecated|Fatal error|Parse error)\b")

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
# The page body: what `carp-pkg serve --pfsense-fragment` prints (the one template, rendered by carp-pkg)
FRAGMENT_ARGV = ["serve", "--pfsense-fragment"]


def fragment(status, refresh=False):
    """What the real command prints for this status document (its own renderer, not a guess)."""
    return render_fragment(PageData(status=status, check={"status": "OK", "findings": [], "unknown": None}),
                           PageOptions(pfsense=True, refresh=refresh))


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
    stub.answer("serve", stdout=fragment(STATUS))
    return stub


def php(args, env, include_path=None, cwd=None):
    include = include_path or f"{PHP_STUBS}:{PKGXML}"
    return subprocess.run([PHP, "-d", f"include_path={include}", "-d", "display_errors=stderr", "-d", "error_reporting=-1",
                           *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60, cwd=cwd)


def assert_clean(result):
    """The PHP ran to its end and said nothing about itself: no warning, notice, deprecation or error."""
    assert result.returncode == 0, result.stderr
    for stream in (result.stderr, result.stdout):
        assert not PHP_DIAGNOSTIC.search(stream), stream


def page(stub, method="GET", params=None, name="carp_status.php", directory=PKGXML, cwd=None):
    result = php([str(PHP_STUBS / "run_page.php"), str(directory / name), method, json.dumps(params or {})],
                 stub.env(), cwd=cwd)
    assert_clean(result)
    return result.stdout


def call_inc(stub, function, *args, console=False, pending_notices=None):
    """pending_notices: the pfSense notices already filed (get_notices()) when the function runs."""
    env = stub.env()
    if console:
        env["CARP_TEST_CONSOLE"] = "1"
    if pending_notices is not None:
        env["CARP_TEST_NOTICES"] = json.dumps(pending_notices)
    result = php([str(PHP_STUBS / "call_inc.php"), function, json.dumps(list(args))], env)
    assert_clean(result)
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
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "192.168.1.1/24<br>&lt;img src=x onerror=alert(2)&gt;" in html
    assert "MASTER&quot;&gt;&lt;svg onload=alert(3)&gt;" in html
    assert "em2&lt;iframe&gt;" in html
    assert "freebsd&lt;b&gt;" in html


def test_status_page_prints_carp_pkgs_body_as_it_is_between_head_and_foot(stub):
    html = page(stub).replace(f"<input type='hidden' name='__csrf_magic' value=\"{TOKEN}\" />", "")  # csrf-magic's
    start = html.index(fragment(STATUS))
    assert html.index("</html>") > start > html.index('<ul class="nav nav-pills">')
    assert stub.argvs() == [FRAGMENT_ARGV]


def test_status_page_shows_the_running_state(stub):
    html = page(stub)
    assert 'data-vhid="1"' in html
    assert '<td id="carp-maxupd" class="">128</td>' in html
    assert '<td id="carp-syncok" class="text-success">yes</td>' in html
    assert '<td id="carp-maintenance" class="">no</td>' in html


def test_status_page_form_posts_and_carries_the_csrf_token(stub):
    html = page(stub)
    form_start = html.index('<form action="carp_status.php" method="post"')
    assert html[form_start:].split(">", 1)[1].startswith(f"<input type='hidden' name='__csrf_magic' value=\"{TOKEN}\"")


@pytest.mark.parametrize("query, argv", [
    ({}, FRAGMENT_ARGV),
    ({"refresh": "1"}, FRAGMENT_ARGV + ["--refresh"]),
    ({"refresh": "0"}, FRAGMENT_ARGV),
    ({"refresh": ["1"]}, FRAGMENT_ARGV),
    ({"refresh": "1; --listen 0.0.0.0:80"}, FRAGMENT_ARGV),
])
def test_only_refresh_1_turns_the_auto_refresh_on(stub, query, argv):
    page(stub, "GET", query)
    assert stub.argvs() == [argv]


def test_get_with_an_action_changes_nothing(stub):
    html = page(stub, "GET", {"action": "maintenance_on"})
    assert stub.argvs() == [FRAGMENT_ARGV]
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
    assert stub.argvs() == [argv, FRAGMENT_ARGV]


def test_post_without_the_csrf_token_runs_nothing(stub):
    html = page(stub, "POST", {"action": "disable"})
    assert "CSRF check failed" in html
    assert stub.argvs() == []


def test_post_with_a_forged_token_runs_nothing(stub):
    page(stub, "POST", {"action": "disable", "__csrf_magic": "sid:forged,1"})
    assert stub.argvs() == []


def test_unknown_action_is_refused_without_reaching_a_shell(stub):
    html = page(stub, "POST", {"action": "disable; touch /tmp/pwned", "__csrf_magic": TOKEN})
    assert stub.argvs() == [FRAGMENT_ARGV]
    assert "Unknown action." in html


@pytest.mark.parametrize("action", [["x"], ["disable"], {"disable": "disable"}, [], ""])
def test_an_action_that_is_not_a_known_string_is_unknown_without_a_php_warning(stub, action):
    """`action[]=x` makes $_POST['action'] an array: it must be refused, not turned into "Array" with a warning."""
    html = page(stub, "POST", {"action": action, "__csrf_magic": TOKEN})  # page() fails on any PHP diagnostic
    assert "Unknown action." in html
    assert stub.argvs() == [FRAGMENT_ARGV]


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
    stub.answer("serve", stderr="carp-pkg: error: <script>x</script> unreadable\n", rc=6)
    html = page(stub)
    assert "carp-pkg status failed: carp-pkg: error: &lt;script&gt;x&lt;/script&gt; unreadable" in html
    assert "<script>" not in html


def test_buttons_follow_the_state(stub):
    html = page(stub)
    assert 'value="maintenance_on"' in html and 'value="maintenance_off"' not in html
    assert 'value="disable"' in html and 'value="enable"' not in html
    stub.answer("serve", stdout=fragment({**STATUS, "maintenance": True, "sysctls": {"allow": 0}}))
    html = page(stub)
    assert 'value="maintenance_off"' in html and 'value="maintenance_on"' not in html
    assert 'value="enable"' in html and 'value="disable"' not in html


def test_no_pfsync_and_no_vhids(stub):
    stub.answer("serve", stdout=fragment({**STATUS, "vhids": [], "pfsync": None}))
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


def test_validation_asks_for_json_and_sends_only_the_entry_fields(stub, real_cli):
    stub.answer("validate", **real_cli.answer({}))  # what the real command answers, not a guess
    new_fields = {"peer": "10.0.0.3", "peer6": "2001:db8::3", "syncpeer": "172.16.0.2", "defer": "on"}  # issue 11
    posted = {"ipaddress": "10.0.0.1", "netmask": "24", "vhid": "7", "premption": "on", "interface": "lan",
              "xml": "carp.xml", "id": "0", "__csrf_magic": TOKEN, "password": "p'; rm -rf / #", **new_fields}
    call_inc(stub, "carp_validate_input", posted)
    (call,) = stub.calls()
    assert call["argv"] == ["validate", "--entry-json", "-", "--json"]
    assert json.loads(call["stdin"]) == {"ipaddress": "10.0.0.1", "netmask": "24", "vhid": "7", "premption": "on",
                                         "interface": "lan", "password": "p'; rm -rf / #", **new_fields}


def test_the_validate_command_line_is_one_the_real_carp_pkg_answers_in_json(stub, real_cli):
    """Whatever carp.inc runs, run by the real carp-pkg, answers JSON: the stub cannot hide a missing --json."""
    stub.answer("validate", **real_cli.answer({}))
    call_inc(stub, "carp_validate_input", {"vhid": "0"})
    (call,) = stub.calls()
    answer = real_cli.run(call["argv"], call["stdin"])
    assert answer["rc"] == 3
    assert json.loads(answer["stdout"])["problems"]


def test_whole_entry_problems_keep_their_place(stub, real_cli):
    answer = json.loads(real_cli.answer({"vhid": "0"})["stdout"])
    answer["problems"] = [{"where": "config", "message": "vhid 1 is used twice"},
                          {"where": "config[0]", "message": "is empty"},
                          {"where": "config[0].nosuchfield", "message": "is not a field"}]
    stub.answer("validate", stdout=json.dumps(answer), rc=3)
    result = call_inc(stub, "carp_validate_input", {"vhid": "0"})
    assert result["input_errors"] == ["config: vhid 1 is used twice", "config[0]: is empty",
                                      "config[0].nosuchfield: is not a field"]


@pytest.mark.parametrize("answer, error", [
    # carp-pkg is there but its Python is not
    ({"stdout": "", "stderr": "carp-pkg: error: python missing\n", "rc": 6},
     "carp-pkg could not check this entry: carp-pkg: error: python missing"),
    # garbage, even with exit status 0, is no verdict
    ({"stdout": "garbage\n", "stderr": "", "rc": 0},
     "carp-pkg could not check this entry: unexpected answer (exit status 0): garbage"),
    ({"stdout": "{\"ok\": true}", "stderr": "", "rc": 3},
     "carp-pkg could not check this entry: unexpected answer (exit status 3): {\"ok\": true}"),
    # the plain-text answer (no --json): all of it, on one line
    ({"stdout": "", "stderr": "entry: 1 problem\n  config[0].vhid: 0 is outside 1-255\n", "rc": 3},
     "carp-pkg could not check this entry: entry: 1 problem config[0].vhid: 0 is outside 1-255"),
    # far too long for one message
    ({"stdout": "", "stderr": "x" * 1000, "rc": 1},
     "carp-pkg could not check this entry: " + "x" * (400 - len("carp-pkg could not check this entry: ")) + "..."),
])
def test_an_answer_that_is_not_a_verdict_is_one_clear_error(stub, answer, error):
    (stub.dir / "responses" / "validate.json").write_text(json.dumps(answer))
    result = call_inc(stub, "carp_validate_input", {"vhid": "1"})
    assert result["input_errors"] == [error]


def test_carp_pkg_text_becomes_one_line_of_valid_utf8(stub):
    code = 'require "carp.inc"; echo json_encode(carp_pkg_message("  bad \\xff\\xfe byte,\\n\\tnext line\\x00 \\xc3\\xa9 "));'
    result = php(["-r", code], stub.env())
    assert_clean(result)
    assert json.loads(result.stdout) == "bad \ufffd\ufffd byte, next line \u00e9"


def test_a_whole_file_error_from_carp_pkg_is_one_clear_error(stub, real_cli):
    answer = real_cli.run(["validate", "--entry-json", "-", "--json"], "not json")  # the real whole-file answer
    assert answer["rc"] == 3
    stub.answer("validate", **answer)
    (problem,) = json.loads(answer["stdout"])["problems"]
    assert not problem["where"].startswith("config")  # it names a file, not a field of the entry
    assert call_inc(stub, "carp_validate_input", {"vhid": "1"})["input_errors"] == [
        f"carp-pkg could not check this entry: {problem['where']}: {problem['message']}"]


def test_missing_carp_pkg_is_one_clear_error(stub, tmp_path):
    env = {**stub.env(), "CARP_PKG_BIN": str(tmp_path / "no-such-dir" / "carp-pkg")}
    result = php([str(PHP_STUBS / "call_inc.php"), "carp_validate_input", json.dumps([{"vhid": "1"}])], env)
    assert_clean(result)
    assert json.loads(result.stdout)["input_errors"] == [
        f"carp-pkg could not check this entry: carp-pkg is not installed (no executable {tmp_path / 'no-such-dir' / 'carp-pkg'})"]


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


# --- the input check against the real carp-pkg ------------------------------------------------------------------
class RealCli:
    """The real carp-pkg, reading a fixture config.xml, behind the CARP_PKG_BIN carp.inc runs.

    carp.inc runs `carp-pkg validate ...` with no --config (pfSense's /conf/config.xml is the default), so the
    test puts a two-line wrapper in front of the real command that adds `--config FIXTURE`; the arguments and
    standard input carp.inc sends reach the real command unchanged.

    backend: what `--backend auto` would pick on the host being played. carp.inc gives no --backend, so on
    pfSense (FreeBSD 14+) auto is `freebsd`, while on the Linux running these tests it is `ucarp`, which has no
    unicast CARP: to play pfSense, the wrapper appends `--backend freebsd` after carp.inc's arguments.
    """

    def __init__(self, directory: Path, config: Path, backend: str = ""):
        self.config = config
        self.bin = directory / "carp-pkg"
        directory.mkdir(parents=True, exist_ok=True)
        after = f" --backend {shlex.quote(backend)}" if backend else ""
        self.bin.write_text(f"#!/bin/sh\nexec {shlex.quote(str(CARP_PKG_REAL))} --config {shlex.quote(str(config))} "
                            f"\"$@\"{after}\n")
        self.bin.chmod(0o755)

    def env(self) -> dict:
        return {**os.environ, "CARP_PKG_BIN": str(self.bin)}

    def run(self, argv, stdin) -> dict:
        result = subprocess.run([str(self.bin), *argv], input=stdin, capture_output=True, text=True, timeout=60)
        return {"stdout": result.stdout, "stderr": result.stderr, "rc": result.returncode}

    def answer(self, entry: dict) -> dict:
        """What the real command answers carp.inc's validate call for this entry."""
        return self.run(["validate", "--entry-json", "-", "--json"], json.dumps(entry))


@pytest.fixture
def real_cli(tmp_path):
    if not CARP_PKG_REAL.exists():
        pytest.skip(f"LOUD SKIP: no real carp-pkg at {CARP_PKG_REAL} (pip install -e .); the input check is untested")
    return RealCli(tmp_path / "real-bin", CONFIGS / "modern.xml")


@pytest.fixture
def pfsense_cli(tmp_path):
    """The real carp-pkg as pfSense runs it: `auto` there is the freebsd backend (see RealCli)."""
    if not CARP_PKG_REAL.exists():
        pytest.skip(f"LOUD SKIP: no real carp-pkg at {CARP_PKG_REAL} (pip install -e .); the input check is untested")
    return RealCli(tmp_path / "pfsense-bin", CONFIGS / "modern.xml", backend="freebsd")


def edit_page(cli, params, cwd=None):
    """POST the edit form to the stand-in pkg_edit.php, which runs carp.xml's validation command."""
    result = php([str(PHP_STUBS / "run_page.php"), str(PHP_STUBS / "pkg_edit.php"), "POST",
                  json.dumps({"xml": "carp.xml", "id": "0", "__csrf_magic": TOKEN, "save": "Save", **params})],
                 cli.env(), cwd=cwd)
    assert_clean(result)
    return result.stdout


def validate_all(cli, posted):
    """carp_validate_input() run by PHP: {input_errors, events, notices} (notices: as pfSense files them)."""
    result = php([str(PHP_STUBS / "call_inc.php"), "carp_validate_input", json.dumps([posted])], cli.env())
    assert_clean(result)
    return json.loads(result.stdout)


def validate(cli, posted):
    return validate_all(cli, posted)["input_errors"]


def notices_shown(html):
    """The notices the stand-in pkg_edit.php lists after the page, as pfSense's notice list shows them."""
    return re.findall(r'<li class="notice">carp - (.*?)</li>', html)


# modern.xml: lan is vtnet1, 10.0.0.2/24
VALID_ENTRY = {"interface": "lan", "ipaddress": "10.0.0.50", "netmask": "24", "vhid": "30", "advbase": "1",
               "advskew": "100", "password": "s3cret 'quoted'", "premption": "ON"}


def test_real_cli_accepts_a_valid_entry(real_cli):
    assert validate(real_cli, VALID_ENTRY) == []
    assert '<p class="saved">Saved.</p>' in edit_page(real_cli, VALID_ENTRY)


LONG_PASSWORD_WARNING = ("Virtual IP Password: is 25 bytes; only the first 19 count (characters 1-19): ifconfig "
                         "strlcpy()s the key into CARP_KEY_LEN 20 and the kernel HMACs that buffer, so every FreeBSD "
                         "host ignores the last 6 characters; carp-pkg gives every backend (ucarp too) exactly those "
                         "19 bytes")


def test_real_cli_vhid_0_is_the_one_error_and_a_25_byte_password_only_a_warning(real_cli):
    """Issue 11: a password longer than 19 bytes is accepted (only its first 19 bytes count): it is shown as a
    warning, and the entry is refused for its vhid alone."""
    password = "p" * 24 + "q"
    result = validate_all(real_cli, {**VALID_ENTRY, "vhid": "0", "password": password})
    assert result["input_errors"] == ["VHID Group: 0 is outside 1-255"]
    assert [n["notice"] for n in result["notices"]] == [
        "CARP 10.0.0.50 (VHID 0): " + LONG_PASSWORD_WARNING]
    html = edit_page(real_cli, {**VALID_ENTRY, "vhid": "0", "password": password})
    assert re.findall(r"<li>(.*?)</li>", html) == ["VHID Group: 0 is outside 1-255"]
    assert notices_shown(html) == ["CARP 10.0.0.50 (VHID 0): " + LONG_PASSWORD_WARNING]
    assert "Saved." not in html
    for shown in (json.dumps(result), html):
        assert password not in shown and password[:19] not in shown and "p" * 19 not in shown


def test_real_cli_a_25_byte_password_alone_is_saved_with_its_warning(real_cli):
    password = "p" * 24 + "q"
    result = validate_all(real_cli, {**VALID_ENTRY, "password": password})
    assert result["input_errors"] == []
    (notice,) = result["notices"]
    assert notice["notice"] == "CARP 10.0.0.50 (VHID 30): " + LONG_PASSWORD_WARNING
    assert (notice["id"], notice["category"], notice["url"], notice["local_only"]) == (
        "carp", "CARP (failover)", "/pkg.php?xml=carp.xml", True)  # local only: no e-mail for a form warning
    html = edit_page(real_cli, {**VALID_ENTRY, "password": password})
    assert '<p class="saved">Saved.</p>' in html and notices_shown(html) == [notice["notice"]]
    assert password[:19] not in html


def test_real_cli_a_password_peers_rewrite_is_saved_with_its_warning(real_cli):
    """VALID_ENTRY's password has a space and quotes, which pfSense and OPNsense strip or escape."""
    result = validate_all(real_cli, VALID_ENTRY)
    assert result["input_errors"] == []
    (notice,) = [n["notice"] for n in result["notices"]]
    assert notice.startswith("CARP 10.0.0.50 (VHID 30): Virtual IP Password: contains a space and a single quote: ")
    assert notice.endswith("in a mixed cluster use a password without spaces, quotes or backslashes")
    assert VALID_ENTRY["password"] not in notice


# --- issue 11: the unicast peers and pfsync's peer and defer, judged by the real carp-pkg as pfSense runs it ----
PFSYNC_ENTRY = {**VALID_ENTRY, "password": "s3cret", "pfsync": "on", "synciface": "opt1"}  # opt1 = vtnet2


@pytest.mark.parametrize("posted, error", [
    ({"peer": "10.0.0.300"}, "Unicast Peer: '10.0.0.300' is not an IPv4 address"),
    ({"peer": "224.0.0.18"}, "Unicast Peer: 224.0.0.18 is multicast; leave peer empty for the multicast default "
                             "(224.0.0.18)"),
    ({"peer6": "10.0.0.3"}, "Unicast Peer (IPv6): '10.0.0.3' is IPv4, not IPv6; an IPv4 peer goes in <peer>"),
    ({"syncpeer": "224.0.0.240"}, "Synchronize Peer IP: 224.0.0.240 is multicast; leave syncpeer empty for the "
                                  "multicast default (224.0.0.240)"),
    ({"defer": "maybe"}, "Defer: 'maybe' is not a checkbox value (use on, or leave it out)"),
])
def test_real_cli_a_bad_new_field_is_an_error_on_that_field(pfsense_cli, posted, error):
    assert validate(pfsense_cli, {**PFSYNC_ENTRY, **posted}) == [error]
    html = edit_page(pfsense_cli, {**PFSYNC_ENTRY, **posted})
    assert re.findall(r"<li>(.*?)</li>", html) == [html_escape(error)]
    assert "Saved." not in html


@pytest.mark.parametrize("posted", [
    {"peer": "10.0.0.3"},
    {"peer": "10.0.0.3", "syncpeer": "172.16.0.2", "defer": "on"},
    {"syncpeer": "172.16.0.2"},
    {"defer": "on"},
    {"peer": "", "peer6": "", "syncpeer": "", "defer": ""},  # the form posts empty fields: multicast, no defer
])
def test_real_cli_valid_new_fields_pass(pfsense_cli, posted):
    result = validate_all(pfsense_cli, {**PFSYNC_ENTRY, **posted})
    assert (result["input_errors"], result["notices"]) == ([], [])
    assert '<p class="saved">Saved.</p>' in edit_page(pfsense_cli, {**PFSYNC_ENTRY, **posted})


def test_real_cli_a_peer6_on_an_ipv4_vip_is_saved_with_a_warning_on_its_field(pfsense_cli):
    result = validate_all(pfsense_cli, {**PFSYNC_ENTRY, "peer6": "2001:db8::3"})
    assert result["input_errors"] == []
    assert [n["notice"] for n in result["notices"]] == [
        "CARP 10.0.0.50 (VHID 30): Unicast Peer (IPv6): has no effect: vhid 30 on vtnet1 has no IPv6 address, so it "
        "sends no IPv6 advertisements"]
    assert '<p class="saved">Saved.</p>' in edit_page(pfsense_cli, {**PFSYNC_ENTRY, "peer6": "2001:db8::3"})


def test_real_cli_what_the_backend_cannot_do_lands_on_the_field_too(real_cli):
    """On Linux (auto = ucarp, no unicast CARP) the same valid peer is refused, on the Unicast Peer field."""
    (error,) = validate(real_cli, {**PFSYNC_ENTRY, "peer": "10.0.0.3"})
    assert error.startswith("Unicast Peer: vhid 30 on vtnet1 asks for a unicast peer; ucarp has no unicast CARP")


def html_escape(text):
    """What the stand-in print_input_errors() prints for a message (htmlspecialchars, PHP 8.1 defaults)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace(
        "'", "&#039;")


# --- warnings: shown as notices, never blocking, escaped, never a password ---------------------------------
def ok_answer(real_cli, warnings):
    """The real command's answer for a valid entry, with these warnings in it."""
    answer = json.loads(real_cli.answer({"interface": "lan", "ipaddress": "10.0.0.50", "vhid": "30",
                                         "password": "s3cret"})["stdout"])
    assert answer["ok"] is True and answer["problems"] == []
    return json.dumps({**answer, "warnings": warnings})


def test_warnings_become_notices_and_never_input_errors(stub, real_cli):
    stub.answer("validate", stdout=ok_answer(real_cli, [
        {"where": "config[0].advskew", "message": "250 advertises 240 on the wire"},
        {"where": "config[0].preempt", "message": "one"},
        {"where": "config", "message": "about the whole entry"}]))
    result = call_inc(stub, "carp_validate_input", {**VALID_ENTRY, "advskew": "250"})
    assert result["input_errors"] == []
    assert [n["notice"] for n in result["notices"]] == [
        "CARP 10.0.0.50 (VHID 30): Advertising Skew: 250 advertises 240 on the wire",
        "CARP 10.0.0.50 (VHID 30): Preemption: one",
        "CARP 10.0.0.50 (VHID 30): config: about the whole entry"]
    assert {(n["id"], n["category"], n["priority"], n["local_only"]) for n in result["notices"]} == {
        ("carp", "CARP (failover)", "1", True)}


def test_warnings_do_not_block_the_save(stub, real_cli):
    stub.answer("validate", stdout=ok_answer(real_cli, [{"where": "config[0].advskew", "message": "a warning"}]))
    html = edit_page(stub, VALID_ENTRY)
    assert '<p class="saved">Saved.</p>' in html and "input-errors" not in html
    assert notices_shown(html) == ["CARP 10.0.0.50 (VHID 30): Advertising Skew: a warning"]


def test_a_warning_is_escaped_on_one_line_and_bounded(stub, real_cli):
    hostile = "<script>alert('x')</script> \xff\n<img src=x onerror=alert(1)>"
    stub.answer("validate", stdout=ok_answer(real_cli, [{"where": "config[0].peer", "message": hostile},
                                                        {"where": "config[0].peer6", "message": "y" * 2000}]))
    html = edit_page(stub, {**VALID_ENTRY, "ipaddress": "<b>10.0.0.50</b>", "vhid": "30\"><svg>"})
    body = html.split("<body>", 1)[1]
    for raw in ("<script>", "<img", "<b>", "<svg"):
        assert raw not in body, raw
    first, second = notices_shown(html)
    # the entry is named only by values that look like an address and a vhid; the text as file_notice() stores it
    assert first == ("CARP: Unicast Peer: &lt;script&gt;alert(&#039;x&#039;)&lt;/script&gt; &yuml; "
                     "&lt;img src=x onerror=alert(1)&gt;")  # one line: the newline became a space
    assert second == "CARP: Unicast Peer (IPv6): " + "y" * (800 - len("CARP: Unicast Peer (IPv6): ")) + "..."


def test_a_warning_never_shows_the_password(stub, real_cli):
    password = "Sx7-MARKER-0123456789-tail"  # 26 bytes: CARP keys on its first 19
    stub.answer("validate", stdout=ok_answer(real_cli, [
        {"where": "config[0].password", "message": f"is {password}"},
        {"where": "config[0].password", "message": f"starts with {password[:19]}!"},
        {"where": "config[0].password", "message": "is 26 bytes"}]))
    result = call_inc(stub, "carp_validate_input", {**VALID_ENTRY, "password": password})
    assert [n["notice"] for n in result["notices"]] == [
        "CARP 10.0.0.50 (VHID 30): Virtual IP Password: is ***",
        "CARP 10.0.0.50 (VHID 30): Virtual IP Password: starts with ***!",
        "CARP 10.0.0.50 (VHID 30): Virtual IP Password: is 26 bytes"]
    assert "Sx7-MARKER" not in json.dumps(result)


def test_a_malformed_warning_is_skipped_and_the_entry_still_passes(stub, real_cli):
    stub.answer("validate", stdout=ok_answer(real_cli, ["text", 7, None, {"where": 3, "message": "m"},
                                                        {"where": "config[0].vhid"}, {"message": "kept"}]))
    result = call_inc(stub, "carp_validate_input", VALID_ENTRY)
    assert result["input_errors"] == []
    assert [n["notice"] for n in result["notices"]] == ["CARP 10.0.0.50 (VHID 30): kept"]
    stub.answer("validate", stdout=ok_answer(real_cli, {"not": "a list"}))
    result = call_inc(stub, "carp_validate_input", VALID_ENTRY)
    assert (result["input_errors"], result["notices"]) == ([], [])


def test_a_warning_still_pending_is_not_filed_again(stub, real_cli):
    """Saving the same entry twice files its warning once; another entry's same warning is its own notice."""
    stub.answer("validate", stdout=ok_answer(real_cli, [{"where": "config[0].advskew", "message": "a & <b>"}]))
    first = call_inc(stub, "carp_validate_input", VALID_ENTRY)["notices"]
    assert [n["notice"] for n in first] == ["CARP 10.0.0.50 (VHID 30): Advertising Skew: a &amp; &lt;b&gt;"]
    assert call_inc(stub, "carp_validate_input", VALID_ENTRY, pending_notices=first)["notices"] == first
    other = call_inc(stub, "carp_validate_input", {**VALID_ENTRY, "vhid": "31"}, pending_notices=first)["notices"]
    assert [n["notice"] for n in other][1:] == ["CARP 10.0.0.50 (VHID 31): Advertising Skew: a &amp; &lt;b&gt;"]


def test_real_cli_preempt_problem_lands_on_the_premption_field(real_cli):
    """carp-pkg calls the checkbox "preempt"; the edit page's field is the original package's "premption"."""
    assert validate(real_cli, {**VALID_ENTRY, "premption": "maybe"}) == [
        "Preemption: 'maybe' is not a checkbox value (use on, or leave it out)"]


def test_real_cli_hostile_values_are_shown_escaped_and_nothing_runs(real_cli, tmp_path):
    canary = "canary"  # relative: carp.inc and carp-pkg run in tmp_path
    posted = {**VALID_ENTRY,
              "interface": f"lan$(touch {canary}1)",
              "netmask": f"24\"'; `touch {canary}2`",
              "vhid": "1\n2",
              "password": f"p'\"$(touch {canary}3)\n<script>alert(1)</script>",
              "advskew": "<img src=x onerror=alert(1)>",
              "advbase": f"1 && touch {canary}4",
              "premption": "<b>bold</b>"}
    html = edit_page(real_cli, posted, cwd=tmp_path)
    errors = re.findall(r"<li>(.*?)</li>", html)
    assert [error.split(":", 1)[0] for error in errors] == [
        "Virtual IP Prefix Length", "Interface", "VHID Group", "Advertising Skew", "Advertising Base",
        "Virtual IP Password", "Preemption"]
    for raw in ("<script>", "<img", "<b>", "'<", "\"'"):
        assert raw not in html.split("<body>", 1)[1], raw
    assert "Advertising Skew: &#039;&lt;img src=x onerror=alert(1)&gt;&#039; is not a whole number" in html
    assert "Preemption: &#039;&lt;b&gt;bold&lt;/b&gt;&#039; is not a checkbox value" in html
    assert f"Virtual IP Prefix Length: &#039;24&quot;\\&#039;; `touch {canary}2`&#039;" in html
    assert "VHID Group: &#039;1\\n2&#039; is not a whole number" in html
    assert "Virtual IP Password: contains control characters" in html
    assert "Saved." not in html
    assert not list(tmp_path.glob("canary*")), "a posted value was executed"


def test_real_cli_a_field_posted_as_an_array_is_refused(real_cli):
    """pfSense saves `password[]=...` joined by commas: left unchecked, any password would pass."""
    errors = validate(real_cli, {**VALID_ENTRY, "password": ["p" * 40, "x"], "vhid": {"a": "1"}})
    assert errors == ["Virtual IP Password: must be one text value", "VHID Group: must be one text value"]
    html = edit_page(real_cli, {**VALID_ENTRY, "ipaddress": ["10.0.0.50"]})
    assert re.findall(r"<li>(.*?)</li>", html) == ["Virtual IP Address: must be one text value"]


def test_real_cli_a_value_that_is_not_utf8_is_refused(real_cli):
    code = ('require "carp.inc"; $e = array(); '
            'carp_validate_input(array("interface" => "lan", "ipaddress" => "10.0.0.50", "vhid" => "30", '
            '"password" => "ab\\xff\\xfe"), $e); echo json_encode($e);')
    result = php(["-r", code], real_cli.env())
    assert_clean(result)
    assert json.loads(result.stdout) == ["Virtual IP Password: is not valid UTF-8 text"]


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


def test_rules_script_included_by_other_php_prints_nothing_and_returns(stub):
    """Included from PHP run on the command line (inside a function there is no $argv), it must stay silent."""
    result = php(["-r", 'function f() { include "carp_rules.php"; echo "caller continues"; } f();'], stub.env())
    assert_clean(result)
    assert result.stdout == "caller continues"
    assert stub.argvs() == []
