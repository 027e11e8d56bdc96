"""`fanout replay stream-failures` and `fanout replay poison` against the running local hub.

The emulator runs the router on the stream, so the failed batch replayed here is one
the emulator itself wrote to the router's S3 OnFailure destination, and the poison
record is one the router itself dead-lettered. A tail on the topic shows what the
replays published.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.builders import a_stream_record
from support.cli import run_fanout
from support.waiting import eventually

from fanout.connection import Connection
from fanout.local.esm import EmulatorSettings
from fanout.local.failure import DiscardedBatch, FailureCondition
from fanout.local.hub import LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from fanout.ops.resolve import resolve
from fanout.tail import Tail
from router.deadletter import DeadLetterWriter
from router.normalise import EntityRules, to_outbound

pytestmark = pytest.mark.e2e

# Far above moto's sequence numbers (and the demo's injected ones).
SEQUENCE_BASE = 2 * 10**29


class Env:
    def __init__(self, hub: LocalHub, tail: Tail) -> None:
        self.hub = hub
        self.tail = tail
        self.url = str(hub.endpoint_url)
        self.connection = Connection(endpoint_url=self.url, region=hub.region)
        self.resolved = resolve(self.connection, "fanout-hub")
        self.seen: dict[str, dict[str, Any]] = {}

    def cli(self, *argv: str) -> tuple[int, Any]:
        ran = run_fanout([*argv, "--endpoint-url", self.url, "--json"])
        assert ran.out.strip(), f"exit {ran.code}, no output; stderr: {ran.err[-2000:]}"
        return ran.code, ran.document()

    def published(self, envelope_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The envelope with this id once the tail saw it on the topic."""

        def probe() -> dict[str, Any] | None:
            for body in self.tail.poll():
                envelope = json.loads(body)
                self.seen[envelope["id"]] = envelope
            return self.seen.get(envelope_id)

        return eventually(probe, timeout)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    settings = EmulatorSettings(
        stream=StreamSettings(poll_interval_seconds=0.05),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    # The template never discards by age by default (-1); this hub opts in to a 1-hour
    # limit so a late record reaches the failed-batch bucket.
    hub = LocalHub(
        parameters={"MaximumRecordAgeInSeconds": "3600"},
        settings=settings,
        handler_output=io.StringIO(),
    )
    with hub, Tail(hub.topic_arn, endpoint_url=hub.endpoint_url, wait_seconds=0) as tail:
        yield Env(hub, tail)


def test_a_batch_the_emulator_discarded_to_s3_is_routed_again(env: Env):
    # GIVEN a record older than this hub's MaximumRecordAgeInSeconds (3600): the
    # emulator gives up on it and writes Lambda's invocation record to the S3 destination
    record = a_stream_record(
        keys={"pk": "ORDER#late", "sk": "META"},
        stream_arn=env.hub.stream_arn,
        created=time.time() - 7200,
        sequence=str(SEQUENCE_BASE + 1),
    )
    env.hub.emulator.inject(env.hub.stream_arn, record)
    bucket = env.resolved.need("failure_destination", "-").removeprefix("arn:aws:s3:::")
    s3 = env.connection.client("s3")
    (written,) = eventually(lambda: s3.list_objects_v2(Bucket=bucket).get("Contents"))
    document = json.loads(s3.get_object(Bucket=bucket, Key=written["Key"])["Body"].read())
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"

    # WHEN
    code, report = env.cli("replay", "stream-failures")

    # THEN the record was published as the live router would have, and the S3 record
    # was moved aside so it is not replayed twice
    assert code == 0
    (batch,) = report["batches"]
    assert (batch["source"], batch["status"], batch["routed"]) == ("payload", "replayed", 1)
    expected = to_outbound(record, EntityRules())
    assert env.published(expected.envelope_id)["type"] == "order.created"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"replayed/{written['Key']}"]


def test_a_metadata_only_record_is_reread_from_the_stream(env: Env):
    # GIVEN a real write routed by the hub, and the metadata Lambda would send to an
    # SQS destination for its batch (shard and sequence range, no records)
    dynamodb = env.connection.client("dynamodb")
    dynamodb.put_item(
        TableName=env.hub.table_name,
        Item={"pk": {"S": "ORDER#reread"}, "sk": {"S": "META"}, "total": {"N": "12.50"}},
    )
    record = eventually(
        lambda: next(
            (
                r
                for r in env.hub.read_stream()
                if r["dynamodb"]["Keys"]["pk"] == {"S": "ORDER#reread"}
            ),
            None,
        )
    )
    expected = to_outbound(record, EntityRules())
    env.published(expected.envelope_id)  # the live route
    env.seen.pop(expected.envelope_id)
    streams = env.connection.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=env.hub.stream_arn)["StreamDescription"]["Shards"][0][
        "ShardId"
    ]
    metadata = DiscardedBatch(
        records=[record],
        condition=FailureCondition.RETRY_ATTEMPTS_EXHAUSTED,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:router",
        shard_id=shard,
        stream_arn=env.hub.stream_arn,
        invoke_count=6,
        last_invocation=None,
    ).invocation_record()
    old = json.loads(json.dumps(metadata))
    old["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] = "2020-01-01T00:00:00Z"
    sqs = env.connection.client("sqs")
    queue = sqs.create_queue(QueueName="router-on-failure")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(metadata))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(old))

    # WHEN
    code, report = env.cli("replay", "stream-failures", "--from", queue)

    # THEN the record was read back from the stream and routed again (same envelope id),
    # and the batch past the stream's retention is reported and kept
    by_status = {b["status"]: b for b in report["batches"]}
    assert set(by_status) == {"replayed", "lost"}
    assert by_status["replayed"]["source"] == "stream"
    assert by_status["replayed"]["routed"] == 1
    assert "24 h retention" in by_status["lost"]["detail"]
    assert code == 1  # something is left for the operator
    assert env.published(expected.envelope_id)["subject"] == expected.subject
    left = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["DDBStreamBatchInfo"] for m in left] == [
        old["DDBStreamBatchInfo"]
    ]


def test_poison_replay_routes_what_now_normalises_and_keeps_what_does_not(env: Env):
    # GIVEN a record the router dead-lettered itself (an unknown attribute type) ...
    poison = a_stream_record(
        keys={"pk": "ORDER#poison", "sk": "META"},
        stream_arn=env.hub.stream_arn,
        created=time.time(),
        sequence=str(SEQUENCE_BASE + 2),
    )
    poison["dynamodb"]["NewImage"]["total"] = {"ZZ": "no such type"}
    env.hub.emulator.inject(env.hub.stream_arn, poison)
    dlq = env.resolved.need("router_dlq_url", "-")
    eventually(lambda: env.hub.depth(dlq) == 1)
    # ... and one an older router refused but today's routes (a fix was deployed)
    fixed = a_stream_record(
        keys={"pk": "ORDER#fixed", "sk": "META"},
        stream_arn=env.hub.stream_arn,
        sequence=str(SEQUENCE_BASE + 3),
    )
    DeadLetterWriter(
        env.connection.client("sqs"),
        dlq,
        env.connection.client("s3"),
        env.resolved.need("payload_bucket", "-"),
    ).write(fixed, "poison", {"kind": "PoisonRecordError", "message": "old bug"}, {})

    # WHEN
    code, report = env.cli("replay", "poison")

    # THEN the fixed record was published and deleted; the poison one stays, once
    assert report["routed"] == 1, report
    assert report["still_poison"] == 1, report
    (kept,) = [o for o in report["outcomes"] if o["status"] == "still-poison"]
    assert "ZZ" in kept["error"]
    assert code == 1
    assert env.published(to_outbound(fixed, EntityRules()).envelope_id)["type"] == "order.created"
    assert env.hub.depth(dlq) == 1
    _, peeked = env.cli("dlq", "peek", "router")
    (letter,) = peeked["messages"]
    assert letter["sequence_number"] == poison["dynamodb"]["SequenceNumber"]
