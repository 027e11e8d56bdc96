"""What the local hub emulates: functions to invoke and event source mappings to drive.

These are the emulator's own small shapes. ``fanout.local.hub`` fills them from
the deployed template (``fanout.deploy``); tests build them by hand. Every
setting the emulator obeys comes from here, never from a constant in a poller,
so a change to the template's ``Events`` properties changes local behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from fanout.aws_rules import check_mapping

# https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"
# -1 means "until the record expires" for both MaximumRetryAttempts and MaximumRecordAgeInSeconds.
INFINITE: Final = -1
# Defaults when a property is absent, from the parameter tables:
# https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
DEFAULT_STREAM_BATCH_SIZE: Final = 100
DEFAULT_QUEUE_BATCH_SIZE: Final = 10
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html (default 3 s)
DEFAULT_FUNCTION_TIMEOUT_SECONDS: Final = 3
DEFAULT_MEMORY_MB: Final = 128


class SourceKind(StrEnum):
    """The two event sources the hub uses."""

    DYNAMODB_STREAM = "dynamodb"
    SQS_QUEUE = "sqs"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A Lambda function as the emulator runs it: the handler string and its configuration."""

    name: str
    handler: str
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_FUNCTION_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    arn: str = ""
    logical_id: str = ""
    layers: tuple[str, ...] = ()
    """Local folders of the function's layers, in order: on the import path while it runs,
    as Lambda puts each layer's ``python/`` on ``sys.path``
    (https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html)."""

    @property
    def function_arn(self) -> str:
        """The ARN if deployment gave one, else a well-formed stand-in."""
        return self.arn or f"arn:aws:lambda:us-east-1:123456789012:function:{self.name}"


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """One event source mapping, with the properties Lambda honours for it."""

    function: str
    source_arn: str
    batch_size: int | None = None
    maximum_batching_window_seconds: float = 0
    starting_position: str = "TRIM_HORIZON"
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = INFINITE
    maximum_record_age_seconds: int = INFINITE
    function_response_types: tuple[str, ...] = ()
    on_failure_destination: str | None = None
    maximum_concurrency: int | None = None
    enabled: bool = True
    uuid: str = ""

    def __post_init__(self) -> None:
        # Lambda refuses these configurations when the mapping is created; so does the
        # emulator, whether the spec comes from a template or is built by hand.
        check_mapping(self.declared_properties(), f"{self.function} mapping")

    def declared_properties(self) -> dict[str, Any]:
        """The CreateEventSourceMapping members this spec sets (defaults left out)."""
        declared: dict[str, Any] = {"EventSourceArn": self.source_arn}
        if self.batch_size is not None:
            declared["BatchSize"] = self.batch_size
        if self.maximum_batching_window_seconds:
            declared["MaximumBatchingWindowInSeconds"] = self.maximum_batching_window_seconds
        if self.kind is SourceKind.DYNAMODB_STREAM:
            declared["StartingPosition"] = self.starting_position
        if self.bisect_batch_on_function_error:
            declared["BisectBatchOnFunctionError"] = True
        if self.maximum_retry_attempts != INFINITE:
            declared["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_record_age_seconds != INFINITE:
            declared["MaximumRecordAgeInSeconds"] = self.maximum_record_age_seconds
        if self.on_failure_destination:
            declared["DestinationConfig"] = {
                "OnFailure": {"Destination": self.on_failure_destination}
            }
        if self.maximum_concurrency is not None:
            declared["ScalingConfig"] = {"MaximumConcurrency": self.maximum_concurrency}
        return declared

    @property
    def kind(self) -> SourceKind:
        """Stream or queue, from the service in the source ARN."""
        parts = self.source_arn.split(":")
        service = parts[2] if len(parts) > 2 else ""  # noqa: PLR2004 - arn:partition:service
        if service == "dynamodb":
            return SourceKind.DYNAMODB_STREAM
        if service == "sqs":
            return SourceKind.SQS_QUEUE
        raise ValueError(f"unsupported event source {self.source_arn!r}")

    @property
    def effective_batch_size(self) -> int:
        """BatchSize, or Lambda's default for the source."""
        if self.batch_size is not None:
            return self.batch_size
        if self.kind is SourceKind.SQS_QUEUE:
            return DEFAULT_QUEUE_BATCH_SIZE
        return DEFAULT_STREAM_BATCH_SIZE

    @property
    def reports_batch_item_failures(self) -> bool:
        """True when Lambda reads ``batchItemFailures`` from the response."""
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types

    @classmethod
    def from_properties(
        cls, function: str, properties: Mapping[str, Any], uuid: str = ""
    ) -> MappingSpec:
        """Build from CloudFormation ``AWS::Lambda::EventSourceMapping`` property names.

        Raises ``AwsRuleError`` for properties Lambda would refuse, including those
        the spec does not keep (``ParallelizationFactor``, ``TumblingWindowInSeconds``).
        """
        check_mapping(properties, f"{function} mapping")
        destination = ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        scaling = properties.get("ScalingConfig") or {}
        batch_size = properties.get("BatchSize")
        return cls(
            function=function,
            source_arn=str(properties["EventSourceArn"]),
            batch_size=int(batch_size) if batch_size is not None else None,
            maximum_batching_window_seconds=float(
                properties.get("MaximumBatchingWindowInSeconds", 0)
            ),
            starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
            bisect_batch_on_function_error=_truthy(
                properties.get("BisectBatchOnFunctionError", False)
            ),
            maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", INFINITE)),
            maximum_record_age_seconds=int(properties.get("MaximumRecordAgeInSeconds", INFINITE)),
            function_response_types=tuple(properties.get("FunctionResponseTypes") or ()),
            on_failure_destination=str(destination) if destination else None,
            maximum_concurrency=(
                int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None
            ),
            enabled=_truthy(properties.get("Enabled", True)),
            uuid=uuid,
        )


def _truthy(value: Any) -> bool:
    """CloudFormation booleans may arrive as strings ("true")."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
