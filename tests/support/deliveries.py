"""SQS messages as a consumer's Lambda receives what the router published (raw message delivery).

With raw message delivery, SNS puts the published message itself in the SQS body and
turns its message attributes into SQS message attributes:
https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html
Lambda then hands each message to the function in the SQS event shape:
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-consumer"


def raw_delivery(
    body: str,
    attributes: Mapping[str, Mapping[str, str]] | None = None,
    *,
    message_id: str,
    receive_count: int = 1,
    queue_arn: str = QUEUE_ARN,
) -> dict[str, Any]:
    """One SQS record of a Lambda SQS event: ``body`` and the SNS ``attributes`` published with it.

    ``attributes`` are in SNS's ``MessageAttributes`` shape (``DataType``/``StringValue``), as
    ``router.normalise.to_outbound`` makes them. A redelivery keeps the message id and body
    and has a higher ``receive_count``.
    """
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}-{receive_count}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764201600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764201600000",
        },
        "messageAttributes": {
            name: {"dataType": a["DataType"], "stringValue": a["StringValue"]}
            for name, a in (attributes or {}).items()
        },
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }
