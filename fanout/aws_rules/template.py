"""Rules checked on the template before anything is created.

Only for what the endpoint itself would refuse with a different text (moto refuses a
FIFO queue with a standard dead-letter queue with its own message): checking first
reports AWS's text and the resource instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fanout.aws_rules.s3 import check_bucket_name
from fanout.aws_rules.sns import check_topic_tracing
from fanout.aws_rules.sqs import check_dead_letter_queue_type, is_fifo_queue


def queue_is_fifo(properties: Mapping[str, Any]) -> bool:
    """``FifoQueue`` as CloudFormation reads it (a boolean or "true"), or a ``.fifo`` name."""
    return _declared_fifo(properties, "FifoQueue", "QueueName")


def topic_is_fifo(properties: Mapping[str, Any]) -> bool:
    """``FifoTopic`` as CloudFormation reads it (a boolean or "true"), or a ``.fifo`` name."""
    return _declared_fifo(properties, "FifoTopic", "TopicName")


def _declared_fifo(properties: Mapping[str, Any], flag: str, name: str) -> bool:
    declared = properties.get(flag, False)
    fifo = declared.strip().lower() == "true" if isinstance(declared, str) else bool(declared)
    return fifo or str(properties.get(name, "")).endswith(".fifo")


def check_topics(topics: Mapping[str, Mapping[str, Any]], path: str) -> None:
    """Each topic's properties, as SNS would judge them at CreateTopic.

    ``topics`` maps logical id to properties with ``Fn::If`` already chosen.
    """
    for logical_id, properties in topics.items():
        tracing = properties.get("TracingConfig")
        check_topic_tracing(
            fifo=topic_is_fifo(properties),
            tracing=tracing if isinstance(tracing, str) else None,
            resource=f"{path}/{logical_id}" if path else logical_id,
        )


def check_buckets(
    buckets: Mapping[str, Mapping[str, Any]], context: Mapping[str, str], path: str
) -> None:
    """Each bucket name the template gives, as CreateBucket would judge it.

    ``buckets`` maps logical id to properties with ``Fn::If`` already chosen; ``context``
    holds the parameter and pseudo parameter values. A literal name or an ``Fn::Sub`` of
    those values is judged now; a name of any other form, or none, is left to AWS.
    """
    for logical_id, properties in buckets.items():
        given = properties.get("BucketName")
        name = _literal_or_sub(given, context)
        if name is not None:
            from_stack = isinstance(given, Mapping) and "${AWS::StackName}" in given["Fn::Sub"]
            check_bucket_name(
                name,
                f"{path}/{logical_id}" if path else logical_id,
                stack_name=context.get("AWS::StackName") if from_stack else None,
            )


def _literal_or_sub(value: Any, context: Mapping[str, str]) -> str | None:
    if isinstance(value, str):
        return value
    if (
        isinstance(value, Mapping)
        and set(value) == {"Fn::Sub"}
        and isinstance(value["Fn::Sub"], str)
    ):
        try:
            return re.sub(r"\$\{([^}]*)\}", lambda m: context[m.group(1)], value["Fn::Sub"])
        except KeyError:  # a reference to something else (a resource, an escape): left to AWS
            return None
    return None


def check_queues(
    queues: Mapping[str, Mapping[str, Any]], parameters: Mapping[str, str], path: str
) -> None:
    """Each queue's dead-letter queue has its type, where the template says what both are.

    ``queues`` maps logical id to properties with ``Fn::If`` already chosen. A target
    given as ``!GetAtt Queue.Arn`` of a queue here, a parameter or a literal ARN is
    judged now; any other form is left to the check on the created queues.
    """
    for logical_id, properties in queues.items():
        policy = properties.get("RedrivePolicy")
        if not isinstance(policy, Mapping) or "deadLetterTargetArn" not in policy:
            continue
        target_fifo = _target_is_fifo(policy["deadLetterTargetArn"], queues, parameters)
        if target_fifo is None:
            continue
        check_dead_letter_queue_type(
            source_fifo=queue_is_fifo(properties),
            dead_letter_fifo=target_fifo,
            redrive_policy=dict(policy),
            resource=f"{path}/{logical_id}" if path else logical_id,
        )


def _target_is_fifo(
    target: Any, queues: Mapping[str, Mapping[str, Any]], parameters: Mapping[str, str]
) -> bool | None:
    if isinstance(target, str):
        return is_fifo_queue(target)
    if isinstance(target, Mapping) and set(target) == {"Fn::GetAtt"}:
        logical_id, attribute = target["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in queues:
            return queue_is_fifo(queues[logical_id])
    if isinstance(target, Mapping) and set(target) == {"Ref"} and target["Ref"] in parameters:
        return is_fifo_queue(parameters[target["Ref"]])
    return None
