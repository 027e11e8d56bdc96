"""Templates for tests: small SAM templates to deploy, and a template as CloudFormation would
create it for given parameters (``resources_for``), without creating it.

Each builder returns plain dicts (CloudFormation's long-form intrinsics); ``write``
puts a template in a folder as JSON, which ``fanout.deploy.template.load_template`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fanout.deploy.template import (
    evaluate_conditions,
    load_template,
    parameter_values,
    prune_conditionals,
    resolve_find_in_map,
    translate,
)

TRANSFORM = "AWS::Serverless-2016-10-31"

KIT_LAYERS = {
    "RuntimeLayerArn": "arn:aws:lambda:us-east-1:123456789012:layer:hub-consumer-runtime:1",
    "CodeLayerArn": "arn:aws:lambda:us-east-1:123456789012:layer:orders-code:1",
}
"""The two layer versions every consumer kit needs: the hub's runtime and the consumer's code."""


def write(folder: Path, resources: dict[str, Any], name: str = "template.json") -> Path:
    """A template with these resources, written to ``folder``."""
    path = folder / name
    path.write_text(
        json.dumps({"Transform": TRANSFORM, "Resources": resources}, indent=1), encoding="utf-8"
    )
    return path


def role() -> dict[str, Any]:
    """A role Lambda may assume, with no permissions (nothing runs in these tests)."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        },
    }


def queue(name: str, *, fifo: bool = False, **properties: Any) -> dict[str, Any]:
    """An SQS queue named ``name`` (``name.fifo`` for a FIFO queue, as SQS requires)."""
    if fifo:
        properties = {"FifoQueue": True, "QueueName": f"{name}.fifo", **properties}
    else:
        properties = {"QueueName": name, **properties}
    return {"Type": "AWS::SQS::Queue", "Properties": properties}


def function(*, timeout: int = 30, events: dict[str, Any] | None = None) -> dict[str, Any]:
    """A SAM function (its code is stubbed by the deployer) with ``Role`` as its role."""
    properties: dict[str, Any] = {
        "CodeUri": ".",
        "Handler": "app.handler",
        "Runtime": "python3.13",
        "Timeout": timeout,
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
    }
    if events:
        properties["Events"] = events
    return {"Type": "AWS::Serverless::Function", "Properties": properties}


def sqs_event(queue_id: str = "Queue", **properties: Any) -> dict[str, Any]:
    """A SAM SQS event on ``queue_id``: becomes the mapping ``Function<EventName>``."""
    return {
        "Type": "SQS",
        "Properties": {"Queue": {"Fn::GetAtt": [queue_id, "Arn"]}, **properties},
    }


def queue_consumer(
    *, fifo: bool = False, timeout: int = 30, visibility: int = 180, **event: Any
) -> dict[str, Any]:
    """Role, ``Queue`` and ``Function`` draining it through the event ``Queue``."""
    return {
        "Role": role(),
        "Queue": queue("consumer", fifo=fifo, VisibilityTimeout=visibility),
        "Function": function(timeout=timeout, events={"Queue": sqs_event(**event)}),
    }


def stream_consumer(**event: Any) -> dict[str, Any]:
    """Role, ``Table`` with a stream and ``Function`` reading it through the event ``Stream``."""
    return {
        "Role": role(),
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            },
        },
        "Function": function(
            events={
                "Stream": {
                    "Type": "DynamoDB",
                    "Properties": {
                        "Stream": {"Fn::GetAtt": ["Table", "StreamArn"]},
                        "StartingPosition": "TRIM_HORIZON",
                        **event,
                    },
                }
            }
        ),
    }


def topic(**properties: Any) -> dict[str, Any]:
    """An SNS topic."""
    return {"Type": "AWS::SNS::Topic", "Properties": properties}


def subscription(topic_id: str, protocol: str, endpoint: Any, **properties: Any) -> dict[str, Any]:
    """A subscription of ``endpoint`` to the topic ``topic_id``."""
    return {
        "Type": "AWS::SNS::Subscription",
        "Properties": {
            "TopicArn": {"Ref": topic_id},
            "Protocol": protocol,
            "Endpoint": endpoint,
            **properties,
        },
    }


REGION = "us-east-1"


def resources_for(path: Path, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``path``'s resources after the SAM transform, its conditions and its mappings.

    Intrinsics other than ``Fn::If`` and ``Fn::FindInMap`` stay as written (``Ref``,
    ``Fn::Sub`` ...), so a test can see which parameter or resource a value comes from.
    """
    source = load_template(path)
    values = parameter_values(source, dict(parameters or {}))
    context = {
        **values,
        "AWS::Region": REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "hub",
    }
    template = translate(source, values, REGION)
    conditions = evaluate_conditions(template, context)
    active = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }
    pruned = prune_conditionals(active, conditions)
    resolved: dict[str, Any] = resolve_find_in_map(pruned, template.get("Mappings") or {}, context)
    return resolved
