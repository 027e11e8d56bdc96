"""A consumer behind a real (moto) SNS topic and SQS queue with a redrive policy.

The poller below does what Lambda's SQS event source mapping does: receive a
batch, invoke the handler, delete what succeeded and leave the
``batchItemFailures`` to become visible again. Visibility timeout 0 makes a
returned message receivable at once, so nothing waits on a clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from support.builders import FakeContext, a_stream_record
from support.consumer_tables import create_pk_table
from support.queues import peek

from consumers.runtime import ConsumerHandler, Envelope, PermanentError, SQSEvent, consumer
from router.normalise import EntityRules, to_outbound

MAX_RECEIVE_COUNT = 3


class Hub:
    """The topic, one consumer's queue and DLQ, and the tables and bucket it uses."""

    def __init__(self) -> None:
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        boto3.client("s3").create_bucket(Bucket="fanout-hub-payloads")
        create_pk_table(boto3.client("dynamodb"), "fanout-hub-idempotency")
        self.topic_arn = self.sns.create_topic(Name="fanout-hub-events")["TopicArn"]
        self.dlq_url = self.sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName="orders",
            Attributes={
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                )
            },
        )["QueueUrl"]
        self.queue_arn = self._arn(self.queue_url)
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self.queue_arn,
            Attributes={"FilterPolicy": json.dumps({"type": [{"prefix": "order."}]})},
        )

    def _arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    def publish(self, keys: dict[str, Any]) -> str:
        """Publish one change as the router does; returns the envelope id."""
        out = to_outbound(a_stream_record("MODIFY", keys=keys), EntityRules())
        attributes: Any = out.attributes  # the router's plain dicts are SNS's attribute shape
        self.sns.publish(TopicArn=self.topic_arn, Message=out.body, MessageAttributes=attributes)
        return out.envelope_id

    def poll_once(self, handler: ConsumerHandler) -> int:
        """One event-source-mapping cycle; returns how many messages were received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = cast("SQSEvent", {"Records": [self._lambda_record(dict(m)) for m in messages]})
        failed = {f["itemIdentifier"] for f in handler(event, FakeContext())["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages)

    def _lambda_record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {"dataType": v["DataType"], "stringValue": v["StringValue"]}
                for name, v in message.get("MessageAttributes", {}).items()
            },
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }

    def dead_letters(self) -> list[Any]:
        return peek(self.sqs, self.dlq_url)


@pytest.fixture
def hub(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    from consumers.runtime.clients import aws_clients

    aws_clients.cache_clear()
    the_hub = Hub()
    for name, value in {
        "CONSUMER_NAME": "orders",
        "IDEMPOTENCY_TABLE": "fanout-hub-idempotency",
        "PAYLOAD_BUCKET": "fanout-hub-payloads",
        "DLQ_URL": the_hub.dlq_url,
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    yield the_hub
    aws_clients.cache_clear()


def drain(hub: Hub, handler: ConsumerHandler, max_polls: int = 20) -> int:
    """Poll until the queue is empty (bounded); returns the number of polls that got messages."""
    for polls in range(max_polls):
        if hub.poll_once(handler) == 0:
            return polls
    raise AssertionError(f"queue not drained after {max_polls} polls")


class TestThroughSnsAndSqs:
    """What a consumer sees and where failures end up, end to end through moto."""

    def test_the_filter_policy_delivers_only_matching_events_once(self, hub):
        seen: list[Envelope] = []
        handler = consumer()(seen.append)

        order_id = hub.publish({"pk": "ORDER#1", "sk": "META"})
        hub.publish({"pk": "CUSTOMER#9", "sk": "META"})
        drain(hub, handler)

        assert [e.id for e in seen] == [order_id]
        assert hub.dead_letters() == []

    def test_a_retryable_failure_is_redriven_to_the_dlq_after_max_receive_count(self, hub):
        calls: list[str] = []

        def always_down(event: Envelope) -> None:
            calls.append(event.id)
            raise ConnectionError("downstream is down")

        envelope_id = hub.publish({"pk": "ORDER#2", "sk": "META"})
        polls = drain(hub, consumer()(always_down))

        assert calls == [envelope_id] * MAX_RECEIVE_COUNT
        assert polls == MAX_RECEIVE_COUNT
        [letter] = hub.dead_letters()
        assert json.loads(json.loads(letter["Body"])["Message"])["id"] == envelope_id

    def test_a_poison_message_goes_to_the_dlq_on_its_first_receive(self, hub):
        calls: list[str] = []

        def refuses(event: Envelope) -> None:
            calls.append(event.id)
            raise PermanentError("order has no customer")

        envelope_id = hub.publish({"pk": "ORDER#3", "sk": "META"})
        drain(hub, consumer()(refuses))

        assert calls == [envelope_id]
        [letter] = hub.dead_letters()
        attributes = letter["MessageAttributes"]
        assert attributes["fanout-error"]["StringValue"] == "order has no customer"
        origin = json.loads(attributes["fanout-origin"]["StringValue"])
        assert origin["receiveCount"] == 1
        assert origin["envelopeId"] == envelope_id
