"""Forward events to HTTPS endpoints: signed POSTs with timeouts, failures sorted.

Per endpoint, per event: a 2xx is delivered; a 5xx, 408, 429, timeout or
connection error is retryable (the message returns to the queue); any other
status (4xx, or a 3xx: redirects are not followed, a signed body must not be
re-sent elsewhere) is permanent and the event goes to the DLQ.

With several endpoints an event is delivered to each at most once: a
``DeliveryLedger`` records each endpoint's success, so a retry caused by one
failing endpoint does not POST again to those that already accepted it.
"""

from __future__ import annotations

import hashlib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from consumers.runtime.errors import ConfigurationError, PermanentError
from consumers.runtime.idempotency import Claim, ClaimState, IdempotencyStore
from consumers.runtime.settings import load_settings, split_list
from consumers.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from schemas import Envelope
from schemas.codec import envelope_json

CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
USER_AGENT: Final = "fanout-hub-webhook/1"
# An HMAC key shorter than this is guessable; RFC 2104 recommends at least the hash output length.
MIN_SECRET_CHARS: Final = 16
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})
HTTP_OK_MIN, HTTP_OK_MAX, HTTP_SERVER_ERROR_MIN = 200, 299, 500


SECRET_ARN_PATTERN: Final = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$"  # noqa: S105 - an ARN pattern, not a secret


class WebhookEnvironment(BaseModel):
    """What the webhook function's environment holds: endpoints and the secret's ARN, never the secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    urls: tuple[str, ...] = Field(alias="WEBHOOK_URLS", min_length=1)
    secret_arn: str = Field(alias="WEBHOOK_SECRET_ARN", pattern=SECRET_ARN_PATTERN)
    timeout_seconds: float = Field(default=5.0, alias="WEBHOOK_TIMEOUT_SECONDS", gt=0, le=60)

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_list(value)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_https: bool = True
    ) -> WebhookEnvironment:
        """Validated environment; ``ConfigurationError`` names a bad variable.

        ``require_https=False`` exists for tests against a local plain-HTTP server only.
        """
        environment = load_settings(cls, environ)
        for url in environment.urls:
            check_url(url, require_https=require_https)
        return environment

    def with_secret(self, secret: str) -> WebhookSettings:
        """The forwarder's settings, once the key has been read from ``secret_arn``."""
        return WebhookSettings(urls=self.urls, secret=secret, timeout_seconds=self.timeout_seconds)


class WebhookSettings(BaseModel):
    """What the forwarder needs: endpoints, the signing key, the per-request timeout."""

    model_config = ConfigDict(frozen=True)

    urls: tuple[str, ...] = Field(min_length=1)
    secret: str = Field(min_length=MIN_SECRET_CHARS, repr=False)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


def check_url(url: str, *, require_https: bool = True) -> None:
    """Refuse anything but an absolute https URL (``ConfigurationError`` names WEBHOOK_URLS)."""
    parts = urlsplit(url)
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise ConfigurationError(
            f"WEBHOOK_URLS: {url!r} is not an absolute {' or '.join(allowed)} URL"
        )


class WebhookRetryableError(Exception):
    """An endpoint is unavailable for now; SQS redelivers the event."""


class WebhookRejectedError(PermanentError):
    """An endpoint refused the event for good (a 4xx or 3xx)."""


@dataclass(frozen=True, slots=True)
class Response:
    """An endpoint's answer."""

    status: int


class Transport(Protocol):
    """Sends one POST; raises ``OSError`` (incl. timeouts) when no response came back."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """POST ``body`` and return the status, whatever it is."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: object, **__: object) -> None:
        return None  # turn 3xx into an HTTPError with the 3xx status


class UrllibTransport:
    """``Transport`` over the standard library; no redirects, no retries of its own."""

    def __init__(self) -> None:
        self._opener: urllib.request.OpenerDirector | None = None

    def _open(self) -> urllib.request.OpenerDirector:
        # Without a context urllib builds a fresh SSLContext, loading the whole CA
        # bundle, for every request. One verifying context, built on first use (so
        # SSL_CERT_FILE set by the environment is honoured), serves every POST.
        if self._opener is None:
            https = urllib.request.HTTPSHandler(context=ssl.create_default_context())
            self._opener = urllib.request.build_opener(_NoRedirect(), https)
        return self._opener

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """POST once; an HTTP error status is returned, not raised."""
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 - scheme checked at cold start
        try:
            with self._open().open(request, timeout=timeout) as response:
                return Response(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return Response(error.code)


class DeliveryLedger(Protocol):
    """Remembers which endpoints already accepted which events."""

    def claim(self, endpoint: str, envelope_id: str) -> str | None:
        """A token to deliver with, or None when this endpoint already has the event."""
        ...

    def delivered(self, endpoint: str, token: str) -> None:
        """Record the delivery made under ``token``."""
        ...

    def failed(self, endpoint: str, token: str) -> None:
        """Forget the attempt made under ``token``."""
        ...


class NoLedger:
    """Deliver to every endpoint on every attempt."""

    def claim(self, endpoint: str, envelope_id: str) -> str | None:  # noqa: ARG002
        """Always deliver."""
        return ""

    def delivered(self, endpoint: str, token: str) -> None:
        """Nothing to record."""

    def failed(self, endpoint: str, token: str) -> None:
        """Nothing to forget."""


class IdempotencyLedger:
    """``DeliveryLedger`` on idempotency records, one per (consumer, endpoint, event)."""

    def __init__(self, stores: Callable[[str], IdempotencyStore], lease_seconds: float) -> None:
        self._stores = stores
        self._lease_seconds = lease_seconds
        self._claims: dict[str, Claim] = {}

    @staticmethod
    def endpoint_id(endpoint: str) -> str:
        """A short stable name for an endpoint (the URL may hold a token: never store it)."""
        return hashlib.sha256(endpoint.encode()).hexdigest()[:16]

    def claim(self, endpoint: str, envelope_id: str) -> str | None:
        """Claim the (endpoint, event) pair; a live lease elsewhere is a retryable error."""
        claim = self._stores(endpoint).claim(envelope_id, self._lease_seconds)
        if claim.state is ClaimState.COMPLETED:
            return None
        if claim.state is ClaimState.IN_PROGRESS:
            raise WebhookRetryableError(f"delivery to {self.endpoint_id(endpoint)} is in progress")
        self._claims[claim.token] = claim
        return claim.token

    def delivered(self, endpoint: str, token: str) -> None:
        """Mark the pair completed."""
        claim = self._claims.pop(token)
        self._stores(endpoint).complete(claim)

    def failed(self, endpoint: str, token: str) -> None:
        """Release the pair so the next attempt delivers."""
        claim = self._claims.pop(token)
        self._stores(endpoint).release(claim)


class Forwarder:
    """Delivers each event to every configured endpoint."""

    def __init__(
        self,
        settings: WebhookSettings,
        transport: Transport | None = None,
        ledger: DeliveryLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._transport = transport or UrllibTransport()
        self._ledger = ledger or NoLedger()
        self._clock = clock

    def headers(self, envelope: Envelope, body: bytes) -> dict[str, str]:
        """The request headers, signature included."""
        timestamp = int(self._clock())
        return {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            "X-Fanout-Event-Id": envelope.id,
            "X-Fanout-Event-Type": envelope.type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self._settings.secret, timestamp, body),
        }

    def deliver(self, envelope: Envelope) -> None:
        """POST to every endpoint that does not have the event yet.

        Raises ``WebhookRetryableError`` if any endpoint should be retried (that
        wins, since a retry may still succeed), else ``WebhookRejectedError`` if
        any refused the event.
        """
        body = envelope_json(envelope).encode("utf-8")
        retry: list[str] = []
        rejected: list[str] = []
        for url in self._settings.urls:
            name = IdempotencyLedger.endpoint_id(url)
            try:
                token = self._ledger.claim(url, envelope.id)
            except WebhookRetryableError as error:
                retry.append(str(error))
                continue
            if token is None:
                continue
            outcome = self._post(url, body, envelope)
            if outcome is None:
                self._ledger.delivered(url, token)
                continue
            self._ledger.failed(url, token)
            (retry if outcome[0] else rejected).append(f"endpoint {name}: {outcome[1]}")
        if retry:
            raise WebhookRetryableError("; ".join(retry + rejected))
        if rejected:
            raise WebhookRejectedError("; ".join(rejected))

    def _post(self, url: str, body: bytes, envelope: Envelope) -> tuple[bool, str] | None:
        """None when delivered, else (retryable, reason)."""
        try:
            response = self._transport.post(
                url, body, self.headers(envelope, body), self._settings.timeout_seconds
            )
        except (TimeoutError, OSError) as error:  # URLError is an OSError
            return True, f"no response ({type(error).__name__}: {error})"
        status = response.status
        if HTTP_OK_MIN <= status <= HTTP_OK_MAX:
            return None
        retryable = status >= HTTP_SERVER_ERROR_MIN or status in RETRYABLE_STATUSES
        return retryable, f"HTTP {status}"
