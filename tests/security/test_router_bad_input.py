"""Bad input at the router's entry point (``router.app.handler``): refused clearly, never lost.

A malformed *event* fails the invocation with a ``TypeError`` naming the
problem: Lambda's stream mapping then retries, bisects and finally sends the
batch to its OnFailure destination, so nothing is silently acknowledged. A
malformed *record* inside a good event goes to the router DLQ, whole, with its
reason, and the rest of the batch is published.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from support.aws_text import sqs_character_rule
from support.builders import FakeContext, a_batch, a_stream_record
from support.queues import peek

PAYLOAD_BUCKET = "fanout-hub-payloads"


class Router:
    """The router wired to a moto topic (with a raw-delivery queue to see what was published)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        sns, self.sqs, self.s3 = boto3.client("sns"), boto3.client("sqs"), boto3.client("s3")
        self.s3.create_bucket(Bucket=PAYLOAD_BUCKET)
        topic_arn = sns.create_topic(Name="fanout-hub-events")["TopicArn"]
        self.dlq_url = self.sqs.create_queue(QueueName="router-dlq")["QueueUrl"]
        self.published_url = self.sqs.create_queue(QueueName="published")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.published_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        for name, value in {
            "TOPIC_ARN": topic_arn,
            "ROUTER_DLQ_URL": self.dlq_url,
            "PAYLOAD_BUCKET": PAYLOAD_BUCKET,
        }.items():
            monkeypatch.setenv(name, value)
        from router import app

        app.build_router.cache_clear()
        self.app = app

    def handle(self, event: Any) -> Any:
        return self.app.handler(event, FakeContext())

    def _drain(self, url: str) -> list[dict[str, Any]]:
        return peek(self.sqs, url)

    def published(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self._drain(self.published_url)]

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self._drain(self.dlq_url)]


@pytest.fixture
def router(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    # moto stores any text; SQS refuses characters outside its documented set.
    with sqs_character_rule():
        hub = Router(monkeypatch)
        yield hub
        hub.app.build_router.cache_clear()


class TestMalformedEvents:
    """An event that is not a stream batch fails the invocation with a clear error."""

    @pytest.mark.parametrize(
        "event",
        [
            "not an event",
            None,
            [],
            42,
            {},
            {"Records": "not a list"},
            {"Records": None},
            {"Records": {"0": {}}},
        ],
        ids=repr,
    )
    def test_is_refused_with_a_type_error_and_nothing_published(self, router: Router, event):
        with pytest.raises(TypeError, match="not a DynamoDB stream batch"):
            router.handle(event)
        assert router.published() == []
        assert router.dead_letters() == []


BAD_RECORDS = {
    "an int": 42,
    "a string": "INSERT",
    "null": None,
    "a list": [],
    "an empty object": {},
    "no eventID": {k: v for k, v in a_stream_record().items() if k != "eventID"},
    "eventID not a string": {**a_stream_record(), "eventID": 7},
    "unknown eventName": {**a_stream_record(), "eventName": "TRUNCATE"},
    "huge eventName": {**a_stream_record(), "eventName": "X" * 100_000},
    "no eventSourceARN": {k: v for k, v in a_stream_record().items() if k != "eventSourceARN"},
    "dynamodb not an object": {**a_stream_record(), "dynamodb": "keys"},
    "unknown attribute type": a_stream_record(new={"pk": "ORDER#42", "sk": "META"})
    | {
        "dynamodb": {
            **a_stream_record()["dynamodb"],
            "NewImage": {"total": {"ZZ": "1"}},
        }
    },
    "number not a number": {
        **a_stream_record(),
        "dynamodb": {**a_stream_record()["dynamodb"], "NewImage": {"n": {"N": "twelve"}}},
    },
    "creation time not a number": {
        **a_stream_record(),
        "dynamodb": {**a_stream_record()["dynamodb"], "ApproximateCreationDateTime": "yesterday"},
    },
}


class TestMalformedRecords:
    """Each bad record is kept whole in the router DLQ with its reason; the good ones go on."""

    def test_every_bad_record_is_dead_lettered_and_the_good_one_published(self, router: Router):
        good = a_stream_record(keys={"pk": "ORDER#1", "sk": "META"})
        response = router.handle({"Records": [*BAD_RECORDS.values(), good]})

        assert response == {"batchItemFailures": []}
        published = router.published()
        assert [p["subject"] for p in published] == [
            json.dumps({"pk": "ORDER#1", "sk": "META"}, separators=(",", ":"))
        ]
        letters = router.dead_letters()
        assert len(letters) == len(BAD_RECORDS)
        assert {letter["reason"] for letter in letters} == {"poison"}
        assert all(letter["error"]["kind"] == "PoisonRecordError" for letter in letters)
        assert all(letter["error"]["message"] for letter in letters)

    def test_a_dead_letter_holds_the_record_it_refused(self, router: Router):
        bad = BAD_RECORDS["unknown attribute type"]
        router.handle(a_batch(bad))
        (letter,) = router.dead_letters()
        assert letter["record"] == bad
        assert letter["sequence_number"] == bad["dynamodb"]["SequenceNumber"]
        assert "ZZ" in letter["error"]["message"]

    def test_a_huge_bad_record_is_kept_in_s3_and_pointed_to(self, router: Router):
        huge = {
            **a_stream_record(),
            "dynamodb": {
                **a_stream_record()["dynamodb"],
                "NewImage": {"blob": {"S": "x" * 300_000}, "bad": {"ZZ": "?"}},
            },
        }
        router.handle(a_batch(huge))
        (letter,) = router.dead_letters()
        bucket, _, key = letter["record_ref"].removeprefix("s3://").partition("/")
        assert bucket == PAYLOAD_BUCKET
        stored = json.loads(router.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert stored["record"] == huge


class TestTextSqsRefuses:
    """A bad record holding characters SQS refuses is dead-lettered all the same, exactly."""

    @pytest.mark.parametrize("text", ["\ufffe", "\uffff", "\ud800", "\udfff x", "ok\ufffe\ud83d"])
    def test_is_escaped_in_the_dead_letter(self, router: Router, text: str):
        bad = a_stream_record()
        bad["dynamodb"]["NewImage"]["note"] = {"S": text}
        bad["dynamodb"]["NewImage"]["bad"] = {"ZZ": text}
        good = a_stream_record(keys={"pk": "ORDER#1", "sk": "META"})

        assert router.handle(a_batch(bad, good)) == {"batchItemFailures": []}

        (letter,) = router.dead_letters()
        assert letter["record"] == bad
        assert len(router.published()) == 1

    def test_the_rule_is_enforced_here(self, router: Router):
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError, match="InvalidMessageContents"):
            router.sqs.send_message(QueueUrl=router.dlq_url, MessageBody="a\uffff")


class TestHugeFields:
    """Oversize but valid input is published through the claim check, not refused or lost."""

    def test_a_huge_item_is_offloaded_and_a_pointer_published(self, router: Router):
        record = a_stream_record(new={"pk": "ORDER#42", "sk": "META", "blob": "y" * 400_000})
        assert router.handle(a_batch(record)) == {"batchItemFailures": []}
        (pointer,) = router.published()
        assert pointer["dataref"].startswith(f"s3://{PAYLOAD_BUCKET}/")
        assert "data" not in pointer or pointer["data"] is None
        assert router.dead_letters() == []


def test_attribute_values_nested_beyond_any_real_item_are_poison():
    """DynamoDB nests 32 levels at most; a forged record 5,000 deep is poison, not a crash."""
    from router.errors import PoisonRecordError
    from router.normalise import EntityRules, to_outbound

    deep: dict = {"S": "bottom"}
    for _ in range(5_000):
        deep = {"M": {"x": deep}}
    record = a_stream_record()
    record["dynamodb"]["NewImage"]["deep"] = deep
    with pytest.raises(PoisonRecordError, match="nest deeper"):
        to_outbound(record, EntityRules())
