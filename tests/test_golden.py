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
