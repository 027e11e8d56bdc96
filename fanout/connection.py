"""boto3 clients for one endpoint, shared by the local hub and the operations commands."""

from __future__ import annotations

import threading
from typing import Any, Final

import boto3
from botocore.config import Config

ENVIRONMENT_LOCK: Final = threading.RLock()
"""Held while an in-process function runs (``fanout.local.invoker``): ``os.environ`` patched
and its own copies of the project's packages in ``sys.modules``.

A function runs with its own role's credentials in the environment; a connection made
meanwhile by another thread must not pick them up, so it resolves its credentials
under this lock. Code that imports project modules dynamically while a hub may run in
the same process (``fanout.schema.sources``) takes it too.
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
        # One retry layer per call path. This shared config: botocore's standard mode
        # (3 attempts) for every call nobody retries itself (resolving a stack, peek,
        # status, replays). Calls ``fanout.ops.pacing.Retry`` wraps use
        # ``single_attempt_client`` instead, so they are not retried twice over.
        # https://docs.aws.amazon.com/boto3/latest/guide/retries.html
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
        """The shared client for ``service`` (botocore retries each call: standard mode)."""
        return self._cached(service, service)

    def single_attempt_client(self, service: str) -> Any:
        """A client for ``service`` whose calls botocore never retries: for our own retry loop.

        Redrive and backfill wrap their calls in ``fanout.ops.pacing.Retry``, which
        paces them with the operator's ``--rate`` and also re-sends the failed entries
        of a batch (botocore never sees those: the call itself succeeded). Under
        botocore's standard mode (3 attempts) each of its 8 attempts would be up to 3,
        24 in all, with two backoffs stacked; so botocore's layer is off here
        (``total_max_attempts`` 1 is the first attempt only) and ours is the one.
        https://docs.aws.amazon.com/boto3/latest/guide/retries.html
        """
        single = Config(retries={"mode": "standard", "total_max_attempts": 1})
        return self._cached(f"{service}-single-attempt", service, single)

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
