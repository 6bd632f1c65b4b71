"""carp-pkg validate: check installedpackages/carp in config.xml (or one posted GUI entry) and list every problem."""

from __future__ import annotations

import json

from ..backends import CHOICES, limits, resolve
from ..configxml import RawConfig, RawEntry, read_config_xml, shorten
from ..fs import read_bounded
from ..errors import ConfigError, ExitCode, InputError, error_document
from ..model import Problem
from ..validate import TRUE_WORDS, examine

NAME = "validate"
HELP = "check the CARP entries of config.xml and list every problem"
DESCRIPTION = """\
Check every entry of installedpackages/carp in config.xml: addresses and prefixes, vhid 1-255,
advskew 0-254, advbase 1-255, passwords (printable), interfaces, pfsync (syncpeer, defer),
unicast peers (peer, peer6). Every problem is listed at once with its place, e.g.
`config[1].vhid: 0 is outside 1-255` (config[N] counts from 0 in document order, like pfSense's id=N).
Warnings do not fail validation: an advskew of 241-254 (advertised as 240), a password longer than
19 bytes (only its first 19 bytes count, on every backend), a password with a space, quote or
backslash (pfSense and OPNsense peers rewrite those).

--entry-json reads one GUI entry as a JSON object (the pfSense package's input check); the
interfaces are still taken from config.xml when it is readable.

exit: 0 valid (warnings allowed), 3 problems found.

example: carp-pkg --config examples/linux-ucarp.xml validate
example: carp-pkg --config examples/config.xml validate --backend freebsd --json
example: echo '{"ipaddress": "10.0.0.1", "vhid": "0"}' | carp-pkg --config examples/config.xml validate --entry-json -
"""


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print {ok, problems:[{where, message}], warnings:[{where, message}]} as JSON")
    parser.add_argument("--entry-json", metavar="FILE", help="validate one entry given as a JSON object ('-' = stdin)")
    parser.add_argument("--backend", choices=CHOICES, default="auto",
                        help="also check what this backend can do (e.g. ucarp: IPv4 only, one address per vhid); "
                             "default auto = the backend sync would use here")


def _entry_fields(data) -> dict:
    if not isinstance(data, dict):
        raise ConfigError("--entry-json: expected a JSON object of field names to values")
    fields = {}
    for name, value in data.items():
        if isinstance(value, bool):
            fields[str(name)] = "on" if value else ""
        elif value is None:
            continue
        elif isinstance(value, (str, int, float)):  # a number is checked as the text it is (1e3 is "1000.0")
            fields[str(name)] = str(value)
        else:
            fields[str(name)] = None  # nested: reported as "must be plain text"
    return fields


MAX_ENTRY_BYTES = 1024 * 1024  # one posted GUI entry is a few hundred bytes


class _RepeatedField(Exception):
    pass


def _unique_fields(pairs) -> dict:
    """A JSON object whose fields are each given once (json.loads would silently keep the last of two)."""
    fields = {}
    for name, value in pairs:
        if name in fields:
            raise _RepeatedField(name)
        fields[name] = value
    return fields


def _read_entry(source: str, ctx):
    """The posted entry as a RawConfig, and the problems found before validation proper."""
    text = read_bounded(source, MAX_ENTRY_BYTES, "JSON entry")
    try:
        data = json.loads(text.decode("utf-8"), object_pairs_hook=_unique_fields)
    except _RepeatedField as exc:
        raise ConfigError(f"--entry-json {source}: the field {shorten(str(exc), 60)!r} is given twice; give each "
                          "field once") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--entry-json {source}: not a JSON object ({shorten(str(exc), 120)})") from None
    except RecursionError:
        raise ConfigError(f"--entry-json {source}: nested too deeply to be a GUI entry") from None
    fields = _entry_fields(data)
    problems = []
    try:
        interfaces = read_config_xml(ctx.paths.config_xml).interfaces
    except ConfigError as exc:
        interfaces = ()
        for name in ("interface", "synciface"):  # without <interfaces>, any device-like name would pass
            if fields.get(name):
                problems.append(Problem(f"config[0].{name}", f"cannot be checked: the interfaces of this host are "
                                                             f"unknown ({shorten(exc.message, 160)})"))
    raw = RawConfig(source="entry", entries=(RawEntry(index=0, fields=fields),), interfaces=interfaces)
    return raw, problems


def _collect(args, ctx):
    if args.entry_json:
        raw, early = _read_entry(args.entry_json, ctx)
    else:
        raw, early = read_config_xml(ctx.paths.config_xml), []
    backend = resolve(args.backend)  # by name: validate never loads a backend's planning code (start-up time)
    result = examine(raw)  # warnings (accepted, worth knowing) come apart from the problems that refuse the config
    config, problems = result.config, list(result.problems)
    warnings = list(result.warnings)
    if config is not None:
        problems = limits.problems(backend, config)
        warnings += _pfsense_warnings(raw, config, backend, ctx)
    problems = early + problems
    return raw, (config if not problems else None), problems, backend, warnings


def _pfsense_warnings(raw: RawConfig, config, backend, ctx):
    """On pfSense, pfsync0 is pfSense's (System > High Avail. Sync): the package's pfsync fields are ignored there."""
    if config.pfsync is None or backend not in ("freebsd", "freebsd-legacy"):
        return []
    from ..backends.commands import PFSENSE_OWNS_PFSYNC
    from ..sync import host_facts
    if not host_facts(ctx.system, ctx.paths).pfsense:
        return []
    index = next((e.index for e in raw.entries if (e.fields.get("pfsync") or "").strip().lower() in TRUE_WORDS), 0)
    return [Problem(f"config[{index}].pfsync", PFSENSE_OWNS_PFSYNC)]


def _auto(args) -> str:
    return ", chosen from uname: give --backend to check for another" if args.backend == "auto" else ""


def run(args, ctx) -> int:
    try:
        raw, config, problems, backend, warnings = _collect(args, ctx)
    except InputError as exc:
        if not args.json:
            raise
        where = f"--entry-json {args.entry_json}" if args.entry_json else ctx.paths.config_xml
        message = str(exc)
        for prefix in (f"{where}: ", "--entry-json: "):
            message = message[len(prefix):] if message.startswith(prefix) else message
        ctx.print_json({"ok": False, "problems": [{"where": where, "message": message}],
                        **error_document(exc.message, exc.exit_code, exc.details)})
        return int(ExitCode.INVALID_CONFIG)
    if args.json:
        ctx.print_json({"ok": not problems, "source": raw.source, "entries": len(raw.entries),
                        "backend": backend, "problems": [p.to_json() for p in problems],
                        "warnings": [w.to_json() for w in warnings]})
    elif problems:
        ctx.err.write(f"{raw.source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
                      f"(checked for the {backend} backend{_auto(args)})\n")
        for problem in problems:
            ctx.err.write(f"  {problem}\n")
    else:
        groups = config.groups()
        pfsync = f", pfsync on {config.pfsync.syncdev}" if config.pfsync else ""
        ctx.print(f"{raw.source}: OK ({len(config.vips)} VIPs in {len(groups)} vhids{pfsync}; checked for the "
                  f"{backend} backend{_auto(args)})")
    if not args.json:
        for warning in warnings:
            ctx.warn(str(warning))
    return int(ExitCode.INVALID_CONFIG) if problems else int(ExitCode.OK)


__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run", "Problem"]
