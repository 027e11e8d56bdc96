"""Lambda entry point: wiring only. Dependencies are built once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from router.claimcheck import ClaimCheck
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.deadline import Deadline
from router.observability import configure_tracing
from router.publisher import SnsPublisher
from router.settings import Settings
from schemas.logs import configure_logging

if TYPE_CHECKING:
    from router.events import StreamEvent
    from schemas.lambda_shapes import BatchResponse, LambdaContext

# Short timeouts: a hung connection must not eat the invocation; our own retry
# loop (bounded by the deadline) takes over from botocore's few quick retries.
_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=16,
)


@lru_cache(maxsize=1)
def build_router() -> Router:
    """The container's router; tests call ``build_router.cache_clear()`` to rebuild it."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    configure_tracing()
    session = boto3.session.Session()
    sns = session.client("sns", config=_CLIENT_CONFIG)
    sqs = session.client("sqs", config=_CLIENT_CONFIG)
    s3 = session.client("s3", config=_CLIENT_CONFIG)
    return Router(
        settings,
        SnsPublisher(
            sns,
            settings.topic_arn,
            settings.max_message_bytes,
            concurrency=settings.publish_concurrency,
        ),
        ClaimCheck(s3, settings.payload_bucket),
        DeadLetterWriter(sqs, settings.dlq_url, s3, settings.payload_bucket),
    )


def handler(event: StreamEvent, context: LambdaContext) -> BatchResponse:
    """DynamoDB stream batch in; ``batchItemFailures`` names where the shard resumes."""
    return build_router().route(
        event,
        Deadline.of(context),
        {"function": context.function_name, "request_id": context.aws_request_id},
    )
