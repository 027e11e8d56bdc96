"""The client replays invoke the router with: it waits out the router and never calls twice.

botocore reads for 60 s by default and retries a timed-out call, which would invoke a
slow router (Timeout 60 s) a second time while the first invocation still runs. Lambda
recommends a client timeout longer than the function's.
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
"""

from __future__ import annotations

import pytest

from fanout.connection import Connection
from fanout.ops.replay.router import DeployedRouter
from fanout.ops.resolve import Hub


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> Connection:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return Connection(region="us-east-1")


def a_hub(router_timeout: int | None) -> Hub:
    return Hub(stack_name="fanout-hub", router_function="router", router_timeout=router_timeout)


def test_reads_for_the_routers_timeout_and_a_margin_and_makes_one_attempt(
    connection: Connection,
):
    # GIVEN a router whose configuration says Timeout 60
    # WHEN replays build their router
    router = DeployedRouter.of(connection, a_hub(60))

    # THEN its client waits 90 s for the answer and never sends the invoke again
    config = router.lambda_client.meta.config
    assert config.read_timeout == 90
    assert config.retries["total_max_attempts"] == 1


def test_an_unknown_timeout_waits_for_lambdas_maximum(connection: Connection):
    router = DeployedRouter.of(connection, a_hub(None))

    config = router.lambda_client.meta.config
    assert config.read_timeout == 900 + 30
    assert config.retries["total_max_attempts"] == 1


def test_the_other_clients_keep_their_retries(connection: Connection):
    # The invoke client is a client of its own: SQS, S3... still retry transient errors.
    DeployedRouter.of(connection, a_hub(60))

    config = connection.client("lambda").meta.config
    assert config.retries.get("total_max_attempts") != 1
    assert config.read_timeout == 60
