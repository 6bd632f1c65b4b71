"""Security issue 10: what an outsider got through, each as a regression test, widened to its class.

Device names from every source (config.xml, a capture), comments in generated scripts, paths built from
data, modes under a hostile umask, symlinks where carp-pkg creates files, unbounded inputs, tracebacks,
--lock-timeout, SIGTERM mid-apply and stale staged copies, IPv4-embedding IPv6 VIPs, ambiguous names.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from carp_pkg.backends.ucarp import START_SNIPPET, InstanceFiles, down_script, parse_instance_name
from carp_pkg.errors import InputError
from carp_pkg.plan import Plan, Step
from carp_pkg.script import render_commands, render_script

from tests.helpers import fixture_path, host_runner, read_fixture, run_cli
from tests.reliability.figures import FIGURES

INJECTION = "injection attempts"
FILE_SYSTEM = "file-system attacks"
ENCODINGS = "encodings"
SHELLS = [shell for shell in ("sh", "dash", "bash") if shutil.which(shell)]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# every byte a name could carry that is not in [A-Za-z0-9_.:-], and the shapes of names the OS refuses
CONTROL_CHARACTERS = [chr(code) for code in range(0x20)] + ["\x7f", "\x85", "\u2028", "\u2029"]
BAD_NAMES = ([f"em{c}1" for c in CONTROL_CHARACTERS]
             + ["em1\n/sbin/reboot", "em1;reboot", "$(reboot)", "`reboot`", "em 1", "em/1", "../../../x", "..",
                ".", "a" * 16, "émile0", "em1\u200b", "e'm", 'e"m', "em1|x", "em1&", "em1>x", "*", "em1#x"])
GOOD_NAMES = ["em1", "igb0.100", "lagg0_vlan10", "vtnet1", "eth0:1", "a" * 15, "br-lan", "0xyz"]


def config_with_device(device: str, *, field: str = "if") -> str:
    """A config.xml whose LAN device (or the entry's own <interface>/<synciface>) is `device`."""
    lan_if = device if field == "if" else "em1"
    entry_extra = {"interface": f"<interface>{device}</interface>",
                   "synciface": f"<pfsync>on</pfsync><synciface>{device}</synciface>"}.get(field, "")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<pfsense><interfaces>\n'
            f'<lan><if>{_xml_text(lan_if)}</if><ipaddr>192.168.1.2</ipaddr><subnet>24</subnet></lan>\n'
            '</interfaces><installedpackages><carp><config>\n'
            '<ipaddress>192.168.1.1</ipaddress><netmask>24</netmask><password>s3cret</password><vhid>1</vhid>\n'
            f'{entry_extra.replace(device, _xml_text(device))}\n'
            '</config></carp></installedpackages></pfsense>\n')


def _xml_text(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"&#x{ord(c):x};" for c in escaped)


def xml_can_carry(name: str) -> bool:
    """XML 1.0 cannot carry most C0 control characters at all (the parser refuses them: also exit 3)."""
    return all(c in "\t\n\r" or ord(c) >= 0x20 for c in name)


# --- 1(a): device names from every source -----------------------------------------------------------------

@pytest.mark.parametrize("field", ["if", "interface", "synciface"])
@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:24] for n in BAD_NAMES])
def test_a_device_name_outside_the_os_rule_is_refused_with_its_place(tmp_path, field, name):
    with FIGURES.case(INJECTION):
        config = tmp_path / "config.xml"
        config.write_text(config_with_device(name, field=field), encoding="utf-8")
        result = run_cli(["--root", str(tmp_path / "root"), "--config", str(config), "render", "--backend", "freebsd",
                          "--format", "script"], runner=host_runner())
        assert result.code == 3, result.out + result.err
        assert result.out == ""  # no script was printed
        assert "Traceback" not in result.err
        if xml_can_carry(name) and name.strip() == name:
            place = "interfaces.lan.if" if field == "if" else f"config[0].{field}"
            assert place in result.err or "config[0].interface" in result.err, result.err
            assert "\n/sbin/reboot" not in result.err  # the message shows the name escaped, on one line


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_real_device_names_are_accepted(tmp_path, name):
    config = tmp_path / "config.xml"
    config.write_text(config_with_device(name), encoding="utf-8")
    result = run_cli(["--config", str(config), "validate", "--backend", "freebsd"])
    assert result.code == 0, result.err
    on_linux = run_cli(["--config", str(config), "validate", "--backend", "ucarp"])
    assert (on_linux.code, "address label" in on_linux.err) == ((3, True) if ":" in name else (0, False)), on_linux.err


@pytest.mark.parametrize("name", ["em1/x", "e$(id)", "a" * 16, "..", "em\u00e91"])
def test_a_capture_with_a_hostile_interface_header_is_refused(tmp_path, name):
    with FIGURES.case(INJECTION):
        capture = tmp_path / "ifconfig.txt"
        capture.write_text(read_fixture("ifconfig", "freebsd-14.txt").replace("em1:", f"{name}:", 1), encoding="utf-8")
        result = run_cli(["--config", fixture_path("config", "modern.xml"), "render", "--backend", "freebsd",
                          "--against", str(capture)])
        assert result.code == 3, result.out + result.err
        assert "--against" in result.err and "not a valid device name" in result.err


# --- 1(b): a comment can never carry a line end ----------------------------------------------------------

def _script_with(text: str) -> str:
    step = Step(("ifconfig", "em0", "up"), f"why {text}")
    plan = Plan("freebsd", (step,), warnings=(f"warned {text}",))
    return render_script(plan, Plan("freebsd", (step,)), f"/conf/config{text}.xml")


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00"])
def test_no_text_in_a_comment_can_run_as_a_command(tmp_path, shell, line_end):
    with FIGURES.case(INJECTION):
        marker = tmp_path / "ran"
        payload = f"{line_end}touch {marker}{line_end}"
        script = tmp_path / "carp.sh"
        script.write_text(_script_with(payload), encoding="utf-8")
        stubs = tmp_path / "bin"
        stubs.mkdir()
        (stubs / "ifconfig").write_text("#!/bin/sh\nexit 0\n")
        (stubs / "ifconfig").chmod(0o755)
        env = {"PATH": f"{stubs}:/usr/bin:/bin"}
        subprocess.run([shell, str(script), "start"], env=env, capture_output=True, timeout=20)
        subprocess.run([shell, str(script), "stop"], env=env, capture_output=True, timeout=20)
        assert not marker.exists()
        for line in script.read_text(encoding="utf-8").split("\n"):
            if "touch" in line:
                assert line.lstrip().startswith("#") or "  # why" in line, line


def test_the_command_listing_keeps_each_reason_on_its_line():
    listing = render_commands(Plan("freebsd", (Step(("ifconfig", "em0"), "why\nreboot"),)))
    assert listing.count("\n") == 1 and "why\\x0areboot" in listing


def test_a_config_path_with_a_newline_stays_in_the_header_comment(tmp_path):
    with FIGURES.case(INJECTION):
        weird = tmp_path / "conf\nreboot"
        weird.mkdir()
        config = weird / "config.xml"
        shutil.copy(fixture_path("config", "modern.xml"), config)
        result = run_cli(["--config", str(config), "render", "--backend", "freebsd", "--format", "script"])
        assert result.code == 0, result.err
        assert "\nreboot" not in result.out
        subprocess.run(["sh", "-n"], input=result.out, text=True, check=True)


# --- 2: paths built from data stay in their directory ---------------------------------------------------

@pytest.mark.parametrize("interface", ["../../../../x", "..", "a/b", "em0\n", ""])
def test_ucarp_instance_files_cannot_leave_the_state_directory(interface):
    with FIGURES.case(FILE_SYSTEM):
        with pytest.raises(InputError, match="refusing the file name"):  # noqa: PT012
            InstanceFiles("/var/db/carp-pkg/ucarp", interface, 1).password


@pytest.mark.parametrize("name", ["..-vhid1.json", "a b-vhid1.json", "em0-vhid0.json", "em0-vhid999.json",
                                  "x" * 16 + "-vhid1.json"])
def test_foreign_files_in_the_ucarp_state_dir_are_not_taken_for_instances(name):
    assert parse_instance_name(name) is None


def test_a_traversing_device_name_never_reaches_the_ucarp_backend(tmp_path):
    with FIGURES.case(FILE_SYSTEM):
        config = tmp_path / "config.xml"
        config.write_text(config_with_device("../../../../../x"), encoding="utf-8")
        result = run_cli(["--root", str(tmp_path / "root"), "--config", str(config), "sync", "--backend", "ucarp"],
                         runner=host_runner())
        assert result.code == 3
        assert not [name for _dirs, _subdirs, names in os.walk(tmp_path) for name in names if "-vhid1." in name]


# --- 3 and 4: modes under umask 000, symlinks ----------------------------------------------------------

@pytest.fixture
def umask_zero():
    previous = os.umask(0)
    yield
    os.umask(previous)


def _modes_under(root) -> dict:
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_nothing_sync_creates_is_writable_by_others_under_umask_000(tmp_path, umask_zero):
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd"], runner=host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
        assert result.code == 0, result.err
        modes = _modes_under(root)
        assert modes, "sync created nothing"
        for path, mode in modes.items():
            assert not mode & 0o022, f"{path} is {oct(mode)}"
        assert modes[os.path.join("var", "db", "carp-pkg")] == 0o700
        assert modes[os.path.join("usr", "local", "etc", "rc.d", "carp.sh")] == 0o700
        assert modes[os.path.join("var", "db", "carp-pkg", "applied.json")] == 0o600


def test_existing_shared_directories_keep_their_modes(tmp_path):
    """/tmp (1777) holds pfSense's lock; carp-pkg must never change a directory it did not create."""
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        (root / "tmp").mkdir(parents=True)
        (root / "tmp").chmod(0o1777)
        (root / "usr" / "local" / "etc" / "rc.d").mkdir(parents=True)
        (root / "usr" / "local" / "etc" / "rc.d").chmod(0o775)
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd"], runner=host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
        assert result.code == 0, result.err
        assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
        assert stat.S_IMODE((root / "usr" / "local" / "etc" / "rc.d").stat().st_mode) == 0o775


def test_a_state_dir_that_others_may_write_is_tightened_before_use(tmp_path):
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        state = root / "var" / "db" / "carp-pkg"
        state.mkdir(parents=True)
        state.chmod(0o777)
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd"], runner=host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
        assert result.code == 0, result.err
        assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_a_symlinked_state_dir_is_refused(tmp_path):
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (root / "var" / "db").mkdir(parents=True)
        (root / "var" / "db" / "carp-pkg").symlink_to(elsewhere)
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd"], runner=host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
        assert result.code == 6
        assert "symbolic link" in result.err
        assert os.listdir(elsewhere) == []


@pytest.mark.parametrize("existing_target", [True, False])
def test_a_symlinked_config_lock_is_refused_and_its_target_untouched(tmp_path, existing_target):
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        (root / "tmp").mkdir(parents=True)
        target = tmp_path / "victim"
        if existing_target:
            target.write_text("precious\n")
        (root / "tmp" / "config.lock").symlink_to(target)
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd", "--lock-timeout", "0"], runner=host_runner())
        assert result.code == 4
        assert "symbolic link" in result.err
        if existing_target:
            assert target.read_text() == "precious\n"
        else:
            assert not target.exists()


def _start_instance(tmp_path, files: InstanceFiles):
    return subprocess.run(["/bin/sh", "-c", START_SNIPPET, "start", files.pid, files.log, "sleep", "30"],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("which", ["pid", "log"])
def test_the_ucarp_start_refuses_a_symlinked_pid_or_log_file(tmp_path, which):
    with FIGURES.case(FILE_SYSTEM):
        files = InstanceFiles(str(tmp_path), "eth0", 1)
        victim = tmp_path / "victim"
        victim.write_text("precious\n")
        os.symlink(victim, getattr(files, which))
        result = _start_instance(tmp_path, files)
        assert result.returncode != 0 and "symbolic link" in result.stderr
        assert victim.read_text() == "precious\n"


def test_the_ucarp_start_and_scripts_create_private_files_under_umask_000(tmp_path, umask_zero):
    with FIGURES.case(FILE_SYSTEM):
        files = InstanceFiles(str(tmp_path), "eth0", 1)
        result = _start_instance(tmp_path, files)
        assert result.returncode == 0, result.stderr
        pid = int(open(files.pid).read())
        try:
            for path in (files.pid, files.log):
                assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
        finally:
            os.kill(pid, signal.SIGTERM)
        script = tmp_path / "down"
        script.write_text(down_script(files).replace("ip addr del", ": ip addr del"))
        subprocess.run(["/bin/sh", str(script), "eth0", "10.0.0.1", "24"], check=True, timeout=20)
        assert open(files.state).read().startswith("BACKUP ")
        assert stat.S_IMODE(os.stat(files.state).st_mode) & 0o077 == 0


# --- 7: every encoding ---------------------------------------------------------------------------------

def _all_encodings():
    import encodings.aliases
    return sorted(set(encodings.aliases.aliases.values()) | {"utf-7", "utf-32", "utf-32-be", "utf-16-le",
                                                              "shift_jis", "euc-jp", "gbk", "big5", "euc-kr",
                                                              "gb18030", "iso-2022-jp", "hz", "no-such-encoding"})


@pytest.mark.parametrize("encoding", _all_encodings())
def test_every_declared_encoding_ends_in_exit_0_or_3_with_one_line(tmp_path, encoding):
    with FIGURES.case(ENCODINGS):
        document = config_with_device("em1").replace('encoding="utf-8"', f'encoding="{encoding}"')
        try:
            data = document.encode(encoding)
        except (LookupError, UnicodeError, ValueError, TypeError):
            data = document.encode("utf-8")
        config = tmp_path / "config.xml"
        config.write_bytes(data)
        result = run_cli(["--config", str(config), "validate"])
        assert result.code in (0, 3), result.err
        if result.code == 3:
            assert result.err.count("\n") <= 3 and "Traceback" not in result.err


# --- 8 and 9: unbounded or odd inputs, and tracebacks ---------------------------------------------------

def _cli_process(argv, **kwargs):
    """carp-pkg as a user runs it: a separate process through the real entry point."""
    code = "import sys; from carp_pkg.cli import entry_point; sys.argv[0] = 'carp-pkg'; entry_point()"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, timeout=60, cwd=REPO, **kwargs)


@pytest.mark.parametrize("argv", [
    ["render", "--backend", "freebsd", "--against", "/dev/zero"],
    ["check", "--backend", "freebsd", "--against", "/dev/zero"],
    ["status", "--backend", "freebsd", "--against", "/dev/zero"],
    ["check", "--backend", "freebsd", "--against", "@capture", "--sysctls", "/dev/zero"],
    ["validate", "--entry-json", "/dev/zero"],
    ["validate", "--entry-json", "/dev/urandom"],
    ["validate", "--entry-json", "/proc/self/mem"],
])
def test_endless_or_unreadable_inputs_are_refused_at_once(argv):
    with FIGURES.case(FILE_SYSTEM):
        argv = [fixture_path("ifconfig", "freebsd-14.txt") if a == "@capture" else a for a in argv]
        started = time.monotonic()
        result = _cli_process(["--config", fixture_path("config", "modern.xml"), *argv])
        output = (result.stdout + result.stderr).decode()
        assert result.returncode == 3, output
        assert "Traceback" not in output and ("special file" in output or "input/output error" in output)
        assert time.monotonic() - started < 20


def test_a_huge_piped_entry_is_refused_after_its_bound():
    result = _cli_process(["validate", "--entry-json", "-", "--json"], input=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert result.returncode == 3
    assert b'"ok": false' in result.stdout and b"more than" in result.stdout


@pytest.mark.parametrize("argv, code, message", [
    (["--root", "@file", "status", "--backend", "freebsd", "--against", "@capture"], 2, "is not a directory"),
    (["--config", "/proc/self/mem", "validate"], 3, "/proc/self/mem"),
    (["--config", "/", "validate"], 3, "is a directory"),
    (["validate", "--entry-json", "@deep"], 3, "nested too deeply"),
    (["sync", "--lock-timeout", "nan", "--dry-run"], 2, "finite number of seconds"),
    (["sync", "--lock-timeout", "-5", "--dry-run"], 2, "finite number of seconds"),
    (["deinstall", "--lock-timeout", "inf", "--dry-run"], 2, "finite number of seconds"),
    (["maintenance", "on", "--lock-timeout", "1e400", "--dry-run"], 2, "finite number of seconds"),
])
def test_odd_arguments_end_in_one_line_and_a_documented_code(tmp_path, argv, code, message):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    swap = {"@file": str(a_file), "@capture": fixture_path("ifconfig", "freebsd-14.txt"), "@deep": str(deep)}
    result = _cli_process([swap.get(a, a) for a in argv])
    stderr = result.stderr.decode()
    assert result.returncode == code, stderr
    assert message in stderr + result.stdout.decode()
    assert "Traceback" not in stderr


def test_output_to_a_full_disk_is_one_line_and_exit_6():
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from carp_pkg.cli import entry_point; sys.argv[0]='carp-pkg'; "
                                   "entry_point()", "--config", fixture_path("config", "modern.xml"), "rules"],
            stdout=full, stderr=subprocess.PIPE, timeout=60, cwd=REPO)
    stderr = result.stderr.decode()
    assert result.returncode == 6, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert stderr.count("\n") == 1 and "No space left" in stderr


def test_a_closed_stdout_is_not_a_traceback():
    code = ("import os, sys; os.close(1); sys.stdout = None; from carp_pkg.cli import entry_point; "
            "sys.argv[0] = 'carp-pkg'; entry_point()")
    result = subprocess.run([sys.executable, "-c", code, "--config", fixture_path("config", "modern.xml"), "validate",
                             "--backend", "freebsd"],
                            stderr=subprocess.PIPE, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr


def test_the_entry_point_leaves_without_teardown_but_loses_no_output(tmp_path):
    """entry_point ends with os._exit (start-up time): everything printed must still arrive, through a pipe and
    past its 64 KiB buffer, with the command's own exit code."""
    entries = "".join(f"<config><ipaddress>10.{n // 250}.{n % 250}.1</ipaddress><netmask>32</netmask>"
                      f"<vhid>{n % 255 + 1}</vhid><interface>lan</interface></config>" for n in range(3000))
    config = tmp_path / "config.xml"
    config.write_text(f"<pfsense><interfaces><lan><if>em1</if></lan></interfaces><installedpackages><carp>"
                      f"{entries}</carp></installedpackages></pfsense>")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell has it
    result = _cli_process(["--config", str(config), "render", "--backend", "freebsd", "--format", "json"], env=buffered)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) > 256 * 1024
    assert "10.11.249.1" in json.dumps(json.loads(result.stdout))  # the last VIP: the whole document arrived
    small = _cli_process(["--config", str(config), "validate", "--backend", "freebsd"], env=buffered)
    assert small.returncode == 0 and small.stdout.decode().endswith("OK (3000 VIPs in 255 vhids; checked for the "
                                                                    "freebsd backend)\n"), small
    refused = _cli_process(["--config", str(config), "validate", "--backend", "ucarp"], env=buffered)
    assert refused.returncode == 3 and b"problems" in refused.stderr.splitlines()[0]


ENTRY = "import sys; from carp_pkg.cli import entry_point; sys.argv[0] = 'carp-pkg'; entry_point()"
CHECK_EXAMPLE = ["--config", "examples/config.xml", "check", "--backend", "freebsd", "--against",
                 "examples/ifconfig-freebsd14.txt"]  # one vhid missing: WARNING (1)


def _shell(script, *argv, **env):
    """carp-pkg as $CARP inside a shell line, with buffered streams as a user's shell has them."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    environment.update(env)
    command = f'CARP() {{ "{sys.executable}" -c "$ENTRY" "$@"; }}; {script}'
    return subprocess.run(["bash", "-c", command, "shell", *argv], capture_output=True, timeout=60,
                          cwd=os.path.dirname(REPO), env={**environment, "ENTRY": ENTRY})


def _big_config(tmp_path, vhids=255):
    entries = "".join(f"<config><ipaddress>10.{n // 250}.{n % 250}.1</ipaddress><netmask>32</netmask>"
                      f"<vhid>{n % vhids + 1}</vhid><interface>lan</interface></config>" for n in range(3000))
    path = tmp_path / "big.xml"
    path.write_text(f"<pfsense><interfaces><lan><if>em1</if></lan></interfaces><installedpackages><carp>"
                    f"{entries}</carp></installedpackages></pfsense>")
    return str(path)


def test_a_reader_that_goes_away_does_not_turn_a_critical_check_into_ok(tmp_path):
    big = _big_config(tmp_path)  # 255 vhids, none running in the capture: CRITICAL (2), 25 kB of output
    result = _shell('CARP --config "$1" check --backend freebsd --against examples/ifconfig-freebsd14.txt | true; '
                    'exit "${PIPESTATUS[0]}"', big)
    assert result.returncode == 2, result.stderr
    small = _shell('CARP "$@" | true; exit "${PIPESTATUS[0]}"', *CHECK_EXAMPLE, PYTHONUNBUFFERED="1")
    assert small.returncode == 1, small.stderr
    refused = _shell('CARP --config "$1" validate --backend ucarp | true; exit "${PIPESTATUS[0]}"', big)
    assert refused.returncode == 3, refused.stderr  # an invalid config stays invalid when nobody reads the answer


@pytest.mark.parametrize("argv, code", [
    (CHECK_EXAMPLE, 3),  # a check whose answer cannot be delivered is UNKNOWN
    (["--config", "examples/config.xml", "validate", "--backend", "freebsd"], 6),
    (["--version"], 6),
    (["--help"], 6),
    (["check", "--help"], 3),
])
def test_full_streams_give_one_documented_code_and_no_traceback(argv, code):
    both = _shell('CARP "$@" >/dev/full 2>/dev/full', *argv)
    assert both.returncode == code, both
    only_stdout = _shell('CARP "$@" >/dev/full', *argv)
    assert only_stdout.returncode == code
    assert only_stdout.stderr.decode() == "carp-pkg: error: cannot write the output: No space left on device\n"


def test_help_and_version_to_a_closed_pipe_are_success():
    for argv in (["--version"], ["--help"], ["check", "--help"]):
        result = _shell('CARP "$@" | true; exit "${PIPESTATUS[0]}"', *argv)
        assert result.returncode == 0 and result.stderr == b"", (argv, result)


def test_check_is_the_command_not_a_word_among_the_arguments():
    usage = _cli_process(["--config", "check", "render", "--backend", "nope"])
    assert usage.returncode == 2  # a usage error of render, not a Nagios UNKNOWN
    document = _cli_process(["check", "--json", "--bogus"])
    assert document.returncode == 3 and json.loads(document.stdout)["error"]["code"] == 3


def test_events_follow_ends_once_its_reader_has_gone(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    command = (f'"{sys.executable}" -c "$ENTRY" --root "$1" events --follow | head -1; exit "${{PIPESTATUS[0]}}"')
    follower = subprocess.Popen(["bash", "-c", command, "shell", str(tmp_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=os.path.dirname(REPO), env={**environment, "ENTRY": ENTRY})
    try:
        for _ in range(40):
            if (tmp_path / "var" / "db" / "carp-pkg").exists() or follower.poll() is not None:
                break
            time.sleep(0.1)
        for state in ("MASTER", "BACKUP", "MASTER", "BACKUP"):
            recorded = run_cli(["--root", str(tmp_path), "event", "--source", "manual", "--no-hooks",
                                "interface=em0", "vhid=1", f"state={state}"])
            assert recorded.code == 0, recorded.err
            time.sleep(0.3)
        out, err = follower.communicate(timeout=10)  # it must not run on until a timeout
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert out.decode().count("\n") == 1 and "em0 vhid 1" in out.decode()


def test_a_name_the_terminal_cannot_encode_is_escaped_not_a_traceback(tmp_path):
    result = _cli_process(["--config", str(tmp_path / "zürich.xml"), "check"], env={**os.environ,
                                                                                    "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 3 and b"Traceback" not in result.stderr
    assert b"z\\xfcrich.xml: no such file" in result.stdout


# --- 11: SIGTERM mid-apply, stale staged copies ---------------------------------------------------------

DRIVER = textwrap.dedent("""\
    import sys, time
    from carp_pkg import cli
    from carp_pkg.system import RecordingRunner, Result
    ready, record, ifconfig = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
    def respond(argv):
        with open(record, "a") as log:
            log.write(" ".join(argv) + "\\n")
        if argv == ("ifconfig",):
            return Result(0, ifconfig, "")
        if argv[:2] == ("sysctl", "-n"):
            return Result(0, "0\\n", "")
        if "alias" in argv:  # the second step: hang here until the test sends SIGTERM
            open(ready, "w").close()
            time.sleep(60)
        return Result()
    cli.install_process_guards()
    sys.exit(cli.main(sys.argv[4:], runner=RecordingRunner(respond=respond)))
    """)


@pytest.mark.parametrize("signal_number, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "SIGHUP (an SSH session dropping)"])
def test_a_signal_mid_apply_rolls_back_keeps_the_old_script_and_exits_128_plus_it(tmp_path, signal_number, code):
    with FIGURES.case("faults injected"):
        root = tmp_path / "root"
        rc_dir = root / "usr" / "local" / "etc" / "rc.d"
        rc_dir.mkdir(parents=True)
        (rc_dir / "carp.sh").write_text("#!/bin/sh\n# previous\n")
        driver = tmp_path / "driver.py"
        driver.write_text(DRIVER)
        ready, record = tmp_path / "ready", tmp_path / "record"
        process = subprocess.Popen(
            [sys.executable, str(driver), str(ready), str(record), fixture_path("ifconfig", "freebsd-14-no-carp.txt"),
             "--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync", "--backend", "freebsd"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), process.communicate(timeout=10)
        process.send_signal(signal_number)
        _out, err = process.communicate(timeout=30)
        assert process.returncode == code, err.decode()
        name = signal.Signals(signal_number).name.encode()
        assert b"interrupted by " + name + b" at step 2" in err and b"of the 1 finished steps" in err
        assert err.count(b"Traceback") == 0
        assert (rc_dir / "carp.sh").read_text() == "#!/bin/sh\n# previous\n"  # the old script stays
        assert [n for n in os.listdir(rc_dir) if n != "carp.sh"] == []  # and no staged copy is left
        assert not (root / "var" / "db" / "carp-pkg" / "applied.json").exists()


def test_a_staged_copy_left_by_a_killed_sync_is_removed_by_the_next(tmp_path):
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        rc_dir = root / "usr" / "local" / "etc" / "rc.d"
        rc_dir.mkdir(parents=True)
        stale = rc_dir / ".carp.sh.ab12cd34"
        stale.write_text("pass lan-secret\n")
        unrelated = rc_dir / ".carp.sh.keep-me-please"
        unrelated.write_text("not ours\n")
        result = run_cli(["--root", str(root), "--config", fixture_path("config", "modern.xml"), "sync",
                          "--backend", "freebsd"], runner=host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt")))
        assert result.code == 0, result.err
        assert not stale.exists() and unrelated.exists()


# --- 13: VIPs that embed IPv4, ambiguous interface names -------------------------------------------------

@pytest.mark.parametrize("address", ["::10.0.0.1", "::ffff:0:10.0.0.1", "::ffff:0:0a00:0001"])
def test_ipv6_addresses_that_embed_ipv4_are_not_vips(tmp_path, address):
    config = tmp_path / "config.xml"
    config.write_text(config_with_device("em1").replace("192.168.1.1</ipaddress><netmask>24",
                                                       f"{address}</ipaddress><netmask>64"), encoding="utf-8")
    result = run_cli(["--config", str(config), "validate"])
    assert result.code == 3
    assert "embeds the IPv4 address 10.0.0.1" in result.err


def test_a_name_that_is_both_a_friendly_name_and_another_device_is_refused(tmp_path):
    config = tmp_path / "config.xml"
    config.write_text(textwrap.dedent("""\
        <pfsense><interfaces>
          <em1><if>em0</if><ipaddr>192.168.1.2</ipaddr><subnet>24</subnet></em1>
          <lan><if>em1</if><ipaddr>10.0.0.2</ipaddr><subnet>24</subnet></lan>
        </interfaces><installedpackages><carp><config>
          <ipaddress>192.168.1.1</ipaddress><password>x</password><vhid>1</vhid><interface>em1</interface>
        </config></carp></installedpackages></pfsense>
        """))
    result = run_cli(["--config", str(config), "validate"])
    assert result.code == 3
    assert "is ambiguous" in result.err and "write em1 for em0 or lan for em1" in result.err


# --- what the outsider attack found after the first round ------------------------------------------------

def test_a_lab_record_planted_by_another_user_is_never_acted_on(tmp_path):
    """`lab down` removes the directory its record names and kills processes in the namespaces it names."""
    with FIGURES.case(FILE_SYSTEM):
        victim = tmp_path / "victim"
        victim.mkdir()
        planted = tmp_path / "labdir"
        planted.mkdir()
        (planted / "lab.json").write_text(
            '{"layout": {"prefix": "zz", "directory": "%s", "network": "192.168.1.0/24", "vip": "192.168.1.1/24",'
            ' "addresses": [["a", "192.168.1.2/24"], ["b", "192.168.1.3/24"], ["client", "192.168.1.254/24"]]},'
            ' "example": null}' % victim)
        os.chown(planted, 65534, 65534)  # nobody's directory
        result = run_cli(["lab", "down", "--dir", str(planted)])
        assert result.code == 6 and "refusing to trust" in result.err
        os.chown(planted, 0, 0)
        planted.chmod(0o700)
        result = run_cli(["lab", "down", "--dir", str(planted)])
        assert result.code == 3 and "it names another directory" in result.err
        assert victim.exists()


def test_lab_up_refuses_a_directory_that_is_a_symlink(tmp_path):
    with FIGURES.case(FILE_SYSTEM):
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "lab").symlink_to(tmp_path / "elsewhere")
        result = run_cli(["lab", "up", "--dir", str(tmp_path / "lab")])
        assert result.code == 6 and "symbolic link" in result.err
        assert os.listdir(tmp_path / "elsewhere") == []


def test_lab_down_with_no_lab_is_success():
    result = run_cli(["lab", "down", "--dir", "/nonexistent/carp-pkg-lab", "--json"])
    assert result.code == 0
    assert '"no lab was up in /nonexistent/carp-pkg-lab' in result.out


def test_a_failed_step_puts_the_previous_files_back_before_undoing(tmp_path):
    """ucarp: the new password/record files are written before the steps; a failed restart must leave the old
    ones, or the undo restarts the old ucarp with the new password and the record no longer matches."""
    from carp_pkg.paths import Paths
    from carp_pkg.plan import PlannedFile
    from carp_pkg.sync import execute
    from carp_pkg.system import RecordingRunner, Result, System
    with FIGURES.case("faults injected"):
        secret = tmp_path / "var" / "db" / "carp-pkg" / "ucarp" / "eth0-vhid1.pass"
        secret.parent.mkdir(parents=True)
        secret.write_text("old-password\n")
        secret.chmod(0o600)
        seen_during_undo = []

        def respond(argv):
            if argv[0] == "fail":
                return Result(1, "", "ucarp (pid 42) still running 5 s after SIGTERM")
            if argv[0] == "undo":
                seen_during_undo.append(secret.read_text())
            return Result()

        system = System(RecordingRunner(respond=respond), Paths(str(tmp_path)))
        new_record = tmp_path / "var" / "db" / "carp-pkg" / "ucarp" / "eth0-vhid1.json"
        plan = Plan("ucarp", (Step(("ok",), "first", undo=("undo",)), Step(("fail",), "second")),
                    files=(PlannedFile(str(secret), "new-password\n", 0o600, secret=True),
                           PlannedFile(str(new_record), "{}\n", 0o600)))
        with pytest.raises(Exception, match="step 2 of 2 failed"):
            execute(plan, system)
        assert seen_during_undo == ["old-password\n"]
        assert secret.read_text() == "old-password\n" and not new_record.exists()


@pytest.mark.parametrize("inherited", ["", ":/usr/bin", "/usr/bin::/bin", ".:/bin", "bin:/usr/bin"])
def test_an_empty_or_relative_path_entry_never_means_the_working_directory(inherited):
    from carp_pkg.system import safe_path
    entries = safe_path(inherited).split(":")
    assert all(entry.startswith("/") for entry in entries) and "/sbin" in entries


def test_the_rc_script_and_ucarp_scripts_do_not_search_the_working_directory(tmp_path):
    with FIGURES.case(INJECTION):
        (tmp_path / "ifconfig").write_text("#!/bin/sh\ntouch ran-from-cwd\n")
        (tmp_path / "ifconfig").chmod(0o755)
        script = tmp_path / "carp.sh"
        script.write_text(_script_with("x"))
        subprocess.run(["/bin/sh", "-c", f"unset PATH; /bin/sh {script} start"], cwd=tmp_path, capture_output=True,
                       timeout=20)
        subprocess.run(["/usr/bin/env", "PATH=", "/bin/sh", str(script), "start"], cwd=tmp_path, capture_output=True,
                       timeout=20)
        assert not (tmp_path / "ran-from-cwd").exists()
        down = tmp_path / "down"
        down.write_text(down_script(InstanceFiles(str(tmp_path), "eth0", 1)).replace("ip addr", "ifconfig"))
        subprocess.run(["/usr/bin/env", "PATH=", "/bin/sh", str(down), "eth0", "10.0.0.1", "24"], cwd=tmp_path,
                       capture_output=True, timeout=20)
        assert not (tmp_path / "ran-from-cwd").exists()


@pytest.mark.parametrize("argv", [["validate", "--entry-json", "-"], ["sniff", "-r", "-"], ["--config", "-", "validate"]])
def test_a_closed_stdin_is_empty_input_not_a_traceback(argv):
    code = ("import os, sys; os.close(0); sys.stdin = None; from carp_pkg.cli import entry_point; "
            "sys.argv[0] = 'carp-pkg'; entry_point()")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, timeout=60, cwd=REPO)
    assert result.returncode == 3, result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [["--root", "@file", "check"], ["check", "--no-such-option"],
                                  ["--config", "/nonexistent.xml", "check", "--backend", "freebsd",
                                   "--against", "@capture"]])
def test_check_answers_unknown_whatever_goes_wrong(tmp_path, argv):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    swap = {"@file": str(a_file), "@capture": fixture_path("ifconfig", "freebsd-14.txt")}
    result = run_cli([swap.get(a, a) for a in argv])
    assert result.code == 3


def test_control_characters_of_a_file_name_never_reach_the_terminal_raw(tmp_path):
    with FIGURES.case(INJECTION):
        result = run_cli(["--config", str(tmp_path / "evil\n\r\x1b[31mRED.xml"), "validate"])
        assert result.code == 3
        assert "\x1b" not in result.err and "\r" not in result.err and result.err.count("\n") == 1
        assert "\\x1b[31mRED" in result.err


@pytest.mark.parametrize("target", ["@dir", "/dev/zero", "/nonexistent.pcap"])
def test_sniff_refuses_what_is_not_a_capture_file_as_invalid_input(tmp_path, target):
    result = run_cli(["sniff", "-r", str(tmp_path) if target == "@dir" else target])
    assert result.code == 3 and "Traceback" not in result.err


@pytest.mark.parametrize("name", ["-a", "-g", "-vhid", "--"])
def test_a_device_name_that_ifconfig_would_read_as_an_option_is_refused(tmp_path, name):
    with FIGURES.case(INJECTION):
        config = tmp_path / "config.xml"
        config.write_text(config_with_device(name), encoding="utf-8")
        result = run_cli(["--config", str(config), "validate", "--backend", "freebsd"])
        assert result.code == 3 and "not starting with -" in result.err


def test_purge_edits_the_file_a_symlinked_config_points_to_and_keeps_owner_mode_and_comments(tmp_path):
    """pfSense's /conf is a link to /cf/conf: purge must edit the real file, not replace the link."""
    with FIGURES.case(FILE_SYSTEM):
        root = tmp_path / "root"
        real = tmp_path / "cf" / "config.xml"
        real.parent.mkdir()
        text = open(fixture_path("config", "modern.xml"), encoding="utf-8").read()
        real.write_text(text.replace("<pfsense>", "<pfsense>\n<!-- kept: an admin's note -->", 1), encoding="utf-8")
        os.chown(real, 65534, 65534)
        real.chmod(0o640)
        (root / "conf").mkdir(parents=True)
        (root / "conf" / "config.xml").symlink_to(real)
        runner = host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt"))
        config = str(root / "conf" / "config.xml")
        assert run_cli(["--root", str(root), "--config", config, "install", "--backend", "freebsd"], runner=runner).code == 0
        result = run_cli(["--root", str(root), "--config", config, "deinstall", "--backend", "freebsd", "--purge"],
                         runner=runner)
        assert result.code == 0, result.err
        assert (root / "conf" / "config.xml").is_symlink()
        after = real.read_text(encoding="utf-8")
        assert "<carp>" not in after and "<interfaces>" in after  # only the carp section went
        assert "<!-- kept: an admin's note -->" in after
        info = real.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)


def test_a_fifo_planted_as_a_state_file_is_refused_not_waited_on(tmp_path):
    """A writer holding a FIFO open at a state file would block every status/check/sync read forever."""
    from carp_pkg.errors import InputError as Refused
    from carp_pkg.paths import Paths
    from carp_pkg.system import RecordingRunner, System
    with FIGURES.case(FILE_SYSTEM):
        fifo = tmp_path / "applied.json"
        os.mkfifo(fifo)
        writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer is attached
        try:
            started = time.monotonic()
            with pytest.raises(Refused, match="special file"):
                System(RecordingRunner(), Paths(str(tmp_path))).read_text(str(fifo))
            assert time.monotonic() - started < 5
        finally:
            os.close(writer)
