"""port/: the FreeBSD ports sysutils/pfSense-pkg-carp (port/) and sysutils/py-carp-pkg (port/py-carp-pkg/),
built the way current pfSense packages are.

The port's own do-install is run with bmake against a bsd.port.mk stand-in (tests/stubs/port), from a copy
of the port in a ports-tree-shaped directory of its own and a release distfile made from this tree, so the
test can prove that the port is self-contained (it installs only from its distfile and its files/), that
pkg-plist lists exactly what it installs, that the installed files are the project's pkgxml/ files, and
that pkg-install/pkg-deinstall hand over to pfSense's rc.packages.
"""

from __future__ import annotations

import configparser
import platform
import re
import shutil
import stat
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from carp_pkg import __version__

ROOT = Path(__file__).resolve().parent.parent
PORT = ROOT / "port"
PY_PORT = PORT / "py-carp-pkg"
PKGXML = ROOT / "pkgxml"
STANDIN = Path(__file__).resolve().parent / "stubs" / "port"
PREFIX = "/usr/local"
DATADIR = f"{PREFIX}/share/pfSense-pkg-carp"
# what a GitHub release tarball of this project holds (the tree, less what is not source)
RELEASE_CONTENT = ("LICENSE", "README.md", "setup.cfg", "pyproject.toml", "carp_pkg", "pkgxml", "rc.d", "examples")


def find_bmake():
    if shutil.which("bmake"):
        return shutil.which("bmake")
    if platform.system() == "FreeBSD":  # FreeBSD's make is bmake
        return shutil.which("make")
    return None


BMAKE = find_bmake()
needs_bmake = pytest.mark.skipif(
    BMAKE is None, reason="LOUD SKIP: bmake is not installed (apt-get install bmake); the port Makefile is untested")


def bmake(*args, port=PORT):
    return subprocess.run([BMAKE, "-r", "-m", str(STANDIN), "-f", str(port / "Makefile"), *args],
                          cwd=port, capture_output=True, text=True, timeout=120)


def variable(name: str, port=PORT) -> str:
    result = bmake("-V", f"${{{name}}}", port=port)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def release_tarball(target: Path, top: str) -> Path:
    """This tree as the GitHub tag tarball would hold it: every file under TOP/."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        for name in RELEASE_CONTENT:
            archive.add(ROOT / name, arcname=f"{top}/{name}",
                        filter=lambda info: None if "__pycache__" in info.name else info)
    return target


@pytest.fixture(scope="module")
def ports_tree(tmp_path_factory):
    """The two ports copied into a ports tree of their own (nothing of this project beside them), and the
    release distfile in DISTDIR: a port that reached outside its distfile would fail to build here."""
    tree = tmp_path_factory.mktemp("ports")
    pfsense = tree / "sysutils" / "pfSense-pkg-carp"
    shutil.copytree(PORT, pfsense, ignore=shutil.ignore_patterns("py-carp-pkg", "work"))
    shutil.copytree(PY_PORT, tree / "sysutils" / "py-carp-pkg", ignore=shutil.ignore_patterns("work"))
    distdir = tree / "distfiles"
    wrksrc = Path(variable("WRKSRC", pfsense))
    release_tarball(distdir / variable("DISTFILES", pfsense), wrksrc.name)
    return tree


@pytest.fixture(scope="module")
def staged(ports_tree, tmp_path_factory):
    work = tmp_path_factory.mktemp("port") / "work"
    result = bmake(f"WRKDIR={work}", f"DISTDIR={ports_tree / 'distfiles'}", "stage",
                   port=ports_tree / "sysutils" / "pfSense-pkg-carp")
    assert result.returncode == 0, result.stdout + result.stderr
    return work


def installed_files(stage: Path) -> set:
    return {"/" + str(path.relative_to(stage)) for path in stage.rglob("*") if path.is_file()}


def plist_files() -> set:
    files = set()
    for line in (PORT / "pkg-plist").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("@"):
            continue
        line = line.replace("%%DATADIR%%", DATADIR[len(PREFIX) + 1:])
        files.add(line if line.startswith("/") else f"{PREFIX}/{line}")
    return files


@needs_bmake
def test_pkg_plist_lists_exactly_what_do_install_installs(staged):
    assert installed_files(staged / "stage") == plist_files()


@needs_bmake
def test_dry_run_parses_and_installs_nothing(tmp_path):
    result = bmake(f"WRKDIR={tmp_path / 'work'}", "-n", "do-install")
    assert result.returncode == 0, result.stderr
    assert "carp_status.php" in result.stdout
    assert not (tmp_path / "work").exists()


@needs_bmake
def test_py_port_dry_run_parses(tmp_path):
    result = bmake(f"WRKDIR={tmp_path / 'work'}", "-n", "extract", port=PY_PORT)
    assert result.returncode == 0, result.stderr
    assert variable("DISTFILES", PY_PORT) in result.stdout
    assert not (tmp_path / "work").exists()


# --- issue 11.7: a self-contained port, fetching this project's release ---------------------------------------
@needs_bmake
def test_the_port_installs_nothing_from_outside_its_distfile(ports_tree, tmp_path):
    port = ports_tree / "sysutils" / "pfSense-pkg-carp"
    work = tmp_path / "work"
    wrksrc, filesdir = variable("WRKSRC", port).replace(str(port / "work"), str(work)), str(port / "files")
    result = bmake(f"WRKDIR={work}", "-n", "do-install", port=port)
    assert result.returncode == 0, result.stderr
    commands = " ".join(result.stdout.split("\\\n")).splitlines()
    installs = [line.split() for line in commands if line.lstrip().startswith("install ")]
    assert len(installs) == 6
    for words in installs:
        for source in words[3:-1]:  # install -m MODE SOURCE... TARGET
            assert source.startswith(wrksrc + "/") or source.startswith(filesdir + "/"), source
    assert ".CURDIR}/.." not in (PORT / "Makefile").read_text()


@needs_bmake
def test_both_ports_fetch_the_same_release_of_this_project():
    assert variable("USE_GITHUB") == variable("USE_GITHUB", PY_PORT) == "yes"
    assert variable("DISTFILES") == variable("DISTFILES", PY_PORT)
    assert variable("GH_PROJECT") == variable("GH_PROJECT", PY_PORT) == "carp-pkg"
    assert variable("PORTVERSION") == variable("PORTVERSION", PY_PORT) == __version__
    assert variable("DISTVERSIONFULL") == f"v{__version__}"  # the release tag
    assert variable("LICENSE_FILE").endswith("/LICENSE") and (ROOT / "LICENSE").exists()


@needs_bmake
def test_py_carp_pkg_is_a_python_port_with_the_dependencies_by_origin():
    assert variable("PKGNAME", PY_PORT) == f"py311-carp-pkg-{__version__}"
    assert variable("CATEGORIES", PY_PORT).split()[0] == "sysutils"  # the origin sysutils/py-carp-pkg
    assert variable("USES", PY_PORT) == "python"
    assert set(variable("USE_PYTHON", PY_PORT).split()) == {"autoplist", "concurrent", "pep517"}
    assert (ROOT / "pyproject.toml").exists() and not (ROOT / "setup.py").exists()  # hence pep517
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    required = sorted(re.split(r"[;<>=! ]", line.strip())[0]
                      for line in setup["options"]["install_requires"].splitlines() if line.strip())
    depends = variable("RUN_DEPENDS", PY_PORT).split()
    assert sorted(d.split(">")[0].replace("py311-", "") for d in depends) == required
    for dependency in depends:
        name = dependency.split(">")[0].replace("py311-", "")
        assert dependency == f"py311-{name}>0:devel/py-{name}@py311"
    assert "devel/py-setuptools@py311" in variable("BUILD_DEPENDS", PY_PORT)


def test_py_port_pkg_descr_is_plain_text_within_80_columns():
    lines = (PY_PORT / "pkg-descr").read_text().splitlines()
    assert lines and all(len(line) <= 80 for line in lines)


def test_pkg_plist_carries_the_dir_entries_of_the_reference_packages():
    assert "@dir /etc/inc/priv" in (PORT / "pkg-plist").read_text().splitlines()


# Target path -> the project file it must be (the port ships pkgxml/, never a stale copy).
SOURCES = {
    f"{PREFIX}/pkg/carp.xml": PKGXML / "carp.xml",
    f"{PREFIX}/pkg/carp.inc": PKGXML / "carp.inc",
    f"{PREFIX}/pkg/pf/carp_rules.php": PKGXML / "carp_rules.php",
    f"{PREFIX}/www/carp_status.php": PKGXML / "carp_status.php",
    "/etc/inc/priv/carp.priv.inc": PKGXML / "carp.priv.inc",
    f"{DATADIR}/info.xml": PORT / "files" / DATADIR.lstrip("/") / "info.xml",
}


@needs_bmake
@pytest.mark.parametrize("target", sorted(SOURCES))
def test_installed_files_are_the_project_files_with_the_version_filled_in(staged, target):
    installed = (staged / "stage" / target.lstrip("/")).read_text()
    expected = SOURCES[target].read_text().replace("%%PKGVERSION%%", variable("PKGVERSION"))
    assert installed == expected
    assert "%%" not in installed


@needs_bmake
def test_versions_agree(staged):
    version = variable("PORTVERSION")
    for target in (f"{PREFIX}/pkg/carp.xml", f"{DATADIR}/info.xml"):
        root = ET.parse(staged / "stage" / target.lstrip("/")).getroot()
        assert root.findtext(".//version") == version, target


@needs_bmake
def test_only_the_cli_script_is_executable(staged):
    for target in SOURCES:
        mode = (staged / "stage" / target.lstrip("/")).stat().st_mode
        executable = bool(mode & stat.S_IXUSR)
        assert executable == target.endswith("carp_rules.php"), target
        assert not mode & stat.S_IWOTH, target


@needs_bmake
def test_makefile_declares_a_current_pfsense_package():
    assert variable("PORTNAME") == "pfSense-pkg-carp"
    assert variable("CATEGORIES") == "sysutils"
    assert variable("LICENSE") == "BSD2CLAUSE"
    assert variable("NO_BUILD") == "yes" and variable("NO_MTREE") == "yes"
    assert variable("SUB_FILES").split() == ["pkg-install", "pkg-deinstall"]
    assert variable("SUB_LIST") == "PORTNAME=pfSense-pkg-carp"
    assert variable("MAINTAINER") and variable("COMMENT")
    assert variable("DATADIR") == DATADIR


@needs_bmake
def test_runs_on_the_python_package_and_base_carp_only():
    depends = variable("RUN_DEPENDS")
    assert depends == f"py311-carp-pkg>={variable('PORTVERSION')}:sysutils/py-carp-pkg@py311"
    assert "ucarp" not in depends
    # the origin it names is the port shipped beside it
    assert variable("PKGNAME", PY_PORT).startswith("py311-carp-pkg-")


# --- pkg-install / pkg-deinstall, rendered by the SUB_FILES step and run as pkg(8) would
@pytest.fixture
def firewall(tmp_path):
    """A PKG_ROOTDIR whose php records how rc.packages was called."""
    root = tmp_path / "root"
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/rc.packages").write_text("<?php\n")
    log = tmp_path / "php.log"
    php = root / "usr/local/bin/php"
    php.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    php.chmod(0o755)
    return root, log


def run_script(staged, name, argument, firewall):
    root, log = firewall
    env = {"PATH": "/usr/bin:/bin", "PKG_ROOTDIR": str(root)}
    result = subprocess.run(["sh", str(staged / name), "pfSense-pkg-carp-1.0.0", argument],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines() if log.exists() else []


@needs_bmake
@pytest.mark.parametrize("name", ["pkg-install", "pkg-deinstall"])
def test_install_scripts_are_rendered_and_valid_sh(staged, name):
    text = (staged / name).read_text()
    assert "%%" not in text and "pfSense-pkg-carp" in text
    assert subprocess.run(["sh", "-n", str(staged / name)]).returncode == 0


@needs_bmake
def test_pkg_install_registers_the_package_after_install_only(staged, firewall):
    root, _ = firewall
    assert run_script(staged, "pkg-install", "PRE-INSTALL", firewall) == []
    assert run_script(staged, "pkg-install", "POST-INSTALL", firewall) == [
        f"-f {root}/etc/rc.packages pfSense-pkg-carp POST-INSTALL"]


@needs_bmake
def test_pkg_deinstall_hands_both_phases_to_rc_packages(staged, firewall):
    root, _ = firewall
    run_script(staged, "pkg-deinstall", "DEINSTALL", firewall)
    assert run_script(staged, "pkg-deinstall", "POST-DEINSTALL", firewall) == [
        f"-f {root}/etc/rc.packages pfSense-pkg-carp DEINSTALL",
        f"-f {root}/etc/rc.packages pfSense-pkg-carp POST-DEINSTALL"]


# --- info.xml: what pfSense's read_package_config() reads from /usr/local/share/pfSense-pkg-<name>/info.xml
def test_info_xml_names_the_package_and_its_gui():
    info = ET.parse(PORT / "files" / DATADIR.lstrip("/") / "info.xml").getroot()
    assert info.tag == "pfsensepkgs"
    package = info.find("package")
    name = package.findtext("name")
    assert name == "carp"
    assert DATADIR.endswith("/pfSense-pkg-" + name), "rc.packages strips pfSense-pkg- and looks here"
    assert package.findtext("descr").strip()
    assert package.findtext("version") == "%%PKGVERSION%%"
    configuration = package.findtext("configurationfile")
    assert configuration == "carp.xml" and (PKGXML / configuration).exists()
    assert ET.parse(PKGXML / configuration).getroot().findtext("name") == name


def test_pkg_descr_is_plain_text_within_80_columns():
    lines = (PORT / "pkg-descr").read_text().splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
