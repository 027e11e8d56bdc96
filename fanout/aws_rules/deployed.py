"""Rules checked on a created stack tree, over the resolved resources ``fanout.deploy`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fanout.aws_rules.lambda_ import (
    check_environment_size,
    check_mapping,
    check_visibility_timeout,
    source_kind,
)
from fanout.aws_rules.sns import DEFAULT_MAXIMUM_MESSAGE_SIZE, check_large_topic, check_subscription
from fanout.aws_rules.sqs import check_dead_letter_queue_type, is_fifo_queue

if TYPE_CHECKING:
    from fanout.deploy.models import DeployedStack


def check_deployed(stack: DeployedStack) -> None:
    """Raise ``AwsRuleError`` for the first resource of the tree AWS would refuse."""
    check_functions(stack)
    check_mappings(stack)
    check_dead_letter_queues(stack)
    check_subscriptions(stack)
    check_topics(stack)


def check_functions(stack: DeployedStack) -> None:
    """Each function's environment as CreateFunction would judge it."""
    for function in stack.all_functions().values():
        check_environment_size(function.environment, function.path)


def check_mappings(stack: DeployedStack) -> None:
    """Each mapping's parameters, and an SQS source's visibility timeout against its function's."""
    functions = stack.all_functions()
    for mapping in stack.all_event_source_mappings():
        check_mapping({**mapping.properties, "EventSourceArn": mapping.source_arn}, mapping.path)
        if source_kind(mapping.source_arn) != "sqs" or mapping.function_path not in functions:
            continue
        try:
            queue = stack.queue_by_arn(mapping.source_arn)
        except KeyError:
            continue  # a queue of another stack: its owner's deployment checks it
        check_visibility_timeout(
            queue.visibility_timeout_seconds,
            functions[mapping.function_path].timeout_seconds,
            mapping.path,
        )


def check_dead_letter_queues(stack: DeployedStack) -> None:
    """Each redrive policy names a dead-letter queue of the source queue's type."""
    for queue in stack.all_queues().values():
        if queue.redrive_policy is None:
            continue
        check_dead_letter_queue_type(
            source_fifo=is_fifo_queue(queue.arn),
            dead_letter_fifo=is_fifo_queue(queue.redrive_policy.dead_letter_arn),
            redrive_policy=queue.attributes.get("RedrivePolicy", ""),
            resource=queue.path,
        )


def check_subscriptions(stack: DeployedStack) -> None:
    """Each subscription as SNS's Subscribe would judge it."""
    for subscription in stack.all_subscriptions().values():
        check_subscription(
            {
                "TopicArn": subscription.topic_arn,
                "Protocol": subscription.protocol,
                "Endpoint": subscription.endpoint,
                "RedrivePolicy": subscription.attributes.get("RedrivePolicy"),
            },
            subscription.path,
        )


def check_topics(stack: DeployedStack) -> None:
    """A topic above 256 KiB keeps to the subscriptions SNS allows it, over the whole tree."""
    subscriptions = stack.all_subscriptions().values()
    for topic in stack.all_topics().values():
        size = int(topic.attributes.get("MaximumMessageSize", DEFAULT_MAXIMUM_MESSAGE_SIZE))
        protocols = [s.protocol for s in subscriptions if s.topic_arn == topic.arn]
        check_large_topic(size, protocols, topic.path)
