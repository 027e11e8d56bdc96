"""The local hub answers ``lambda:Invoke`` of its functions as Lambda does.

https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fanout.local.access import installed
from fanout.local.invoker import CallableInvoker
from fanout.local.lambda_front import SYNC_PAYLOAD_LIMIT, LocalLambdaFront
from fanout.local.model import FunctionSpec


def echo(event: Any, _: Any) -> Any:
    return {"batchItemFailures": [], "got": len(event["Records"])}


def broken(event: Any, _: Any) -> Any:
    raise ValueError("no table")


@pytest.fixture
def lambda_() -> Iterator[Any]:
    functions = [FunctionSpec("router", "router.app.handler"), FunctionSpec("broken", "x.y")]
    front = LocalLambdaFront(functions, CallableInvoker({"router": echo, "broken": broken}))
    with installed(front.before_call):
        # Nothing listens here: an invoke the front does not answer fails to connect.
        yield boto3.session.Session(
            aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
        ).client("lambda", endpoint_url="http://127.0.0.1:9")


class TestInvoke:
    """RequestResponse invokes of the hub's functions run their handler here."""

    def test_the_response_is_the_payload(self, lambda_: Any):
        answer = lambda_.invoke(FunctionName="router", Payload=json.dumps({"Records": [{}, {}]}))

        assert answer["StatusCode"] == 200
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"batchItemFailures": [], "got": 2}

    def test_a_handler_error_is_a_function_error_not_a_failed_call(self, lambda_: Any):
        answer = lambda_.invoke(
            FunctionName="arn:aws:lambda:us-east-1:123456789012:function:broken", Payload=b"{}"
        )

        assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
        error = json.loads(answer["Payload"].read())
        assert (error["errorType"], error["errorMessage"]) == ("ValueError", "no table")

    def test_a_request_over_6_mb_is_refused(self, lambda_: Any):
        payload = json.dumps({"Records": ["x" * SYNC_PAYLOAD_LIMIT]})

        with pytest.raises(ClientError) as refused:
            lambda_.invoke(FunctionName="router", Payload=payload)

        assert refused.value.response["Error"]["Code"] == "RequestTooLargeException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413

    def test_only_request_response_is_answered(self, lambda_: Any):
        with pytest.raises(ClientError, match="RequestResponse"):
            lambda_.invoke(FunctionName="router", InvocationType="Event", Payload=b"{}")

    def test_another_function_goes_to_the_endpoint(self, lambda_: Any):
        with pytest.raises(Exception, match="Could not connect"):
            lambda_.invoke(FunctionName="someone-elses", Payload=b"{}")
