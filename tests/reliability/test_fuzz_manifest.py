"""Issue 5: deinstall does not trust its manifest. Hypothesis fuzzing of the manifest reader and of deinstall
over a firewall root (with decoy files, links and a canary outside the root): for any JSON and any bytes,
deinstall raises nothing but CarpError, never touches the canary, and removes nothing but carp-pkg's own
files, the empty directories above them and its state dir."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carp_pkg.backends import get_backend
from carp_pkg.errors import CarpError
from carp_pkg.hooks import Installer
from carp_pkg.package.manifest import parse_manifest
from carp_pkg.package.targets import (MANIFEST_KEYS, MANIFEST_TARGET, MAX_REFUSALS_LISTED, OWN_DIRECTORIES, OWN_FILES,
                                      SHA256_HEX, SYSCTL_NAME, SYSTEM_DIRECTORIES)
from carp_pkg.paths import STATE_DIR, Paths
from carp_pkg.system import DryRunRunner, RecordingRunner, System

from tests.helpers import fixture_path, host_runner, run_cli
from tests.reliability.figures import FIGURES, FUZZ

FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                           HealthCheck.function_scoped_fixture])
OUTSIDE, ESCAPE = "{OUTSIDE}", "{ESCAPE}"  # placeholders: the outside folder, absolute and as /../.. from the root
DECOY_FILES = ("/etc/passwd", "/usr/local/pkg/other.xml", "/usr/local/www/index.php", "/var/db/other/state")
DECOY_DIRECTORIES = ("/usr/local/share/empty", "/empty_top")
REMOVABLE_DIRECTORIES = OWN_DIRECTORIES - SYSTEM_DIRECTORIES
REAL_EXAMPLE = {"files": sorted(OWN_FILES), "directories": sorted(OWN_DIRECTORIES), "sysctls_before":
                {"net.inet.carp.preempt": 0}, "sha256": {"/usr/local/pkg/carp.inc": "0" * 64}}

# --- strategies ------------------------------------------------------------------------------------------

interesting_paths = st.sampled_from(sorted(OWN_FILES | OWN_DIRECTORIES) + list(DECOY_FILES + DECOY_DIRECTORIES) + [
    "/", "/usr/local/pkg/link", "/usr/local/pkg/link/x", "/usr/local/pkg/dirlink/canary",
    f"{OUTSIDE}/canary", f"{OUTSIDE}/empty", OUTSIDE, f"{ESCAPE}/canary", f"{ESCAPE}/empty", ESCAPE,
    "/usr/local/pkg/../../../etc/passwd", "/usr/local/pkg/carp.xml/../../../../..", "//etc/passwd",
    "usr/local/pkg/carp.xml", "/usr/local/pkg/carp.xml/", "/./usr/local/pkg/carp.xml", "/var/db/carp-pkg/applied.json",
    "/var/db/carp-pkg/../carp-pkg/manifest.json", "", ".", "..", "/tmp/config.lock\x00", "/usr/local/pkg/carp.xml\n",
    "/usr/local/pkg/carp.xml\ud800", "/usr/local/pkg/carp.inc\x1b[2J",
])
paths = st.one_of(interesting_paths, st.text(max_size=30),
                  st.builds(lambda a, b: a + "/" + b, interesting_paths, st.sampled_from(["..", "x", "", "."])))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), paths)
any_json = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(MANIFEST_KEYS), st.text(max_size=10)), children, max_size=4)),
    max_leaves=16)
path_lists = st.one_of(st.lists(st.one_of(paths, paths, any_json), max_size=10), any_json)
sysctl_names = st.one_of(st.sampled_from(["net.inet.carp.preempt", "net.inet.carp.allow", "kern.securelevel",
                                          "net.inet.carp.preempt; reboot", "net.inet.carp.", "NET.INET.CARP.X"]),
                         st.text(max_size=24))
sysctl_values = st.one_of(st.none(), st.integers(), st.booleans(), st.floats(), st.text(max_size=4), any_json)
digests = st.one_of(st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True), st.text(max_size=70), any_json)
manifests = st.fixed_dictionaries({}, optional={
    "files": path_lists, "directories": path_lists,
    "sysctls_before": st.one_of(st.dictionaries(sysctl_names, sysctl_values, max_size=4), any_json),
    "sha256": st.one_of(st.dictionaries(paths, digests, max_size=4), any_json),
    "surplus": any_json,
})
edits_of_the_real_one = st.fixed_dictionaries({}, optional={  # the manifest install wrote, then tampered with
    "add_files": st.lists(paths, max_size=3), "add_directories": st.lists(paths, max_size=3),
    "replace": st.dictionaries(st.sampled_from(MANIFEST_KEYS + ("surplus",)), any_json, max_size=2),
    "drop": st.lists(st.sampled_from(MANIFEST_KEYS), max_size=2),
}).map(lambda edits: ("edit the real manifest", edits))
documents = st.one_of(edits_of_the_real_one, edits_of_the_real_one, manifests, manifests, any_json)
SABOTAGE = ("none", "none", "carp.inc is a link to the canary", "www is a link outside", "carp.xml is a directory",
            "the manifest is a link to the canary", "the state dir is a link outside", "carp.inc was edited")


def edited(real: dict, edits: dict) -> dict:
    manifest = dict(real, files=real["files"] + edits.get("add_files", []),
                    directories=real["directories"] + edits.get("add_directories", []))
    manifest.update(edits.get("replace", {}))
    for key in edits.get("drop", []):
        manifest.pop(key, None)
    return manifest


def document_bytes(document, real: dict, outside: str, escape: str) -> bytes:
    if isinstance(document, tuple):
        document = edited(real, document[1])
    return json.dumps(materialize(document, outside, escape)).encode("utf-8", "surrogatepass")


def materialize(value, outside: str, escape: str):
    """Replace the placeholders in every string of a JSON value (keys too)."""
    if isinstance(value, str):
        return value.replace(ESCAPE, escape).replace(OUTSIDE, outside)
    if isinstance(value, list):
        return [materialize(item, outside, escape) for item in value]
    if isinstance(value, dict):
        return {materialize(key, outside, escape): materialize(item, outside, escape) for key, item in value.items()}
    return value


# --- a firewall root, installed once, copied for every example ---------------------------------------------


def tree(top: str) -> dict:
    """Every path under `top` (never following a link): its kind, and a file's content hash or a link's target."""
    found = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            key = "/" + os.path.relpath(path, top)
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[key] = ("dir",)
            else:
                with open(path, "rb") as handle:
                    found[key] = ("file", hashlib.sha256(handle.read()).hexdigest())
    return found


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    """(base folder for copies, the installed template root, the outside folder with its canary)."""
    base = str(tmp_path_factory.mktemp("manifest-fuzz"))
    outside = os.path.join(base, "outside")
    os.makedirs(os.path.join(outside, "empty"))
    with open(os.path.join(outside, "canary"), "w") as handle:
        handle.write("must survive")
    template = os.path.join(base, "template")
    os.makedirs(os.path.join(template, "conf"))
    shutil.copy(fixture_path("config", "seed-style.xml"), os.path.join(template, "conf", "config.xml"))
    for directory in SYSTEM_DIRECTORIES - {"/"}:
        os.makedirs(template + directory, exist_ok=True)
    result = run_cli(["--root", template, "install", "--backend", "freebsd"], runner=host_runner("", {}))
    assert result.code == 0, result.err
    for decoy in DECOY_FILES:
        os.makedirs(os.path.dirname(template + decoy), exist_ok=True)
        with open(template + decoy, "w") as handle:
            handle.write("not carp-pkg's")
    for decoy in DECOY_DIRECTORIES:
        os.makedirs(template + decoy)
    os.symlink(os.path.join(outside, "canary"), template + "/usr/local/pkg/link")
    os.symlink(outside, template + "/usr/local/pkg/dirlink")
    return base, template, outside


def sabotage(root: str, outside_copy: str, how: str) -> None:
    if how == "carp.inc is a link to the canary":
        os.unlink(root + "/usr/local/pkg/carp.inc")
        os.symlink(os.path.join(outside_copy, "canary"), root + "/usr/local/pkg/carp.inc")
    elif how == "www is a link outside":
        shutil.copy(root + "/usr/local/www/carp_status.php", os.path.join(outside_copy, "carp_status.php"))
        shutil.rmtree(root + "/usr/local/www")
        os.symlink(outside_copy, root + "/usr/local/www")
    elif how == "carp.xml is a directory":
        os.unlink(root + "/usr/local/pkg/carp.xml")
        os.makedirs(root + "/usr/local/pkg/carp.xml/inside")
    elif how == "the manifest is a link to the canary":
        os.unlink(root + MANIFEST_TARGET)
        os.symlink(os.path.join(outside_copy, "canary"), root + MANIFEST_TARGET)
    elif how == "the state dir is a link outside":
        shutil.copy(root + MANIFEST_TARGET, os.path.join(outside_copy, "manifest.json"))
        shutil.rmtree(root + STATE_DIR)
        os.symlink(outside_copy, root + STATE_DIR)
    elif how == "carp.inc was edited":
        with open(root + "/usr/local/pkg/carp.inc", "a") as handle:
            handle.write("// the admin's change\n")


def may_be_removed(path: str) -> bool:
    return path in OWN_FILES or path in REMOVABLE_DIRECTORIES or path == STATE_DIR or path.startswith(STATE_DIR + "/")


def run_deinstall(arena, manifest_bytes, how: str, dry_run: bool) -> None:
    """Deinstall over a fresh copy of the installed root; check that only carp-pkg's own paths changed."""
    base, template, outside = arena
    work = tempfile.mkdtemp(dir=base, prefix="case-")
    try:
        root, outside_copy = os.path.join(work, "root"), os.path.join(work, "outside")
        shutil.copytree(template, root, symlinks=True)
        shutil.copytree(outside, outside_copy, symlinks=True)
        for link in ("/usr/local/pkg/link", "/usr/local/pkg/dirlink"):  # point the copy's links at the copy's outside
            target = os.readlink(template + link).replace(outside, outside_copy)
            os.unlink(root + link)
            os.symlink(target, root + link)
        manifest_path = root + MANIFEST_TARGET
        with open(manifest_path, encoding="utf-8") as handle:
            real = json.load(handle)
        with open(manifest_path, "wb") as handle:
            handle.write(manifest_bytes(real, outside_copy, "/" + os.path.relpath(outside_copy, root)))
        sabotage(root, outside_copy, how)
        root_before, outside_before = tree(root), tree(outside_copy)
        paths = Paths(root=root)
        recorder = RecordingRunner()
        system = System(runner=DryRunRunner(recorder) if dry_run else recorder, paths=paths, dry_run=dry_run)
        try:
            Installer(system, paths, get_backend("freebsd", paths=paths)).deinstall(purge=False, lock_timeout=1)
        except CarpError:
            pass
        assert tree(outside_copy) == outside_before
        root_after = tree(root)
        if dry_run:
            assert root_after == root_before and recorder.mutating_calls == []
            return
        removed = sorted(set(root_before) - set(root_after))
        assert [path for path in removed if not may_be_removed(path)] == []
        changed = [path for path in root_after if path in root_before and root_after[path] != root_before[path]]
        assert changed == []
        assert not any(call[0] == "sysctl" and not SYSCTL_NAME.fullmatch(call[1].split("=")[0])
                       for call in recorder.mutating_calls)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- the reader alone ------------------------------------------------------------------------------------


def check_reading(data: bytes) -> None:
    reading = parse_manifest(data)
    manifest = reading.manifest
    assert set(manifest.files) <= OWN_FILES and set(manifest.directories) <= OWN_DIRECTORIES
    assert all(SYSCTL_NAME.fullmatch(name) for name in manifest.sysctls_before)
    assert all(value is None or (type(value) is int) for value in manifest.sysctls_before.values())
    assert all(SHA256_HEX.fullmatch(digest) for digest in manifest.hashes.values())
    assert len(reading.refused) <= MAX_REFUSALS_LISTED + 1
    for note in reading.refused:  # safe to print: no control character or escape sequence reaches a terminal
        assert str(note).isascii() and str(note).isprintable() and len(note.entry) < 200


@settings(max_examples=400, **FUZZ_SETTINGS)
@given(documents)
def test_manifest_reader_accepts_only_carp_pkgs_own_entries(document):
    with FIGURES.case(FUZZ):
        check_reading(document_bytes(document, REAL_EXAMPLE, "/outside", "/../outside"))


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(st.one_of(st.binary(max_size=200),
                 documents.map(lambda d: document_bytes(d, REAL_EXAMPLE, OUTSIDE, ESCAPE)[:-1])))
def test_manifest_reader_never_raises_on_any_bytes(data):
    with FIGURES.case(FUZZ):
        check_reading(data)


def test_manifest_reader_with_a_million_bad_entries_lists_a_few():
    with FIGURES.case(FUZZ):
        data = json.dumps({"files": ["/etc/passwd"] * 1_000_000, "directories": [], "sysctls_before": {}}).encode()
        reading = parse_manifest(data)
        assert len(reading.refused) == MAX_REFUSALS_LISTED + 1
        assert reading.refused[-1].reason == f"{1_000_000 - MAX_REFUSALS_LISTED} more refused entries not listed"


# --- deinstall over a real root ---------------------------------------------------------------------------


@settings(max_examples=150, **FUZZ_SETTINGS)
@given(documents, st.sampled_from(SABOTAGE), st.sampled_from([False, False, False, True]))
def test_deinstall_removes_only_carp_pkgs_own_files_for_any_json(arena, document, how, dry_run):
    def manifest_bytes(real, outside, escape):
        return document_bytes(document, real, outside, escape)

    with FIGURES.case(FUZZ):
        run_deinstall(arena, manifest_bytes, how, dry_run)


@settings(max_examples=60, **FUZZ_SETTINGS)
@given(st.binary(max_size=300), st.sampled_from(SABOTAGE))
def test_deinstall_removes_only_carp_pkgs_own_files_for_any_bytes(arena, data, how):
    with FIGURES.case(FUZZ):
        run_deinstall(arena, lambda real, outside, escape: data, how, dry_run=False)
