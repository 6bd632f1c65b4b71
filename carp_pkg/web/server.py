"""`carp-pkg serve`: a read-only, hardened, threaded stdlib HTTP server for the status page and metrics.

Routes (GET and HEAD only; anything else is 404, 405 or 413, with a fixed body that repeats nothing
from the request):
  /              the status page (the template pfSense's page uses), reloading every 5 s (?refresh=0: off)
  /status.json   `carp-pkg status --json`      /check.json  `carp-pkg check --json`
  /metrics       `carp-pkg metrics` (Prometheus text format 0.0.4)
  /healthz       {"ok": ...}: 200 when every configured vhid runs as MASTER or BACKUP, else 503
  /events        server-sent events, one per CARP transition, while the event log exists
Hardening: the request line and head are bounded in size and in time (slow clients are cut off),
bodies are refused, requests are parsed strictly (HTTP/1.0 or 1.1 only; well-formed header lines;
exactly one Host on HTTP/1.1; origin-form targets, or absolute-form ones naming an allowed host);
at most `max_connections` connections are served at once, plus `reserved_connections` that only
/healthz and /metrics may use, and when all are taken a newcomer takes the place of the connection
that has spent longest sending its head: slow clients cannot keep a load balancer's probe out. A
refusal for lack of room is 429 with Retry-After (never 503, which /healthz keeps for "unhealthy").
At most a quarter of the connections may be event streams, which end after `stream_seconds` or as
soon as the client goes away; every response carries Content-Security-Policy,
X-Content-Type-Options, X-Frame-Options, Referrer-Policy and Cache-Control: no-store; on a loopback
address only Host names that mean this machine are answered, elsewhere only the --allow-host names
when some are given (a DNS-rebinding page cannot read it); no response holds a password.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import json
import re
import selectors
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

from ..errors import CarpError, UsageError
from .events import EventFollower
from .page import PageOptions, render_page
from .snapshot import Snapshot
from .style import CSS_SHA256

DEFAULT_PORT = 9112
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
ROUTES = ("/", "/status.json", "/check.json", "/metrics", "/healthz", "/events")
PROBE_ROUTES = frozenset({"/healthz", "/metrics"})  # what a load balancer or Prometheus asks: always room for them
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
MAX_REQUEST_LINE = 2048  # bytes of "GET /path HTTP/1.1"
MAX_HEAD_BYTES = 8192  # request line and headers together
READ_SLICE = 0.5  # seconds: a reading connection looks this often whether it has been evicted
PAGE_CSP = (f"default-src 'none'; style-src '{CSS_SHA256}'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
BUSY_STATUS = 429  # "no room now, retry": a load balancer can tell it from /healthz's 503 (unhealthy)
BUSY_RETRY_SECONDS = 1
BUSY_BODY = b"429 server busy: too many connections at once; retry in a moment (this says nothing about health)\n"
STREAMS_BUSY_BODY = b"429 too many event streams; retry in a moment\n"
# A header line: a token, a colon at once (no space before it), a value of visible characters, spaces, tabs
# and obs-text. Folded lines, control characters and anything else are refused.
HEADER_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r?\n")
HEAD_END = (b"\r\n", b"\n")
HOST_VALUE = re.compile(r"(?:\[([0-9A-Za-z:.%]+)\]|([A-Za-z0-9_.-]+))(?::([0-9]{1,5}))?")
ABSOLUTE_FORM = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.S)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_connections: int = 16
    timeout: float = 10.0  # seconds for the request head, and for each write
    stream_seconds: float = 300.0  # an /events stream ends after this; EventSource reconnects by itself
    poll_seconds: float = 1.0  # how often /events looks at the log, and whether its client went away
    keepalive_seconds: float = 15.0
    reserved_connections: int = 4  # on top of max_connections, for /healthz and /metrics only
    evict_after: float = 1.0  # a connection still sending its head after this long gives way when all are taken
    allowed_hosts: Tuple[str, ...] = ()  # --allow-host: Host names answered besides this machine's own

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def parse_listen(text: str) -> Tuple[str, int]:
    """`127.0.0.1:9112`, `[::1]:9112`, `0.0.0.0:9112`: an IP literal (no name lookups) and a port."""
    host, separator, port = text.rpartition(":")
    if not separator or not host:
        raise UsageError(f"--listen {text!r}: give ADDRESS:PORT, e.g. {DEFAULT_LISTEN} or [::1]:{DEFAULT_PORT}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--listen {text!r}: {host!r} is not an IP address (names are not looked up)") from None
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {text!r}: the port must be a number 0-65535")
    return str(address), int(port)


def host_name(value: str) -> Optional[str]:
    """The name in a Host header or a URL's authority (`name`, `name:port`, `[v6]:port`), compared form:
    lower case, no port, no trailing dot, an IP address in its canonical spelling; None when it is none."""
    match = HOST_VALUE.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    bracketed, name, _port = match.groups()
    if bracketed is not None:
        try:
            return str(ipaddress.IPv6Address(bracketed))
        except ValueError:
            return None
    name = name.lower()
    if name.endswith(".") and name != ".":
        name = name[:-1]
    if not name or name.startswith(".") or ".." in name:
        return None
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def allowed_host(text: str) -> str:
    """An --allow-host value: a DNS name or an IP address (IPv6 with or without brackets), without a port;
    returned in host_name()'s compared form."""
    value = text.strip()
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.IPv6Address(bare))
    except ValueError:
        pass
    name = host_name(value) if not any(c in value for c in ":[]") else None
    if name is None:
        raise UsageError(f"--allow-host {text!r}: give a host name or an IP address, without a port "
                         "(e.g. --allow-host fw1.example.com)")
    return name


def host_allowed(name: str, settings: "Settings", local_address: Optional[str] = None) -> bool:
    """Whether the server answers for a Host name (host_name()'s form) on a connection that came in on
    `local_address`: this machine's loopback names and the --allow-host names always; on a loopback
    listen nothing else; beyond loopback any name when no --allow-host was given (the start-up warning
    says so), else also the listen address or the address the request came in on, written as an IP."""
    if _is_local_name(name) or name in settings.allowed_hosts:
        return True
    if settings.loopback:
        return False
    if not settings.allowed_hosts:
        return True
    literal = (set() if ipaddress.ip_address(settings.host).is_unspecified else _addresses(settings.host)) | \
        (_addresses(local_address) if local_address else set())
    return name in literal


def _is_local_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _addresses(address: str) -> set:
    """An address as Host may name it: canonical, and as IPv4 when it is IPv4-mapped (`::ffff:192.0.2.1`)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return set()
    mapped = getattr(ip, "ipv4_mapped", None)
    return {str(ip)} | ({str(mapped)} if mapped else set())


@dataclass(frozen=True)
class App:
    """What the handler serves: snapshots of the host, the event log's path, and the page's identity."""

    snapshot: Callable[[], Snapshot]
    events_file: str
    events_exist: Callable[[], bool]
    hostname: str
    version: str


class _HeadTooLarge(http.client.HTTPException):
    pass


class _Evicted(Exception):
    """The connection's slot was given to a newcomer while it was still sending its head."""


class Slot:
    """One connection's place: ordinary, or reserved (/healthz and /metrics only); reading its head, then answering."""

    __slots__ = ("connection", "reserved", "since", "reading", "evicted", "closed")

    def __init__(self, connection: Optional[socket.socket] = None, reserved: bool = False, since: float = 0.0):
        self.connection, self.reserved, self.since = connection, reserved, since
        self.reading, self.evicted, self.closed = True, False, False


class Capacity:
    """Who holds a connection slot: `ordinary` of them for any route, `reserved` more for /healthz and
    /metrics only (the route is known once the request line is read). When every slot is taken, the
    newcomer takes the slot of the connection that has spent longest (at least `evict_after`) sending its
    head, which is answered 429: slow clients, however many, cannot keep a probe, or the page, out."""

    def __init__(self, ordinary: int, reserved: int, evict_after: float, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._limits = {False: ordinary, True: reserved}
        self._held: Dict[bool, List[Slot]] = {False: [], True: []}  # oldest first
        self.evict_after, self._clock = evict_after, clock

    def admit(self, connection: socket.socket) -> Optional[Slot]:
        with self._lock:
            now = self._clock()
            for reserved in (False, True):
                held = self._held[reserved]
                if len(held) >= self._limits[reserved]:
                    victim = next((s for s in held if s.reading and now - s.since >= self.evict_after), None)
                    if victim is None:
                        continue
                    held.remove(victim)
                    victim.evicted = True
                    if not victim.closed:  # wake its reader at once (it also looks every READ_SLICE)
                        with contextlib.suppress(OSError):
                            victim.connection.shutdown(socket.SHUT_RD)
                slot = Slot(connection, reserved, now)
                held.append(slot)
                return slot
            return None

    def answering(self, slot: Slot) -> bool:
        """The head is read: the slot is no longer anyone's to take. False when it was taken already."""
        with self._lock:
            if slot.evicted:
                return False
            slot.reading = False
            return True

    def release(self, slot: Slot) -> None:
        with self._lock:
            slot.closed = True
            held = self._held[slot.reserved]
            if slot in held:
                held.remove(slot)


class _DeadlineSocket(io.RawIOBase):
    """The connection's bytes, each read allowed only what is left of the time for the whole head:
    a client sending one byte a second cannot stretch a request beyond the timeout."""

    def __init__(self, connection: socket.socket, deadline: float, slot: Optional[Slot] = None):
        super().__init__()
        self.connection, self.deadline, self.slot = connection, deadline, slot or Slot()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self.slot.evicted:
                raise _Evicted()
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request head too slow")
            self.connection.settimeout(min(remaining, READ_SLICE))
            try:
                return self.connection.recv_into(buffer)
            except (TimeoutError, socket.timeout):
                continue


class _HeadReader:
    """The request's stream while its head is read: at most `budget` bytes, all before the deadline.
    Every line read is kept (`lines`) so the head can be checked as it was sent."""

    def __init__(self, connection: socket.socket, budget: int, deadline: float, slot: Optional[Slot] = None):
        self.raw = io.BufferedReader(_DeadlineSocket(connection, deadline, slot), 4096)
        self.budget = budget
        self.lines: List[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        cap = self.budget + 1 if limit is None or limit < 0 else min(limit, self.budget + 1)
        line = self.raw.readline(cap)
        self.budget -= len(line)
        if self.budget < 0:
            raise _HeadTooLarge("request head too large")
        self.lines.append(line)
        return line

    def read(self, size: int = -1) -> bytes:  # nothing reads a body: GET and HEAD only
        return b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.raw.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: bounded, simple
    default_request_version = "HTTP/1.0"  # every answer, errors included, has a status line and headers
    server: "StatusServer"

    def __init__(self, request, client_address, server, slot: Optional[Slot] = None):
        self.slot = slot or Slot(request)
        super().__init__(request, client_address, server)

    def version_string(self) -> str:
        return "carp-pkg"

    def log_message(self, format, *args) -> None:  # no access log: request lines are hostile text
        pass

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = _HeadReader(self.connection, MAX_HEAD_BYTES, time.monotonic() + self.server.settings.timeout,
                                 self.slot)

    # --- one request --------------------------------------------------------------------------------
    def handle_one_request(self) -> None:
        self.close_connection = True
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if self.slot.evicted:
                raise _Evicted()
            if not self.raw_requestline:
                return
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.send_error(414)
                return
            if not self.parse_request():  # answers 400/431/505 itself, through send_error below
                return
            if self.slot.evicted:  # its read was cut short: what it has is not the whole head
                raise _Evicted()
        except _HeadTooLarge:
            self.send_error(431)
            return
        except _Evicted:
            self._try(self._busy)
            return
        except (TimeoutError, socket.timeout):
            self._try(lambda: self.send_error(408))
            return
        self.close_connection = True
        self.connection.settimeout(self.server.settings.timeout)
        if not self.server.capacity.answering(self.slot):
            self._try(self._busy)
            return
        try:
            self.dispatch()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, socket.timeout):
            pass
        except Exception as exc:  # a bug must cost one request, never the server, and show nothing of itself
            sys.stderr.write(f"carp-pkg serve: error while answering a request: {type(exc).__name__}: {exc}\n")
            if not self._headers_sent:
                self._try(lambda: self.send_error(500))

    def _try(self, answer: Callable[[], None]) -> None:
        try:
            answer()
            self.wfile.flush()
        except OSError:
            pass

    def _busy(self) -> None:
        self._send(BUSY_STATUS, TEXT_TYPE, BUSY_BODY, extra=(("Retry-After", str(BUSY_RETRY_SECONDS)),))

    def _head_is_malformed(self) -> bool:
        """HTTP/0.9 (no version) or any version but 1.0 and 1.1, a header line that is not `Name: value` (`Host : x`, folded lines,
        control characters), or a head that ends before its blank line."""
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            return True
        lines = self.rfile.lines[1:]
        if not lines or lines[-1] not in HEAD_END:
            return True
        return any(HEADER_LINE.fullmatch(line) is None for line in lines[:-1])

    def _target(self) -> Optional[Tuple[str, str]]:
        """(path, query) of the request target: origin-form (`/path?query`), or absolute-form
        (`http://host/path`) when its host is one this server answers for; None otherwise (400)."""
        target = self.path
        absolute = ABSOLUTE_FORM.fullmatch(target)
        if absolute:
            scheme, authority, rest = absolute.groups()
            name = host_name(authority)
            if scheme.lower() not in ("http", "https") or name is None or not self._host_allowed(name):
                return None
            target = rest or "/"
            if not target.startswith(("/", "?")):
                return None
            if target.startswith("?"):
                target = "/" + target
        if not target.startswith("/"):
            return None
        path, _, query = target.partition("?")
        return path, query

    def _host_allowed(self, name: str) -> bool:
        local = None
        with contextlib.suppress(OSError, IndexError):
            local = self.connection.getsockname()[0]
        return host_allowed(name, self.server.settings, local)

    def dispatch(self) -> None:
        if self._head_is_malformed():
            self.send_error(400)
            return
        if self.command not in ("GET", "HEAD"):
            self._send(405, TEXT_TYPE, b"405 method not allowed: this server is read-only\n",
                       extra=(("Allow", "GET, HEAD"),))
            return
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.send_error(413)
            return
        hosts = self.headers.get_all("Host") or []
        names = [host_name(h) for h in hosts]
        if len(hosts) > 1 or None in names or (not hosts and self.request_version != "HTTP/1.0"):
            self.send_error(400)  # HTTP/1.1 needs exactly one Host, and a well-formed one
            return
        target = self._target()
        if target is None:
            self.send_error(400)
            return
        if names and not self._host_allowed(names[0]):
            body = (b"421 this server answers only for localhost\n" if self.server.settings.loopback
                    else b"421 this server does not answer for that host name\n")
            self._send(421, TEXT_TYPE, body)
            return
        path, query_text = target
        route = {
            "/": self.page, "/status.json": self.status_json, "/check.json": self.check_json,
            "/metrics": self.metrics, "/healthz": self.healthz, "/events": self.events,
        }.get(path)
        if self.slot.reserved and path not in PROBE_ROUTES:
            self._busy()  # a reserved slot is for the probes only
            return
        if route is None:
            self.send_error(404)
            return
        try:
            query = parse_qs(query_text, max_num_fields=4) if path == "/" else {}
        except ValueError:
            self.send_error(400)
            return
        route(query)

    # --- routes -----------------------------------------------------------------------------------
    def page(self, query) -> None:
        snapshot = self.server.app.snapshot()
        refresh = query.get("refresh", ["1"])[-1] != "0"
        body = render_page(snapshot.page_data(), PageOptions(pfsense=False, refresh=refresh),
                           hostname=self.server.app.hostname, version=self.server.app.version,
                           generated=snapshot.taken, events_route=self.server.app.events_exist())
        self._send(200, HTML_TYPE, body.encode("utf-8"), csp=PAGE_CSP)

    def status_json(self, _query) -> None:
        snapshot = self.server.app.snapshot()
        if snapshot.status is None:
            self._json(503, {"error": snapshot.status_error})
        else:
            self._json(200, snapshot.status)

    def check_json(self, _query) -> None:
        self._json(200, self.server.app.snapshot().check)

    def metrics(self, _query) -> None:
        self._send(200, METRICS_TYPE, self.server.app.snapshot().metrics.encode("utf-8"))

    def healthz(self, _query) -> None:
        health = self.server.app.snapshot().health
        self._json(200 if health.ok else 503, health.to_json())

    def events(self, _query) -> None:
        app, settings = self.server.app, self.server.settings
        if not app.events_exist():
            self._json(404, {"error": "no event log on this host"})
            return
        if not self.server.stream_slots.acquire(blocking=False):
            self._send(BUSY_STATUS, TEXT_TYPE, STREAMS_BUSY_BODY, extra=(("Retry-After", "5"),))
            return
        try:
            self._stream_events(app, settings)
        finally:
            self.server.stream_slots.release()

    def _stream_events(self, app: App, settings: Settings) -> None:
        self._head(200, "text/event-stream; charset=utf-8", None, DATA_CSP, (("X-Accel-Buffering", "no"),))
        if self.command == "HEAD":
            return
        follower = EventFollower(app.events_file)
        self._write(b"retry: 5000\n\n")
        end = time.monotonic() + settings.stream_seconds
        quiet_since = time.monotonic()
        with selectors.DefaultSelector() as client:
            client.register(self.connection, selectors.EVENT_READ)
            while time.monotonic() < end and not self.server.stopping.is_set():
                try:
                    events = follower.poll()
                except CarpError:
                    self._write(b"event: error\ndata: {\"error\": \"the event log could not be read\"}\n\n")
                    return
                for event in events:
                    self._write(b"event: transition\ndata: " + json.dumps(event.to_json()).encode("ascii") + b"\n\n")
                    quiet_since = time.monotonic()
                if not events and time.monotonic() - quiet_since >= settings.keepalive_seconds:
                    self._write(b": keepalive\n\n")
                    quiet_since = time.monotonic()
                # An EventSource sends nothing after its request: the socket turning readable means the
                # client closed it (EOF or reset) or broke the protocol. Either way the slot is freed now,
                # not at the next keepalive write.
                if client.select(settings.poll_seconds):
                    return

    # --- responses ----------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _json(self, code: int, document) -> None:
        self._send(code, JSON_TYPE, (json.dumps(document, indent=2) + "\n").encode("utf-8"))

    _headers_sent = False

    def _head(self, code: int, content_type: str, length: Optional[int], csp: str, extra=()) -> None:
        self._headers_sent = True
        if self.request_version == "HTTP/0.9":  # never a bare body: always a status line and headers
            self.request_version = "HTTP/1.0"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", csp)
        for name, value in (*COMMON_HEADERS, *extra):
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, code: int, content_type: str, body: bytes, csp: str = DATA_CSP, extra=()) -> None:
        self._head(code, content_type, len(body), csp, extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """A fixed body per status code: never the request's path, header or method echoed back."""
        self.close_connection = True
        phrase = http.client.responses.get(code, "error").lower()
        self._send(code, TEXT_TYPE, f"{code} {phrase}\n".encode("ascii"))


def _local_host(host: Optional[str]) -> bool:
    """A Host header that names this machine (any port), or none at all (HTTP/1.0 clients)."""
    if host is None:
        return True
    name = host.strip().lower()
    if name.startswith("["):
        end = name.find("]")
        name, port = (name[:end + 1], name[end + 1:]) if end > 0 else ("", "")
        if port and not (port[0] == ":" and port[1:].isdigit()):
            return False
    elif name.count(":") == 1:
        name, port = name.split(":")
        if not port.isdigit():
            return False
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback  # 127.0.0.2, [::1] written longhand
    except ValueError:
        return False


def _raw_response(code: int, body: bytes, extra=()) -> bytes:
    """A whole response written without a handler (before any thread is started), with every security header."""
    phrase = http.client.responses.get(code, "")
    headers = [("Server", "carp-pkg"), ("Content-Type", TEXT_TYPE), ("Content-Length", str(len(body))),
               ("Content-Security-Policy", DATA_CSP), *COMMON_HEADERS, *extra, ("Connection", "close")]
    return (f"HTTP/1.0 {code} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("ascii") \
        + body


BUSY = _raw_response(BUSY_STATUS, BUSY_BODY, (("Retry-After", str(BUSY_RETRY_SECONDS)),))


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, settings: Settings, app: App):
        self.settings, self.app = settings, app
        self.address_family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        self.capacity = Capacity(settings.max_connections, settings.reserved_connections, settings.evict_after)
        self.stream_slots = threading.BoundedSemaphore(max(1, settings.max_connections // 4))
        self.stopping = threading.Event()
        super().__init__((settings.host, settings.port), Handler)

    def server_bind(self) -> None:  # HTTPServer's would look the address up in DNS (getfqdn)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        slot = self.capacity.admit(request)
        if slot is None:  # every slot answering (none still reading to give way): no room at all
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            thread = threading.Thread(target=self.process_request_thread, args=(request, client_address, slot),
                                      daemon=True)
            thread.start()
        except BaseException:
            self.capacity.release(slot)
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request, client_address, slot: Optional[Slot] = None) -> None:
        try:
            self.RequestHandlerClass(request, client_address, self, slot)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            if slot is not None:
                self.capacity.release(slot)  # before the close: an eviction never touches a closed socket
            self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:  # one line, nothing from the request
        error = sys.exc_info()[1]
        sys.stderr.write(f"carp-pkg serve: error while answering a request: {type(error).__name__}: {error}\n")

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
