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
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from ..errors import CarpError, UsageError
from .events import EventFollower
from .page import PageOptions, render_page
from .snapshot import Snapshot
from .style import CSS_SHA256

DEFAULT_PORT = 9112
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
ROUTES = ("/", "/status.json", "/check.json", "/metrics", "/healthz", "/events")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
MAX_REQUEST_LINE = 2048  # bytes of "GET /path HTTP/1.1"
MAX_HEAD_BYTES = 8192  # request line and headers together
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


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_connections: int = 16
    timeout: float = 10.0  # seconds for the request head, and for each write
    stream_seconds: float = 300.0  # an /events stream ends after this; EventSource reconnects by itself
    poll_seconds: float = 1.0  # how often /events looks at the log
    keepalive_seconds: float = 15.0

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


class _DeadlineSocket(io.RawIOBase):
    """The connection's bytes, each read allowed only what is left of the time for the whole head:
    a client sending one byte a second cannot stretch a request beyond the timeout."""

    def __init__(self, connection: socket.socket, deadline: float):
        super().__init__()
        self.connection, self.deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request head too slow")
        self.connection.settimeout(remaining)
        return self.connection.recv_into(buffer)


class _HeadReader:
    """The request's stream while its head is read: at most `budget` bytes, all before the deadline."""

    def __init__(self, connection: socket.socket, budget: int, deadline: float):
        self.raw = io.BufferedReader(_DeadlineSocket(connection, deadline), 4096)
        self.budget = budget

    def readline(self, limit: int = -1) -> bytes:
        cap = self.budget + 1 if limit is None or limit < 0 else min(limit, self.budget + 1)
        line = self.raw.readline(cap)
        self.budget -= len(line)
        if self.budget < 0:
            raise _HeadTooLarge("request head too large")
        return line

    def read(self, size: int = -1) -> bytes:  # nothing reads a body: GET and HEAD only
        return b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.raw.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: bounded, simple
    server: "StatusServer"

    def version_string(self) -> str:
        return "carp-pkg"

    def log_message(self, format, *args) -> None:  # no access log: request lines are hostile text
        pass

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = _HeadReader(self.connection, MAX_HEAD_BYTES, time.monotonic() + self.server.settings.timeout)

    # --- one request --------------------------------------------------------------------------------
    def handle_one_request(self) -> None:
        self.close_connection = True
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if not self.raw_requestline:
                return
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.send_error(414)
                return
            if not self.parse_request():  # answers 400/431/505 itself, through send_error below
                return
        except _HeadTooLarge:
            self.send_error(431)
            return
        except (TimeoutError, socket.timeout):
            self._try_send_error(408)
            return
        self.close_connection = True
        self.connection.settimeout(self.server.settings.timeout)
        try:
            self.dispatch()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, socket.timeout):
            pass
        except Exception as exc:  # a bug must cost one request, never the server, and show nothing of itself
            sys.stderr.write(f"carp-pkg serve: error while answering a request: {type(exc).__name__}: {exc}\n")
            if not self._headers_sent:
                self._try_send_error(500)

    def _try_send_error(self, code: int) -> None:
        try:
            self.send_error(code)
        except OSError:
            pass

    def dispatch(self) -> None:
        if self.command not in ("GET", "HEAD"):
            self._send(405, "text/plain; charset=utf-8", b"405 method not allowed: this server is read-only\n",
                       extra=(("Allow", "GET, HEAD"),))
            return
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.send_error(413)
            return
        if self.server.settings.loopback and not _local_host(self.headers.get("Host")):
            self._send(421, "text/plain; charset=utf-8", b"421 this server answers only for localhost\n")
            return
        url = urlsplit(self.path)
        route = {
            "/": self.page, "/status.json": self.status_json, "/check.json": self.check_json,
            "/metrics": self.metrics, "/healthz": self.healthz, "/events": self.events,
        }.get(url.path)
        if route is None:
            self.send_error(404)
            return
        try:
            query = parse_qs(url.query, max_num_fields=4) if url.path == "/" else {}
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
            self._send(503, "text/plain; charset=utf-8", b"503 too many event streams\n",
                       extra=(("Retry-After", "5"),))
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
            self.server.stopping.wait(settings.poll_seconds)

    # --- responses ----------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _json(self, code: int, document) -> None:
        self._send(code, JSON_TYPE, (json.dumps(document, indent=2) + "\n").encode("utf-8"))

    _headers_sent = False

    def _head(self, code: int, content_type: str, length: Optional[int], csp: str, extra=()) -> None:
        self._headers_sent = True
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
        if self.request_version == "HTTP/0.9" and self.command != "GET":
            self.request_version = "HTTP/1.0"  # not a request at all (TLS, binary): still a status line
        phrase = http.client.responses.get(code, "error").lower()
        self._send(code, "text/plain; charset=utf-8", f"{code} {phrase}\n".encode("ascii"))


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


BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n"
        b"Retry-After: 1\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        b"503 too many requests\n")


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, settings: Settings, app: App):
        self.settings, self.app = settings, app
        self.address_family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        self.slots = threading.BoundedSemaphore(settings.max_connections)
        self.stream_slots = threading.BoundedSemaphore(max(1, settings.max_connections // 4))
        self.stopping = threading.Event()
        super().__init__((settings.host, settings.port), Handler)

    def server_bind(self) -> None:  # HTTPServer's would look the address up in DNS (getfqdn)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:  # one line, nothing from the request
        error = sys.exc_info()[1]
        sys.stderr.write(f"carp-pkg serve: error while answering a request: {type(error).__name__}: {error}\n")

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
