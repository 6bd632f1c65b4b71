"""One CARP transition, whatever reported it: the source's words → one validated record.

The record every source becomes (and the line the event log keeps):

    {"time": "2025-06-01T12:00:00.123456Z", "backend": "ucarp", "interface": "eth0", "vhid": 1,
     "state": "MASTER", "previous": "BACKUP", "vips": ["192.168.1.1"]}

The words come from programs run as root on behalf of the kernel or ucarp, so every word is hostile until
checked: only KEY=VALUE words with known keys, a device name by the rule config.xml names follow, a vhid
of 1-255 in ASCII digits without leading zeros (as the kernel prints it: `001@em0` is refused), a state of
MASTER, BACKUP or INIT, addresses without a scope. An address may carry a prefix length valid for its
family (/0-/32 IPv4, /0-/128 IPv6, no leading zeros), which is dropped; any other `/...` is refused. An
IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is recorded as the IPv4 address it maps (`192.0.2.1`): the
same address spelled the IPv6 way, so the transition is kept and hooks get the address as carp-pkg
configures it. Anything else is refused as a whole (InputError, exit 3) with a reason that quotes the
offending word safely.
"""

from __future__ import annotations

import ipaddress
import re
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import InputError
from ..names import DEVICE_NAME, valid_device_name  # noqa: F401 (import-free: no lxml on every transition)

STATES = ("MASTER", "BACKUP", "INIT")
# source → the backend the record names (devd reports the FreeBSD 10+ kernel's CARP)
SOURCES = {"devd": "freebsd", "ucarp": "ucarp", "keepalived": "keepalived", "manual": "manual"}
MAX_WORDS = 24
MAX_WORD_CHARS = 200
MAX_VIPS = 64  # a record stays one short line
SHOWN_CHARS = 60
VHID = re.compile(r"[1-9][0-9]{0,2}")  # no leading zero: the kernel prints %d
SUBSYSTEM = re.compile(r"([0-9]{1,3})@(.+)", re.DOTALL)  # devd: VHID@IFNAME (ip_carp.c carp_set_state)
PREFIX = re.compile(r"0|[1-9][0-9]{0,2}")
KEY = re.compile(r"[a-z]{1,16}")
KEYS = ("subsystem", "type", "interface", "vhid", "state", "vip")



def shown(text: str, limit: int = SHOWN_CHARS, tail: bool = False) -> str:
    """A word as it may appear in a message or the log: repr (no control character survives), shortened
    (keeping its end with tail=True: the name at the end of a path is what matters)."""
    text = repr(text)
    if len(text) <= limit:
        return text
    return "'..." + text[-(limit - 4):] if tail else text[:limit - 4] + "...'"


def format_time(seconds: float) -> str:
    """Unix time → ISO 8601 UTC with microseconds: 2025-06-01T12:00:00.123456Z."""
    whole = int(seconds // 1)
    micros = int(round((seconds - whole) * 1_000_000))
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


ISO_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                      r"(Z|[+-]\d{2}:?\d{2})?")
RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: Optional[float] = None) -> float:
    """A time given on the command line or read from the log → unix seconds.

    Accepted: ISO 8601 (`2025-06-01T12:00:00Z`, `2025-06-01 12:00`, an offset like `+02:00`, at most
    +-23:59 as RFC 3339 has it; no offset means UTC, as the log writes), unix seconds (`1748779200`), or an
    age (`90s`, `15m`, `2h`, `1d`)."""
    text = text.strip()
    relative = RELATIVE.fullmatch(text)
    if relative:
        return (time.time() if now is None else now) - float(relative.group(1)) * UNITS[relative.group(2)]
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    match = ISO_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"{shown(text)} is not a time: give ISO 8601 (2025-06-01T12:00:00Z), unix seconds "
                         "or an age like 15m, 2h, 1d")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    import datetime  # only for --since and reading the log, not on a transition's path
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                                   tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a valid date and time") from None
    whole = moment.timestamp()
    value = whole + (float("0." + fraction) if fraction else 0.0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{shown(text)}: the offset {zone} is not a time zone offset (at most +-23:59)")
        value -= sign * (hours * 3600 + minutes * 60)
    return value


class Transition(NamedTuple):
    """A validated transition, before carp-pkg adds the time and the previous state."""

    source: str
    backend: str
    interface: str
    vhid: int
    state: str
    vips: Tuple[str, ...] = ()

    def record(self, now: float, previous: Optional[str]) -> Dict[str, object]:
        return {"time": format_time(now), "backend": self.backend, "interface": self.interface,
                "vhid": self.vhid, "state": self.state, "previous": previous, "vips": list(self.vips)}


def refuse(reason: str) -> InputError:
    return InputError(f"event refused: {reason}")


def _vhid(text: str, where: str) -> int:
    if not VHID.fullmatch(text) or not 1 <= int(text) <= 255:
        raise refuse(f"{where} {shown(text)} is not a vhid (1-255, no leading zero)")
    return int(text)


def _interface(text: str, where: str) -> str:
    if not valid_device_name(text):
        raise refuse(f"{where} {shown(text)} is not a device name (at most 15 of A-Z a-z 0-9 _ . : -, "
                     "not starting with -)")
    return text


def _state(text: str, where: str) -> str:
    if text not in STATES:
        raise refuse(f"{where} {shown(text)} is not a CARP state ({', '.join(STATES)})")
    return text


def _vip(text: str) -> str:
    address, slash, prefix = text.partition("/")
    if "%" in address or not text.isascii():
        raise refuse(f"vip {shown(text)} is not an IP address without a scope")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise refuse(f"vip {shown(text)} is not an IP address") from None
    if slash and not (PREFIX.fullmatch(prefix) and int(prefix) <= ip.max_prefixlen):
        raise refuse(f"vip {shown(text)}: {shown(prefix)} is not a prefix length of an IPv{ip.version} address "
                     f"(0-{ip.max_prefixlen})")
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped if mapped is not None else ip)


def split_words(words: Sequence[str]) -> Tuple[Dict[str, str], List[str]]:
    """KEY=VALUE words → ({key: value}, [vip values]); unknown, repeated or malformed words are refused."""
    if len(words) > MAX_WORDS:
        raise refuse(f"{len(words)} arguments; at most {MAX_WORDS}")
    fields: Dict[str, str] = {}
    vips: List[str] = []
    for word in words:
        if len(word) > MAX_WORD_CHARS:
            raise refuse(f"an argument of {len(word)} characters; at most {MAX_WORD_CHARS}")
        key, sep, value = word.partition("=")
        if not sep or not KEY.fullmatch(key) or key not in KEYS:
            raise refuse(f"{shown(word)} is not KEY=VALUE with KEY one of {', '.join(KEYS)}")
        if key == "vip":
            vips.append(value)
        elif key in fields:
            raise refuse(f"{key}= is given twice")
        else:
            fields[key] = value
    return fields, vips


def normalise(source: str, words: Sequence[str], vips_found: Sequence[str] = ()) -> Transition:
    """The words of one source → a Transition; InputError (exit 3) for anything else.

    devd (the snippet carp-pkg installs) passes `subsystem=VHID@IFNAME type=STATE`; the ucarp scripts and
    keepalived's notify pass `state= interface= vhid= vip=` (vip= repeatable). `vips_found`: addresses the
    caller looked up for a source that does not name them (devd), already read from the host."""
    if source not in SOURCES:
        raise refuse(f"source {shown(source)} is not one of {', '.join(SOURCES)}")
    fields, vip_words = split_words(words)
    if "subsystem" in fields:
        if "interface" in fields or "vhid" in fields:
            raise refuse("subsystem= names the vhid and interface already; give either it or interface= and vhid=")
        match = SUBSYSTEM.fullmatch(fields["subsystem"])
        if not match:
            raise refuse(f"subsystem {shown(fields['subsystem'])} is not VHID@INTERFACE")
        vhid, interface = _vhid(match.group(1), "subsystem vhid"), _interface(match.group(2), "subsystem interface")
    else:
        missing = [key for key in ("interface", "vhid") if key not in fields]
        if missing:
            raise refuse(f"missing {' and '.join(k + '=' for k in missing)} (or subsystem=VHID@INTERFACE)")
        vhid, interface = _vhid(fields["vhid"], "vhid"), _interface(fields["interface"], "interface")
    if "type" in fields and "state" in fields:
        raise refuse("type= and state= both given; give one")
    if "type" not in fields and "state" not in fields:
        raise refuse("missing state= (or type=, as devd says)")
    state = _state(fields.get("state", fields.get("type", "")), "state")
    addresses: List[str] = []
    for value in (*vip_words, *vips_found):
        address = _vip(value)
        if address not in addresses:
            addresses.append(address)
    if len(addresses) > MAX_VIPS:
        raise refuse(f"{len(addresses)} addresses; at most {MAX_VIPS}")
    return Transition(source, SOURCES[source], interface, vhid, state, tuple(addresses))


def refused_record(now: float, source: str, words: Sequence[str], reason: str) -> Dict[str, object]:
    """What the log keeps of a refused event: the reason and the first words, each shown safely."""
    return {"kind": "refused", "time": format_time(now), "what": "event", "source": shown(source),
            "args": [shown(w) for w in list(words)[:8]], "reason": reason}
