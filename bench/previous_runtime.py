"""The consumer runtime's previous per-message protocol (0.2.0), kept for comparison in the bench only.

This module reproduces runtime 0.2.0's DynamoDB requests so that bench/consumer_bench.py
can put them side by side with the current runtime on the same handler and messages.
Nothing deployed imports it.

At 0.2.0 a consumer declared ``@consumer(idempotent=True, skip_stale=...)`` and the
runtime did, per message:

1. the idempotency claim, a conditional PutItem (``IdempotencyStore.claim``);
2. with ``skip_stale``, the stale check: a strongly consistent GetItem of the item's
   sequence mark (``SequenceGuard.is_stale``); a stale change skipped the handler;
3. the handler;
4. with ``skip_stale``, the sequence mark: a conditional UpdateItem (``SequenceGuard.advance``);
5. the completion, a conditional UpdateItem (``IdempotencyStore.complete``).

Steps 1 and 5 are what the runtime still does in ``Mode.SIDE_EFFECT``, so the bench runs
the 0.2.0 protocol as that mode around the handler wrapped by ``skipping_stale``; steps 2
and 4 are ``SequenceGuard`` below, as ``consumers/runtime/staleness.py`` and
``sequence_key`` in ``consumers/runtime/keys.py`` were at 0.2.0 (removed from the runtime
in 0.3.0). A consumer declared ``idempotent=False`` at 0.2.0 (the audit log) made none of
these requests, which ``Mode.NATURALLY_IDEMPOTENT`` reproduces.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any

from consumers.runtime.keys import PARTITION_KEY, RECORD_TTL_SECONDS, TTL_ATTRIBUTE
from schemas import Envelope


def sequence_key(consumer: str, source: str, subject: str) -> str:
    """The mark holding the highest sequence ``consumer`` applied for one item of one table."""
    digest = hashlib.sha256(f"{source}\n{subject}".encode()).hexdigest()
    return f"sequence#{consumer}#{digest}"


class SequenceGuard:
    """Remembers, per item, the newest sequence a consumer applied (runtime 0.2.0's stale guard).

    ``sequence`` is zero-padded to a fixed width, so string order is stream order and
    DynamoDB's ``<`` on strings compares it correctly.
    """

    def __init__(
        self,
        table: str,
        consumer: str,
        dynamodb: Any,
        clock: Callable[[], float] = time.time,
        ttl_seconds: int = RECORD_TTL_SECONDS,
    ) -> None:
        self._table = table
        self._consumer = consumer
        self._dynamodb = dynamodb
        self._clock = clock
        self._ttl_seconds = ttl_seconds

    def _key(self, envelope: Envelope) -> str:
        return sequence_key(self._consumer, envelope.source, envelope.subject)

    def is_stale(self, envelope: Envelope) -> bool:
        """True when this item already has a change at or after ``envelope.sequence`` applied."""
        response = self._dynamodb.get_item(
            TableName=self._table,
            Key={PARTITION_KEY: {"S": self._key(envelope)}},
            ConsistentRead=True,
            ProjectionExpression="#seq",
            ExpressionAttributeNames={"#seq": "sequence"},
        )
        stored = response.get("Item", {}).get("sequence", {}).get("S")
        return stored is not None and stored >= envelope.sequence

    def advance(self, envelope: Envelope) -> bool:
        """Record ``envelope.sequence`` as applied; False if a newer one was recorded first."""
        dynamodb = self._dynamodb
        try:
            dynamodb.update_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": self._key(envelope)}},
                UpdateExpression="SET #seq = :seq, subject = :subject, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#seq) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequence", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":seq": {"S": envelope.sequence},
                    ":subject": {"S": envelope.subject[:1024]},
                    ":ttl": {"N": str(int(self._clock()) + self._ttl_seconds)},
                },
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True


def skipping_stale(
    handle: Callable[[Envelope], object], guard: SequenceGuard
) -> Callable[[Envelope], bool]:
    """``handle`` between 0.2.0's stale check and sequence mark; False when the change was stale.

    Run inside the runtime's claim and completion this makes 0.2.0's requests in 0.2.0's
    order. A failed mark was only logged at 0.2.0 (the work was done); so it is here.
    """

    def guarded(envelope: Envelope) -> bool:
        if guard.is_stale(envelope):
            return False
        handle(envelope)
        with contextlib.suppress(Exception):  # 0.2.0 logged a failed mark and went on
            guard.advance(envelope)
        return True

    return guarded
