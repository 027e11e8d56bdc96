"""The webhook forwarder: signed POSTs, 5xx/timeouts retried, 4xx refused for good."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from consumer_builders import (
    DynamoDBRequests,
    an_envelope,
    an_sqs_event,
    an_sqs_record,
    failed_ids,
)
from support.builders import FakeContext
from support.secrets import UNREAD_SECRET_ARN, a_stored_secret
from support.webhook_receivers import (
    LOOPBACK,
    SIGNING_KEY,
    Receiver,
    dripped_status_line,
    forwarding,
    ledgered,
    status,
)

from consumers.runtime import ConfigurationError, consumer
from consumers.runtime.clients import aws_clients
from consumers.runtime.idempotency import IdempotencyStore
from consumers.webhook.app import build_forwarder
from consumers.webhook.app import handler as webhook_handler
from consumers.webhook.forwarder import WebhookEnvironment
from consumers.webhook.secret import signing_key
from consumers.webhook.signing import verify

SECRET = SIGNING_KEY


@pytest.fixture
def endpoint() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


class TestDelivery:
    """What an endpoint receives, and how it can trust it."""

    def test_the_endpoint_gets_the_envelope_with_a_valid_signature(self, consumer_env, endpoint):
        body = an_envelope()

        response = forwarding(endpoint)(an_sqs_event(an_sqs_record(body)), FakeContext())

        assert failed_ids(response) == []
        [request] = endpoint.received
        headers, received = request.headers, request.body
        assert json.loads(received) == json.loads(body)
        assert headers["Content-Type"].startswith("application/cloudevents+json")
        assert headers["X-Fanout-Event-Id"] == json.loads(body)["id"]
        assert verify(
            SECRET,
            received,
            headers["X-Fanout-Timestamp"],
            headers["X-Fanout-Signature"],
            now=time.time(),
        )
        assert not verify(
            "wrong-secret-wrong-secret",
            received,
            headers["X-Fanout-Timestamp"],
            headers["X-Fanout-Signature"],
            now=time.time(),
        )
        assert not verify(
            SECRET,
            received + b" ",
            headers["X-Fanout-Timestamp"],
            headers["X-Fanout-Signature"],
            now=time.time(),
        )
        assert not verify(
            SECRET,
            received,
            headers["X-Fanout-Timestamp"],
            headers["X-Fanout-Signature"],
            now=time.time() + 3600,
        )


class TestFailures:
    """5xx and timeouts come back later; 4xx goes to the DLQ at once."""

    def test_a_5xx_returns_the_message_to_the_queue_and_a_retry_delivers(
        self, consumer_env, endpoint
    ):
        endpoint.answers = [status(503)]
        handler = forwarding(endpoint)
        body = an_envelope()
        record = an_sqs_record(body)

        first = handler(an_sqs_event(record), FakeContext())
        second = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

        assert failed_ids(first) == [record["messageId"]]
        assert failed_ids(second) == []
        assert len(endpoint.received) == 2

    def test_a_timeout_is_retryable(self, consumer_env, endpoint):
        endpoint.answers = [dripped_status_line(every=0.05)]
        record = an_sqs_record(an_envelope())

        response = forwarding(endpoint, timeout=0.2)(an_sqs_event(record), FakeContext())

        assert failed_ids(response) == [record["messageId"]]

    def test_a_4xx_is_dead_lettered_at_once(self, consumer_env, consumer_aws, endpoint):
        endpoint.answers = [status(410)]

        response = forwarding(endpoint)(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        attributes = letter["MessageAttributes"]
        assert attributes["fanout-error-type"]["StringValue"] == "WebhookRejectedError"
        assert "HTTP 410" in attributes["fanout-error"]["StringValue"]

    def test_429_is_retryable_not_permanent(self, consumer_env, endpoint):
        endpoint.answers = [status(429)]
        record = an_sqs_record(an_envelope())

        response = forwarding(endpoint)(an_sqs_event(record), FakeContext())

        assert failed_ids(response) == [record["messageId"]]


class TestSeveralEndpoints:
    """A retry caused by one endpoint does not POST again to the others."""

    def test_only_the_failed_endpoint_is_retried(self, consumer_env, fresh_handlers, monkeypatch):
        with Receiver() as good, Receiver() as flaky:
            flaky.answers = [status(500)]
            handler = ledgered(monkeypatch, good, flaky)  # the deployed wiring, plain HTTP
            body = an_envelope()

            first = handler(an_sqs_event(an_sqs_record(body)), FakeContext())
            second = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

            assert len(failed_ids(first)) == 1
            assert failed_ids(second) == []
            assert len(good.received) == 1
            assert len(flaky.received) == 2

    def test_a_lost_delivery_mark_does_not_cost_the_other_endpoints(
        self, consumer_env, fresh_handlers, monkeypatch
    ):
        with Receiver() as first, Receiver() as second:
            handler = ledgered(monkeypatch, first, second)
            marks = {"calls": 0}
            real_complete = IdempotencyStore.complete

            def throttled_once(store: IdempotencyStore, claim: Any) -> bool:
                marks["calls"] += 1
                if marks["calls"] == 1:
                    raise ConnectionError("the ledger's table is throttled")
                return real_complete(store, claim)

            monkeypatch.setattr(IdempotencyStore, "complete", throttled_once)

            response = handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

            assert failed_ids(response) == []
            assert (len(first.received), len(second.received)) == (1, 1)

    def test_each_endpoint_costs_its_own_claim_and_completion(
        self, consumer_env, fresh_handlers, monkeypatch
    ):
        with Receiver() as first, Receiver() as second:
            handler = ledgered(monkeypatch, first, second)
            requests = DynamoDBRequests()

            handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

            assert requests.operations == ["PutItem", "UpdateItem", "PutItem", "UpdateItem"]


class TestSettings:
    """Only https endpoints and a real secret are accepted, at cold start."""

    def test_a_plain_http_url_is_refused(self):
        with pytest.raises(ConfigurationError, match="WEBHOOK_URLS"):
            WebhookEnvironment.from_env(
                {"WEBHOOK_URLS": "http://example.com/hook", "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN}
            )

    def test_the_deployed_handler_refuses_http_before_any_message(
        self, consumer_env, fresh_handlers, monkeypatch
    ):
        monkeypatch.setenv("WEBHOOK_URLS", "https://example.com/a,http://example.com/b")
        monkeypatch.setenv("WEBHOOK_SECRET_ARN", a_stored_secret(SECRET))

        with pytest.raises(ConfigurationError, match=r"http://example\.com/b"):
            webhook_handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

    def test_the_secret_itself_is_never_an_environment_variable(self):
        with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET_ARN"):
            WebhookEnvironment.from_env(
                {"WEBHOOK_URLS": "https://example.com/hook", "WEBHOOK_SECRET": SECRET}
            )


def count_secret_reads() -> list[str]:
    """Every GetSecretValue the container's shared Secrets Manager client makes, by SecretId."""

    reads: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(params["SecretId"])

    aws_clients().secretsmanager.meta.events.register(
        "provide-client-params.secretsmanager.GetSecretValue", record
    )
    return reads


class TestSigningKey:
    """The key comes from Secrets Manager, read once per container at cold start."""

    def test_the_deployed_handler_reads_the_secret_once_for_many_messages(
        self, consumer_env, fresh_handlers, monkeypatch
    ):
        # GIVEN the key stored in Secrets Manager and only its ARN in the environment
        arn = a_stored_secret(SECRET)
        monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
        # an https endpoint that refuses connections: each delivery fails fast, retryably
        monkeypatch.setenv("WEBHOOK_URLS", "https://127.0.0.1:9/hooks")
        monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
        reads = count_secret_reads()
        # WHEN the deployed handler processes three batches in one container
        for _ in range(3):
            record = an_sqs_record(an_envelope())
            webhook_handler(an_sqs_event(record), FakeContext())
        # THEN Secrets Manager was asked once, at cold start, for that secret
        assert reads == [arn]

    def test_deliveries_are_signed_with_the_key_read_at_cold_start(
        self, consumer_env, fresh_handlers, monkeypatch, endpoint
    ):
        # GIVEN a forwarder built (as at cold start) from a stored key
        secrets = boto3.client("secretsmanager")
        arn = a_stored_secret(SECRET)
        monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
        monkeypatch.setenv("WEBHOOK_URLS", endpoint.url())
        monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
        handler = consumer()(build_forwarder(require_https=False).deliver)
        # WHEN the secret is rotated and then a message arrives in the same container
        secrets.put_secret_value(SecretId=arn, SecretString="a-rotated-key-0123456789")
        response = handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())
        # THEN the delivery is signed with the key read at cold start, not re-read per message
        assert failed_ids(response) == []
        [request] = endpoint.received
        headers, received = request.headers, request.body
        timestamp, signed = headers["X-Fanout-Timestamp"], headers["X-Fanout-Signature"]
        assert verify(SECRET, received, timestamp, signed, now=time.time())

    def test_a_missing_secret_fails_the_cold_start_naming_the_variable(
        self, consumer_env, fresh_handlers, monkeypatch
    ):
        monkeypatch.setenv("WEBHOOK_SECRET_ARN", UNREAD_SECRET_ARN)
        monkeypatch.setenv("WEBHOOK_URLS", "https://example.com/hook")
        with pytest.raises(ConfigurationError, match=r"WEBHOOK_SECRET_ARN.*ResourceNotFound"):
            webhook_handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

    def test_a_short_key_is_refused_without_echoing_it(self, consumer_env):
        arn = a_stored_secret("tiny-key")
        with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET_ARN") as error:
            signing_key(boto3.client("secretsmanager"), arn)
        assert "tiny-key" not in str(error.value)
