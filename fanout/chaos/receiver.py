"""A local HTTPS receiver standing in for the webhook consumer's partner endpoints."""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from consumers.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from fanout.chaos.certificates import self_signed_certificate
from fanout.chaos.workload import REFUSED_MARK
from fanout.local.faults import FaultPlan

WEBHOOK_ENDPOINTS: Final = ("/hooks/a", "/hooks/b")


@dataclass
class WebhookDelivery:
    """One POST the receiver answered."""

    endpoint: str
    event_id: str
    status: int
    signed: bool


class WebhookReceiver:
    """An HTTPS server standing in for partners' endpoints; records every request.

    It answers 503 at the plan's ``webhook_unavailable`` rate (budgeted like any
    fault), 400 for items marked as refused, and 200 otherwise.
    """

    def __init__(self, plan: FaultPlan, scope: Callable[[], str], secret: str) -> None:
        self.plan = plan
        self._scope = scope
        self._secret = secret
        self.deliveries: list[WebhookDelivery] = []
        self._lock = threading.Lock()
        self._directory = tempfile.TemporaryDirectory(prefix="fanout-chaos-")
        self.cert_path, key_path = self_signed_certificate(Path(self._directory.name))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def urls(self) -> list[str]:
        """The endpoints' https URLs."""
        port = self._server.server_address[1]
        return [f"https://127.0.0.1:{port}{path}" for path in WEBHOOK_ENDPOINTS]

    def start(self) -> WebhookReceiver:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the certificate."""
        self._server.shutdown()
        self._server.server_close()
        self._directory.cleanup()

    def accepted(self) -> Counter[tuple[str, str]]:
        """(endpoint, event id) -> how many times it was answered 2xx."""
        with self._lock:
            return Counter((d.endpoint, d.event_id) for d in self.deliveries if d.status == 200)  # noqa: PLR2004

    def _answer(self, endpoint: str, body: bytes, headers: Mapping[str, str]) -> int:
        event_id = headers.get("X-Fanout-Event-Id", "")
        signed = verify(
            self._secret,
            body,
            headers.get(TIMESTAMP_HEADER, ""),
            headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        try:
            subject = str(json.loads(body).get("subject", ""))
        except ValueError:
            subject = ""
        if endpoint not in WEBHOOK_ENDPOINTS or not signed:
            status = 401
        elif REFUSED_MARK in subject:
            status = 400
        elif self.plan.should(
            "webhook_unavailable", self._scope(), [event_id], f"{endpoint}|{event_id}"
        ):
            status = 503
        else:
            status = 200
        with self._lock:
            self.deliveries.append(WebhookDelivery(endpoint, event_id, status, signed))
        return status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._answer(self.path, body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        return Handler
