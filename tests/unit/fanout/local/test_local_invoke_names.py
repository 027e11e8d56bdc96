"""`fanout local invoke` takes every name a user knows a function by, and lists them when it has none."""

from __future__ import annotations

import pytest

from fanout.local.cli import find_function
from fanout.local.model import FunctionSpec
from fanout.options import UsageError

ROUTER = FunctionSpec("hub-RouterFunction-X1", "router.app.handler", logical_id="RouterFunction")
BILLING = FunctionSpec(
    "hub-BillingConsumer-ConsumerFunction-Y2",
    "consumers.kit.app.handler",
    environment={"CONSUMER_NAME": "billing"},
    logical_id="BillingConsumer/ConsumerFunction",
)
FUNCTIONS = [ROUTER, BILLING]


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("RouterFunction", ROUTER),
        ("hub-RouterFunction-X1", ROUTER),
        ("billing", BILLING),  # the consumer's short name
        ("BillingConsumer", BILLING),  # its logical id in template.yaml
        ("BillingConsumerFunction", BILLING),  # the id `sam local invoke` knows it by
        ("BillingConsumer/ConsumerFunction", BILLING),
        ("hub-BillingConsumer-ConsumerFunction-Y2", BILLING),
    ],
)
def test_each_name_finds_its_function(name, function):
    assert find_function(FUNCTIONS, name) is function


def test_an_unknown_name_is_answered_with_the_valid_ones():
    with pytest.raises(UsageError) as refused:
        find_function(FUNCTIONS, "payments")
    assert str(refused.value) == (
        "no function 'payments' in the hub (functions: BillingConsumer (billing), RouterFunction)"
    )
