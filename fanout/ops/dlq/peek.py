"""Read a DLQ without consuming it: receive, decode, and make every message visible again.

Peeking receives with a short visibility timeout and then sets each message's
visibility back to 0. The trade-off (docs/operations.md): a receive with
``VisibilityTimeout=0`` would leave messages visible, so one pass could return the
same message many times and never walk the whole queue; hiding them while the pass
runs walks each message once. The price: every peek adds one to each message's
``ApproximateReceiveCount`` and hides it from other readers for a few seconds. On a
DLQ (no redrive policy of its own) the count has no effect; on a source queue it
counts towards ``maxReceiveCount``, so peeking a queue with a redrive policy needs
``--force``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from fanout.ops.dlq.decode import DeadMessage, MessageFilter, decode
from fanout.ops.dlq.queues import ResolvedDlq
from hubcommon.limits import SQS_SEND_BATCH_MAX_ENTRIES
from router.normalise import EntityRules

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
SQS_RECEIVE_MAX_MESSAGES: Final = 10


def receive(sqs: Any, url: str, visibility: int, wait: int = 0) -> list[dict[str, Any]]:
    """One ReceiveMessage of up to 10 messages, with every attribute, hidden for ``visibility`` s."""
    return list(
        sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=SQS_RECEIVE_MAX_MESSAGES,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
    )


def release(sqs: Any, url: str, receipts: Iterable[str]) -> None:
    """Make received messages visible again at once (ChangeMessageVisibility to 0)."""
    handles = list(receipts)
    for start in range(0, len(handles), SQS_SEND_BATCH_MAX_ENTRIES):
        chunk = handles[start : start + SQS_SEND_BATCH_MAX_ENTRIES]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(chunk)
            ],
        )


def peek(
    sqs: Any,
    queue: ResolvedDlq,
    *,
    limit: int = 100,
    message_filter: MessageFilter | None = None,
    visibility_seconds: int = 30,
    rules: EntityRules | None = None,
) -> list[DeadMessage]:
    """Up to ``limit`` matching messages, decoded; every message is left on the queue."""
    message_filter = message_filter or MessageFilter()
    seen: dict[str, dict[str, Any]] = {}
    found: list[DeadMessage] = []
    try:
        empty = 0
        while len(found) < limit and empty < 2:  # noqa: PLR2004 - two empty short polls
            batch = receive(sqs, queue.url, visibility_seconds)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            empty = 0 if fresh else empty + 1
            for message in batch:
                seen[message["MessageId"]] = message
            for message in fresh:
                decoded = decode(message, queue.kind, rules)
                if message_filter.matches(decoded) and len(found) < limit:
                    found.append(decoded)
    finally:
        release(sqs, queue.url, (m["ReceiptHandle"] for m in seen.values()))
    return found
