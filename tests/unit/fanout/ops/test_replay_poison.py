"""`fanout replay poison` on router dead letters whose record is stored in S3 (``record_ref``).

The router keeps a record too large for an SQS message in its payload bucket and
puts only its location in the DLQ message (``router.deadletter``). The replay reads
it back from there, and only from there, and sends it to the router function
(answered in-process by ``support.local_router``); a queue subscribed to the topic shows what was
published.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import structlog
from structlog.testing import capture_logs
from support.builders import a_stream_record
from support.local_router import ROUTER_NAME, answering_router
from support.queues import drain
from support.sqs_receipts import latest_handles_only

from fanout.cli import main
from fanout.connection import Connection
from fanout.ops import cli
from fanout.ops.replay.poison import replay_poison
from fanout.ops.replay.router import RouterAnswer
from fanout.ops.resolve import Hub
from hubcommon.logs import configure_logging
from router.deadletter import DeadLetterWriter
from router.normalise import EntityRules, sequence_number_of, to_outbound
from schemas import parse_envelope

PAYLOAD_BUCKET = "fanout-hub-payloads"
OTHER_BUCKET = "someone-elses-bucket"
BIG = 300_000  # over an SQS message: the router keeps the record in S3


@dataclass
class Stack:
    """The hub's topic, router DLQ and payload bucket on moto, and a queue tailing the topic."""

    connection: Connection
    hub: Hub
    tail_url: str

    @property
    def sqs(self) -> Any:
        return self.connection.client("sqs")

    @property
    def s3(self) -> Any:
        return self.connection.client("s3")

    @property
    def dlq(self) -> str:
        return str(self.hub.router_dlq_url)

    def published(self) -> list[dict[str, Any]]:
        """What reached the topic (raw delivery: the envelope as published)."""
        return [json.loads(m["Body"]) for m in drain(self.sqs, self.tail_url)]

    def letters(self) -> list[dict[str, Any]]:
        """The router DLQ's messages, left in place."""
        messages = self.sqs.receive_message(
            QueueUrl=self.dlq, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def send_letter(self, **letter: Any) -> None:
        body = {
            "version": "1",
            "reason": "poison",
            "error": {"kind": "PoisonRecordError", "message": "old bug"},
            "failed_at": "2026-11-27T00:00:00.000+00:00",
            "function": "router",
            "request_id": "r-1",
            **letter,
        }
        self.sqs.send_message(QueueUrl=self.dlq, MessageBody=json.dumps(body))


@pytest.fixture
def stack(aws: None) -> Iterator[Stack]:
    s3, sns, sqs = boto3.client("s3"), boto3.client("sns"), boto3.client("sqs")
    for bucket in (PAYLOAD_BUCKET, OTHER_BUCKET):
        s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name="fanout-hub-events")["TopicArn"]
    tail = sqs.create_queue(QueueName="tail")["QueueUrl"]
    tail_arn = sqs.get_queue_attributes(QueueUrl=tail, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=tail_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    dlq = sqs.create_queue(QueueName="fanout-hub-router-dlq")["QueueUrl"]
    hub = Hub(
        stack_name="fanout-hub",
        topic_arn=topic,
        router_dlq_url=dlq,
        payload_bucket=PAYLOAD_BUCKET,
        router_function=ROUTER_NAME,
    )
    with answering_router(topic, dlq, PAYLOAD_BUCKET):
        yield Stack(Connection(region="us-east-1"), hub, tail)


def a_big_record(sequence: str) -> dict[str, Any]:
    keys = {"pk": "DOCUMENT#7", "sk": "META"}
    return a_stream_record(keys=keys, new={**keys, "body": "x" * BIG}, sequence=sequence)


class TestRecordStoredInS3:
    """A dead letter with a ``record_ref`` is routed like any other, from the hub's bucket only."""

    def test_is_read_back_and_published_as_the_live_router_would(self, stack: Stack):
        # GIVEN a record the router dead-lettered through S3 (its own writer)
        record = a_big_record("500")
        DeadLetterWriter(stack.sqs, stack.dlq, stack.s3, PAYLOAD_BUCKET).write(
            record, "poison", {"kind": "PoisonRecordError", "message": "old bug"}, {}
        )
        (letter,) = stack.letters()
        assert "record" not in letter
        assert letter["record_ref"].startswith(f"s3://{PAYLOAD_BUCKET}/dead-letters/")

        # WHEN
        report = replay_poison(stack.connection, stack.hub)

        # THEN it was routed, through the claim check as the envelope is too big for
        # SNS, with the live router's deterministic id; the dead letter is gone
        assert [o.status for o in report.outcomes] == ["routed"]
        (published,) = stack.published()
        expected = to_outbound(record, EntityRules())
        assert published["id"] == expected.envelope_id
        assert published["type"] == "document.created"
        assert published["dataref"].startswith(f"s3://{PAYLOAD_BUCKET}/")
        bucket, _, key = published["dataref"].removeprefix("s3://").partition("/")
        stored = parse_envelope(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert stored.data is not None
        assert stored.data.new is not None
        assert stored.data.new["body"] == "x" * BIG
        assert stack.letters() == []

    def test_a_missing_object_is_reported_and_the_letter_kept(self, stack: Stack):
        ref = f"s3://{PAYLOAD_BUCKET}/dead-letters/r-1/501.json"
        stack.send_letter(sequence_number="501", record_ref=ref)

        report = replay_poison(stack.connection, stack.hub)

        (outcome,) = report.outcomes
        assert outcome.status == "unreadable"
        assert outcome.sequence_number == "501"
        assert outcome.error == f"record_ref {ref}: the stored record cannot be read (NoSuchKey)"
        assert [letter["record_ref"] for letter in stack.letters()] == [ref]
        assert stack.published() == []

    def test_an_object_in_another_bucket_is_not_read(self, stack: Stack):
        # The other bucket holds a valid stored letter: following the pointer would "work".
        record = a_big_record("502")
        key = "dead-letters/r-1/502.json"
        stored = {"version": "1", "sequence_number": "502", "record": record}
        stack.s3.put_object(Bucket=OTHER_BUCKET, Key=key, Body=json.dumps(stored).encode())
        ref = f"s3://{OTHER_BUCKET}/{key}"
        stack.send_letter(sequence_number="502", record_ref=ref)

        report = replay_poison(stack.connection, stack.hub)

        (outcome,) = report.outcomes
        assert outcome.status == "unreadable"
        assert outcome.error is not None
        assert f"outside the hub's s3://{PAYLOAD_BUCKET}/dead-letters/" in outcome.error
        assert len(stack.letters()) == 1
        assert stack.published() == []

    @pytest.mark.parametrize(
        ("key", "stored", "says"),
        [
            ("payloads/503.json", {"sequence_number": "503"}, "outside the hub's"),
            ("dead-letters/r-1/503.json", {"sequence_number": "999"}, "holds sequence 999"),
            ("dead-letters/r-1/503.json", {"sequence_number": "503", "x": 1}, "holds no record"),
        ],
        ids=["outside-the-prefix", "another-record", "no-record"],
    )
    def test_an_object_that_is_not_this_letters_record_is_refused(
        self, stack: Stack, key: str, stored: dict[str, Any], says: str
    ):
        if "x" not in stored:
            stored = {**stored, "record": a_big_record(stored["sequence_number"])}
        stack.s3.put_object(Bucket=PAYLOAD_BUCKET, Key=key, Body=json.dumps(stored).encode())
        stack.send_letter(sequence_number="503", record_ref=f"s3://{PAYLOAD_BUCKET}/{key}")

        (outcome,) = replay_poison(stack.connection, stack.hub).outcomes

        assert outcome.status == "unreadable"
        assert says in (outcome.error or "")
        assert len(stack.letters()) == 1
        assert stack.published() == []

    def test_the_command_exits_1_and_lists_what_stayed(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ):
        ref = f"s3://{PAYLOAD_BUCKET}/dead-letters/r-1/504.json"
        stack.send_letter(sequence_number="504", record_ref=ref)
        monkeypatch.setattr(cli, "connect", lambda _: (stack.connection, stack.hub))

        code = main(["replay", "poison", "--json"])

        document = json.loads(capsys.readouterr().out)
        assert code == 1
        (outcome,) = document["outcomes"]
        assert (outcome["status"], outcome["sequence_number"]) == ("unreadable", "504")
        assert "NoSuchKey" in outcome["error"]
        assert len(stack.letters()) == 1


class SkewedPoisonRouter:
    """A router whose clock is 3 s behind the operator's: each record is poison again.

    Like the deployed router, it writes a new dead letter (stamped with its own clock)
    and answers success. It refuses a fourth invocation: a replay that took its own
    echoes for new letters would otherwise invoke it without end.
    """

    def __init__(self, sqs: Any, dlq: str) -> None:
        self.sqs, self.dlq = sqs, dlq
        self.invocations = 0

    def route(self, records: Sequence[Mapping[str, Any]]) -> RouterAnswer:
        self.invocations += 1
        assert self.invocations <= 3, "the replay keeps sending its own echoes to the router"
        behind = (datetime.now(UTC) - timedelta(seconds=3)).isoformat(timespec="milliseconds")
        for record in records:
            letter = {
                "version": "1",
                "reason": "poison",
                "error": {"kind": "PoisonRecordError", "message": "still broken"},
                "failed_at": behind,
                "sequence_number": sequence_number_of(record),
                "record": record,
            }
            self.sqs.send_message(QueueUrl=self.dlq, MessageBody=json.dumps(letter))
        return RouterAnswer(f"r-{self.invocations}")


def a_small_record(sequence: str) -> dict[str, Any]:
    keys = {"pk": "DOCUMENT#8", "sk": "META"}
    return a_stream_record(keys=keys, new={**keys, "body": "y"}, sequence=sequence)


class TestStillPoison:
    """A record the router dead-letters again is replayed once, whatever the two clocks say."""

    def test_a_router_clock_behind_the_operators_does_not_loop(self, stack: Stack):
        # GIVEN two dead letters, and a router that dead-letters them again with a
        # failed_at 3 s before the operator's clock
        for sequence in ("600", "601"):
            stack.send_letter(sequence_number=sequence, record=a_small_record(sequence))
        router = SkewedPoisonRouter(stack.sqs, stack.dlq)

        # WHEN
        report = replay_poison(stack.connection, stack.hub, router=router)

        # THEN each record went to the router once; the old letters were replaced by
        # the router's new ones, one per record
        assert router.invocations == 1
        assert sorted((o.sequence_number, o.status) for o in report.outcomes) == [
            ("600", "still-poison"),
            ("601", "still-poison"),
        ]
        letters = stack.letters()
        assert sorted(letter["sequence_number"] for letter in letters) == ["600", "601"]
        assert {letter["error"]["message"] for letter in letters} == {"still broken"}


class TestReceivedAgain:
    """A letter received again during the run is deleted with its latest receipt handle."""

    def test_a_routed_letter_received_twice_is_deleted(self, stack: Stack):
        # GIVEN a dead letter whose visibility runs out at once, so the run receives it
        # again (with a new receipt handle) before it deletes it, on a queue that
        # ignores a delete with an older handle, as SQS does
        stack.send_letter(sequence_number="700", record=a_small_record("700"))

        # WHEN it is replayed and routed
        with latest_handles_only(stack.sqs) as ignored:
            report = replay_poison(stack.connection, stack.hub, visibility_seconds=0)

        # THEN the delete used the latest handle: the letter is gone
        assert [o.status for o in report.outcomes] == ["routed"]
        assert ignored == []
        assert stack.letters() == []
        assert len(stack.published()) == 1


class TestTwoLettersOfOneRecord:
    """An interrupted run leaves a record's letter and its re-dead-letter: it is routed once."""

    def test_a_record_that_now_routes_is_published_once_and_both_letters_go(self, stack: Stack):
        # GIVEN two letters for the same record (the original and an earlier run's echo)
        for _ in range(2):
            stack.send_letter(sequence_number="800", record=a_small_record("800"))

        # WHEN the poison is replayed and the record now routes
        report = replay_poison(stack.connection, stack.hub)

        # THEN it was published once, and both letters were settled and deleted
        assert len(stack.published()) == 1
        assert [(o.sequence_number, o.status) for o in report.outcomes] == [
            ("800", "routed"),
            ("800", "routed"),
        ]
        assert stack.letters() == []

    def test_a_record_still_poison_is_sent_once_and_leaves_one_letter(self, stack: Stack):
        # GIVEN two letters for the same record, and a router that dead-letters it again
        for _ in range(2):
            stack.send_letter(sequence_number="801", record=a_small_record("801"))
        router = SkewedPoisonRouter(stack.sqs, stack.dlq)

        # WHEN
        report = replay_poison(stack.connection, stack.hub, router=router)

        # THEN the router saw it once; the two old letters gave way to its one new letter
        assert router.invocations == 1
        assert [o.status for o in report.outcomes] == ["still-poison", "still-poison"]
        (letter,) = stack.letters()
        assert letter["error"]["message"] == "still broken"


class TestTheCommandsLogging:
    """A replay quiets the router's log lines for its own run only."""

    def test_the_process_logging_is_as_it_was_after_the_command(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ):
        # GIVEN a process whose logging is the hub's (a test, or anything running the
        # command in-process)
        configure_logging("INFO")
        before = structlog.get_config()
        monkeypatch.setattr(cli, "connect", lambda _: (stack.connection, stack.hub))

        # WHEN a replay runs in it
        main(["replay", "poison", "--json"])

        # THEN the configuration is the one it had: an INFO line is still written
        assert structlog.get_config() == before
        with capture_logs() as logs:
            structlog.get_logger("t").info("still_heard")
        assert [entry["event"] for entry in logs] == ["still_heard"]
