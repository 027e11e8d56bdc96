"""Pacing for work that moves data: a token bucket, and retries with backoff and jitter.

Redrive and backfill share these so that an operator's ``--rate`` means the same
thing everywhere and a throttled call is retried the same way the router retries
(``router.publisher.Backoff``: exponential backoff with full jitter).

``Retry`` is the only retry layer of the calls it wraps: they are made with
``Connection.single_attempt_client`` (botocore's own retries off), so ``Retry``
retries what botocore's standard mode would have (its throttling and transient codes,
HTTP 429/502/503/504, dropped connections), and a call is attempted at most
``Retry.attempts`` times.
https://docs.aws.amazon.com/boto3/latest/guide/retries.html
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from router.publisher import Backoff

T = TypeVar("T")

# Codes worth another attempt on SQS, SNS, DynamoDB and S3: throttling and server trouble,
# and every throttling or transient code botocore's standard mode retries (the layer
# ``Retry`` replaces on the calls it wraps).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
# https://docs.aws.amazon.com/boto3/latest/guide/retries.html
RETRYABLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "AWS.SimpleQueueService.RequestThrottled",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
# Statuses retried whatever the code (a gateway's bare answer). A bare 500 is not: an
# endpoint without an action (moto's server) answers one, and AWS's own 500s carry a
# code above (InternalError, InternalFailure).
RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})


def retryable(exc: BaseException) -> bool:
    """True for throttling, server errors and dropped connections."""
    if isinstance(exc, ClientError):
        if exc.response.get("Error", {}).get("Code", "") in RETRYABLE_CODES:
            return True
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in RETRYABLE_STATUSES
    return isinstance(exc, BotoConnectionError | HTTPClientError)


@dataclass
class Retry:
    """Call a function until it succeeds, a non-retryable error, or ``attempts`` run out."""

    attempts: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], object] = time.sleep

    def call(self, function: Callable[[], T]) -> T:
        """``function()``; re-raises the last error when it cannot or may not be retried."""
        for attempt in range(self.attempts):
            try:
                return function()
            except (ClientError, BotoCoreError) as exc:
                if not retryable(exc) or attempt == self.attempts - 1:
                    raise
                self.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; thread-safe.

    ``take(n)`` waits until ``n`` tokens are there. ``charge(n)`` spends tokens after
    the fact (the balance may go negative): for costs known only from the response,
    such as the read capacity a Scan page consumed, the next ``take`` then waits the
    debt off. A ``rate`` of 0 or less means no limit.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, amount: float = 1.0) -> float:
        """Wait until ``amount`` tokens are available and spend them; returns seconds waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                # A request larger than the burst goes through once the bucket is full.
                need = min(amount, self.burst)
                if self._tokens >= need:
                    self._tokens -= amount
                    return waited
                pause = (need - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause

    def charge(self, amount: float) -> None:
        """Spend ``amount`` tokens now, into debt if need be."""
        if self.rate <= 0:
            return
        with self._lock:
            self._refill()
            self._tokens -= amount


class BacklogGate:
    """Hold a producer while a queue's backlog is at ``limit`` or more; thread-safe.

    A backfill can send far faster than a consumer drains: without a bound the whole
    table lands on the queue at once, so the consumer's live changes wait behind it and
    the oldest snapshots age towards the queue's retention period. ``wait()`` reads the
    backlog (at most once per ``poll_seconds``, shared by every caller) and returns once
    it is below ``limit``. A ``limit`` of 0 or less means no bound.
    """

    def __init__(
        self,
        backlog: Callable[[], int],
        limit: int,
        *,
        poll_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.limit = limit
        self._backlog = backlog
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._seen = 0
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def _current(self) -> int:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._poll:
                self._seen = self._backlog()
                self._read_at = now
            return self._seen

    def wait(self) -> float:
        """Block until the backlog is below the limit; returns seconds waited."""
        if self.limit <= 0:
            return 0.0
        waited = 0.0
        while self._current() >= self.limit:
            self._sleep(self._poll)
            waited += self._poll
        return waited

    def admit(self, count: int) -> None:
        """Count ``count`` messages just sent until the next reading sees them."""
        with self._lock:
            self._seen += count
