"""What SNS refuses when a subscription is created or a topic is configured."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from fanout.aws_rules.exceptions import AwsRuleError
from fanout.aws_rules.sqs import is_fifo_queue

FIFO_DELIVERY_DOC: Final = "https://docs.aws.amazon.com/sns/latest/dg/fifo-message-delivery.html"
# A FIFO topic does deliver to standard queues: AWS's own example subscribes "two Amazon
# SQS FIFO queues, and one Standard queue" to a FIFO topic, and "Message group ID is not
# passed to Amazon SQS standard queues".
FIFO_TO_STANDARD_DOC: Final = (
    "https://docs.aws.amazon.com/sns/latest/dg/example_sns_PublishFifoTopic_section.html"
)
LARGE_MESSAGES_DOC: Final = "https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html"
SET_TOPIC_ATTRIBUTES_DOC: Final = (
    "https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html"
)

INVALID_PARAMETER: Final = "InvalidParameter"
CREATE_TOPIC_DOC: Final = "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html"
# Topics accept 256 KiB unless MaximumMessageSize says more (up to 1 MiB); above the
# default, at most 100 subscriptions, each SQS, Firehose or Lambda (LARGE_MESSAGES_DOC).
DEFAULT_MAXIMUM_MESSAGE_SIZE: Final = 262_144
LARGE_TOPIC_MAX_SUBSCRIPTIONS: Final = 100
LARGE_TOPIC_PROTOCOLS: Final = frozenset({"sqs", "lambda", "firehose"})


def is_fifo_topic(arn: str) -> bool:
    """A FIFO topic's name, hence its ARN, ends in ``.fifo`` (SNS requires it)."""
    return arn.endswith(".fifo")


def check_fifo_endpoint(topic_arn: str, protocol: str, endpoint: str, resource: str) -> None:
    """A FIFO queue cannot subscribe to a standard topic (FIFO_DELIVERY_DOC).

    SNS's text **verbatim** (LocalStack's AWS-validated snapshot, and moto). The
    reverse, a standard queue on a FIFO topic, is allowed (FIFO_TO_STANDARD_DOC).
    """
    if protocol == "sqs" and is_fifo_queue(endpoint) and not is_fifo_topic(topic_arn):
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be"
            " subscribed to standard SNS topics",
            resource,
            FIFO_DELIVERY_DOC,
        )


SNS_DLQ_DOC: Final = "https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html"


def check_subscription_dead_letter_queue(
    topic_arn: str, protocol: str, endpoint: str, redrive_policy: Any, resource: str
) -> None:
    """A subscription's dead-letter queue is of its topic's type (SNS_DLQ_DOC).

    SNS_DLQ_DOC: "FIFO topic subscriptions use FIFO queues, and standard topic
    subscriptions use standard queues."

    - A FIFO queue's subscription to a FIFO topic with a standard DLQ: SNS's text
      **verbatim**, as LocalStack's AWS-validated snapshot records it for Subscribe with
      attributes. That snapshot also shows a *standard* queue's subscription to a FIFO
      topic accepted with a standard DLQ, so only the FIFO-queue case is refused.
    - A standard topic's subscription with a FIFO DLQ: the documented rule, **phrased
      by us** (no recorded SNS text); SNS delivers to it without a message group id,
      which a FIFO queue refuses.
    """
    del protocol  # the rule holds for every protocol a redrive policy may be set on
    if redrive_policy is None:
        return
    policy = json.loads(redrive_policy) if isinstance(redrive_policy, str) else redrive_policy
    target = str(policy.get("deadLetterTargetArn", ""))
    if is_fifo_topic(topic_arn) and is_fifo_queue(endpoint) and not is_fifo_queue(target):
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Invalid parameter: Attributes Reason: RedrivePolicy: must use a FIFO queue as DLQ"
            " for a FIFO Subscription to a FIFO Topic.",
            resource,
            SNS_DLQ_DOC,
        )
    if not is_fifo_topic(topic_arn) and is_fifo_queue(target):
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Invalid parameter: Attributes Reason: RedrivePolicy: a subscription to a standard"
            " topic must use a standard queue as DLQ",
            resource,
            SNS_DLQ_DOC,
        )


def check_subscription(properties: Mapping[str, Any], resource: str) -> None:
    """Every Subscribe-time rule, over ``AWS::SNS::Subscription`` properties."""
    topic, protocol = str(properties["TopicArn"]), str(properties["Protocol"])
    endpoint = str(properties.get("Endpoint", ""))
    check_fifo_endpoint(topic, protocol, endpoint, resource)
    check_subscription_dead_letter_queue(
        topic, protocol, endpoint, properties.get("RedrivePolicy"), resource
    )


def check_large_topic(maximum_message_size: int, protocols: Iterable[str], resource: str) -> None:
    """A topic above 256 KiB has at most 100 subscriptions, all SQS, Firehose or Lambda.

    SET_TOPIC_ATTRIBUTES_DOC: "A topic with a MaximumMessageSize above 256 KiB must have
    100 or fewer subscriptions, and each subscription must be an Amazon SQS, Amazon Data
    Firehose, or AWS Lambda subscription." SNS answers ``InvalidParameter``
    (LARGE_MESSAGES_DOC); the docs do not quote its message, so the message here is
    the documented rule **phrased by us**, not SNS's text.
    """
    if maximum_message_size <= DEFAULT_MAXIMUM_MESSAGE_SIZE:
        return
    protocols = list(protocols)
    refused = sorted({p for p in protocols if p not in LARGE_TOPIC_PROTOCOLS})
    if len(protocols) <= LARGE_TOPIC_MAX_SUBSCRIPTIONS and not refused:
        return
    found = (
        f"it has {len(protocols)} subscriptions"
        if len(protocols) > LARGE_TOPIC_MAX_SUBSCRIPTIONS
        else f"it has {', '.join(refused)} subscriptions"
    )
    raise AwsRuleError(
        INVALID_PARAMETER,
        f"A topic with a MaximumMessageSize above 256 KiB must have 100 or fewer subscriptions,"
        f" and each subscription must be an Amazon SQS, Amazon Data Firehose, or AWS Lambda"
        f" subscription (MaximumMessageSize {maximum_message_size}; {found})",
        resource,
        SET_TOPIC_ATTRIBUTES_DOC,
    )


def check_topic_tracing(*, fifo: bool, tracing: str | None, resource: str) -> None:
    """Active tracing only on a standard topic (CREATE_TOPIC_DOC, ``TracingConfig``: "If set
    to Active, Amazon SNS will vend X-Ray segment data ... This is only supported on
    standard topics"). SNS's answer is not recorded: the text is *ours*, the documented rule.
    """
    if fifo and tracing == "Active":
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Invalid parameter: Attributes Reason: TracingConfig Active is only supported on"
            " standard topics",
            resource,
            CREATE_TOPIC_DOC,
        )
