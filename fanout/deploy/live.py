"""The created resources as the endpoint reports them, read back into ``fanout.deploy.models``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from fanout.connection import Connection
from fanout.deploy.models import Function, Queue, RedrivePolicy, Topic

_MAPPING_INTEGERS: Final = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
)
_MAPPING_BOOLEANS: Final = ("BisectBatchOnFunctionError", "Enabled")


def mapping_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Event source mapping properties typed as Lambda's API types them.

    Values passed through nested-stack parameters arrive as strings ("10"); CloudFormation
    coerces them, so the emulator gets them already coerced.
    """
    typed = dict(properties)
    for key in _MAPPING_INTEGERS:
        if key in typed:
            typed[key] = int(typed[key])
    for key in _MAPPING_BOOLEANS:
        if key in typed and isinstance(typed[key], str):
            typed[key] = typed[key].strip().lower() == "true"
    scaling = typed.get("ScalingConfig")
    if isinstance(scaling, dict) and "MaximumConcurrency" in scaling:
        typed["ScalingConfig"] = {
            **scaling,
            "MaximumConcurrency": int(scaling["MaximumConcurrency"]),
        }
    return typed


def live_functions(
    clients: Connection,
    resources: Mapping[str, Any],
    physical: Mapping[str, str],
    path: str,
    layers: Mapping[str, tuple[str, ...]],
) -> dict[str, Function]:
    """Each function the stack created, as Lambda reports it (layers from the template)."""
    lambda_ = clients.client("lambda")
    functions: dict[str, Function] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function" or logical_id not in physical:
            continue
        config = lambda_.get_function_configuration(FunctionName=physical[logical_id])
        functions[logical_id] = Function(
            path=f"{path}/{logical_id}" if path else logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            handler=config["Handler"],
            runtime=config["Runtime"],
            timeout_seconds=int(config["Timeout"]),
            memory_mb=int(config["MemorySize"]),
            environment={
                k: str(v)
                for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()
            },
            # From the template: moto's configuration of a function CloudFormation created
            # lists no layers.
            layers=layers.get(logical_id, ()),
        )
    return functions


def live_queues(
    clients: Connection, resources: Mapping[str, Any], physical: Mapping[str, str], path: str
) -> dict[str, Queue]:
    """Each queue the stack created, with its live attributes and redrive policy."""
    sqs = clients.client("sqs")
    queues: dict[str, Queue] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SQS::Queue" or logical_id not in physical:
            continue
        url = physical[logical_id]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
        queues[logical_id] = Queue(
            path=f"{path}/{logical_id}" if path else logical_id,
            name=attributes["QueueArn"].rsplit(":", 1)[-1],
            url=url,
            arn=attributes["QueueArn"],
            attributes=attributes,
            redrive_policy=(
                RedrivePolicy(redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"]))
                if redrive
                else None
            ),
        )
    return queues


def live_topics(
    clients: Connection,
    resources: Mapping[str, Any],
    physical: Mapping[str, str],
    path: str,
    declared: Mapping[str, Mapping[str, str]],
) -> dict[str, Topic]:
    """Each topic the stack created: its live attributes over those ``declared`` for it."""
    sns = clients.client("sns")
    topics: dict[str, Topic] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SNS::Topic" or logical_id not in physical:
            continue
        arn = physical[logical_id]
        live = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        topics[logical_id] = Topic(
            path=f"{path}/{logical_id}" if path else logical_id,
            arn=arn,
            attributes={**declared.get(logical_id, {}), **live},
        )
    return topics
