"""Backfill delivery: oversize snapshots are claim-checked, and the consumer's backlog is bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fanout.ops.backfill import Backfill, Checkpoint, OversizeSnapshotError, Target
from fanout.ops.filtering import FilterPolicy
from fanout.ops.pacing import BacklogGate
from hubcommon.limits import SNS_MAX_MESSAGE_BYTES_CEILING, SQS_MAX_MESSAGE_BYTES
from router.normalise import EntityRules
from schemas import parse_envelope

TABLE = "orders"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/projection"
BUCKET = "hub-payloads"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeTable:
    """A one-segment Scan over fixed items."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def scan(self, **_: Any) -> dict[str, Any]:
        return {"Items": self.items, "ConsumedCapacity": {"CapacityUnits": 1.0}}


class FakeQueue:
    """Accepts every entry; reports a scripted backlog, one reading per call."""

    def __init__(self, backlog: list[int] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.backlog = list(backlog or [0])
        self.readings = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        assert QueueUrl == QUEUE_URL
        self.sent += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        assert AttributeNames == ["ApproximateNumberOfMessages"]
        self.readings += 1
        depth = self.backlog.pop(0) if len(self.backlog) > 1 else self.backlog[0]
        return {"Attributes": {"ApproximateNumberOfMessages": str(depth)}}


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803 - boto3's names
        self.objects[(Bucket, Key)] = Body


def an_item(pk: str, notes: str = "x") -> dict[str, Any]:
    return {"pk": {"S": pk}, "notes": {"S": notes}}


def a_backfill(
    tmp_path: Path,
    items: list[dict[str, Any]],
    *,
    sqs: FakeQueue | None = None,
    s3: FakeBucket | None = None,
    payload_bucket: str | None = BUCKET,
    max_message_bytes: int = SQS_MAX_MESSAGE_BYTES,
    filter_policy: FilterPolicy | None = None,
    **options: Any,
) -> Backfill:
    target = Target(
        table=TABLE,
        table_arn=TABLE_ARN,
        key_names=("pk",),
        queue_url=QUEUE_URL,
        rules=EntityRules(),
        max_message_bytes=max_message_bytes,
        payload_bucket=payload_bucket,
        filter_policy=filter_policy or FilterPolicy(),
    )
    checkpoint = Checkpoint.load_or_start(tmp_path / "c.json", "projection", TABLE, 1)
    return Backfill(
        FakeTable(items),
        sqs or FakeQueue(),
        s3 or FakeBucket(),
        target,
        checkpoint,
        read_units_per_second=0,
        **options,
    )


class TestOversizeSnapshots:
    """No item is left out: a snapshot too large for SQS goes through the router's claim check."""

    def test_an_item_over_the_sqs_limit_is_sent_as_a_pointer_to_its_stored_envelope(
        self, tmp_path: Path
    ):
        # GIVEN a router allowed 1 MiB messages (the topic's maximum), and an item over
        # what one SQS message may hold
        sqs, s3 = FakeQueue(), FakeBucket()
        big = "n" * (SQS_MAX_MESSAGE_BYTES + 1_000)
        backfill = a_backfill(
            tmp_path,
            [an_item("DOC#big", big), an_item("DOC#small")],
            sqs=sqs,
            s3=s3,
            max_message_bytes=SNS_MAX_MESSAGE_BYTES_CEILING,
        )

        # WHEN it is backfilled
        report = backfill.run()

        # THEN both items were sent; the big one as a pointer to its whole envelope
        assert report.complete
        assert (report.sent, report.offloaded) == (2, 1)
        envelopes = {e.subject: e for e in (parse_envelope(m["MessageBody"]) for m in sqs.sent)}
        pointer = envelopes['{"pk":"DOC#big"}']
        assert pointer.data is None
        bucket, _, key = str(pointer.dataref).removeprefix("s3://").partition("/")
        stored = json.loads(s3.objects[(bucket, key)])
        assert bucket == BUCKET
        assert stored["data"]["new"]["notes"] == big
        assert stored["id"] == pointer.id
        assert stored["operation"] == "snapshot"
        # ... the pointer keeps the attributes consumers filter on
        attributes = next(m for m in sqs.sent if "DOC#big" in m["MessageBody"])
        assert attributes["MessageAttributes"]["operation"]["StringValue"] == "snapshot"
        # ... and the small one went inline
        assert envelopes['{"pk":"DOC#small"}'].data is not None
        assert all(len(m["MessageBody"]) < SQS_MAX_MESSAGE_BYTES for m in sqs.sent)

    def test_without_a_payload_bucket_the_run_stops_naming_the_item(self, tmp_path: Path):
        # GIVEN no claim-check bucket
        sqs = FakeQueue()
        big = "n" * (SQS_MAX_MESSAGE_BYTES + 1_000)
        backfill = a_backfill(tmp_path, [an_item("DOC#big", big)], sqs=sqs, payload_bucket=None)

        # WHEN / THEN the run stops with the item's key instead of dropping it
        with pytest.raises(OversizeSnapshotError, match="DOC#big"):
            backfill.run()
        assert sqs.sent == []
        assert not backfill.checkpoint.complete


class TestBacklogGate:
    """A producer is held while the queue's backlog is at the limit, and reads it sparingly."""

    def test_waits_until_the_backlog_drops_below_the_limit(self):
        clock = FakeClock()
        readings = iter([150, 120, 99])
        gate = BacklogGate(
            lambda: next(readings), 100, poll_seconds=0.5, clock=clock, sleep=clock.sleep
        )
        assert gate.wait() == pytest.approx(1.0)

    def test_reads_at_most_once_per_poll_and_counts_what_was_admitted(self):
        clock = FakeClock()
        calls: list[float] = []

        def backlog() -> int:
            calls.append(clock.now)
            return 0

        gate = BacklogGate(backlog, 20, poll_seconds=1.0, clock=clock, sleep=clock.sleep)
        gate.wait()
        gate.admit(10)
        gate.wait()  # 10 admitted since the reading: still below 20, no new reading
        gate.admit(10)
        assert gate.wait() == pytest.approx(1.0)  # 20 admitted: wait for a fresh reading
        assert calls == [0.0, 1.0]

    def test_no_limit_never_reads(self):
        gate = BacklogGate(lambda: pytest.fail("read the backlog"), 0)
        assert gate.wait() == 0.0


def test_a_backfill_holds_its_sends_while_the_consumer_is_behind(tmp_path: Path):
    # GIVEN a consumer whose queue holds 500, then 300, then 50 messages
    sqs = FakeQueue(backlog=[500, 300, 50])
    backfill = a_backfill(
        tmp_path,
        [an_item(f"DOC#{n}") for n in range(25)],
        sqs=sqs,
        max_backlog=100,
        backlog_poll_seconds=0.01,
    )

    # WHEN it is backfilled
    report = backfill.run()

    # THEN it waited for the backlog to drain before sending, and then sent everything
    assert report.complete
    assert report.backlog_wait_seconds > 0
    assert sqs.readings >= 3
    assert len(sqs.sent) == 25


def a_filtered_backfill(
    tmp_path: Path, policy: FilterPolicy, sqs: FakeQueue, s3: FakeBucket
) -> Backfill:
    """A small and an oversize item, backfilled to a consumer with ``policy``."""
    big = "n" * (SQS_MAX_MESSAGE_BYTES + 1_000)
    return a_backfill(
        tmp_path,
        [an_item("DOC#big", big), an_item("DOC#small")],
        sqs=sqs,
        s3=s3,
        max_message_bytes=SNS_MAX_MESSAGE_BYTES_CEILING,
        filter_policy=policy,
    )


class TestFilteringOversizeSnapshots:
    """An oversize snapshot is filtered as SNS filters the router's claim-check pointer.

    The router publishes a pointer envelope (context attributes, no ``data``) for an
    envelope over the topic's limit; SNS matches a body-scope policy against that
    pointer, so a policy on ``data`` never selects it, while attribute-scope policies
    see the same attributes as for the whole envelope.
    https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
    """

    def test_a_body_policy_on_data_holds_it_back_and_stores_nothing(self, tmp_path: Path):
        # GIVEN a consumer filtering on a property of the item, in the message body
        sqs, s3 = FakeQueue(), FakeBucket()
        policy = FilterPolicy({"data": {"new": {"notes": [{"exists": True}]}}}, "MessageBody")

        # WHEN a small and an oversize item are backfilled
        report = a_filtered_backfill(tmp_path, policy, sqs, s3).run()

        # THEN only the small one is sent: SNS would see the big one's pointer, without data
        assert (report.sent, report.filtered, report.offloaded) == (1, 1, 0)
        assert s3.objects == {}

    def test_an_attribute_policy_selects_it_as_a_pointer(self, tmp_path: Path):
        sqs, s3 = FakeQueue(), FakeBucket()

        report = a_filtered_backfill(tmp_path, FilterPolicy({"entity": ["doc"]}), sqs, s3).run()

        assert (report.sent, report.filtered, report.offloaded) == (2, 0, 1)
        assert len(s3.objects) == 1
