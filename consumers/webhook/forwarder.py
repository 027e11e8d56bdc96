"""Forward events to HTTPS endpoints: signed POSTs under a deadline, failures sorted.

Per endpoint, per event: a 2xx is delivered; a 5xx, 408, 425, 429, a malformed
response, no response within the deadline, or a connection error is retryable
(the message returns to the queue); any other status is permanent and the event
goes to the DLQ. That includes a 3xx: redirects are not followed (a signed body
must not be re-sent to a place nobody configured or checked), and the same
request would be redirected again, so retrying cannot help; the DLQ keeps the
reason until WEBHOOK_URLS names the new place and the event is redriven. An
endpoint whose host resolves only to refused addresses (loopback, link-local,
private...: ``consumers.webhook.addresses``) is permanent for the same reason.

With several endpoints an event is delivered to each at most once: a
``DeliveryLedger`` records each endpoint's success, so a retry caused by one
failing endpoint does not POST again to those that already accepted it. One
endpoint's failure, whatever it is, never keeps the event from the others.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from consumers.runtime.errors import PermanentError
from consumers.runtime.idempotency import Claim, ClaimState, IdempotencyStore
from consumers.runtime.observability import error_summary
from consumers.runtime.settings import load_settings
from consumers.webhook.addresses import (
    ALLOWED_NETWORKS_VARIABLE,
    AddressPolicy,
    IPNetwork,
    RefusedAddressError,
    parse_networks,
)
from consumers.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from consumers.webhook.transport import HttpTransport, Transport
from hubcommon.errors import ConfigurationError
from hubcommon.settings import comma_list, matching, seconds, text, variable
from schemas import Envelope
from schemas.codec import envelope_json

_log = structlog.get_logger("consumers.webhook")

CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
USER_AGENT: Final = "fanout-hub-webhook/1"
# An HMAC key shorter than this is guessable; RFC 2104 recommends at least the hash output length.
MIN_SECRET_CHARS: Final = 16
# A POST to a partner waits at most this long (the function's own timeout bounds the batch).
MAX_TIMEOUT_SECONDS: Final = 60
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})
HTTP_OK_MIN, HTTP_OK_MAX, HTTP_SERVER_ERROR_MIN = 200, 299, 500
EVENT_ID_HEADER: Final = "X-Fanout-Event-Id"
EVENT_TYPE_HEADER: Final = "X-Fanout-Event-Type"


SECRET_ARN_PATTERN: Final = r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+"  # noqa: S105 - an ARN pattern, not a secret


@dataclass(frozen=True, slots=True)
class WebhookEnvironment:
    """What the webhook function's environment holds: endpoints and the secret's ARN, never the secret."""

    urls: tuple[str, ...] = variable("WEBHOOK_URLS", comma_list(text, at_least=1))
    secret_arn: str = variable(
        "WEBHOOK_SECRET_ARN", matching(SECRET_ARN_PATTERN, "a Secrets Manager secret ARN")
    )
    timeout_seconds: float = variable(
        "WEBHOOK_TIMEOUT_SECONDS", seconds(0, MAX_TIMEOUT_SECONDS), default=5.0
    )
    allowed_networks: tuple[IPNetwork, ...] = variable(
        ALLOWED_NETWORKS_VARIABLE, parse_networks, default=()
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_https: bool = True
    ) -> WebhookEnvironment:
        """Validated environment; ``ConfigurationError`` names a bad variable.

        ``require_https=False`` exists for tests against a local plain-HTTP server only.
        """
        environment = load_settings(cls, environ)
        policy = AddressPolicy(environment.allowed_networks)
        for url in environment.urls:
            check_url(url, require_https=require_https, policy=policy)
        return environment

    def with_secret(self, secret: str) -> WebhookSettings:
        """The forwarder's settings, once the key has been read from ``secret_arn``."""
        return WebhookSettings(
            urls=self.urls,
            secret=secret,
            timeout_seconds=self.timeout_seconds,
            allowed_networks=self.allowed_networks,
        )


class WebhookSettings(BaseModel):
    """What the forwarder needs: endpoints, the signing key, each POST's deadline, allowed networks."""

    model_config = ConfigDict(frozen=True)

    urls: tuple[str, ...] = Field(min_length=1)
    secret: str = Field(min_length=MIN_SECRET_CHARS, repr=False)
    timeout_seconds: float = Field(default=5.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    allowed_networks: tuple[IPNetwork, ...] = ()

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        return parse_networks(value)


def check_url(url: str, *, require_https: bool = True, policy: AddressPolicy | None = None) -> None:
    """Refuse anything but an absolute https URL, or one whose literal IP the policy refuses.

    ``ConfigurationError`` names WEBHOOK_URLS. A host name is checked per POST, after
    resolution (``consumers.webhook.transport``); a literal address can be checked now.
    """
    parts = urlsplit(url)
    allowed = ("https",) if require_https else ("https", "http")
    try:
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        hostname = None
    if parts.scheme not in allowed or not hostname:
        raise ConfigurationError(
            f"WEBHOOK_URLS: {url!r} is not an absolute {' or '.join(allowed)} URL"
        )
    try:
        literal = ipaddress.ip_address(hostname)
    except ValueError:
        return
    refused = (policy or AddressPolicy()).refusal(literal)
    if refused is not None:
        raise ConfigurationError(
            f"WEBHOOK_URLS: {url!r} is a {refused} address; "
            f"allow it explicitly with {ALLOWED_NETWORKS_VARIABLE}"
        )


def header_value(value: str) -> str:
    """``value`` as an ASCII-only header value: CloudEvents' percent-encoding of UTF-8.

    Space, ``"``, ``%`` and every character outside U+0021-U+007E become ``%XX`` per
    UTF-8 byte (a receiver reads it back with ``urllib.parse.unquote``), as the
    CloudEvents HTTP binding does for its ``ce-`` headers:
    https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/http-protocol-binding.md#3132-http-header-values
    ``http.client`` sends header values as Latin-1 and refuses CR/LF, so a raw item
    value could neither be sent nor be trusted not to inject a header. A lone
    surrogate (legal in a JSON string) is encoded as its three bytes, so this is total.
    """
    return "".join(
        char
        if "!" <= char <= "~" and char not in '"%'
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in value
    )


class WebhookRetryableError(Exception):
    """An endpoint is unavailable for now; SQS redelivers the event."""


class WebhookRejectedError(PermanentError):
    """An endpoint refused the event for good (a 4xx or 3xx), or its address is refused."""


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
        self._transport = transport or HttpTransport(AddressPolicy(settings.allowed_networks))
        self._ledger = ledger or NoLedger()
        self._clock = clock

    def headers(self, envelope: Envelope, body: bytes) -> dict[str, str]:
        """The request headers, signature included; values from the event are percent-encoded."""
        timestamp = int(self._clock())
        return {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: header_value(envelope.id),
            EVENT_TYPE_HEADER: header_value(envelope.type),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self._settings.secret, timestamp, body),
        }

    def deliver(self, envelope: Envelope) -> bool:
        """POST to every endpoint that does not have the event yet; False if every one had it.

        Raises ``WebhookRetryableError`` if any endpoint should be retried (that
        wins, since a retry may still succeed), else ``WebhookRejectedError`` if
        any refused the event.
        """
        body = envelope_json(envelope).encode("utf-8")
        retry: list[str] = []
        rejected: list[str] = []
        attempted = False
        for url in self._settings.urls:
            name = IdempotencyLedger.endpoint_id(url)
            try:
                token = self._ledger.claim(url, envelope.id)
            except WebhookRetryableError as error:
                retry.append(str(error))
                continue
            if token is None:
                continue
            attempted = True
            outcome = self._post(url, body, envelope)
            if outcome is None:
                self._record(self._ledger.delivered, url, token, "webhook_delivery_mark_failed")
                continue
            self._record(self._ledger.failed, url, token, "webhook_claim_release_failed")
            (retry if outcome[0] else rejected).append(f"endpoint {name}: {outcome[1]}")
        if retry:
            raise WebhookRetryableError("; ".join(retry + rejected))
        if rejected:
            raise WebhookRejectedError("; ".join(rejected))
        return attempted

    @staticmethod
    def _record(mark: Callable[[str, str], None], url: str, token: str, event: str) -> None:
        """Write the ledger's outcome of one POST; a failed write must not cost the other endpoints.

        A lost delivery mark leaves the claim to expire: a later copy of the event
        then posts to that endpoint again (at least once is what the ledger can promise
        when its own write fails). A lost release makes the retry wait out the lease.
        """
        try:
            mark(url, token)
        except Exception as error:  # noqa: BLE001 - logged; the lease bounds the consequence
            _log.warning(
                event, endpoint=IdempotencyLedger.endpoint_id(url), error=error_summary(error)
            )

    def _post(self, url: str, body: bytes, envelope: Envelope) -> tuple[bool, str] | None:
        """None when delivered, else (retryable, reason)."""
        try:
            response = self._transport.post(
                url, body, self.headers(envelope, body), self._settings.timeout_seconds
            )
        except RefusedAddressError as error:
            return False, str(error)
        except OSError as error:  # TimeoutError (the deadline), refused, reset, TLS, DNS
            return True, f"no response ({type(error).__name__}: {error})"
        except http.client.HTTPException as error:
            # Not the endpoint's bytes: they would land in the DLQ's attributes and logs.
            return True, f"malformed response ({type(error).__name__})"
        except Exception as error:  # noqa: BLE001 - reported, not swallowed: see below
            # One endpoint's unforeseen failure must not keep the event from the
            # others, nor hold this endpoint's claim: it is a retry, with its type.
            return True, f"delivery failed ({type(error).__name__})"
        status = response.status
        if HTTP_OK_MIN <= status <= HTTP_OK_MAX:
            return None
        retryable = status >= HTTP_SERVER_ERROR_MIN or status in RETRYABLE_STATUSES
        return retryable, f"HTTP {status}"
