"""Issue 12: what a newcomer reads must work. Every `example:` line of every --help parses with the real
parser, and the read-only ones run here as written; every option explains itself; the man page and the
shell completions are generated from the same parser, lint-clean, and committed up to date."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from carp_pkg.cli import build_parser

from tests.helpers import TESTS

PROJECT = os.path.dirname(TESTS)
SAFE_COMMANDS = {"render", "validate", "compare", "rules", "status", "check", "sniff", "metrics"}  # read-only, with captures
FILE_OPTIONS = {"--config", "--against", "--sysctls", "--example"}


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def examples():
    """(where, argv after `carp-pkg`, stdin) of every example line, with `echo X | carp-pkg ...` as stdin."""
    parser = build_parser()
    texts = [("carp-pkg", parser.epilog or "")]
    texts += [(name, sub.description or "") for name, sub in subparsers(parser).items()]
    found = []
    for where, text in texts:
        for line in text.splitlines():
            if not line.startswith("example:"):
                continue
            command = line[len("example:"):].strip()
            stdin = None
            if command.startswith("echo ") and "|" in command:
                left, command = command.split("|", 1)
                stdin = shlex.split(left)[1] + "\n"
            for part in command.split("&&"):
                words = shlex.split(part)
                if words and words[0] == "sudo":
                    words = words[1:]
                if words and words[0] == "carp-pkg":
                    found.append((where, words[1:], stdin))
    return found


EXAMPLES = examples()


def test_every_command_has_an_example():
    commands = {where for where, _argv, _stdin in EXAMPLES}
    assert set(subparsers(build_parser())) <= commands


@pytest.mark.parametrize("where, argv, stdin", EXAMPLES, ids=[" ".join(e[1])[:60] for e in EXAMPLES])
def test_every_help_example_is_a_valid_command_line(where, argv, stdin):
    try:
        build_parser().parse_args(argv)
    except Exception as exc:  # the parser raises BadArguments (a usage error) for a stale example
        pytest.fail(f"`carp-pkg {' '.join(argv)}` (from {where} --help) is refused: {exc}")


def _command(argv):
    names = set(subparsers(build_parser()))
    return next((word for word in argv if word in names), None)


def names_the_firewalls_own_paths(argv) -> bool:
    """An example written for the firewall itself says so: an absolute path (/conf/config.xml) or a live
    interface to capture on. Every other read-only example must run here."""
    live_capture = _command(argv) == "sniff" and "-r" not in argv
    return live_capture or any(word.startswith("/") for word in argv)


RUNNABLE = [e for e in EXAMPLES if _command(e[1]) in SAFE_COMMANDS and not names_the_firewalls_own_paths(e[1])]


@pytest.mark.parametrize("where, argv, stdin", RUNNABLE, ids=[" ".join(e[1])[:60] for e in RUNNABLE])
def test_every_read_only_help_example_runs_here_as_written(where, argv, stdin, tmp_path):
    """render/validate/compare/rules/status/check examples name their files (the bundled examples) and a
    backend where the host's own would not do; they must run on this machine from the project folder."""
    env = {k: v for k, v in os.environ.items() if k != "CARP_PKG_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "carp_pkg", *argv], cwd=PROJECT, input=stdin, text=True,
                            capture_output=True, timeout=60, env=env)
    allowed = (0, 1, 2) if _command(argv) == "check" else (0, 3) if stdin is not None else (0,)
    assert result.returncode in allowed, f"carp-pkg {' '.join(argv)}:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr


def _options(parser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        yield action


def test_every_option_and_argument_has_help_text():
    parser = build_parser()
    missing = [f"{name}: {'/'.join(a.option_strings) or a.dest}"
               for name, sub in [("carp-pkg", parser), *subparsers(parser).items()]
               for a in _options(sub) if not (a.help or "").strip()]
    assert missing == []


def test_the_man_page_and_completions_are_generated_from_the_current_parser():
    result = subprocess.run([sys.executable, os.path.join(PROJECT, "tools", "gen_docs.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed (apt-get install mandoc)")
def test_the_man_page_is_lint_clean():
    page = os.path.join(PROJECT, "man", "carp-pkg.8")
    result = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page], capture_output=True, text=True)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if "carp-pkg.8:" in line]
    assert findings == []
    rendered = subprocess.run(["mandoc", "-T", "ascii", page], capture_output=True, text=True, check=True).stdout
    for name in subparsers(build_parser()):
        assert name in rendered


def test_bash_completion_completes_commands_and_options():
    script = os.path.join(PROJECT, "completion", "bash", "carp-pkg")
    probe = (f"source {shlex.quote(script)}; "
             "COMP_WORDS=(carp-pkg va); COMP_CWORD=1; _shtab_carp_pkg 2>/dev/null || true; "
             "echo \"${COMPREPLY[@]}\"; "
             "COMP_WORDS=(carp-pkg sync --dr); COMP_CWORD=2; _shtab_carp_pkg; echo \"${COMPREPLY[@]}\"")
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    lines = result.stdout.splitlines()
    assert lines and "validate" in lines[0].split(), result.stderr
    assert "--dry-run" in lines[1].split()


def test_pip_and_the_port_install_the_man_page_and_completions():
    """setup.cfg data_files carry them; py-carp-pkg's autoplist packages whatever pip installs."""
    import configparser
    setup = configparser.ConfigParser()
    setup.read(os.path.join(PROJECT, "setup.cfg"))
    data = setup["options.data_files"]
    assert data["share/man/man8"].split() == ["man/carp-pkg.8"]
    assert data["share/bash-completion/completions"].split() == ["completion/bash/carp-pkg"]
    assert data["share/zsh/site-functions"].split() == ["completion/zsh/_carp-pkg"]
    with open(os.path.join(PROJECT, "port", "py-carp-pkg", "Makefile"), encoding="utf-8") as handle:
        assert "autoplist" in handle.read()
