"""One retry layer per call path: a failing call is attempted as often as that layer says.

botocore's standard mode makes up to 3 attempts per call; ``fanout.ops.pacing.Retry``
makes up to 8. Where ``Retry`` wraps a call (redrive, backfill) the client has
botocore's retries off, so a call that keeps failing is attempted 8 times, not 3 x 8;
where nothing of ours retries (peek, status, replays) botocore's 3 attempts stay.
https://docs.aws.amazon.com/boto3/latest/guide/retries.html

The requests never leave the process: a ``before-send`` handler answers each one (or
drops the connection) and counts it, so every attempt either layer makes is seen.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from fanout.cli import main
from fanout.connection import Connection
from fanout.ops import cli
from fanout.ops.dlq.queues import ResolvedDlq
from fanout.ops.dlq.redrive import Redrive
from fanout.ops.pacing import Retry
from fanout.ops.resolve import ConsumerQueues, Hub
from router.publisher import Backoff

ENDPOINT = "http://sqs.test.invalid"
DLQ_URL = f"{ENDPOINT}/123456789012/orders-dlq"
QUEUE_URL = f"{ENDPOINT}/123456789012/orders"


class _Body:
    def __init__(self, document: dict[str, Any]) -> None:
        self._bytes = json.dumps(document).encode()

    def stream(self, **_: Any) -> Any:
        yield self._bytes


class FakeSqs:
    """Answers SQS requests in process and counts every attempt by operation.

    ``failing``: operations whose every attempt loses its connection.
    """

    def __init__(self, client: Any, failing: set[str]) -> None:
        self.attempts: Counter[str] = Counter()
        self._failing = failing
        self._received = False
        client.meta.events.register("before-send.sqs", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = str(request.headers["X-Amz-Target"].decode()).rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        if operation in self._failing:
            raise ConnectionClosedError(endpoint_url=request.url)
        document: dict[str, Any] = {}
        if operation == "ReceiveMessage" and not self._received:
            self._received = True
            document = {"Messages": [a_dead_letter()]}
        elif operation == "ChangeMessageVisibilityBatch":
            document = {"Successful": [], "Failed": []}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "r"}
        return AWSResponse(request.url, 200, headers, _Body(document))


def a_dead_letter() -> dict[str, Any]:
    envelope = {"id": "evt-1", "type": "order.created", "subject": "ORDER#1"}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "receipt-1",
        "MD5OfBody": "",
        "Body": json.dumps(envelope),
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
    }


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> Connection:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return Connection(endpoint_url=ENDPOINT, region="us-east-1")


class TestRedriveIsItsOwnRetryLayer:
    """A redrive's send that keeps failing is attempted Retry.attempts times, no more."""

    def test_a_send_that_keeps_failing_is_attempted_eight_times_not_24(
        self, connection: Connection
    ):
        # GIVEN a DLQ holding one message, and a destination whose every send drops
        sqs = connection.single_attempt_client("sqs")
        fake = FakeSqs(sqs, failing={"SendMessageBatch"})
        retry = Retry(attempts=8, sleep=lambda _: None)
        source = ResolvedDlq("orders", DLQ_URL, "consumer", QUEUE_URL)

        # WHEN the CLI's redrive client runs the loop
        with pytest.raises(ConnectionClosedError):
            Redrive(sqs, source, QUEUE_URL, rate=0, retry=retry).run("loop")

        # THEN the send was attempted exactly as often as our loop allows: botocore
        # added no attempts of its own under it
        assert fake.attempts["SendMessageBatch"] == retry.attempts
        # AND the message was handed back to the DLQ, nothing deleted
        assert fake.attempts["ChangeMessageVisibilityBatch"] == 1
        assert fake.attempts["DeleteMessageBatch"] == 0

    def test_the_redrive_command_gives_the_loop_a_client_botocore_does_not_retry(
        self, connection: Connection, monkeypatch: pytest.MonkeyPatch
    ):
        # GIVEN the orders consumer's DLQ holding one message, and a destination whose
        # every send drops, whichever client of the connection the command uses
        fakes = [
            FakeSqs(connection.client("sqs"), failing={"SendMessageBatch"}),
            FakeSqs(connection.single_attempt_client("sqs"), failing={"SendMessageBatch"}),
        ]
        orders = ConsumerQueues("orders", QUEUE_URL, "arn:q", DLQ_URL, "arn:dlq")
        hub = Hub(stack_name="fanout-hub", consumers=(orders,))
        monkeypatch.setattr(cli, "connect", lambda _: (connection, hub))
        # Attempts are what is counted here, not the waits between them.
        monkeypatch.setattr(Backoff, "delay", lambda _self, _attempt: 0.0)

        # WHEN `fanout dlq redrive orders --method loop` runs
        code = main(["dlq", "redrive", "orders", "--method", "loop", "--rate", "0"])

        # THEN it fails (exit 1) after the default Retry's attempts, not 3 times as many
        assert code == 1
        sends = sum(fake.attempts["SendMessageBatch"] for fake in fakes)
        assert sends == Retry().attempts


class TestOtherCallsKeepBotocoresLayer:
    """A call nothing of ours retries is still retried by botocore's standard mode."""

    def test_a_failing_call_on_the_shared_client_is_attempted_three_times(
        self, connection: Connection
    ):
        # GIVEN the shared client (peek, status, replays) and an SQS that drops every call
        sqs = connection.client("sqs")
        fake = FakeSqs(sqs, failing={"GetQueueAttributes"})

        # WHEN one call is made
        with pytest.raises(ConnectionClosedError):
            sqs.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["All"])

        # THEN botocore's standard mode made its three attempts
        assert fake.attempts["GetQueueAttributes"] == 3
