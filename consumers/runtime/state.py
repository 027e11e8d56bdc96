"""State consumers: one conditional write per message, idempotent and stale-safe by construction.

A read model, a cache or a search index keeps the newest state of each item.
SNS standard topics and SQS standard queues neither keep order nor deliver
exactly once
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html),
so the change with sequence 7 may arrive before the one with sequence 5, and
either may arrive twice. Both are answered by the write itself: store the
envelope's ``sequence`` with the state and make the write conditional on the
stored one being older. A redelivery (equal sequence) and a late change (older
sequence) fail the condition and change nothing; two deliveries racing are
ordered by DynamoDB. No idempotency record, no sequence mark, no read.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html

``sequence`` is zero-padded to a fixed width (``schemas.v1``), so string order
is stream order and DynamoDB's ``<`` on strings compares it correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from consumers.runtime.errors import PermanentError
from schemas import Envelope

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

SEQUENCE_ATTRIBUTE: Final = "sequence"


def apply_if_newer(
    dynamodb: DynamoDBClient,
    table: str,
    envelope: Envelope,
    item: Mapping[str, AttributeValueTypeDef],
    *,
    sequence_attribute: str = SEQUENCE_ATTRIBUTE,
) -> bool:
    """Replace the stored item with ``item`` unless it already reflects this change or a newer one.

    ``item`` holds the table's key attributes and the new state; the envelope's
    ``sequence`` is written beside it in ``sequence_attribute``. One PutItem:
    True when it was written, False when the stored item's sequence is equal
    or newer (a redelivery, a late change). Return that value from your
    handler and the runtime counts the skip as ``StaleSkipped``. An item the
    table can never hold (over DynamoDB's 400 KB, a bad key) raises
    ``PermanentError``: the message goes to the DLQ at once.
    """
    written = dict(item)
    written[sequence_attribute] = {"S": envelope.sequence}
    try:
        dynamodb.put_item(
            TableName=table,
            Item=written,
            ConditionExpression="attribute_not_exists(#seq) OR #seq < :seq",
            ExpressionAttributeNames={"#seq": sequence_attribute},
            ExpressionAttributeValues={":seq": {"S": envelope.sequence}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    except ClientError as error:
        # Retrying cannot make an oversized or malformed item fit.
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            raise PermanentError(f"state write refused by DynamoDB: {error}") from None
        raise
    return True
