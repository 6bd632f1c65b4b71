#!/usr/bin/env python3
"""Regenerate the README's screenshots of both status pages (`make screenshots`).

One captured host, shown twice in headless Chromium: `carp-pkg serve` (docs/status-serve.png) and
pfSense's Services > CARP (failover) > CARP Status page run by `php -S` over the pfSense stand-ins of
tests/stubs/php, styled with carp-pkg's pfSense-look CSS in place of pfSense's own theme
(docs/status-pfsense.png). The host is examples/config.xml with examples/ifconfig-freebsd14.txt,
synced once (so passwords verify), demoted after a link flap, with a few transitions in its event
log: a banner, drift and the event panel all show. Nothing touches this machine's network.

Needs chromium and php (apt-get install chromium php-cli); run from the repository with the venv:
  .venv/bin/python docs/screenshots.py [--height PIXELS]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import host_runner, run_cli  # noqa: E402
from tests.test_browser import CHROMIUM, PHP, Host, event_line, php_serving, screenshot, serving  # noqa: E402

DOCS = REPO / "docs"
SHOTS = {"serve": DOCS / "status-serve.png", "pfsense": DOCS / "status-pfsense.png"}


def demo_host(root: Path) -> Host:
    now = time.time()
    host = Host(root, events=[
        event_line(now - 86400, "em1", 1, "BACKUP", "INIT", ["192.168.1.1"]),
        event_line(now - 86395, "em0", 2, "BACKUP", "INIT", ["203.0.113.1"]),
        event_line(now - 86392, "em1", 1, "MASTER", "BACKUP", ["192.168.1.1"]),
        event_line(now - 130, "em1", 1, "BACKUP", "MASTER", ["192.168.1.1"]),
    ])
    host.ifconfig = host.ifconfig.replace("MASTER vhid 1", "BACKUP vhid 1")
    host.sysctls = "net.inet.carp.allow: 1\nnet.inet.carp.preempt: 1\nnet.inet.carp.demotion: 240\n"
    host.write()
    synced = run_cli([*host.global_args(), "sync", "--backend", "freebsd"],
                     runner=host_runner(host.ifconfig, {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 1,
                                                        "net.inet.carp.demotion": 240}))
    if synced.code != 0:
        raise SystemExit(f"the demo host did not sync: {synced.err}")
    return host


def main() -> int:
    parser = argparse.ArgumentParser(description="regenerate docs/status-serve.png and docs/status-pfsense.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1250)
    args = parser.parse_args()
    if CHROMIUM is None or PHP is None:
        print("docs/screenshots.py: needs chromium and php (apt-get install chromium php-cli)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="carp-screenshots-") as work:
        host = demo_host(Path(work) / "root")
        with serving(host, "--max-connections", "4") as url:
            screenshot(url, SHOTS["serve"], args.width, args.height)
        with php_serving(host, Path(work) / "php") as url:
            screenshot(url, SHOTS["pfsense"], args.width, args.height)
    for path in SHOTS.values():
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
