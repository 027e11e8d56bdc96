"""boto3 clients for one endpoint, shared by the local hub and the operations commands."""

from __future__ import annotations

import threading
from typing import Any, Final

import boto3
from botocore.config import Config

ENVIRONMENT_LOCK: Final = threading.RLock()
"""Held while ``os.environ`` is patched for an in-process function (``fanout.local.invoker``).

A function runs with its own role's credentials in the environment; a connection made
meanwhile by another thread must not pick them up, so it resolves its credentials
under this lock.
"""


LAMBDA_MAX_TIMEOUT_SECONDS: Final = 900
INVOKE_READ_MARGIN_SECONDS: Final = 30


class Connection:
    """boto3 clients for one endpoint, region and profile, built once per service (thread-safe)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session = session or boto3.session.Session(profile_name=profile, region_name=region)
        with ENVIRONMENT_LOCK:
            self._session.get_credentials()  # resolved (and cached by the session) now
        self.region = region or self._session.region_name or "us-east-1"
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Our own backoff handles throttling on the data paths; botocore's standard
        # mode keeps transient errors off the control-plane calls.
        self._config = Config(max_pool_connections=32, retries={"mode": "standard"})

    @property
    def session(self) -> boto3.session.Session:
        """The session every client of this connection is built from."""
        return self._session

    def invoke_client(self, function_timeout: int | None) -> Any:
        """A Lambda client for synchronous ``Invoke`` of a function that may run ``function_timeout`` s.

        botocore's default 60 s read timeout and its retries would send a still-running
        invocation again when the function is slow; Lambda advises a client timeout
        longer than the function's, and a retried RequestResponse invoke runs the
        function twice. So: read timeout = the function's timeout (Lambda's 900 s
        maximum when unknown) plus a margin, and a single attempt.
        https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
        https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
        """
        read_timeout = (function_timeout or LAMBDA_MAX_TIMEOUT_SECONDS) + INVOKE_READ_MARGIN_SECONDS
        invoke_config = Config(
            read_timeout=read_timeout, retries={"mode": "standard", "total_max_attempts": 1}
        )
        return self._cached(f"lambda-invoke-{read_timeout}", "lambda", invoke_config)

    def client(self, service: str) -> Any:
        """The shared client for ``service``."""
        return self._cached(service, service)

    def _cached(self, key: str, service: str, config: Config | None = None) -> Any:
        """The client kept under ``key``, built once: the connection's config, plus ``config``."""
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=self._config.merge(config) if config else self._config,
                )
            return self._clients[key]


def queue_url_of(sqs: Any, name_or_arn: str) -> str:
    """A queue's URL from its name, ARN or URL."""
    if name_or_arn.startswith(("http://", "https://")):
        return name_or_arn
    if name_or_arn.startswith("arn:"):
        _, _, _, _, account, name = name_or_arn.split(":", 5)
        return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
    return str(sqs.get_queue_url(QueueName=name_or_arn)["QueueUrl"])
