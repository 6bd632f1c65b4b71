"""Issue 12: one JSON contract. README's "JSON output" table is the promise; every row is run here against
the bundled examples and the FreeBSD stand-in, and its output must parse and carry the promised keys. With
--json, an error is JSON on stdout too, with the same exit code and nothing on stderr."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.helpers import TESTS, host_runner, read_fixture, run_cli

PROJECT = os.path.dirname(TESTS)
EXAMPLE = os.path.join(PROJECT, "examples", "config.xml")
CAPTURE = os.path.join(PROJECT, "examples", "ifconfig-freebsd14.txt")
SYSCTLS = {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 0, "net.inet.carp.demotion": 0}


def contract():
    """{command cell: [keys]} from README's table."""
    with open(os.path.join(PROJECT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("### JSON output", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        command = re.sub(r"\s+", " ", cells[0].replace("\\|", "|"))
        top_level = re.sub(r"\([^)]*\)", "", cells[-1])  # keys in parentheses are nested ones
        rows[command] = re.findall(r"`([a-z_]+)`", top_level)
    return rows


def invocations(root):
    """README's command cell → (argv, how to read the output) for this test machine."""
    freebsd = ["--backend", "freebsd"]
    against = [*freebsd, "--against", CAPTURE]
    config = ["--root", str(root), "--config", EXAMPLE]
    return {
        "`validate --json`": ([*config, "validate", *freebsd, "--json"], "object"),
        "`render --format json`": ([*config, "render", *freebsd, "--format", "json"], "object"),
        "`sync --json`": ([*config, "sync", "--dry-run", "--json", *against], "object"),
        "`stop --json`": ([*config, "stop", "--dry-run", "--json", *against], "object"),
        "`maintenance on|off --json`": ([*config, "maintenance", "on", "--dry-run", "--json", *against], "object"),
        "`status --json`": ([*config, "status", "--json", *against], "object"),
        "`check --json`": ([*config, "check", "--json", *against], "object"),
        "`compare --json`": (["compare", os.path.join(PROJECT, "examples", "cluster", "fw1.xml"),
                              os.path.join(PROJECT, "examples", "cluster", "fw2.xml"), "--json"], "object"),
        "`rules --json`": ([*config, "rules", "--json"], "object"),
        "`demotion --json`": ([*config, "demotion", "--json"], "object"),
        "`disable --json`, `enable --json`": ([*config, "disable", *freebsd, "--json"], "object"),
        "`install --json`": ([*config, "install", *freebsd, "--json"], "object"),
        "`install --dry-run --json`": ([*config, "install", *freebsd, "--dry-run", "--json"], "object"),
        "`deinstall --json`": ([*config, "deinstall", *freebsd, "--json"], "object"),
        "`deinstall --dry-run --json`": ([*config, "deinstall", *freebsd, "--dry-run", "--json"], "object"),
        "`sniff --json` (one object per line)": (["sniff", "-r", os.path.join(PROJECT, "examples", "ucarp-adverts.pcap"),
                                                  "--json"], "lines"),
        "`lab down --json`": (["lab", "down", "--dir", str(root / "no-lab"), "--json"], "object"),
    }


NEEDS_A_LAB = {"`lab up|status --json`", "`lab failover|demo --json` (a list)"}  # tests/integration covers them


def test_every_row_of_the_table_is_checked_here(tmp_path):
    assert set(contract()) - NEEDS_A_LAB == set(invocations(tmp_path))


@pytest.mark.parametrize("command", sorted(set(contract()) - NEEDS_A_LAB))
def test_each_commands_json_parses_and_has_its_documented_keys(command, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    argv, shape = invocations(root)[command]
    runner = host_runner(read_fixture("ifconfig", "freebsd-14-no-carp.txt"), SYSCTLS)
    if command == "`deinstall --json`":  # something to remove
        assert run_cli(argv[:4] + ["install", "--backend", "freebsd"], runner=runner).code == 0
    result = run_cli(argv, runner=runner)
    assert result.code in (0, 1), result.out + result.err  # check: WARNING is 1
    documents = [json.loads(line) for line in result.out.splitlines()] if shape == "lines" else [json.loads(result.out)]
    assert documents
    for document in documents:
        missing = [key for key in contract()[command] if key not in document]
        assert missing == [], f"{command} lacks {missing}: {sorted(document)}"


@pytest.mark.parametrize("argv, code", [
    (["--config", "/nonexistent.xml", "render", "--backend", "freebsd", "--format", "json"], 3),
    (["--config", "/nonexistent.xml", "status", "--json", "--backend", "freebsd", "--against", "/nonexistent"], 3),
    (["sync", "--json", "--lock-timeout", "nan"], 2),
    (["stop", "--json", "--no-such-option"], 2),
    (["sniff", "-r", "/nonexistent.pcap", "--json"], 3),
    (["lab", "status", "--dir", "/nonexistent-lab", "--json"], 6),
])
def test_with_json_an_error_is_json_on_stdout_with_the_same_code(argv, code, capsys):
    result = run_cli(argv)
    printed = capsys.readouterr()  # a usage error comes before the command's own streams exist
    assert result.code == code
    assert result.err == "" and printed.err == ""
    document = json.loads(result.out + printed.out)
    assert set(document) == {"error"} and document["error"]["code"] == code
    assert document["error"]["message"] and isinstance(document["error"]["details"], list)


def test_a_plain_text_error_when_json_was_not_asked():
    result = run_cli(["--config", "/nonexistent.xml", "render", "--backend", "freebsd"])
    assert result.code == 3 and result.out == "" and "carp-pkg: error:" in result.err

