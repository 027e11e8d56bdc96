"""Publish outbound messages to SNS with PublishBatch: parallel calls, every entry checked.

A ``Failed`` entry or a throttled call is retried with exponential backoff and
full jitter while the invocation's deadline allows; an entry SNS rejects as the
sender's fault is never retried (it goes to the router DLQ instead).

SNS speaks the AWS query protocol only (its botocore service model lists no
other), so a PublishBatch body is ``application/x-www-form-urlencoded``. botocore
re-encodes that body every time the request's ``body`` is read (signing reads it,
sending reads it again: https://github.com/boto/botocore/issues/1561,
https://github.com/boto/botocore/issues/2556) with ``urllib.parse.quote_plus``,
which walks the text one byte at a time in Python; for ten ~2.4 KB envelopes
that was most of the router's CPU. The publisher encodes the body once, before
signing, to exactly the bytes botocore would have sent.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from router.batching import pack_batches
from router.deadline import Deadline
from router.normalise import Outbound

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

# Error codes worth another attempt: throttling and server-side trouble.
# https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html
RETRYABLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


# What quote_plus(..., safe="") leaves as is: RFC 3986 unreserved characters.
# https://docs.python.org/3/library/urllib.parse.html#urllib.parse.quote
_FORM_SAFE: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_FORM_ESCAPE: Final = tuple(
    "+" if byte == ord(" ") else chr(byte) if byte in _FORM_SAFE else f"%{byte:02X}"
    for byte in range(256)
)
# Replaced first: '%' because every escape adds one, '+' because a space becomes one.
_ESCAPED_FIRST: Final = (ord("%"), ord("+"))
_BODY_HOOK_ID: Final = "fanout-hub.publish-batch-form-body"


def form_quote(text: str) -> str:
    """``urllib.parse.quote_plus(text, safe="")``, with one C-level pass per distinct byte escaped."""
    raw = text.encode()
    escaped = set(raw.translate(None, _FORM_SAFE))
    if not escaped:
        return text
    # Latin-1 maps each UTF-8 byte to one character, so a byte is escaped by replacing its character.
    quoted = raw.decode("latin-1")
    for byte in _ESCAPED_FIRST:
        if byte in escaped:
            escaped.discard(byte)
            quoted = quoted.replace(chr(byte), _FORM_ESCAPE[byte])
    for byte in escaped:
        quoted = quoted.replace(chr(byte), _FORM_ESCAPE[byte])
    return quoted


# Field names and short values (attribute names, types, entities) repeat in every call.
_quote_short: Final = functools.lru_cache(maxsize=4096)(form_quote)
_SHORT: Final = 64


def form_body(fields: Mapping[str, str]) -> bytes:
    """The form-encoded body botocore sends for these query-protocol fields, byte for byte."""
    return "&".join(
        [
            f"{_quote_short(k)}={_quote_short(v) if len(v) <= _SHORT else form_quote(v)}"
            for k, v in fields.items()
        ]
    ).encode()


def encode_body_once(request: Any, **_: Any) -> None:
    """botocore ``before-sign`` hook: replace the field dict by its encoded body, once."""
    fields = request.data
    if isinstance(fields, dict) and all(
        type(k) is str and type(v) is str for k, v in fields.items()
    ):
        request.data = form_body(fields)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

    base: float = 0.05
    cap: float = 2.0
    rand: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return self.rand(0.0, min(self.cap, self.base * (2 ** min(attempt, 32))))


@dataclass
class PublishOutcome:
    """What happened to each message handed to ``publish_all``."""

    published: list[Outbound] = field(default_factory=list)
    # Not published in time or the call failed for good: the shard must retry these.
    failed: list[tuple[Outbound, str]] = field(default_factory=list)
    # SNS said the entry itself is bad (SenderFault): retrying cannot help.
    rejected: list[tuple[Outbound, str]] = field(default_factory=list)
    calls: int = 0

    def merge(self, other: PublishOutcome) -> None:
        """Add another outcome's messages and calls to this one."""
        self.published += other.published
        self.failed += other.failed
        self.rejected += other.rejected
        self.calls += other.calls


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") in RETRYABLE_CODES
    return isinstance(exc, BotoConnectionError | HTTPClientError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


class SnsPublisher:
    """Publishes to one topic; safe to share across threads (boto3 clients are).

    Calls run on a thread pool kept for the container's life, never wider than
    the client's connection pool (a wider one would open and drop connections).
    """

    def __init__(
        self,
        sns: SNSClient,
        topic_arn: str,
        max_message_bytes: int,
        concurrency: int = 8,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._max_bytes = max_message_bytes
        self._fifo = topic_arn.endswith(".fifo")
        meta = getattr(sns, "meta", None)  # absent on test doubles
        pool_size = getattr(getattr(meta, "config", None), "max_pool_connections", None)
        width = min(concurrency, pool_size) if isinstance(pool_size, int) else concurrency
        self._concurrency = 1 if self._fifo else max(1, width)
        self._backoff = backoff or Backoff()
        self._sleep = sleep or time.sleep
        self._pool: ThreadPoolExecutor | None = None
        if meta is not None:
            # unique_id: several publishers may share one client; the hook is added once.
            meta.events.register(
                "before-sign.sns.PublishBatch", encode_body_once, unique_id=_BODY_HOOK_ID
            )

    @property
    def concurrency(self) -> int:
        """How many PublishBatch calls may be in flight at once."""
        return self._concurrency

    def publish_all(self, messages: Sequence[Outbound], deadline: Deadline) -> PublishOutcome:
        """Publish every message; the outcome accounts for each one exactly once."""
        batches = pack_batches(messages, self._max_bytes, one_per_group=self._fifo)
        outcome = PublishOutcome()
        if self._fifo:
            # Per-item order matters on a FIFO topic: one call at a time, and nothing
            # after a failure is published ahead of it (it is retried from there).
            for index, batch in enumerate(batches):
                result = self._publish_batch(batch, deadline)
                outcome.merge(result)
                if result.failed:
                    for later in batches[index + 1 :]:
                        outcome.failed += [
                            (m, "not attempted: an earlier message failed") for m in later
                        ]
                    break
            return outcome
        if len(batches) == 1 or self._concurrency == 1:
            # Nothing to overlap: no hop to another thread.
            for batch in batches:
                outcome.merge(self._publish_batch(batch, deadline))
            return outcome
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="publish")
        for result in self._pool.map(lambda b: self._publish_batch(b, deadline), batches):
            outcome.merge(result)
        return outcome

    def _entry(self, index: int, message: Outbound) -> PublishBatchRequestEntryTypeDef:
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": str(index),
            "Message": message.body,
            "MessageAttributes": message.attributes,  # type: ignore[typeddict-item]
        }
        if self._fifo:
            entry["MessageGroupId"] = message.group_id
            entry["MessageDeduplicationId"] = message.envelope_id
        return entry

    def _publish_batch(self, batch: Sequence[Outbound], deadline: Deadline) -> PublishOutcome:
        outcome = PublishOutcome()
        pending = dict(enumerate(batch))
        attempt = 0
        last_error = "deadline reached before the first attempt"
        while pending:
            if attempt:
                delay = self._backoff.delay(attempt - 1)
                if not deadline.allows(delay):
                    break
                self._sleep(delay)
            elif deadline.remaining() <= 0:
                break
            attempt += 1
            outcome.calls += 1
            try:
                response = self._sns.publish_batch(
                    TopicArn=self._topic_arn,
                    PublishBatchRequestEntries=[self._entry(i, m) for i, m in pending.items()],
                )
            except (ClientError, BotoCoreError) as exc:
                last_error = _describe(exc)
                if _retryable(exc):
                    continue
                break
            for ok in response.get("Successful", []):
                outcome.published.append(pending.pop(int(ok["Id"])))
            for bad in response.get("Failed", []):
                reason = f"{bad.get('Code', '?')}: {bad.get('Message', '')}"
                if bad.get("SenderFault"):
                    outcome.rejected.append((pending.pop(int(bad["Id"])), reason))
                else:
                    last_error = reason
        outcome.failed += [(m, last_error) for m in pending.values()]
        return outcome
