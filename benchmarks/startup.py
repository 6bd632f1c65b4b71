"""Start-up time: `carp-pkg validate` on the bundled example against the floor of the same interpreter just
importing what any such command needs (lxml, argparse, json), best of N process runs each, side by side.

pfSense runs carp-pkg on every GUI save, often on small ARM boxes; the goal is at most 1.5x the floor.

Both are measured as installed, not as this checkout's editable install: `pip install -e` puts an import hook
into site-packages that every interpreter start runs (about 12 ms here, pathlib and importlib.util included),
which would slow the floor and carp-pkg alike and hide what carp-pkg itself costs. So the benchmark makes a
throwaway venv whose site-packages sees this interpreter's packages (lxml, defusedxml) and the project through
one .pth line each, and a `carp-pkg` script of the shape pip writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = 15
GOAL = 1.5
CONSOLE_SCRIPT = """#!{python}
import sys
from carp_pkg.cli import entry_point
if __name__ == '__main__':
    sys.exit(entry_point())
"""
COMMANDS = {
    "validate (linux-ucarp.xml)": ["--config", "examples/linux-ucarp.xml", "validate", "--backend", "ucarp"],
    "render --format json (config.xml)": ["--config", "examples/config.xml", "render", "--backend", "freebsd",
                                          "--format", "json"],
    "--version": ["--version"],
}

# As installed: byte-compiled (pip compiles at install; PYTHONDONTWRITEBYTECODE would measure the compiler)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def installed_layout(directory: str) -> tuple:
    """(python, carp-pkg script) of a venv that imports carp_pkg and its dependencies without an editable hook."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", directory], check=True, env=ENV)
    python = os.path.join(directory, "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, env=ENV).stdout.strip()
    dependencies = sysconfig.get_paths()["purelib"]  # this interpreter's: lxml, defusedxml
    with open(os.path.join(site, "carp_pkg_benchmark.pth"), "w", encoding="utf-8") as handle:
        handle.write(f"{PROJECT}\n{dependencies}\n")
    script = os.path.join(directory, "bin", "carp-pkg")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(CONSOLE_SCRIPT.format(python=python))
    os.chmod(script, 0o755)
    return python, script


def best_of(argv, runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PROJECT, "carp_pkg")], check=True, env=ENV)
    with tempfile.TemporaryDirectory(prefix="carp-pkg-startup-") as directory:
        python, script = installed_layout(directory)
        floor = best_of([python, "-c", "import lxml.etree, argparse, json"])
        print(f"| start-up (best of {RUNS} processes) | ms | x floor |")
        print("|---|---:|---:|")
        print(f"| floor: python -c 'import lxml.etree, argparse, json' | {floor * 1000:.0f} | 1.00 |")
        for name, arguments in COMMANDS.items():
            seconds = best_of([script, *arguments])
            print(f"| carp-pkg {name} | {seconds * 1000:.0f} | {seconds / floor:.2f} |")
    print(f"goal: validate at most {GOAL}x the floor")


if __name__ == "__main__":
    main()
