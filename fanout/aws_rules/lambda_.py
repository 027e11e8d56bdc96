"""What Lambda's CreateEventSourceMapping refuses, for the DynamoDB stream and SQS sources.

Each rule takes a mapping's properties with CloudFormation's names
(``AWS::Lambda::EventSourceMapping``, the same names as the API's request members)
and raises ``AwsRuleError`` with the code and text Lambda answers with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fanout.aws_rules.exceptions import AwsRuleError
from fanout.aws_rules.sqs import is_fifo_queue

API_DOC: Final = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"
SQS_PARAMETERS_DOC: Final = (
    "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html"
)
SQS_CONFIGURE_DOC: Final = (
    "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"
)
DDB_PARAMETERS_DOC: Final = "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"
QUOTAS_DOC: Final = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"

INVALID_PARAMETER: Final = "InvalidParameterValueException"
VALIDATION: Final = "ValidationException"

# BatchSize above this needs MaximumBatchingWindowInSeconds >= 1 ("Related setting" of
# BatchSize in API_DOC); for FIFO queues it is also the maximum (SQS_PARAMETERS_DOC).
UNBATCHED_MAX_BATCH_SIZE: Final = 10
# MaximumRecordAgeInSeconds: -1 (infinite) or this minimum up to the API maximum.
MINIMUM_RECORD_AGE_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class Range:
    """An integer member's valid range, and its name in Lambda's validation messages."""

    wire_name: str
    minimum: int
    maximum: int


# "Valid Range" of each request member, from API_DOC (and botocore's service model).
RANGES: Final[Mapping[str, Range]] = {
    "BatchSize": Range("batchSize", 1, 10_000),
    "MaximumBatchingWindowInSeconds": Range("maximumBatchingWindowInSeconds", 0, 300),
    "ParallelizationFactor": Range("parallelizationFactor", 1, 10),
    "MaximumRetryAttempts": Range("maximumRetryAttempts", -1, 10_000),
    "MaximumRecordAgeInSeconds": Range("maximumRecordAgeInSeconds", -1, 604_800),
    "TumblingWindowInSeconds": Range("tumblingWindowInSeconds", 0, 900),
}
MAXIMUM_CONCURRENCY: Final = Range("scalingConfig.maximumConcurrency", 2, 1000)

# Members API_DOC marks "(Kinesis, DynamoDB Streams, ...)": they do not apply to SQS.
STREAM_ONLY: Final = (
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
    "StartingPosition",
    "DestinationConfig",
)
# DynamoDB streams take TRIM_HORIZON or LATEST; AT_TIMESTAMP is Kinesis's (DDB_PARAMETERS_DOC).
DYNAMODB_STARTING_POSITIONS: Final = frozenset({"TRIM_HORIZON", "LATEST"})


def source_kind(source_arn: str) -> str:
    """``"dynamodb"`` or ``"sqs"``, from the service in the event source ARN."""
    parts = source_arn.split(":")
    return parts[2] if len(parts) > 2 else ""  # noqa: PLR2004 - arn:partition:service


def check_ranges(properties: Mapping[str, Any], resource: str) -> None:
    """Every integer member within its API range.

    Lambda answers with its generic validation message, e.g. "1 validation error
    detected: Value '0' at 'batchSize' failed to satisfy constraint: Member must have
    value greater than or equal to 1" (API_DOC; the wording as AWS returns it is
    recorded in LocalStack's AWS-validated snapshot for provisionedConcurrentExecutions).
    """
    bounded = [(RANGES[name], properties[name]) for name in RANGES if name in properties]
    scaling = properties.get("ScalingConfig") or {}
    if "MaximumConcurrency" in scaling:
        bounded.append((MAXIMUM_CONCURRENCY, scaling["MaximumConcurrency"]))
    for bound, raw in bounded:
        value = _number(raw)
        if value < bound.minimum:
            constraint = f"greater than or equal to {bound.minimum}"
        elif value > bound.maximum:
            constraint = f"less than or equal to {bound.maximum}"
        else:
            continue
        raise AwsRuleError(
            VALIDATION,
            f"1 validation error detected: Value '{raw}' at '{bound.wire_name}' failed to"
            f" satisfy constraint: Member must have value {constraint}",
            resource,
            API_DOC,
        )


def check_record_age(properties: Mapping[str, Any], resource: str) -> None:
    """MaximumRecordAgeInSeconds is -1 or at least 60 seconds (DDB_PARAMETERS_DOC).

    The API's range starts at -1, but Lambda refuses 0..59 with this text (quoted from
    the API's answer in hashicorp/terraform-provider-aws#16113).
    """
    if "MaximumRecordAgeInSeconds" not in properties:
        return
    age = _number(properties["MaximumRecordAgeInSeconds"])
    if age != -1 and age < MINIMUM_RECORD_AGE_SECONDS:
        raise AwsRuleError(
            INVALID_PARAMETER,
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800"
            " (inclusive)",
            resource,
            DDB_PARAMETERS_DOC,
        )


def check_fifo_batching_window(properties: Mapping[str, Any], resource: str) -> None:
    """No batching window on a FIFO queue (SQS_PARAMETERS_DOC: "Batching window is not
    supported for FIFO queues", which is also the text the API answers with).
    """
    source = str(properties.get("EventSourceArn", ""))
    window = _number(properties.get("MaximumBatchingWindowInSeconds", 0))
    if source_kind(source) == "sqs" and is_fifo_queue(source) and window > 0:
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Batching window is not supported for FIFO queues",
            resource,
            SQS_PARAMETERS_DOC,
        )


def check_queue_batch_size(properties: Mapping[str, Any], resource: str) -> None:
    """An SQS BatchSize above 10 needs a batching window of at least 1 second.

    API_DOC (BatchSize, "Related setting"); SQS_PARAMETERS_DOC: at most 10 for a FIFO
    queue, which can have no window, so this rule and ``check_fifo_batching_window``
    together refuse every FIFO BatchSize above 10, each with Lambda's own text.
    """
    source = str(properties.get("EventSourceArn", ""))
    if source_kind(source) != "sqs":
        return
    batch_size = _number(properties.get("BatchSize", UNBATCHED_MAX_BATCH_SIZE))
    window = _number(properties.get("MaximumBatchingWindowInSeconds", 0))
    if batch_size > UNBATCHED_MAX_BATCH_SIZE and window <= 0:
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is"
            " greater than 10",
            resource,
            API_DOC,
        )


def check_stream_only_parameters(properties: Mapping[str, Any], resource: str) -> None:
    """Stream-only members on an SQS mapping are refused (API_DOC marks them per source).

    Lambda's text is **verbatim** for DestinationConfig, as LocalStack's AWS-validated
    snapshot records it: "Unsupported DestinationConfig parameter for given event
    source mapping type."; for the other members it is that sentence **extended by us**
    (no recorded text), with the member's name.
    """
    source = str(properties.get("EventSourceArn", ""))
    if source_kind(source) != "sqs":
        return
    for name in STREAM_ONLY:
        if name in properties:
            raise AwsRuleError(
                INVALID_PARAMETER,
                f"Unsupported {name} parameter for given event source mapping type.",
                resource,
                API_DOC,
            )


def check_starting_position(properties: Mapping[str, Any], resource: str) -> None:
    """A DynamoDB stream starts at TRIM_HORIZON or LATEST (DDB_PARAMETERS_DOC)."""
    source = str(properties.get("EventSourceArn", ""))
    position = properties.get("StartingPosition")
    if source_kind(source) == "dynamodb" and position not in DYNAMODB_STARTING_POSITIONS:
        if position is None:
            message = (
                "1 validation error detected: Value null at 'startingPosition' failed to"
                " satisfy constraint: Member must not be null."
            )
        else:
            message = f"Unsupported starting position for arn type: {source}"
        raise AwsRuleError(INVALID_PARAMETER, message, resource, DDB_PARAMETERS_DOC)


MAPPING_RULES: Final = (
    check_ranges,
    check_record_age,
    check_stream_only_parameters,
    check_starting_position,
    check_fifo_batching_window,
    check_queue_batch_size,
)
"""Member ranges first (the API validates members before Lambda reads the request), then
the source-specific rules in the order LocalStack applies them; the first failing rule's
text is the one reported."""


def check_mapping(properties: Mapping[str, Any], resource: str) -> None:
    """Raise ``AwsRuleError`` for the first rule the mapping breaks.

    ``properties`` must hold ``EventSourceArn``; every other member is optional.
    """
    for rule in MAPPING_RULES:
        rule(properties, resource)


def check_visibility_timeout(
    visibility_timeout_seconds: float, function_timeout_seconds: float, resource: str
) -> None:
    """The queue's visibility timeout is at least the function's timeout.

    SQS_CONFIGURE_DOC; Lambda refuses the mapping with "Queue visibility timeout: 30
    seconds is less than Function timeout: 60 seconds" (its answer as quoted in
    terraform-aws-github-runner#465 and winglang/wing#1507).
    """
    if visibility_timeout_seconds < function_timeout_seconds:
        raise AwsRuleError(
            INVALID_PARAMETER,
            f"Queue visibility timeout: {visibility_timeout_seconds:g} seconds is less than"
            f" Function timeout: {function_timeout_seconds:g} seconds",
            resource,
            SQS_CONFIGURE_DOC,
        )


# "Environment variables: 4 KB, for all environment variables associated with the
# function, in aggregate" (QUOTAS_DOC).
MAX_ENVIRONMENT_BYTES: Final = 4096


def check_environment_size(variables: Mapping[str, str], resource: str) -> None:
    """A function's environment variables fit Lambda's 4 KB quota, in aggregate.

    QUOTAS_DOC. Lambda measures the variables as one JSON object: its refusal reads
    "Lambda was unable to configure your environment variables because the environment
    variables you have provided exceeded the 4KB limit. String measured: {...}". The
    kit's ConsumerConfig travels in one variable, so a large one meets this quota.
    """
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    size = len(measured.encode("utf-8"))
    if size > MAX_ENVIRONMENT_BYTES:
        raise AwsRuleError(
            INVALID_PARAMETER,
            "Lambda was unable to configure your environment variables because the"
            " environment variables you have provided exceeded the 4KB limit. String"
            f" measured: {size} bytes",
            resource,
            QUOTAS_DOC,
        )


def _number(value: Any) -> float:
    """Template numbers may arrive as strings ("10") through nested-stack parameters."""
    return float(value)
