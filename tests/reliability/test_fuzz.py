"""Issue 7.4: hypothesis fuzzing. validate never raises anything but CarpError; every valid config renders
for every backend that accepts it; the rc script passes `sh -n` and hands every argv over exactly;
render → apply on the FreeBSD stand-in → status reads back exactly the desired state."""

from __future__ import annotations

import os
import subprocess
import tempfile

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carp_pkg.backends import get_backend
from carp_pkg.configxml import parse_config_bytes
from carp_pkg.errors import CarpError, ConfigError
from carp_pkg.paths import Paths
from carp_pkg.running import EMPTY
from carp_pkg.status import parse_ifconfig
from carp_pkg.sync import rc_script_text, sync
from carp_pkg.system import RecordingRunner, Result, System
from carp_pkg.validate import build_config, check

from tests.fakes.freebsd import FakeFreeBSD
from tests.reliability.figures import FIGURES, FUZZ
from tests.reliability.strategies import STAND_IN_INTERFACES, Group, ValidConfig, raw_configs, valid_configs

FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                           HealthCheck.function_scoped_fixture])
BACKENDS = ("freebsd", "freebsd-legacy", "ucarp")


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(raw_configs())
def test_validate_never_raises_anything_but_carp_error(raw):
    with FIGURES.case(FUZZ):
        config, problems = check(raw)
        assert (config is None) == bool(problems)
        for problem in problems:
            assert problem.where.startswith("config[") and len(str(problem)) < 600
        try:
            build_config(raw)
        except ConfigError:
            assert problems
        for entry in raw.entries:  # no password is ever echoed in a problem
            password = entry.fields.get("password")
            if password and len(password) > 3:
                assert not any(password in p.message for p in problems if p.where.endswith(".password"))


mutations = st.lists(st.tuples(st.sampled_from(["flip", "insert", "cut"]), st.integers(0, 10 ** 6),
                                st.integers(0, 255), st.binary(max_size=12), st.integers(1, 40)), min_size=1, max_size=4)


def damage(document: bytes, changes) -> bytes:
    data = bytearray(document)
    for action, where, byte, inserted, length in changes:
        position = where % (len(data) + 1)
        if action == "flip" and position < len(data):
            data[position] = byte
        elif action == "insert":
            data[position:position] = inserted
        else:
            del data[position:position + length]
    return bytes(data)


@settings(max_examples=500, **FUZZ_SETTINGS)
@given(valid_configs(max_groups=2), mutations)
def test_damaged_xml_never_raises_anything_but_carp_error(wanted, changes):
    """Valid documents with random bytes flipped, inserted or cut: CarpError or a config, nothing else."""
    document = damage(wanted.xml(), changes)
    with FIGURES.case(FUZZ):
        try:
            build_config(parse_config_bytes(document, "damaged.xml"))
        except CarpError:
            pass


def run_script(script: str, workdir: str):
    """Run the rc script with ifconfig/sysctl stand-ins that log their argv; returns (exit code, calls)."""
    bin_dir = os.path.join(workdir, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    for tool in ("ifconfig", "sysctl"):
        with open(os.path.join(bin_dir, tool), "w") as handle:
            handle.write('#!/bin/sh\n{ printf "%s\\037" "$(basename "$0")" "$@"; printf "\\036"; } >> "$CALLS_LOG"\n')
        os.chmod(os.path.join(bin_dir, tool), 0o755)
    path, log = os.path.join(workdir, "carp.sh"), os.path.join(workdir, "calls.log")
    with open(path, "w") as handle:
        handle.write(script)
    open(log, "wb").close()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS_LOG": log, "HOME": workdir}
    done = subprocess.run(["/bin/sh", path, "start"], cwd=workdir, env=env, capture_output=True)
    with open(log, "rb") as handle:
        records = handle.read().decode("utf-8").split("\x1e")[:-1]
    return done.returncode, [tuple(r.split("\x1f")[:-1]) for r in records]


@settings(max_examples=80, **FUZZ_SETTINGS)
@given(valid_configs())
def test_every_valid_config_renders_and_its_script_runs_exactly_the_plan(wanted):
    with FIGURES.case(FUZZ):
        config = build_config(parse_config_bytes(wanted.xml(), "fuzz.xml"))
        assert len(config.vips) == sum(len(g.addresses) for g in wanted.groups)
        for name in BACKENDS:
            backend = get_backend(name)
            if backend.problems(config):
                assert name == "ucarp"  # only ucarp refuses valid configs (IPv6, several VIPs per vhid)
                continue
            if name == "ucarp":
                continue  # its plan needs the host's own address; the FreeBSD scripts are checked below
            backend.plan(config, EMPTY)
            script = rc_script_text(backend, config, Paths("/"))
            assert subprocess.run(["sh", "-n"], input=script.encode()).returncode == 0
            with tempfile.TemporaryDirectory() as workdir:
                code, calls = run_script(script, workdir)
            assert code == 0
            assert calls == [step.argv for step in backend.boot_plan(config).steps]


def stand_in_sync(root: str, fake: FakeFreeBSD):
    runner = RecordingRunner(respond=lambda argv: Result(*fake.run(argv)))
    paths = Paths(root)
    sync(System(runner, paths, use_sysctl_library=False), paths, get_backend("freebsd"))
    return runner.mutating_calls


def removes_a_password(first: ValidConfig, second: ValidConfig) -> bool:
    before = {(g.interface, g.vhid): g.password for g in first.groups}
    return any(before.get((g.interface, g.vhid)) and not g.password for g in second.groups)


@settings(max_examples=150, **FUZZ_SETTINGS)
@given(valid_configs(), valid_configs())
def test_render_apply_status_reads_back_exactly_the_desired_state(first, second):
    """Sync one random config, then another: the stand-in ends in exactly the second, and a resync is a no-op."""
    assume(not removes_a_password(first, second))  # a known defect, pinned by the test below
    with FIGURES.case(FUZZ):
        fake = FakeFreeBSD(STAND_IN_INTERFACES)
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "conf"))
            config_path = os.path.join(root, "conf", "config.xml")
            for wanted in (first, second):
                with open(config_path, "wb") as handle:
                    handle.write(wanted.xml())
                stand_in_sync(root, fake)
                desired = build_config(parse_config_bytes(wanted.xml()))
                state = parse_ifconfig(fake.ifconfig_output())
                assert {(v.interface, v.vhid): (v.advskew, v.advbase, frozenset(v.addresses)) for v in state.vhids} == \
                    {(g.interface, g.vhid): (g.advskew, g.advbase, frozenset(g.addresses)) for g in desired.groups()}
                for group in desired.groups():
                    assert fake.key(group.interface, group.vhid) == group.password
                assert fake.sysctl_value("net.inet.carp.preempt") == (1 if desired.preempt else 0)
                assert (state.pfsync.syncdev if state.pfsync else None) == (desired.pfsync.syncdev if desired.pfsync else None)
            assert stand_in_sync(root, fake) == []


def test_removing_a_vhids_password_takes_effect():
    with FIGURES.case(FUZZ):
        fake = FakeFreeBSD(STAND_IN_INTERFACES)
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "conf"))
            for password in ("fallback", ""):
                with open(os.path.join(root, "conf", "config.xml"), "wb") as handle:
                    handle.write(ValidConfig((Group("lan", 1, 0, 1, password, ("10.0.0.1/24",)),), False, False,
                                             False).xml())
                stand_in_sync(root, fake)
        assert fake.key("em1", 1) == ""
