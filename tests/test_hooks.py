"""install / deinstall: the package's pfSense hooks leave the root exactly as they found it, and
deinstall does not trust its manifest (security issue item 5)."""

import hashlib
import json
import os
import stat

import pytest

from carp_pkg.hooks import SYSTEM_DIRECTORIES
from tests.helpers import host_runner, run_cli
from tests.reliability.figures import FIGURES
from tests.test_sync import BARE_HOST, SEED_RUNNING

SYSCTLS_BEFORE = {"net.inet.carp.preempt": 0, "net.inet.carp.allow": 1}
FS_ATTACKS = "file-system attacks"
MANIFEST = "var/db/carp-pkg/manifest.json"
PACKAGE_TARGETS = ("usr/local/pkg/carp.xml", "usr/local/pkg/carp.inc", "usr/local/www/carp_status.php",
                   "usr/local/pkg/pf/carp_rules.php", "etc/inc/priv/carp.priv.inc", "usr/local/etc/rc.d/carp.sh")


@pytest.fixture
def firewall(root):
    """A root with the system directories every firewall has (deinstall never removes those)."""
    for directory in sorted(SYSTEM_DIRECTORIES - {"/"}):
        os.makedirs(root / directory.lstrip("/"), exist_ok=True)
    return root


def snapshot(root):
    tree = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(directory, name)
            tree[os.path.relpath(path, root)] = ("dir", os.stat(path).st_mode)
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                tree[os.path.relpath(path, root)] = ("file", os.stat(path).st_mode, hashlib.sha256(handle.read()).hexdigest())
    return tree


def cli(root, runner, *argv):
    return run_cli(["--root", str(root), *argv], runner=runner)


def test_install_places_the_package_files_and_runs_the_first_sync(root):
    runner = host_runner(BARE_HOST, SYSCTLS_BEFORE)
    result = cli(root, runner, "install", "--backend", "freebsd")
    assert result.code == 0, result.err
    for target in ("usr/local/pkg/carp.xml", "usr/local/pkg/carp.inc", "usr/local/www/carp_status.php",
                   "usr/local/pkg/pf/carp_rules.php", "etc/inc/priv/carp.priv.inc", "usr/local/etc/rc.d/carp.sh"):
        assert (root / target).is_file(), target
    manifest = json.loads((root / "var/db/carp-pkg/manifest.json").read_text())
    assert "/usr/local/etc/rc.d/carp.sh" in manifest["files"]
    assert manifest["sysctls_before"] == {"net.inet.carp.preempt": 0}
    assert ("ifconfig", "em1", "inet", "192.168.1.1/24", "alias", "vhid", "1") in runner.mutating_calls


def test_install_then_deinstall_leaves_the_tree_exactly_as_it_was(firewall):
    root = firewall
    before = snapshot(root)
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    runner = host_runner(SEED_RUNNING, {"net.inet.carp.preempt": 1})
    result = cli(root, runner, "deinstall", "--backend", "freebsd")
    assert result.code == 0, result.err
    assert snapshot(root) == before
    assert runner.mutating_calls[0] == ("/bin/sh", str(root / "usr/local/etc/rc.d/carp.sh"), "stop")
    assert ("sysctl", "net.inet.carp.preempt=0") in runner.mutating_calls  # the value install found
    assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls
    assert "config.xml left as it was" in result.out


def test_deinstall_keeps_other_files_in_shared_folders(root):
    (root / "usr/local/www").mkdir(parents=True)
    (root / "usr/local/www/carp_other_tool.php").write_text("not ours")
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd")
    assert (root / "usr/local/www/carp_other_tool.php").read_text() == "not ours"
    assert not (root / "usr/local/www/carp_status.php").exists()


def test_install_and_deinstall_are_idempotent(firewall):
    root = firewall
    before = snapshot(root)
    for _ in range(2):
        assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    for _ in range(2):
        assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd").code == 0
    assert snapshot(root) == before


def test_deinstall_after_a_half_finished_install(firewall):
    root = firewall
    before = snapshot(root)
    config = root / "conf" / "config.xml"
    good = config.read_text()
    config.write_text(good.replace("<vhid>1</vhid>", "<vhid>0</vhid>"))  # the first sync will refuse
    result = cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    assert result.code == 3 and (root / "usr/local/pkg/carp.xml").exists()
    config.write_text(good)
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd").code == 0
    assert snapshot(root) == before


def test_purge_removes_only_the_carp_section(root):
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd", "--purge").code == 0
    text = (root / "conf" / "config.xml").read_text()
    assert "<carp>" not in text and "<hostname>fw1</hostname>" in text and "<installedpackages" in text


def test_deinstall_dry_run_changes_nothing(root):
    cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    before = snapshot(root)
    from carp_pkg.system import DryRunRunner
    reader = host_runner(SEED_RUNNING, SYSCTLS_BEFORE)
    result = cli(root, DryRunRunner(reader), "deinstall", "--backend", "freebsd", "--dry-run")
    assert result.code == 0 and "ifconfig em1 inet 192.168.1.1 -alias" in result.out
    assert snapshot(root) == before and reader.mutating_calls == []


def test_deinstall_on_a_bare_staging_root_keeps_the_system_directories_it_created(root):
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    result = cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert {"entry": '"/usr"', "reason": "a system directory; never removed"} in report["kept"]
    assert report["refused"] == []
    assert not (root / "usr/local/pkg").exists() and (root / "usr/local").is_dir()


# --- the manifest is hostile input (security issue item 5) -------------------------------------------------


@pytest.fixture
def outside(tmp_path_factory):
    """A directory outside the firewall root, with a canary file and an empty directory."""
    place = tmp_path_factory.mktemp("outside")
    (place / "canary").write_text("must survive")
    (place / "empty").mkdir()
    return place


@pytest.fixture
def installed(firewall):
    result = cli(firewall, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    assert result.code == 0, result.err
    return firewall


def edit_manifest(root, **changes):
    path = root / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def relative_escape(root, target):
    """`target` (outside root) as a manifest path that climbs out of root with `..`."""
    return "/" + os.path.relpath(target, root)


def deinstall(root, *extra, runner=None):
    runner = runner or host_runner(SEED_RUNNING, {"net.inet.carp.preempt": 1})
    result = cli(root, runner, "deinstall", "--backend", "freebsd", *extra)
    assert "Traceback" not in result.err
    return result, runner


def assert_stopped_and_cleaned(root, runner):
    """Deinstall went on with the valid entries: CARP stopped, the package files gone."""
    assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls
    for target in PACKAGE_TARGETS:
        assert not (root / target).exists(), target


def refused_entries(result):
    return [line for line in result.err.splitlines() if line.startswith("carp-pkg: warning: refused ")]


def test_deinstall_refuses_a_dotdot_path_out_of_the_root(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        escape = relative_escape(installed, outside / "canary")
        edit_manifest(installed, files=[escape, "/usr/local/pkg/carp.xml"],
                      directories=[relative_escape(installed, outside / "empty"), "/usr/local/pkg"])
        result, runner = deinstall(installed)
        assert result.code == 3
        assert (outside / "canary").read_text() == "must survive" and (outside / "empty").is_dir()
        assert len(refused_entries(result)) == 2 and json.dumps(escape) in result.err
        assert "refused" in result.err.splitlines()[-1] and not (installed / "usr/local/pkg/carp.xml").exists()
        assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls


def test_deinstall_refuses_an_absolute_path_outside_its_own_files(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        edit_manifest(installed, files=[str(outside / "canary"), "/etc/passwd"],
                      directories=[str(outside / "empty"), "/etc"])
        (installed / "etc/passwd").write_text("root:*:0:0::/root:/bin/sh\n")
        result, runner = deinstall(installed, "--json")
        assert result.code == 3
        assert (outside / "canary").read_text() == "must survive" and (outside / "empty").is_dir()
        assert (installed / "etc/passwd").exists() and (installed / "etc").is_dir()
        refused = {entry["entry"]: entry["reason"] for entry in json.loads(result.out)["refused"]}
        assert refused == {
            f'files[0] {json.dumps(str(outside / "canary"))}':
                "is not one of the files carp-pkg installs; carp-pkg removes only its own files",
            'files[1] "/etc/passwd"': "is not one of the files carp-pkg installs; carp-pkg removes only its own files",
            f'directories[0] {json.dumps(str(outside / "empty"))}':
                "is not a parent directory of carp-pkg's files; "
                "carp-pkg removes only directories it could have created",
        }  # /etc is a parent of carp.priv.inc, but a system directory: kept, not refused
        assert {"entry": '"/etc"', "reason": "a system directory; never removed"} in json.loads(result.out)["kept"]


def test_deinstall_refuses_a_directory_listed_as_a_file(installed):
    with FIGURES.case(FS_ATTACKS):
        (installed / "usr/local/pkg/carp.xml").unlink()
        (installed / "usr/local/pkg/carp.xml").mkdir()
        (installed / "usr/local/pkg/carp.xml/someone_elses").write_text("keep")
        edit_manifest(installed, files=["/usr/local/pkg/carp.xml", "/usr/local/pkg/carp.inc",
                                        "/usr/local/etc/rc.d/carp.sh"])
        result, runner = deinstall(installed)
        assert result.code == 3
        assert (installed / "usr/local/pkg/carp.xml/someone_elses").read_text() == "keep"
        assert refused_entries(result) == ['carp-pkg: warning: refused "/usr/local/pkg/carp.xml": '
                                           "is a directory, not a file carp-pkg installed"]
        assert not (installed / "usr/local/pkg/carp.inc").exists()
        assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls


@pytest.mark.parametrize("damage", [
    {"files": [None]},
    {"files": [None, 7, ["/tmp"], {"a": 1}, True, ""]},
    {"files": "/usr/local/pkg/carp.xml"},  # a string: once split into one-letter files under the root
    {"directories": [None]},
    {"sysctls_before": {"net.inet.carp.preempt": "0"}},
    {"sha256": {"/usr/local/pkg/carp.inc": None}},
])
def test_deinstall_refuses_entries_of_the_wrong_type_without_a_traceback(installed, damage):
    with FIGURES.case(FS_ATTACKS):
        (installed / "u").write_text("a one-letter file")
        edit_manifest(installed, **damage)
        result, runner = deinstall(installed, "--json")
        document = json.loads(result.out)  # with --json, the whole answer is one JSON document on stdout
        assert result.code == 3 and result.err == ""
        assert document["refused"] and document["error"]["code"] == 3
        assert "the carp-pkg manifest" in document["error"]["message"]
        assert (installed / "u").exists()
        assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls


def test_deinstall_never_follows_a_symlink_entry(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        link = installed / "usr/local/pkg/carp.inc"
        link.unlink()
        link.symlink_to(outside / "canary")
        result, runner = deinstall(installed)
        assert result.code == 3
        assert os.path.islink(link) and (outside / "canary").read_text() == "must survive"
        assert refused_entries(result) == ['carp-pkg: warning: refused "/usr/local/pkg/carp.inc": '
                                           "is a symbolic link; links are never followed or removed"]
        assert not (installed / "usr/local/pkg/carp.xml").exists()


def test_deinstall_never_removes_through_a_symlinked_directory(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        (outside / "carp_status.php").write_text("someone else's page")
        www = installed / "usr/local/www"
        for name in os.listdir(www):
            (www / name).unlink()
        www.rmdir()
        www.symlink_to(outside)
        result, runner = deinstall(installed)
        assert result.code == 3
        assert (outside / "carp_status.php").read_text() == "someone else's page"
        assert (outside / "canary").exists() and os.path.islink(www)
        assert "a part of its path is a symbolic link" in result.err


def test_deinstall_never_follows_a_symlinked_state_dir(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        state = installed / "var/db/carp-pkg"
        for name in os.listdir(state):
            (outside / name).write_bytes((state / name).read_bytes())
            (state / name).unlink()
        state.rmdir()
        state.symlink_to(outside)
        before = sorted(os.listdir(outside))
        result, runner = deinstall(installed, "--json")
        assert result.code == 3
        assert sorted(os.listdir(outside)) == before and "manifest.json" in before
        report = json.loads(result.out)
        assert os.path.islink(state)
        assert any(n["entry"] == "manifest" and "symbolic link" in n["reason"] for n in report["refused"])
        assert {"entry": '"/var/db/carp-pkg"', "reason": "is a symbolic link; links are never followed or removed"} \
            in report["refused"]
        assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls  # CARP still stopped


def test_install_refuses_a_symlinked_state_dir(firewall, outside):
    with FIGURES.case(FS_ATTACKS):
        os.makedirs(firewall / "var/db", exist_ok=True)
        (firewall / "var/db/carp-pkg").symlink_to(outside)
        result = cli(firewall, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
        assert result.code == 6 and "symbolic link" in result.err
        assert sorted(os.listdir(outside)) == ["canary", "empty"]


def test_deinstall_restores_only_carp_sysctls(installed):
    with FIGURES.case(FS_ATTACKS):
        edit_manifest(installed, sysctls_before={"kern.securelevel": -1, "net.inet.carp.preempt": 0,
                                                 "net.inet.carp.preempt; reboot": 1, "net.inet.carp.allow": True})
        result, runner = deinstall(installed)
        assert result.code == 3
        sysctl_writes = [call for call in runner.mutating_calls if call[0] == "sysctl"]
        assert sysctl_writes == [("sysctl", "net.inet.carp.preempt=0")]
        assert len(refused_entries(result)) == 3


@pytest.mark.parametrize("content", [b"[" * 100000, b"\xff\xfe not utf-8", b"{\"files\": [", b"[]", b"null",
                                     b"{\"files\": " + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_deinstall_with_an_unreadable_manifest_still_stops_carp(installed, content):
    with FIGURES.case(FS_ATTACKS):
        (installed / MANIFEST).write_bytes(content)
        result, runner = deinstall(installed)
        assert result.code == 3 and "refused manifest" in result.err
        assert ("ifconfig", "em1", "inet", "192.168.1.1", "-alias") in runner.mutating_calls
        assert (installed / "usr/local/pkg/carp.xml").exists()  # nothing it lists was removed
        assert (installed / MANIFEST).read_bytes() == content  # kept for the admin to inspect


def test_deinstall_refuses_a_manifest_that_is_a_device_or_too_large(installed):
    with FIGURES.case(FS_ATTACKS):
        manifest = installed / MANIFEST
        manifest.unlink()
        manifest.symlink_to("/dev/zero")
        result, _ = deinstall(installed)
        assert result.code == 3 and "symbolic link" in result.err
        manifest.unlink()
        with open(manifest, "wb") as handle:
            handle.truncate(5 * 1024 * 1024)
        result, _ = deinstall(installed)
        assert result.code == 3 and "larger than" in result.err


def test_deinstall_keeps_a_package_file_the_admin_edited(installed):
    with FIGURES.case(FS_ATTACKS):
        edited = installed / "usr/local/pkg/carp.inc"
        edited.write_text(edited.read_text() + "// local change\n")
        result, runner = deinstall(installed)
        assert result.code == 0, result.err
        assert edited.read_text().endswith("// local change\n")
        assert 'kept "/usr/local/pkg/carp.inc": changed since install (sha256 differs)' in result.err
        assert not (installed / "usr/local/pkg/carp.xml").exists()


def test_deinstall_dry_run_reports_refusals_and_changes_nothing(installed, outside):
    with FIGURES.case(FS_ATTACKS):
        edit_manifest(installed, files=[relative_escape(installed, outside / "canary"), "/usr/local/pkg/carp.xml"])
        before = snapshot(installed)
        from carp_pkg.system import DryRunRunner
        result = cli(installed, DryRunRunner(host_runner(SEED_RUNNING, SYSCTLS_BEFORE)), "deinstall",
                     "--backend", "freebsd", "--dry-run", "--json")
        assert result.code == 3
        report = json.loads(result.out)
        assert report["would_remove"] == ["/usr/local/pkg/carp.xml"] and len(report["refused"]) == 1
        assert snapshot(installed) == before and (outside / "canary").exists()


def test_install_modes_do_not_depend_on_the_umask(firewall):
    before = set(snapshot(firewall))
    previous = os.umask(0)
    try:
        result = cli(firewall, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd")
    finally:
        os.umask(previous)
    assert result.code == 0, result.err
    created = {path: entry for path, entry in snapshot(firewall).items() if path not in before}
    assert created, "install created nothing"
    writable = {path: oct(entry[1]) for path, entry in created.items() if entry[1] & 0o022}
    assert writable == {}
    modes = {path: stat.S_IMODE(entry[1]) for path, entry in created.items()}
    assert modes["usr/local/pkg/carp.xml"] == 0o644 and modes["usr/local/pkg/pf/carp_rules.php"] == 0o755
    assert modes[MANIFEST] == 0o600 and modes["var/db/carp-pkg"] == 0o700
    assert modes["usr/local/pkg"] == 0o755 and modes["etc/inc/priv"] == 0o755
    assert modes["tmp/config.lock"] == 0o644


def test_deinstall_dry_run_lists_every_file_the_real_run_removes(root):
    from carp_pkg.system import DryRunRunner
    assert cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "install", "--backend", "freebsd").code == 0
    dry = cli(root, DryRunRunner(host_runner(BARE_HOST, SYSCTLS_BEFORE)), "deinstall", "--backend", "freebsd",
              "--dry-run", "--json")
    real = cli(root, host_runner(BARE_HOST, SYSCTLS_BEFORE), "deinstall", "--backend", "freebsd", "--json")
    assert dry.code == real.code == 0, dry.err + real.err
    would, did = json.loads(dry.out)["would_remove"], json.loads(real.out)["removed"]
    assert set(would) <= set(did) and "/tmp/config.lock" in would  # install created it on this bare root
    # what the real run removed beyond the list: only the directories those files were in, once empty
    assert all(any(path.startswith(extra + "/") for path in would) for extra in set(did) - set(would))
