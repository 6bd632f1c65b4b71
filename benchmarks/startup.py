"""Start-up time: `carp-pkg validate` on the bundled example against the floor of the same interpreter just
importing what any such command needs (lxml, argparse, json), best of N process runs each, side by side.

pfSense runs carp-pkg on every GUI save, often on small ARM boxes; the goal is at most 1.5x the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = 15
GOAL = 1.5

FLOOR = [sys.executable, "-c", "import lxml.etree, argparse, json"]
CARP_PKG = os.path.join(os.path.dirname(sys.executable), "carp-pkg")  # the console script users run
COMMANDS = {
    "validate (linux-ucarp.xml)": [CARP_PKG, "--config", "examples/linux-ucarp.xml", "validate", "--backend", "ucarp"],
    "render --format json (config.xml)": [CARP_PKG, "--config", "examples/config.xml", "render", "--backend",
                                          "freebsd", "--format", "json"],
    "--version": [CARP_PKG, "--version"],
}


# As installed: byte-compiled (pip compiles at install; PYTHONDONTWRITEBYTECODE would measure the compiler)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def best_of(argv, runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PROJECT, "carp_pkg")], check=True, env=ENV)
    floor = best_of(FLOOR)
    print(f"| start-up (best of {RUNS} processes) | ms | x floor |")
    print("|---|---:|---:|")
    print(f"| floor: python -c 'import lxml.etree, argparse, json' | {floor * 1000:.0f} | 1.00 |")
    for name, argv in COMMANDS.items():
        seconds = best_of(argv)
        print(f"| carp-pkg {name} | {seconds * 1000:.0f} | {seconds / floor:.2f} |")
    print(f"goal: validate at most {GOAL}x the floor")


if __name__ == "__main__":
    main()
