"""`fanout backfill` into a FIFO consumer queue, and where its claim checks go (on moto).

A FIFO queue refuses a message without a MessageGroupId ("If you don't provide a
MessageGroupId when sending a message to a FIFO queue, the action fails"; moto enforces
it too), and with content-based deduplication off it needs a MessageDeduplicationId.
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from support.builders import STREAM_ARN, a_stream_record
from support.queues import drain

from fanout.ops.backfill import Backfill, Checkpoint, Target
from hubcommon.limits import SNS_MAX_MESSAGE_BYTES_CEILING, SQS_MAX_MESSAGE_BYTES
from router.claimcheck import KEY_PREFIX
from router.normalise import EntityRules, to_outbound
from schemas import parse_envelope

TABLE = STREAM_ARN.split(":table/", 1)[1].split("/", 1)[0]
TABLE_ARN = STREAM_ARN.split("/stream/", 1)[0]
BUCKET = "hub-payloads"


class OneScan:
    """A one-segment Scan over fixed items."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def scan(self, **_: Any) -> dict[str, Any]:
        return {"Items": self.items, "ConsumedCapacity": {"CapacityUnits": 1.0}}


def a_backfill(tmp_path: Path, items: list[dict[str, Any]], queue_url: str) -> Backfill:
    target = Target(
        table=TABLE,
        table_arn=TABLE_ARN,
        key_names=("pk",),
        queue_url=queue_url,
        rules=EntityRules(),
        max_message_bytes=SNS_MAX_MESSAGE_BYTES_CEILING,
        payload_bucket=BUCKET,
    )
    checkpoint = Checkpoint.load_or_start(tmp_path / "c.json", "projection", TABLE, 1)
    return Backfill(
        OneScan(items),
        boto3.client("sqs"),
        boto3.client("s3"),
        target,
        checkpoint,
        read_units_per_second=0,
    )


def received(queue_url: str) -> list[dict[str, Any]]:
    return drain(boto3.client("sqs"), queue_url)


def the_routers_group(pk: str) -> str:
    """The message group the router gives a change of the item ``pk``."""
    record = a_stream_record(keys={"pk": pk}, new={"pk": pk, "notes": "x"})
    return to_outbound(record, EntityRules()).group_id


def test_a_fifo_queue_gets_every_snapshot_in_the_routers_group_for_its_item(
    aws: None, tmp_path: Path
):
    # GIVEN a FIFO consumer queue without content-based deduplication
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    queue_url = boto3.client("sqs").create_queue(
        QueueName="projection.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    items = [{"pk": {"S": f"DOC#{n}"}, "notes": {"S": "x"}} for n in range(3)]

    # WHEN the table is backfilled into it
    report = a_backfill(tmp_path, items, queue_url).run()

    # THEN every snapshot arrived, grouped as the router groups the item's changes,
    # deduplicated by its envelope id
    assert (report.complete, report.sent) == (True, 3)
    messages = received(queue_url)
    assert len(messages) == 3
    for message in messages:
        envelope = parse_envelope(message["Body"])
        pk = envelope.subject.split('"')[3]
        assert message["Attributes"]["MessageGroupId"] == the_routers_group(pk)
        assert message["Attributes"]["MessageDeduplicationId"] == envelope.id


def test_claim_checks_go_under_the_backfill_prefix_not_the_routers(aws: None, tmp_path: Path):
    # GIVEN an item over what one SQS message holds
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    queue_url = boto3.client("sqs").create_queue(QueueName="projection")["QueueUrl"]
    big = {"pk": {"S": "DOC#big"}, "notes": {"S": "n" * (SQS_MAX_MESSAGE_BYTES + 1_000)}}

    # WHEN it is backfilled
    report = a_backfill(tmp_path, [big], queue_url).run()

    # THEN its envelope is stored under backfill/ (the operator policy's only S3 write
    # in the payload bucket), never over the router's live claim checks
    assert report.offloaded == 1
    (message,) = received(queue_url)
    pointer = parse_envelope(message["Body"])
    key = str(pointer.dataref).removeprefix(f"s3://{BUCKET}/")
    assert key.startswith("backfill/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [key]
    assert not any(k.startswith(KEY_PREFIX) for k in keys)
