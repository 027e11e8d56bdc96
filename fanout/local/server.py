"""The embedded AWS stand-in: a moto server on loopback and a free port.

Everything else in ``fanout.local`` only needs an endpoint URL, so LocalStack or
a real account works by passing ``--endpoint-url`` (or none at all for AWS).
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from types import TracebackType
from typing import Final, Self

LOOPBACK: Final = "127.0.0.1"
# moto accepts any credentials; these make sure a stray client can never reach AWS
# with real ones while talking to the local endpoint.
FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",  # nosec B105 - moto's fake credentials
}


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MotoEndpoint:
    """A ThreadedMotoServer on 127.0.0.1, started and stopped with the hub."""

    def __init__(self, port: int | None = None, *, quiet: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._quiet = quiet
        self._server: object | None = None

    def start(self) -> str:
        """Start the server and return its URL once it answers."""
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only the embedded endpoint needs moto

        if self._quiet:
            # werkzeug logs every request at INFO: that drowns the demo's output.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=not self._quiet)
        server.start()
        self._server = server
        self.reset()
        return self.url

    def reset(self) -> None:
        """Forget every resource (moto's reset API): a clean account."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - our own loopback URL
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - same  # nosec B310 - a loopback http URL
            pass

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def local_credentials_missing() -> bool:
    """True when no credentials are configured in the environment (the usual laptop case)."""
    return not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE")
