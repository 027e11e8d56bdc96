"""examples/other-team on the local hub: its parameters as another account gives them, and its function's outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fanout.local.hub import ConsumerStack, LocalHub
from fanout.local.observe import InvocationOutcome

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = ROOT / "examples" / "other-team"
TEAM_ACCOUNT: Final = "210987654321"
OTHER_ACCOUNT: Final = "310987654321"
"""A second consumer account, granted everything but the claim-check read by the tests."""
HUB_ACCOUNT: Final = "123456789012"  # moto's default account: the local hub's


def shared_parameter(leaf: str, hub_stack: str = "fanout-hub", region: str = "us-east-1") -> str:
    """The ARN of a hub discovery parameter: how another account names it."""
    return f"arn:aws:ssm:{region}:{HUB_ACCOUNT}:parameter/fanout-hub/{hub_stack}/{leaf}"


def cross_account_parameters() -> dict[str, str]:
    """The example's SSM-typed parameters as another account gives them (full ARNs)."""
    return {
        "HubTopicArn": shared_parameter("topic-arn"),
        "HubPayloadBucket": shared_parameter("payload-bucket"),
        "HubRuntimeLayerArn": shared_parameter("consumer-runtime-layer-arn"),
    }


def deploy_example(
    hub: LocalHub,
    project: Path = EXAMPLE,
    account: str = TEAM_ACCOUNT,
    stack_name: str = "other-team",
) -> ConsumerStack:
    """Deploy the example's template in ``account`` of the running hub."""
    return hub.deploy_consumer(
        project / "template.yaml",
        account=account,
        stack_name=stack_name,
        parameters=cross_account_parameters(),
    )


def function_of(consumer: ConsumerStack) -> str:
    """The example's one function name."""
    (function,) = consumer.deployment.functions
    return function.name


def finished(hub: LocalHub, function: str) -> set[str]:
    """Envelope ids the function finished (its messages deleted after success)."""
    from fanout.local.ledger import envelope_id_of

    return {
        envelope_id
        for event in hub.log.events
        if event.outcome is InvocationOutcome.SUCCEEDED and event.function == function
        for envelope_id in map(envelope_id_of, event.bodies)
        if envelope_id
    }


def bodies(hub: LocalHub, function: str) -> list[str]:
    """Every message body the function finished, as its queue delivered it."""
    return [
        body
        for event in hub.log.events
        if event.outcome is InvocationOutcome.SUCCEEDED and event.function == function
        for body in event.bodies
    ]


def failures(hub: LocalHub, function: str) -> list[str]:
    """The error details of the function's failed (retried) batches."""
    return [
        event.detail
        for event in hub.log.events
        if event.outcome is InvocationOutcome.RETRIED and event.function == function
    ]
