"""One POST to a webhook endpoint: resolved and checked once, pinned, under one deadline.

- **Addresses.** The host is resolved once; ``AddressPolicy`` drops what it refuses
  (``consumers.webhook.addresses``) and the socket connects to a checked address,
  never to the name again. TLS still names the host (SNI and certificate check) and
  so does the ``Host`` header, so the endpoint sees the request it would from any client.
- **One deadline.** ``timeout`` bounds the whole exchange: connect, TLS handshake,
  sending, and reading the status line, headers and up to ``MAX_RESPONSE_BODY`` bytes
  of body. Every socket operation gets what is left of it, so an endpoint that answers
  one byte at a time is cut off at the deadline instead of holding the delivery (a
  per-read timeout restarts with each byte). The Lambda function has its own timeout,
  and the delivery ledger's lease counts on each POST ending within ``timeout``.
  Resolving the name is not under this deadline: ``getaddrinfo`` has no timeout of
  its own and the system resolver applies its own retries.
- **No redirects.** A 3xx is returned as a status like any other; nothing follows it.
- **Malformed answers** raise ``http.client.HTTPException``; no answer at all, an
  ``OSError`` (``TimeoutError`` at the deadline).
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from consumers.webhook.addresses import Address, AddressPolicy, Resolver, resolve

# A receiver's answer body is not used; reading a bounded prefix proves the response
# was well formed up to there without letting an endpoint make the function buffer
# megabytes.
MAX_RESPONSE_BODY: Final = 64 * 1024
DEFAULT_PORTS: Final = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class Response:
    """An endpoint's answer."""

    status: int


class Transport(Protocol):
    """Sends one POST.

    Raises ``OSError`` (``TimeoutError`` at the deadline) when no response came back,
    ``http.client.HTTPException`` when the response was malformed, and
    ``RefusedAddressError`` when the host resolves to no address it may connect to.
    """

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """POST ``body`` within ``timeout`` seconds in all; return the status, whatever it is."""
        ...


class Deadline:
    """A point in time every socket operation of one request must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        """Seconds left; raises ``TimeoutError`` once there are none."""
        left = self._at - self._clock()
        if left <= 0:
            raise TimeoutError(f"the {self.seconds:g} s deadline for the whole request passed")
        return left


class _DeadlineReader(io.RawIOBase):
    """A socket's read side where each read may take only what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What ``http.client`` uses of a socket, each operation bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        # Chunked, so a receiver that reads slowly cannot stretch one sendall past the deadline.
        view = memoryview(data)
        for start in range(0, len(view), 16 * 1024):
            self._sock.settimeout(self._deadline.remaining())
            self._sock.sendall(view[start : start + 16 * 1024])

    def makefile(self, mode: str, *_: object, **__: object) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"unsupported mode {mode!r}")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a checked address that still names ``host``."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[Address],
        deadline: Deadline,
        tls: ssl.SSLContext | None,
        connector: Connector,
    ) -> None:
        super().__init__(host, port)
        self._addresses = addresses
        self._deadline = deadline
        self._tls = tls
        self._connector = connector

    def connect(self) -> None:
        sock = self._connector(self._addresses, self._deadline)
        try:
            if self._tls is not None:
                sock.settimeout(self._deadline.remaining())
                # server_hostname: SNI and the certificate's name check use the URL's host,
                # not the address connected to.
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._deadline)


Connector = Callable[[list[Address], Deadline], socket.socket]


def connect_first(addresses: list[Address], deadline: Deadline) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that accepts one within the deadline."""
    failure: OSError | None = None
    for address in addresses:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address.sockaddr)
        except OSError as error:  # the next address, while the deadline lasts
            sock.close()
            failure = error
            continue
        return sock
    raise failure or OSError("no address to connect to")


class HttpTransport:
    """``Transport`` over ``http.client``: checked addresses, one deadline, no redirects, no retries."""

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        resolver: Resolver = resolve,
        tls: ssl.SSLContext | None = None,
        connector: Connector = connect_first,
    ) -> None:
        """``tls``: the verifying context for https (default: the system's trust store)."""
        self._policy = policy or AddressPolicy()
        self._resolver = resolver
        self._tls = tls
        self._connector = connector

    def _context(self) -> ssl.SSLContext:
        # Without one, every connection would build a fresh SSLContext and load the whole
        # CA bundle. One verifying context, built on first use (so SSL_CERT_FILE set by
        # the environment is honoured), serves every POST.
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """POST once within ``timeout`` seconds in all; a 3xx/4xx/5xx is returned, not raised."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("not an absolute http(s) URL")  # WEBHOOK_URLS is checked at cold start
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        addresses = self._policy.permitted(self._resolver(parts.hostname, port))
        deadline = Deadline(timeout)
        tls = self._context() if parts.scheme == "https" else None
        connection = _PinnedConnection(
            parts.hostname, port, addresses, deadline, tls, self._connector
        )
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        try:
            connection.request("POST", target, body=body, headers=dict(headers))
            response = connection.getresponse()
            if response.length is not None and response.length <= MAX_RESPONSE_BODY:
                # read() without a size raises IncompleteRead for a body cut short;
                # read(size) would return the short body as if it were whole.
                response.read()
            else:
                response.read(MAX_RESPONSE_BODY)
            return Response(response.status)
        finally:
            connection.close()
