"""Logging, metrics and tracing, configured once per container.

Logs are the hub's JSON lines, written as ``hubcommon.logs.configure_logging``
sets them up (named here too for whatever configures a router process). Metrics
are CloudWatch embedded metric format documents written to stdout: Lambda sends
them to the function's log group and CloudWatch turns them into metrics with no API
call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Tracing patches botocore through aws-xray-sdk so SNS, SQS and S3 calls appear under the
function's segment; with no daemon or segment (``sam local invoke``, tests) a
missing context is ignored, never raised.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from hubcommon.logs import configure_logging

__all__ = [
    "METRICS_NAMESPACE",
    "MetricsSink",
    "configure_logging",
    "configure_tracing",
    "contract_metric_lines",
    "stdout_sink",
]

METRICS_NAMESPACE: Final = "FanoutHub/Router"

MetricsSink = Callable[[str], None]


def stdout_sink(line: str) -> None:
    """Write one EMF document to stdout, where Lambda ships it to CloudWatch Logs."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def contract_metric_lines(
    violations: Mapping[str, int],
    rejected: Mapping[str, int],
    modes: Mapping[str, str],
    function_name: str,
    now_ms: int | None = None,
) -> list[str]:
    """One EMF document per contracted entity with a violation in the batch.

    ``ContractViolations`` counts every item that broke its entity's contract (in either
    mode), ``ContractRejected`` those dead-lettered for it (``enforce``); both by the
    dimensions ``FunctionName`` (the router's, so one hub's figures are told from another
    hub's in the same account and region) and ``Entity``, whose values are the contracted
    entities alone (a bounded set). A batch without violations writes nothing: no data
    means none.
    """
    timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
    lines = []
    for entity in sorted(violations):
        document: dict[str, Any] = {
            # With the JSON log format Lambda drops application lines below the function's
            # ApplicationLogLevel, and reads a line without "level" as INFO: a violation is
            # a warning, so its metric stays as long as the warning lines do (not at ERROR).
            # And the same page: "For Lambda to use the timestamp field, you must specify
            # the time in valid RFC 3339 timestamp format. If you don't supply a valid
            # timestamp, Lambda will assign the log the level INFO and add a timestamp for
            # you." So the document carries one, as hubcommon.logs writes it.
            # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
            "level": "warn",
            "timestamp": rfc3339(timestamp),
            "FunctionName": function_name,
            "Entity": entity,
            "ContractMode": modes.get(entity, ""),
            "ContractViolations": violations[entity],
            "ContractRejected": rejected.get(entity, 0),
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [list(CONTRACT_DIMENSIONS)],
                        "Metrics": [
                            {"Name": "ContractViolations", "Unit": "Count"},
                            {"Name": "ContractRejected", "Unit": "Count"},
                        ],
                    }
                ],
            },
        }
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines


CONTRACT_DIMENSIONS: Final = ("FunctionName", "Entity")
"""The contract metrics' one dimension set: the router's function name, then the entity.

The function name is the hub's (one router per stack) and Lambda gives it to every
invocation (``context.function_name``), so no setting names the hub. The alarm in
template.yaml queries ``SCHEMA("FanoutHub/Router", Entity, FunctionName)`` with
``WHERE FunctionName`` = its own router.
"""


def rfc3339(epoch_ms: int) -> str:
    """``epoch_ms`` as hubcommon.logs' ``timestamp`` writes time: ISO 8601 / RFC 3339, UTC, ``Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def configure_tracing() -> bool:
    """Patch botocore for X-Ray unless ``AWS_XRAY_SDK_ENABLED`` is false; True when patched."""
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() in ("false", "0", "no"):
        return False
    from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415 - only when tracing is on

    xray_recorder.configure(context_missing="IGNORE_ERROR")
    patch(["botocore"])
    return True
