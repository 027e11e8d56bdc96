"""Every shipped event in events/ runs through its real handler against the stack from template.yaml.

The stack is created in moto by ``fanout.deploy``; each handler gets exactly the
environment the template gives its function, so these tests also prove the
template's wiring (env names, queue and bucket references) fits the code.
"""

from __future__ import annotations

import importlib
import json

import boto3
import pytest
from moto import mock_aws
from support.queues import drain as drain_queue

from fanout import events
from fanout.deploy import deployer
from schemas import parse_envelope


class Context:
    """The part of the Lambda context the handlers read."""

    function_name = "fanout-hub-function"
    aws_request_id = "req-events"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fanout-hub-function"
    memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(scope="module")
def hub():
    with mock_aws():
        yield deployer.deploy(stack_name="events")


def load(*parts: str) -> dict:
    return json.loads(events.EVENTS.joinpath(*parts).read_text(encoding="utf-8"))


def drain(url: str) -> list[dict]:
    return drain_queue(boto3.client("sqs"), url)


@pytest.fixture
def router(hub, monkeypatch):
    """router.app.handler, configured from the deployed RouterFunction."""
    from router import app

    for name, value in hub.functions["RouterFunction"].environment.items():
        monkeypatch.setenv(name, value)
    app.build_router.cache_clear()
    yield app.handler
    app.build_router.cache_clear()


def queued(hub, consumer: str) -> list:
    return [parse_envelope(m["Body"]) for m in drain(hub.nested[consumer].queues["Queue"].url)]


class TestRouterEvents:
    """Each router event publishes what its name says, through the template's subscriptions."""

    @pytest.mark.parametrize(
        ("name", "operation", "projection_gets_it"),
        [
            ("insert.json", "created", True),
            ("modify.json", "updated", True),
            ("remove.json", "deleted", True),
            ("ttl-remove.json", "expired", True),
        ],
    )
    def test_change_reaches_the_consumers(self, hub, router, name, operation, projection_gets_it):
        response = router(load("router", name), Context())
        assert response == {"batchItemFailures": []}
        (audit,) = queued(hub, "AuditLogConsumer")
        assert audit.operation == operation
        assert len(queued(hub, "ProjectionConsumer")) == int(projection_gets_it)

    def test_poison_record_goes_to_the_router_dlq_and_the_batch_goes_on(self, hub, router):
        response = router(load("router", "poison.json"), Context())
        assert response == {"batchItemFailures": []}
        (dead,) = drain(hub.outputs["RouterDeadLetterQueueUrl"])
        assert "not-a-dynamodb-type" in dead["Body"]
        (audit,) = queued(hub, "AuditLogConsumer")
        assert "ORDER#44" in audit.subject
        queued(hub, "ProjectionConsumer")

    def test_oversize_item_is_published_as_a_claim_check(self, hub, router):
        response = router(load("router", "oversize.json"), Context())
        assert response == {"batchItemFailures": []}
        (audit,) = queued(hub, "AuditLogConsumer")
        bucket = hub.outputs["PayloadBucketName"]
        assert audit.dataref is not None
        assert audit.dataref.startswith(f"s3://{bucket}/")
        key = audit.dataref.removeprefix(f"s3://{bucket}/")
        stored = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(stored) > 256 * 1024
        queued(hub, "ProjectionConsumer")


class TestConsumerEvents:
    """Each consumer's SQS samples (raw and SNS-wrapped) are processed without a failure."""

    @pytest.mark.parametrize(
        ("consumer", "stack_name", "module"),
        [
            ("audit_log", "AuditLogConsumer", "consumers.audit_log.app"),
            ("projection", "ProjectionConsumer", "consumers.projection.app"),
        ],
    )
    @pytest.mark.parametrize("kind", ["sqs-raw.json", "sqs-sns-wrapped.json"])
    def test_batch_is_processed(self, hub, monkeypatch, consumer, stack_name, module, kind):
        app = importlib.import_module(module)
        for name, value in hub.nested[stack_name].functions["ConsumerFunction"].environment.items():
            monkeypatch.setenv(name, value)
        app.handler.reset()
        try:
            response = app.handler(load(consumer, kind), Context())
        finally:
            app.handler.reset()
        assert response == {"batchItemFailures": []}
        assert drain(hub.nested[stack_name].queues["DeadLetterQueue"].url) == []
