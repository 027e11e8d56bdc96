"""Stale-event guard: never apply an older change of an item after a newer one.

SNS standard topics and SQS standard queues do not keep order
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html),
so the change with sequence 7 may arrive before the one with sequence 5. Per
(consumer, table, item) the guard remembers the highest ``sequence`` applied;
``sequence`` is zero-padded to a fixed width, so string order is stream order
and DynamoDB's ``<`` on strings compares it correctly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumers.runtime.keys import PARTITION_KEY, RECORD_TTL_SECONDS, TTL_ATTRIBUTE, sequence_key
from schemas import Envelope

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class SequenceGuard:
    """Remembers, per item, the newest sequence a consumer applied."""

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
