"""Generate carp-pkg's man page (mdoc) and its bash/zsh completion from the argparse parser itself, so the
three can never disagree with `carp-pkg --help`.

    python tools/gen_docs.py           # rewrite man/carp-pkg.8, completion/bash/carp-pkg, completion/zsh/_carp-pkg
    python tools/gen_docs.py --check   # exit 1 when a committed file differs from what the parser gives

The completion uses shtab (a build-time tool: `pip install shtab`); the man page is written here.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, PROJECT)

from carp_pkg import __version__  # noqa: E402
from carp_pkg.cli import build_parser  # noqa: E402

MAN_PAGE = os.path.join(PROJECT, "man", "carp-pkg.8")
BASH_COMPLETION = os.path.join(PROJECT, "completion", "bash", "carp-pkg")  # bash-completion loads it by name
ZSH_COMPLETION = os.path.join(PROJECT, "completion", "zsh", "_carp-pkg")
DATE = "December 2, 2026"  # the mdoc .Dd line; bump it when the page's content changes


LINE_WIDTH = 78
SENTENCE_END = re.compile(r"(?<=[.?!])([\"')\]]*)\s+(?=\S)")


def roff_line(text: str) -> str:
    """One mdoc text line: backslashes escaped, never starting a request."""
    text = text.replace("\\", "\\e")
    return "\\&" + text if text[:1] in (".", "'") else text


def roff(text: str) -> str:
    """Text as mdoc input lines: a new line after every sentence end (mdoc's rule) and none over 78 bytes."""
    sentences = SENTENCE_END.sub(lambda m: m.group(1) + "\n", " ".join(text.split())).split("\n")
    lines = []
    for sentence in sentences:
        if sentence:
            lines += [roff_line(piece) for piece in textwrap.wrap(sentence, LINE_WIDTH, break_long_words=False,
                                                                   break_on_hyphens=False)]
    return "\n".join(lines)


def paragraphs(text: str) -> List[str]:
    """Description text as mdoc lines: blank lines become .Pp, `example:` lines become literal displays."""
    lines: List[str] = []
    examples: List[str] = []
    for raw in text.strip("\n").splitlines():
        line = raw.rstrip()
        if line.startswith("example:"):
            examples.append(line[len("example:"):].strip())
            continue
        if not line.strip():
            if lines and lines[-1] != ".Pp":
                lines.append(".Pp")
            continue
        if raw.startswith("  "):  # an indented table row: keep it as it is written
            lines += [".Bd -literal -offset indent -compact", roff_line(line.strip()), ".Ed"]
        else:
            lines.append(roff(line.strip()))
    while lines and lines[-1] == ".Pp":
        lines.pop()
    if examples:
        lines += [".Pp", "Example:", ".Bd -literal -offset indent"] + [roff_line(e) for e in examples] + [".Ed"]
    return lines


def option_lines(parser: argparse.ArgumentParser) -> List[str]:
    lines = [".Bl -tag -width Ds"]
    count = 0
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            flags = " , ".join(f"Fl {option[1:]}" for option in action.option_strings)  # Fl adds one "-"
            head = ".It " + flags
            if action.nargs != 0:
                head += f" Ar {action.metavar or action.dest.upper()}"
        else:
            choices = "|".join(action.choices) if action.choices else (action.metavar or action.dest)
            head = f".It Ar {choices}"
        lines += [head, roff(action.help or "") or "(no description)"]
        count += 1
    lines.append(".El")
    return lines if count else []


def subcommands(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def man_page() -> str:
    parser = build_parser()
    epilog = parser.epilog or ""
    lines = [
        f".Dd {DATE}",
        ".Dt CARP-PKG 8",
        ".Os",
        ".Sh NAME",
        ".Nm carp-pkg",
        ".Nd CARP failover for pfSense, FreeBSD and Linux",
        ".Sh SYNOPSIS",
        ".Nm",
        ".Op Fl -root Ar DIR",
        ".Op Fl -config Ar FILE",
        ".Ar command",
        ".Op Ar options",
        ".Sh DESCRIPTION",
        roff(parser.description or ""),
        ".Pp",
        "The global options are:",
        *option_lines(parser),
        ".Sh COMMANDS",
        ".Bl -tag -width Ds",
    ]
    for name, sub in subcommands(parser).items():
        lines += [f".It Cm {name}", *paragraphs(sub.description or "")]
        lines += option_lines(sub)
    lines.append(".El")
    exit_text = epilog.split("config.xml:")[0]
    config_text = "config.xml:" + epilog.split("config.xml:", 1)[1].split("\nHere:")[0] if "config.xml:" in epilog else ""
    lines += [".Sh ENVIRONMENT", ".Bl -tag -width Ds", ".It Ev CARP_PKG_CONFIG",
              "The config.xml to read when", ".Fl -config", "is not given.", ".El",
              ".Sh FILES", ".Bl -tag -width Ds", *paragraphs_as_items(config_text), ".El",
              ".Sh EXIT STATUS", roff(exit_text),
              ".Sh EXAMPLES", ".Bd -literal -offset indent",
              *[roff_line(line[len("example:"):].strip()) for line in epilog.splitlines()
                if line.startswith("example:")],
              ".Ed",
              ".Sh SEE ALSO", ".Xr carp 4 ,", ".Xr pfsync 4 ,", ".Xr devd.conf 5 ,", ".Xr ifconfig 8 ,",
              ".Xr keepalived 8 ,", ".Xr ucarp 8",
              ".Sh HISTORY",
              ".Nm",
              roff("ports the pfSense package carp 0.1.0 (2005), \"Services: CARP (failover)\". "
                   f"This page describes version {__version__}.")]
    return "\n".join(line for line in lines if line) + "\n"


def paragraphs_as_items(text: str) -> List[str]:
    paths = re.findall(r"(/[\w./-]+config\.xml)", text)
    items = []
    for path in dict.fromkeys(paths):
        items += [f".It Pa {path}", "The default config.xml " + {
            "/conf/config.xml": "on pfSense.", "/usr/local/etc/carp-pkg/config.xml": "on FreeBSD.",
            "/etc/carp-pkg/config.xml": "on Linux."}.get(path, "")]
    return items + [".It Pa /usr/local/etc/rc.d/carp.sh", "The rc script sync writes (mode 0700).",
                    ".It Pa /var/db/carp-pkg/", "carp-pkg's own state: applied record, manifest, ucarp files (0700)."]


def completions() -> Dict[str, str]:
    import shtab
    parser = build_parser()
    return {BASH_COMPLETION: shtab.complete(parser, shell="bash"), ZSH_COMPLETION: shtab.complete(parser, shell="zsh")}


def generated() -> Dict[str, str]:
    return {MAN_PAGE: man_page(), **completions()}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in generated().items():
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(os.path.relpath(path, PROJECT))
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    if check and stale:
        print("out of date (run `make docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    print(("rewrote " if stale else "up to date: ") + ", ".join(stale or ["man page", "completions"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
