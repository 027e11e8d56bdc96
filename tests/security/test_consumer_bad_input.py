"""Bad input at every consumer's entry point: refused with its reason, never lost, never acted on.

Each of the three consumer handlers (audit log, projection, webhook) is run on
malformed SQS events, malformed SNS notifications, forged envelopes, and
claim-check / extended-client pointers into buckets it must not read. A message
that can never succeed must land in the consumer's DLQ, byte for byte, with its
error, and must not be listed for retry; an event that is not an SQS batch must
fail the invocation (Lambda then retries it and the queue's redrive policy
keeps it). No side effect may happen for any of them.

The webhook consumer posts to a local HTTPS receiver (``fanout.chaos.receiver.WebhookReceiver``,
a self-signed certificate trusted through OpenSSL's ``SSL_CERT_FILE``), so its good
messages are really delivered and every request it makes is a side effect we see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import boto3
import pytest
from support.builders import FakeContext, load_event
from support.consumer_tables import create_pk_table
from support.queues import peek
from support.secrets import a_stored_secret

from fanout.chaos.receiver import WebhookReceiver
from fanout.local.faults import FaultPlan, FaultRates

PAYLOAD_BUCKET = "fanout-hub-payloads"
OTHER_BUCKET = "someone-elses-bucket"
AUDIT_BUCKET = "fanout-hub-audit"
IDEMPOTENCY_TABLE = "fanout-hub-idempotency"
PROJECTION_TABLE = "fanout-hub-projection"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:fanout-hub-events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-consumer"
CONSUMERS = ("audit_log", "projection", "webhook")
EXTENDED_POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
WEBHOOK_SECRET = "a-webhook-secret-of-some-length"


@dataclass
class Consumer:
    """One consumer handler with its mocked resources."""

    name: str
    handler: Any
    s3: Any
    sqs: Any
    dynamodb: Any
    dlq_url: str
    receiver: WebhookReceiver | None = None

    def handle(self, event: Any) -> Any:
        return self.handler(event, FakeContext(function_name=self.name))

    def dead_letters(self) -> list[dict[str, Any]]:
        return peek(self.sqs, self.dlq_url)

    def side_effects(self) -> list[str]:
        """Anything the consumer did: audit objects, projection items, webhook requests."""
        objects = self.s3.list_objects_v2(Bucket=AUDIT_BUCKET).get("Contents", [])
        items = self.dynamodb.scan(TableName=PROJECTION_TABLE)["Items"]
        # Any request counts, answered or not: a refused message must never be posted.
        posts = [d.event_id for d in self.receiver.deliveries] if self.receiver else []
        return [o["Key"] for o in objects] + [i["pk"]["S"] for i in items] + posts


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A local HTTPS endpoint answering 200 to every correctly signed POST, trusted by urllib."""
    receiver = WebhookReceiver(FaultPlan(0, FaultRates()), lambda: "", WEBHOOK_SECRET).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.cert_path))
    yield receiver
    receiver.stop()


@pytest.fixture(params=CONSUMERS)
def consumer(request, aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Consumer]:
    s3, sqs, dynamodb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    for bucket in (PAYLOAD_BUCKET, OTHER_BUCKET, AUDIT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    create_pk_table(dynamodb, IDEMPOTENCY_TABLE)
    create_pk_table(dynamodb, PROJECTION_TABLE)
    dlq_url = sqs.create_queue(QueueName=f"{request.param}-dlq")["QueueUrl"]
    webhook: WebhookReceiver | None = (
        request.getfixturevalue("receiver") if request.param == "webhook" else None
    )
    env = {
        "CONSUMER_NAME": request.param.replace("_", "-"),
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "PAYLOAD_BUCKET": PAYLOAD_BUCKET,
        "DLQ_URL": dlq_url,
        "AUDIT_BUCKET": AUDIT_BUCKET,
        "PROJECTION_TABLE": PROJECTION_TABLE,
        # One endpoint, so one good event is one request.
        "WEBHOOK_URLS": webhook.urls[0] if webhook else "https://hooks.invalid/orders",
        "WEBHOOK_SECRET_ARN": a_stored_secret(WEBHOOK_SECRET),
        # The receiver listens on loopback, which the webhook refuses unless allowed.
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler = import_module(f"consumers.{request.param}.app").handler
    handler.reset()
    yield Consumer(request.param, handler, s3, sqs, dynamodb, dlq_url, webhook)
    handler.reset()


def an_sqs_record(body: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "messageId": "11111111-2222-3333-4444-555555555555",
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes or {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def notification(message: str, attributes: dict[str, Any] | None = None) -> str:
    """The SNS JSON document a queue receives when raw delivery is off."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22222222-3333-4444-5555-666666666666",
            "TopicArn": TOPIC_ARN,
            "Message": message,
            "Timestamp": "2026-11-27T00:00:00.000Z",
            "MessageAttributes": attributes or {},
        }
    )


def envelope(**changes: Any) -> dict[str, Any]:
    """The v1 fixture envelope with some fields replaced (None removes a field)."""
    document = load_event("envelope-v1.json")
    document["operation"] = "created"
    document["type"] = "exampletablewithstream.created"
    document["data"]["old"] = None
    document["data"]["changed"] = None
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def pointer_to(bucket: str, key: str = "payloads/evt.json") -> str:
    return json.dumps([EXTENDED_POINTER, {"s3BucketName": bucket, "s3Key": key}])


EXTENDED_SIZE = {"ExtendedPayloadSize": {"stringValue": "300000", "dataType": "Number"}}

# body -> (message attributes, what the error must say)
REFUSED: dict[str, tuple[str, dict[str, Any] | None, str]] = {
    "body not JSON": ("<xml/>", None, "not JSON"),
    "body a JSON array": ("[1, 2, 3]", None, "JSON object"),
    "body a JSON string": ('"hello"', None, "JSON object"),
    "SNS Message not JSON": (notification("{not json"), None, "not JSON"),
    "SNS Message a number": (notification("42"), None, "JSON object"),
    "id not a string": (json.dumps(envelope(id=12345)), None, "id"),
    "time not a time": (json.dumps(envelope(time="yesterday")), None, "time"),
    "wrong specversion": (json.dumps(envelope(specversion="0.3")), None, "specversion"),
    "unknown operation": (json.dumps(envelope(operation="truncated")), None, "operation"),
    "sequence not 40 digits": (json.dumps(envelope(sequence="12")), None, "sequence"),
    "data and dataref both": (
        json.dumps(envelope(dataref=f"s3://{PAYLOAD_BUCKET}/k")),
        None,
        "data",
    ),
    "neither data nor dataref": (json.dumps(envelope(data=None)), None, "data"),
    "data not an object": (json.dumps(envelope(data="everything")), None, "data"),
    "missing id": (json.dumps(envelope(id=None)), None, "id"),
    "unknown schema version": (
        json.dumps(envelope(schemaversion="99", dataschema="urn:fanout-hub:schema:envelope:99")),
        None,
        "99",
    ),
    "number of 5000 digits": (
        json.dumps(envelope()).replace('"Id": 101', '"Id": ' + "9" * 5000, 1),
        None,
        "digits",
    ),
    "claim check in another bucket": (
        json.dumps(envelope(data=None, dataref=f"s3://{OTHER_BUCKET}/payloads/evt.json")),
        None,
        OTHER_BUCKET,
    ),
    "claim check not an s3 URI": (
        json.dumps(envelope(data=None, dataref="https://evil.example/payload.json")),
        None,
        "dataref",
    ),
    "claim check to a missing object": (
        json.dumps(envelope(data=None, dataref=f"s3://{PAYLOAD_BUCKET}/nothing-here.json")),
        None,
        "NoSuchKey",
    ),
    "extended-client pointer to another bucket": (
        pointer_to(OTHER_BUCKET),
        EXTENDED_SIZE,
        OTHER_BUCKET,
    ),
    "extended-client pointer via SNS to another bucket": (
        notification(
            pointer_to(OTHER_BUCKET),
            {"ExtendedPayloadSize": {"Type": "Number", "Value": "300000"}},
        ),
        None,
        OTHER_BUCKET,
    ),
    "extended-client pointer without a key": (
        json.dumps([EXTENDED_POINTER, {"s3BucketName": PAYLOAD_BUCKET}]),
        EXTENDED_SIZE,
        "s3Key",
    ),
    "extended size attribute, body not a pointer": (
        json.dumps(envelope()),
        EXTENDED_SIZE,
        "pointer",
    ),
}


class TestRefusedMessages:
    """A message that can never be read goes to the DLQ, whole, with its reason, and nothing happens."""

    def test_each_is_dead_lettered_with_its_reason_in_one_batch(self, consumer: Consumer):
        # The other bucket holds a real envelope: following the pointer would "work".
        consumer.s3.put_object(
            Bucket=OTHER_BUCKET, Key="payloads/evt.json", Body=json.dumps(envelope()).encode()
        )
        records = [
            dict(an_sqs_record(body, attributes), messageId=f"case-{i}")
            for i, (body, attributes, _) in enumerate(REFUSED.values())
        ]

        response = consumer.handle({"Records": records})

        assert response == {"batchItemFailures": []}
        letters = {
            json.loads(m["MessageAttributes"]["fanout-origin"]["StringValue"])["messageId"]: m
            for m in consumer.dead_letters()
        }
        assert len(letters) == len(REFUSED)
        for i, (case, (body, _, reason)) in enumerate(REFUSED.items()):
            letter = letters[f"case-{i}"]
            error = letter["MessageAttributes"]["fanout-error"]["StringValue"]
            kind = letter["MessageAttributes"]["fanout-error-type"]["StringValue"]
            assert letter["Body"] == body, case
            assert kind in {"InvalidMessageError", "RefusedPointerError"}, case
            assert reason in error, (case, error)
        assert consumer.side_effects() == []

    def test_a_pointer_to_an_object_holding_another_event_is_refused(self, consumer: Consumer):
        consumer.s3.put_object(
            Bucket=PAYLOAD_BUCKET,
            Key="payloads/evt.json",
            Body=json.dumps(envelope(id="some-other-event")).encode(),
        )
        body = json.dumps(envelope(data=None, dataref=f"s3://{PAYLOAD_BUCKET}/payloads/evt.json"))
        assert consumer.handle({"Records": [an_sqs_record(body)]}) == {"batchItemFailures": []}
        (letter,) = consumer.dead_letters()
        assert (
            "does not hold envelope" in letter["MessageAttributes"]["fanout-error"]["StringValue"]
        )
        assert consumer.side_effects() == []

    def test_one_bad_message_does_not_hold_back_the_batch(self, consumer: Consumer):
        bad = an_sqs_record("<xml/>")
        good = dict(an_sqs_record(json.dumps(envelope())), messageId="good-one")
        response = consumer.handle({"Records": [bad, good]})
        assert response == {"batchItemFailures": []}
        assert len(consumer.dead_letters()) == 1
        assert len(consumer.side_effects()) == 1
        if consumer.receiver is not None:
            # The good event was posted once, signed, and the endpoint accepted it.
            (delivery,) = consumer.receiver.deliveries
            assert (delivery.event_id, delivery.signed, delivery.status) == (
                envelope()["id"],
                True,
                200,
            )


class TestHugeOrHostileShapes:
    """Shapes meant to exhaust the parser are never acknowledged as processed."""

    def test_deeply_nested_json_is_dead_lettered_or_returned_for_retry(self, consumer: Consumer):
        body = nested(100_000)
        response = consumer.handle({"Records": [an_sqs_record(body)]})
        retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        letters = consumer.dead_letters()
        # Either outcome keeps the message; acknowledging it silently would lose it.
        assert len(retried) + len(letters) == 1
        assert consumer.side_effects() == []

    def test_deeply_nested_json_is_dead_lettered_at_once_with_its_reason(self, consumer: Consumer):
        body = nested(100_000)
        assert consumer.handle({"Records": [an_sqs_record(body)]}) == {"batchItemFailures": []}
        (letter,) = consumer.dead_letters()
        assert (
            letter["MessageAttributes"]["fanout-error-type"]["StringValue"] == "InvalidMessageError"
        )

    def test_a_huge_subject_is_handled_like_any_other_field(self, consumer: Consumer):
        body = json.dumps(envelope(subject="s" * 200_000))
        response = consumer.handle({"Records": [an_sqs_record(body)]})
        letters = consumer.dead_letters()
        processed = consumer.side_effects()
        retried = response["batchItemFailures"]
        # Exactly one home: applied, dead-lettered with a reason, or returned for retry.
        assert len(processed) + len(letters) + len(retried) == 1


class TestMalformedEvents:
    """An invocation that is not an SQS batch fails as a whole: Lambda retries, SQS keeps it."""

    def test_is_refused(self, consumer: Consumer):
        for event in ["not an event", None, [], {}, {"Records": "x"}, {"Records": None}]:
            with pytest.raises((TypeError, AttributeError)):
                consumer.handle(event)
        assert consumer.dead_letters() == []
        assert consumer.side_effects() == []

    def test_a_record_of_the_wrong_shape_is_never_acknowledged(self, consumer: Consumer):
        for record in [42, "record", None, {"body": "{}"}, {"messageId": "m-1"}]:
            try:
                response = consumer.handle({"Records": [record]})
            except (TypeError, KeyError, AttributeError):
                continue  # the invocation failed: the batch stays on the queue
            identifiers = [f["itemIdentifier"] for f in response["batchItemFailures"]]
            assert identifiers or consumer.dead_letters(), record
        assert consumer.side_effects() == []
