"""boto3 clients, created once per container on first use, never at import time."""

from __future__ import annotations

from functools import cache, cached_property
from typing import TYPE_CHECKING, Final

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Bounded timeouts: a hung connection must fail (and be retried by SQS) well
# inside the function's timeout. Standard retry mode adds jittered backoff.
# https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html
CLIENT_CONFIG: Final = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
)


@cache
def shared_session() -> boto3.session.Session:
    """One botocore session per process: its loader caches service models between clients."""
    return boto3.session.Session()


class AwsClients:
    """The clients a consumer needs, each built the first time it is asked for."""

    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self._session = session or shared_session()

    @cached_property
    def s3(self) -> S3Client:
        """S3, for claim-check payloads and the audit log."""
        return self._session.client("s3", config=CLIENT_CONFIG)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        """DynamoDB, for idempotency records, sequence marks and projections."""
        return self._session.client("dynamodb", config=CLIENT_CONFIG)

    @cached_property
    def sqs(self) -> SQSClient:
        """SQS, for dead letters."""
        return self._session.client("sqs", config=CLIENT_CONFIG)

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        """Secrets Manager, for keys read at cold start (the webhook's signing key)."""
        return self._session.client("secretsmanager", config=CLIENT_CONFIG)


@cache
def aws_clients() -> AwsClients:
    """The container's shared clients (``aws_clients.cache_clear()`` forgets them, for tests)."""
    return AwsClients()
