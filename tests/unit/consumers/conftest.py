"""Consumer test fixtures: the hub's consumer resources inside moto, and the runtime's env."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from support.consumer_tables import create_pk_table
from support.queues import peek

PAYLOAD_BUCKET = "fanout-hub-payloads"
OTHER_BUCKET = "someone-elses-bucket"
AUDIT_BUCKET = "fanout-hub-audit"
IDEMPOTENCY_TABLE = "fanout-hub-idempotency"
PROJECTION_TABLE = "fanout-hub-projection"


@dataclass
class ConsumerAws:
    """Handles on the mocked resources a consumer uses."""

    s3: Any
    dynamodb: Any
    sqs: Any
    dlq_url: str

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ (received once, not deleted)."""
        return peek(self.sqs, self.dlq_url)


@pytest.fixture
def consumer_aws(aws: None) -> ConsumerAws:
    """Buckets, tables and a DLQ as the template creates them for a consumer."""
    s3 = boto3.client("s3")
    for bucket in (PAYLOAD_BUCKET, OTHER_BUCKET, AUDIT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    dynamodb = boto3.client("dynamodb")
    create_pk_table(dynamodb, IDEMPOTENCY_TABLE)
    create_pk_table(dynamodb, PROJECTION_TABLE)
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="orders-consumer-dlq")["QueueUrl"]
    return ConsumerAws(s3=s3, dynamodb=dynamodb, sqs=sqs, dlq_url=dlq_url)


@pytest.fixture
def consumer_env(monkeypatch: pytest.MonkeyPatch, consumer_aws: ConsumerAws) -> dict[str, str]:
    """The environment the template gives a consumer function."""
    env = {
        "CONSUMER_NAME": "orders-consumer",
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "PAYLOAD_BUCKET": PAYLOAD_BUCKET,
        "DLQ_URL": consumer_aws.dlq_url,
        "LOG_LEVEL": "DEBUG",
        "AUDIT_BUCKET": AUDIT_BUCKET,
        "PROJECTION_TABLE": PROJECTION_TABLE,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def fresh_handlers() -> Iterator[None]:
    """Every in-repo consumer handler rebuilt from the test's environment, and forgotten after."""
    from consumers.audit_log.app import handler as audit_handler
    from consumers.projection.app import handler as projection_handler
    from consumers.webhook.app import handler as webhook_handler

    handlers = (audit_handler, projection_handler, webhook_handler)
    for handler in handlers:
        handler.reset()
    yield
    for handler in handlers:
        handler.reset()


@pytest.fixture(autouse=True)
def _no_shared_clients() -> Iterator[None]:
    """No test reuses boto3 clients built under another test's mock."""
    from consumers.runtime.clients import aws_clients

    aws_clients.cache_clear()
    yield
    aws_clients.cache_clear()


@pytest.fixture
def seen(consumer_env: dict[str, str]) -> list[Any]:
    """The envelopes the consumer function under test was given, in order (runtime env set)."""
    return []
