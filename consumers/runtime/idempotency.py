"""Idempotency records in DynamoDB: a redelivered event has no second side effect.

One item per (consumer, envelope id). A delivery first *claims* the event with a
conditional put of an ``IN_PROGRESS`` record carrying a lease; only one delivery
can hold the lease, so two concurrent copies of a message never both run. A
lease that expired (its holder crashed or timed out) can be taken over. On
success the record becomes ``COMPLETED`` and later copies are acknowledged as
duplicates; on failure it is deleted so the retry runs. DynamoDB's TTL removes
records after ``RECORD_TTL_SECONDS``.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, cast

from consumers.runtime.keys import PARTITION_KEY, RECORD_TTL_SECONDS, TTL_ATTRIBUTE, idempotency_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ClaimState(StrEnum):
    """What a claim attempt found."""

    ACQUIRED = "ACQUIRED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming an event; ``token`` identifies this delivery's lease."""

    state: ClaimState
    key: str
    token: str = ""


class IdempotencyStore:
    """Claims, completes and releases events for one consumer."""

    def __init__(
        self,
        table: str,
        consumer: str,
        dynamodb: DynamoDBClient,
        clock: Callable[[], float] = time.time,
        ttl_seconds: int = RECORD_TTL_SECONDS,
    ) -> None:
        self._table = table
        self._consumer = consumer
        self._dynamodb = dynamodb
        self._clock = clock
        self._ttl_seconds = ttl_seconds

    def claim(self, envelope_id: str, lease_seconds: float) -> Claim:
        """Take the event for this delivery, or report who has it.

        ``ACQUIRED``: run the handler, then ``complete`` or ``release``.
        ``COMPLETED``: already handled, acknowledge. ``IN_PROGRESS``: another
        delivery holds a live lease, retry later.
        """
        key = idempotency_key(self._consumer, envelope_id)
        now = self._clock()
        token = uuid.uuid4().hex
        dynamodb = self._dynamodb
        try:
            dynamodb.put_item(
                TableName=self._table,
                Item={
                    PARTITION_KEY: {"S": key},
                    "status": {"S": ClaimState.IN_PROGRESS},
                    "consumer": {"S": self._consumer},
                    "envelope_id": {"S": envelope_id},
                    "lease_token": {"S": token},
                    "lease_expires_at": {"N": str(int(now + max(lease_seconds, 1.0)) + 1)},
                    TTL_ATTRIBUTE: {"N": str(int(now) + self._ttl_seconds)},
                },
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR (#status = :in_progress AND lease_expires_at < :now)"
                ),
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#status": "status"},
                ExpressionAttributeValues={
                    ":in_progress": {"S": ClaimState.IN_PROGRESS},
                    ":now": {"N": str(int(now))},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            existing = cast("dict[str, dict[str, str]]", error.response.get("Item") or {})
            status = existing.get("status", {}).get("S")
            if status == ClaimState.COMPLETED:
                return Claim(ClaimState.COMPLETED, key)
            return Claim(ClaimState.IN_PROGRESS, key)
        return Claim(ClaimState.ACQUIRED, key, token)

    def complete(self, claim: Claim) -> bool:
        """Mark the event handled; False if this delivery's lease was taken over meanwhile."""
        dynamodb = self._dynamodb
        try:
            dynamodb.update_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": claim.key}},
                UpdateExpression="SET #status = :completed, #ttl = :ttl REMOVE lease_expires_at",
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames={"#status": "status", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":completed": {"S": ClaimState.COMPLETED},
                    ":token": {"S": claim.token},
                    ":ttl": {"N": str(int(self._clock()) + self._ttl_seconds)},
                },
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, claim: Claim) -> None:
        """Drop this delivery's lease so the next delivery runs the handler again."""
        dynamodb = self._dynamodb
        try:
            dynamodb.delete_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": claim.key}},
                ConditionExpression="lease_token = :token",
                ExpressionAttributeValues={":token": {"S": claim.token}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return
