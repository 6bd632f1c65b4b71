"""`keepalived -t -f FILE` on a file carp-pkg wrote, inside a network namespace that has its interfaces.

keepalived 2.2's config test also refuses an interface that does not exist ("Non-existent interface specified
in configuration"), so the check runs in one namespace per test session, where every interface a config
names is created on demand (a veth pair, both ends inside). Skipped, loudly, where there is no root, no
`ip netns` or no keepalived; under CI (CI=true) a missing keepalived fails (.ci/run installs it).
"""

import atexit
import os
import shutil
import subprocess
import tempfile

import pytest

_STATE = {"namespace": None, "interfaces": set(), "reason": None}


def _namespace():
    if _STATE["namespace"] is not None:
        return _STATE["namespace"]
    if _STATE["reason"] is None:
        _STATE["reason"] = _why_not()
    if _STATE["reason"]:
        if "keepalived" in _STATE["reason"] and os.environ.get("CI"):
            pytest.fail(_STATE["reason"])
        pytest.skip(_STATE["reason"])
    name = f"cptka{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
    atexit.register(lambda: subprocess.run(["ip", "netns", "delete", name], capture_output=True))
    _STATE["namespace"] = name
    return name


def _why_not():
    if os.geteuid() != 0:
        return "KEEPALIVED CONFIG TEST NOT RUN: not root (it needs a network namespace)"
    if shutil.which("keepalived") is None and not os.path.exists("/usr/sbin/keepalived"):
        return "KEEPALIVED CONFIG TEST NOT RUN: keepalived is not installed (apt-get install keepalived)"
    probe = f"cptkp{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"KEEPALIVED CONFIG TEST NOT RUN: cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return ""


def _ensure_interfaces(namespace, names):
    for name in sorted(set(names) - _STATE["interfaces"]):
        peer = f"kp{len(_STATE['interfaces'])}"
        subprocess.run(["ip", "-n", namespace, "link", "add", name, "type", "veth", "peer", "name", peer],
                       check=True, capture_output=True)
        _STATE["interfaces"].add(name)


def keepalived_accepts(conf_text, interfaces):
    """Assert that keepalived's config test passes on conf_text (stderr shown otherwise)."""
    namespace = _namespace()
    _ensure_interfaces(namespace, interfaces)
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(conf_text)
    try:
        result = subprocess.run(["ip", "netns", "exec", namespace, keepalived, "-t", "-f", handle.name],
                                capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(handle.name)
    assert result.returncode == 0, f"keepalived -t refused (exit {result.returncode}):\n{result.stderr}\n{conf_text}"
    assert "WARNING" not in result.stderr, result.stderr
