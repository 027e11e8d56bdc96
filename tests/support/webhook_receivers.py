"""Local webhook receivers: real HTTP(S) servers on 127.0.0.1 that answer as scripted.

Each request is recorded (path, headers, body), then answered by the next ``Answer``
in ``answers`` (a 204 once they run out). Answers cover what a hostile or broken
endpoint does: any status, a redirect, bytes that are not HTTP, and a response
dripped one byte at a time.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from consumers.runtime import consumer
from consumers.webhook import app as webhook_app
from consumers.webhook.addresses import Address
from consumers.webhook.app import build_forwarder
from consumers.webhook.forwarder import Forwarder, WebhookSettings
from fanout.chaos.certificates import self_signed_certificate
from support.secrets import a_stored_secret

Answer = Callable[[BaseHTTPRequestHandler, threading.Event], None]
LOOPBACK = "127.0.0.0/8"
SIGNING_KEY = "s3cr3t-for-tests-only-0123456789"


def status(code: int, **headers: str) -> Answer:
    """An empty response with ``code`` and ``headers``."""

    def answer(handler: BaseHTTPRequestHandler, _: threading.Event) -> None:
        handler.send_response(code)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def redirect(code: int, location: str) -> Answer:
    """A 3xx pointing at ``location``."""
    return status(code, Location=location)


def raw(data: bytes) -> Answer:
    """``data`` as the whole response, then the connection closes."""

    def answer(handler: BaseHTTPRequestHandler, _: threading.Event) -> None:
        handler.wfile.write(data)
        handler.close_connection = True

    return answer


def drip(head: bytes, every: float, tail: bytes = b"x" * 100_000) -> Answer:
    """``head`` at once, then ``tail`` one byte every ``every`` seconds, until the client goes.

    Each byte arrives well within any per-read timeout; only a deadline for the
    whole request ends it.
    """

    def answer(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.close_connection = True
        try:
            handler.wfile.write(head)
            for index in range(len(tail)):
                if stop.wait(every):  # the receiver is closing
                    return
                handler.wfile.write(tail[index : index + 1])
        except OSError:  # the client hung up: what the deadline is for
            return

    return answer


def dripped_status_line(every: float) -> Answer:
    """A status line that never ends, one byte at a time."""
    return drip(b"", every, b"HTTP/1.1 200 " + b"O" * 100_000)


def dripped_body(every: float) -> Answer:
    """A 200 whose promised body comes one byte at a time."""
    return drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", every)


@dataclass
class Request:
    """What the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP or HTTPS server on 127.0.0.1 (a context manager: serves inside ``with``)."""

    tls: ssl.SSLContext | None = None
    answers: list[Answer] = field(default_factory=list)
    received: list[Request] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        if self.tls is not None:
            self.tls.sni_callback = self._record_server_name
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        """This receiver's URL under ``host`` (which a test resolver maps to 127.0.0.1)."""
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _record_server_name(self, _: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        self.server_names.append(name)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self.answers.pop(0) if self.answers else status(204)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Request(self.path, dict(self.headers.items()), body))
                receiver._next_answer()(self, receiver._stop)

            def log_message(self, *_: Any) -> None:
                return

        return Handler


def tls_receiver_context(directory: Path, *names: str) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate for 127.0.0.1 and ``names`` (DNS).

    Returns the context and the certificate's path, for a client to trust it.
    """
    cert_path, key_path = self_signed_certificate(directory, *names)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def trusting(cert_path: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only ``cert_path``."""
    return ssl.create_default_context(cafile=str(cert_path))


class FakeResolver:
    """Answers each name with scripted addresses (one list per call, the last repeated)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    @classmethod
    def always(cls, names: dict[str, str]) -> FakeResolver:
        """Each name always resolves to its one address."""
        return cls({name: [[address]] for name, address in names.items()})

    def __call__(self, host: str, port: int) -> list[Address]:
        self.calls.append(host)
        if host not in self._answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        script = self._answers[host]
        addresses = script[min(len(self.calls_for(host)) - 1, len(script) - 1)]
        return [as_address(a, port) for a in addresses]

    def calls_for(self, host: str) -> list[str]:
        """The lookups of ``host`` so far."""
        return [c for c in self.calls if c == host]


def as_address(ip: str, port: int) -> Address:
    """What ``socket.getaddrinfo`` would answer for the literal ``ip``."""
    if ipaddress.ip_address(ip.split("%", 1)[0]).version == 6:
        return Address(socket.AF_INET6, (ip, port, 0, 0))
    return Address(socket.AF_INET, (ip, port))


# The default request deadline of a test's webhook handler: a local receiver answers in
# milliseconds, so this is only ever reached on a loaded machine, where a shorter one
# would fail a delivery the test expects to succeed. Tests of the deadline pass their own.
DEFAULT_TIMEOUT = 10.0


def forwarding(*endpoints: Receiver, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The webhook handler for local receivers, loopback allowed as the local hub does; no ledger."""
    settings = WebhookSettings(
        urls=tuple(e.url() for e in endpoints),
        secret=SIGNING_KEY,
        timeout_seconds=timeout,
        allowed_networks=LOOPBACK,
    )
    return consumer()(Forwarder(settings).deliver)


def ledgered(monkeypatch: Any, *endpoints: Receiver, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The deployed wiring (per-endpoint claims in the idempotency table) for local plain-HTTP receivers."""
    monkeypatch.setenv("WEBHOOK_URLS", ",".join(e.url() for e in endpoints))
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", str(timeout))
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", a_stored_secret(SIGNING_KEY))
    deployed = webhook_app.handler  # the deployed decorator's mode and claims
    return consumer(mode=deployed.mode, claim_events=deployed.claim_events)(
        build_forwarder(require_https=False).deliver
    )
