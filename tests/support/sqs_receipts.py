"""SQS's rule on receipt handles, which moto does not keep: only the latest one deletes.

"If you receive a message more than once, each time you receive it, you get a different
receipt handle. You must provide the most recently received receipt handle when you
request to delete the message (otherwise, the request succeeds, but the message will
not be deleted)."
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html

moto deletes a message with any handle it was ever given; ``latest_handles_only`` makes
a client behave as SQS does: ``DeleteMessage`` with an older handle succeeds and deletes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse


@contextmanager
def latest_handles_only(sqs: Any) -> Iterator[list[str]]:
    """Within the block, ``sqs`` ignores deletes with a superseded handle; yields those handles."""
    message_of: dict[str, str] = {}
    latest: dict[str, str] = {}
    ignored: list[str] = []

    def received(parsed: dict[str, Any], **_: Any) -> None:
        for message in parsed.get("Messages", []):
            message_of[message["ReceiptHandle"]] = message["MessageId"]
            latest[message["MessageId"]] = message["ReceiptHandle"]

    def check(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        handle = str(params.get("ReceiptHandle"))
        message_id = message_of.get(handle)
        context["stale_receipt"] = message_id is not None and latest[message_id] != handle
        if context["stale_receipt"]:
            ignored.append(handle)

    def skip_stale(context: dict[str, Any], **_: Any) -> Any:
        if context.get("stale_receipt"):
            return AWSResponse("https://sqs.local", 200, {}, None), {"ResponseMetadata": {}}
        return None

    events = sqs.meta.events
    hooks = [
        ("after-call.sqs.ReceiveMessage", received),
        ("before-parameter-build.sqs.DeleteMessage", check),
        ("before-call.sqs.DeleteMessage", skip_stale),
    ]
    for name, handler in hooks:
        events.register(name, handler)
    try:
        yield ignored
    finally:
        for name, handler in hooks:
            events.unregister(name, handler)
