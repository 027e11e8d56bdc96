"""Read every message on an SQS queue in a test: drained (deleted) or peeked (left in place).

A receive returns at most 10 messages
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html),
so both loop until a receive comes back empty. That ends the loop only on moto, which
returns every visible message: SQS's short poll samples some of its servers and may
come back empty while messages remain ("If this happens, repeat the request", same
page), so these helpers are for tests over moto alone. A peeked message is hidden for
the visibility timeout, so each one is returned once and the loop ends; it becomes
visible again afterwards.
"""

from __future__ import annotations

from typing import Any

# Long enough that no peeked message comes back within one peek, however slow the host.
PEEK_VISIBILITY_SECONDS = 60


def _receive(sqs: Any, url: str, visibility: int | None) -> list[dict[str, Any]]:
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    return list(
        sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            **extra,
        ).get("Messages", [])
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message on the queue, in the order received, each deleted once received."""
    got: list[dict[str, Any]] = []
    while batch := _receive(sqs, url, None):
        got += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return got


def peek(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message on the queue, each received once and left on it (not deleted)."""
    got: list[dict[str, Any]] = []
    while batch := _receive(sqs, url, PEEK_VISIBILITY_SECONDS):
        got += batch
    return got
