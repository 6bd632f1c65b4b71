"""port/: the FreeBSD port sysutils/pfSense-pkg-carp, built the way current pfSense packages are.

The port's own do-install is run with bmake against a bsd.port.mk stand-in (tests/stubs/port), so the
test can prove that pkg-plist lists exactly what the port installs, that the installed files are the
project's pkgxml/ files, and that pkg-install/pkg-deinstall hand over to pfSense's rc.packages.
"""

from __future__ import annotations

import platform
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORT = ROOT / "port"
PKGXML = ROOT / "pkgxml"
STANDIN = Path(__file__).resolve().parent / "stubs" / "port"
PREFIX = "/usr/local"
DATADIR = f"{PREFIX}/share/pfSense-pkg-carp"


def find_bmake():
    if shutil.which("bmake"):
        return shutil.which("bmake")
    if platform.system() == "FreeBSD":  # FreeBSD's make is bmake
        return shutil.which("make")
    return None


BMAKE = find_bmake()
needs_bmake = pytest.mark.skipif(
    BMAKE is None, reason="LOUD SKIP: bmake is not installed (apt-get install bmake); the port Makefile is untested")


def bmake(*args, cwd=PORT):
    return subprocess.run([BMAKE, "-r", "-m", str(STANDIN), "-f", str(PORT / "Makefile"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def variable(name: str) -> str:
    result = bmake("-V", f"${{{name}}}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    work = tmp_path_factory.mktemp("port") / "work"
    result = bmake(f"WRKDIR={work}", "stage")
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
