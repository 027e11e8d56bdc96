"""In-memory SNS, SQS and S3 for the router's real publisher, claim check and DLQ writer.

Each double holds the router to the AWS rule it stands in for (message size,
batch size, the SQS character set), records what it was given, and can be told
to fail: a test of the router's accounting needs no moto and runs in
microseconds, so a property test can drive thousands of batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from hubcommon.limits import SNS_PUBLISH_BATCH_MAX_ENTRIES, SQS_MAX_MESSAGE_BYTES
from router.claimcheck import ClaimCheckWriter
from router.contracts import Contracts, contract_modes
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.publisher import Backoff, SnsPublisher
from router.settings import Settings
from support.aws_text import check_message, refused_characters

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:fanout-hub-events"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/router-dlq"
BUCKET = "fanout-hub-payloads"
ROUTE_SECONDS = 60.0


def _never(seconds: float) -> None:
    raise AssertionError(f"the publisher slept {seconds} s past its deadline")


def _error(code: str, operation: str, status: int = 500) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@dataclass
class MemorySns:
    """PublishBatch: at most 10 entries and ``max_bytes`` per call; each entry may fail."""

    max_bytes: int
    # Given an entry's message body, whether SNS fails it this time (a retryable fault).
    fails: Callable[[str], bool] = lambda _: False
    # Given an entry's message body, whether SNS refuses it as the sender's fault.
    rejects: Callable[[str], bool] = lambda _: False
    published: list[dict[str, Any]] = field(default_factory=list)

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> Any:  # noqa: N803 - botocore's names
        entries = PublishBatchRequestEntries
        assert TopicArn == TOPIC_ARN
        assert 1 <= len(entries) <= SNS_PUBLISH_BATCH_MAX_ENTRIES, "PublishBatch takes 1-10 entries"
        total = 0
        for entry in entries:
            size = len(entry["Message"].encode()) + sum(
                len(k.encode()) + len(v["DataType"].encode()) + len(v["StringValue"].encode())
                for k, v in entry["MessageAttributes"].items()
            )
            assert size <= self.max_bytes, f"an entry of {size} bytes, over {self.max_bytes}"
            total += size
        assert total <= self.max_bytes, (
            f"a PublishBatch call of {total} bytes, over {self.max_bytes}"
        )
        ok, failed = [], []
        for entry in entries:
            refused = refused_characters(entry["Message"]) + [
                c
                for v in entry["MessageAttributes"].values()
                for c in refused_characters(v["StringValue"])
            ]
            if refused or self.rejects(entry["Message"]):
                failed.append({"Id": entry["Id"], "Code": "InvalidParameter", "SenderFault": True})
            elif self.fails(entry["Message"]):
                failed.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": False})
            else:
                self.published.append(entry)
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


@dataclass
class MemorySqs:
    """SendMessage with SQS's character set and size limit; may be told to be down."""

    down: bool = False
    messages: list[str] = field(default_factory=list)

    def send_message(self, QueueUrl: str, MessageBody: str, MessageAttributes: Any = None) -> Any:  # noqa: N803
        assert QueueUrl == DLQ_URL
        if self.down:
            raise _error("ServiceUnavailable", "SendMessage")
        check_message("SendMessage", MessageBody, MessageAttributes)
        assert len(MessageBody.encode()) <= SQS_MAX_MESSAGE_BYTES
        self.messages.append(MessageBody)
        return {"MessageId": str(len(self.messages))}


@dataclass
class MemoryS3:
    """PutObject into one bucket; an object written twice is recorded, not silently replaced."""

    down: bool = False
    objects: dict[str, bytes] = field(default_factory=dict)
    overwritten: list[str] = field(default_factory=list)

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> Any:  # noqa: N803
        assert Bucket == BUCKET
        if self.down:
            raise _error("ServiceUnavailable", "PutObject", 503)
        if Key in self.objects and self.objects[Key] != Body:
            self.overwritten.append(Key)
        self.objects[Key] = Body
        return {}


@dataclass
class MemoryHub:
    """A router wired to the doubles, and the doubles to look at afterwards."""

    router: Router
    sns: MemorySns
    sqs: MemorySqs
    s3: MemoryS3
    metrics: list[str] = field(default_factory=list)
    """The embedded-metric-format documents the router wrote."""


def a_memory_hub(
    max_message_bytes: int = 262_144,
    *,
    sns_fails: Callable[[str], bool] = lambda _: False,
    entity_attribute: str | None = None,
    contract_mode: str | None = None,
) -> MemoryHub:
    """The real router over in-memory AWS; route with ``Deadline.after(ROUTE_SECONDS)``.

    ``contract_mode`` (``CONTRACT_MODE``'s text): check items against the shipped entity
    contracts (``schemas/json/entities``); None routes as a router with no contract.

    A publish retry would wait longer than that deadline allows, so each entry is
    tried once: a failed entry stays failed, with no sleeping and no busy loop.
    """
    settings = Settings(
        topic_arn=TOPIC_ARN,
        dlq_url=DLQ_URL,
        payload_bucket=BUCKET,
        max_message_bytes=max_message_bytes,
        entity_attribute=entity_attribute,
        **({} if contract_mode is None else {"contract_modes": contract_modes(contract_mode)}),
    )
    sns, sqs, s3 = MemorySns(max_message_bytes, sns_fails), MemorySqs(), MemoryS3()
    metrics: list[str] = []
    publisher = SnsPublisher(
        sns,  # type: ignore[arg-type]
        TOPIC_ARN,
        max_message_bytes,
        concurrency=1,
        backoff=Backoff(base=2 * ROUTE_SECONDS, cap=2 * ROUTE_SECONDS, rand=lambda _, high: high),
        sleep=_never,
    )
    router = Router(
        settings,
        publisher,
        ClaimCheckWriter(s3, BUCKET),  # type: ignore[arg-type]
        DeadLetterWriter(sqs, DLQ_URL, s3, BUCKET),  # type: ignore[arg-type]
        None if contract_mode is None else Contracts.shipped(settings.contract_modes),
        metrics.append,
    )
    return MemoryHub(router, sns, sqs, s3, metrics)
