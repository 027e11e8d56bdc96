"""The emulator refuses to drive a mapping Lambda would refuse to create.

https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: Lambda refuses
an SQS mapping whose queue's visibility timeout is shorter than the function's timeout.
"""

from __future__ import annotations

import pytest

from fanout.aws_rules import AwsRuleError
from fanout.connection import Connection
from fanout.local.esm import Emulator
from fanout.local.invoker import CallableInvoker
from fanout.local.model import FunctionSpec, MappingSpec


def emulator_for(clients: Connection, name: str, *, visibility: int, timeout: float) -> Emulator:
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    function = FunctionSpec(name="consumer", handler="unused.handler", timeout_seconds=timeout)
    return Emulator(
        [function],
        [MappingSpec(function="consumer", source_arn=arn)],
        clients,
        CallableInvoker({"consumer": lambda _event, _context: None}),
    )


class TestVisibilityTimeout:
    """A queue that would hand a message to a second invocation mid-flight is refused."""

    def test_visibility_below_function_timeout_is_refused_before_polling(self, clients, unique):
        # GIVEN a queue hiding messages for 10 s and a consumer that may run 60 s
        emulator = emulator_for(clients, f"short-{unique}", visibility=10, timeout=60)
        # WHEN the emulator starts THEN it refuses, as Lambda does, and polls nothing
        with pytest.raises(AwsRuleError) as caught:
            emulator.start()
        assert caught.value.message == (
            "Queue visibility timeout: 10 seconds is less than Function timeout: 60 seconds"
        )
        assert emulator.queues == {}

    def test_visibility_equal_to_function_timeout_starts(self, clients, unique):
        emulator = emulator_for(clients, f"equal-{unique}", visibility=60, timeout=60)
        with emulator:
            assert len(emulator.queues) == 1
