"""Child process of the big-input tests: one `carp-pkg sync` against a recording host, a JSON summary out.

    python -m tests.reliability.run_case ROOT CONFIG

Run in its own process so the parent can bound its time and read its peak memory (os.wait4).
"""

from __future__ import annotations

import json
import sys

from tests.helpers import host_runner, run_cli


def main(argv) -> int:
    root, config = argv[:2]
    runner = host_runner("", {"net.inet.carp.allow": 1, "net.inet.carp.preempt": 0})
    result = run_cli(["--root", root, "--config", config, "sync", "--backend", "freebsd"], runner=runner)
    json.dump({
        "code": result.code,
        "out": result.out[-4000:],
        "err": result.err[:4000],
        "err_chars": len(result.err),
        "mutating": len(runner.mutating_calls),
        "first_mutating": list(runner.mutating_calls[0]) if runner.mutating_calls else None,
    }, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
