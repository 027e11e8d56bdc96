"""Lambda entry point: wiring only. Dependencies are built once per container.

Clients come from botocore directly: ``boto3`` adds nothing the router uses
(resources, the S3 transfer manager) and importing it lengthens every cold
start, mostly through s3transfer and multiprocessing (docs/benchmarks.md,
section 3). The SNS client, used by
every invocation, is built with the router; the S3 client (claim check and
oversize dead letters) and the SQS client (router DLQ) only when a record first
needs them, so a container that never sees an oversize or poison record never
loads those service models (S3's is the largest botocore ships).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

from hubcommon.errors import ConfigurationError
from hubcommon.logs import configure_logging
from router.claimcheck import ClaimCheckWriter
from router.contracts import Contracts, schema_folder
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.deadline import Deadline
from router.observability import configure_tracing
from router.publisher import SnsPublisher
from router.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from hubcommon.lambda_shapes import BatchResponse, LambdaContext
    from router.events import StreamEvent

# Short timeouts: a hung connection must not eat the invocation; our own retry
# loop (bounded by the deadline) takes over from botocore's few quick retries.
_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=16,
)


class LazyClient:
    """Stands in for a botocore client and builds it on first use (once, thread-safe).

    For clients only a rare path needs: the cost of loading the service model
    moves from every cold start to the first invocation that uses it.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the real client exists yet."""
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return getattr(client, name)


@lru_cache(maxsize=1)
def build_router() -> Router:
    """The container's router; tests call ``build_router.cache_clear()`` to rebuild it."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    configure_tracing()  # before any client exists, so every call is traced
    session = botocore.session.get_session()

    def client(service: str) -> Any:
        return session.create_client(service, config=_CLIENT_CONFIG)

    sns = cast("SNSClient", client("sns"))
    s3 = cast("S3Client", LazyClient(lambda: client("s3")))
    sqs = cast("SQSClient", LazyClient(lambda: client("sqs")))
    return Router(
        settings,
        SnsPublisher(
            sns,
            settings.topic_arn,
            settings.max_message_bytes,
            concurrency=settings.publish_concurrency,
        ),
        ClaimCheckWriter(s3, settings.payload_bucket),
        DeadLetterWriter(sqs, settings.dlq_url, s3, settings.payload_bucket),
        router_contracts(settings),
    )


def router_contracts(settings: Settings) -> Contracts:
    """The contracts the router holds items to; a mode for an entity without one stops the cold start.

    ``CONTRACT_MODE=observe,ordr=enforce`` would otherwise leave ``order`` observed while
    the operator believes it enforced: the misspelt name is refused with the names that do
    have a contract.
    """
    contracts = Contracts.shipped(settings.contract_modes, contract_folder(settings))
    unknown = sorted(set(settings.contract_modes.by_entity) - set(contracts.dataschemas))
    if unknown:
        known = ", ".join(sorted(contracts.dataschemas)) or "none"
        raise ConfigurationError(
            f"CONTRACT_MODE: {', '.join(unknown)} has no contract; the entities with one: {known}"
        )
    return contracts


def contract_folder(settings: Settings) -> Path:
    """The router's folder of contract schemas; a named one that is missing stops the cold start."""
    folder = schema_folder(settings.contract_schemas)
    if settings.contract_schemas and not folder.is_dir():
        # Silently holding no item to its contract would publish what enforce refuses.
        raise ConfigurationError(f"CONTRACT_SCHEMAS: {folder} is not a folder")
    return folder


def handler(event: StreamEvent, context: LambdaContext) -> BatchResponse:
    """DynamoDB stream batch in; ``batchItemFailures`` names where the shard resumes."""
    return build_router().route(
        event,
        Deadline.of(context),
        {"function": context.function_name, "request_id": context.aws_request_id},
    )
