"""Logs, metrics and traces for consumers.

- Logs: the hub's JSON lines on stdout (``hubcommon.logs.configure_logging``).
- Metrics: CloudWatch embedded metric format lines, turned into metrics by
  CloudWatch with no API call
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
- Traces: one X-Ray subsegment per event. Without a segment (tests,
  ``sam local invoke``, tracing off) the subsegment is simply absent.

No log line carries a value of an item: the consumer's log group is not encrypted
with a customer key on that promise (template.yaml). ``error_summary`` is what a
line may say about an error.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Final, Protocol

from hubcommon.limits import CLOUDWATCH_EMF_MAX_VALUES_PER_METRIC

METRICS_NAMESPACE: Final = "FanoutHub/Consumers"
# Longest error summary a log line carries.
MAX_SUMMARY_CHARS: Final = 500


def error_summary(
    error: BaseException, *, text_is_safe: bool = False, text: str | None = None
) -> str:
    """What a log line may say about ``error``, without any value the message carried.

    ``text_is_safe`` is for the runtime's own errors, whose text names a field and
    what is wrong with it, never its value. An AWS SDK error is named by its code and
    operation. Any other error (the consumer's own code, a library) may have put an
    item value in its text, so only its type and where it was raised are said; its
    full text goes with a dead letter to the DLQ, which is not a log. ``text``, when
    given with ``text_is_safe``, is said instead of the error's own text.
    """
    name = type(error).__name__
    response = getattr(error, "response", None)
    operation = getattr(error, "operation_name", None)
    if isinstance(response, dict) and isinstance(operation, str):
        # botocore's ClientError: the code and the API call say what went wrong.
        code = (response.get("Error") or {}).get("Code", "")
        return f"{name}: {code} from {operation}"[:MAX_SUMMARY_CHARS]
    if text_is_safe:
        return f"{name}: {error if text is None else text}"[:MAX_SUMMARY_CHARS]
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return name
    where = frames[-1]
    place = "/".join(PurePath(where.filename).parts[-2:])
    return f"{name} raised at {place}:{where.lineno} in {where.name}"[:MAX_SUMMARY_CHARS]


@dataclass(slots=True)
class BatchMetrics:
    """Counts for one batch, written as one EMF line per chunk of latencies."""

    consumer: str
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    stale_skipped: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def emf_lines(self, now_ms: int | None = None) -> list[str]:
        """The EMF documents for this batch (several when latencies exceed EMF's per-metric cap)."""
        timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
        counts: dict[str, float] = {
            "Processed": self.processed,
            "Failed": self.failed,
            "DeadLettered": self.dead_lettered,
            "DuplicatesSkipped": self.duplicates_skipped,
            "StaleSkipped": self.stale_skipped,
        }
        chunks = [
            self.latencies_ms[i : i + CLOUDWATCH_EMF_MAX_VALUES_PER_METRIC]
            for i in range(0, len(self.latencies_ms), CLOUDWATCH_EMF_MAX_VALUES_PER_METRIC)
        ] or [[]]
        lines = []
        for index, chunk in enumerate(chunks):
            values: dict[str, Any] = counts if index == 0 else {}
            metrics = [{"Name": name, "Unit": "Count"} for name in values]
            document: dict[str, Any] = {"Consumer": self.consumer, **values}
            if chunk:
                metrics.append({"Name": "EventLatency", "Unit": "Milliseconds"})
                document["EventLatency"] = [round(v, 3) for v in chunk]
            document["_aws"] = {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [["Consumer"]],
                        "Metrics": metrics,
                    }
                ],
            }
            lines.append(json.dumps(document, separators=(",", ":")))
        return lines


MetricsSink = Callable[[str], None]


def stdout_sink(line: str) -> None:
    """Write one EMF document to stdout, where Lambda ships it to CloudWatch Logs."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Tracer(Protocol):
    """Opens a named span around one event."""

    def subsegment(self, name: str, annotations: dict[str, str]) -> AbstractContextManager[None]:
        """Trace the enclosed block; must work when tracing is off."""
        ...


class XRayTracer:
    """X-Ray subsegments through aws-xray-sdk's global recorder."""

    def __init__(self) -> None:
        from aws_xray_sdk.core import xray_recorder  # noqa: PLC0415 - only when tracing is built

        # With no segment (no Lambda trace header, tests, sam local) the SDK
        # would log an error per event; there is nothing to record, so ignore.
        xray_recorder.configure(context_missing="IGNORE_ERROR")
        self._recorder = xray_recorder

    @contextmanager
    def subsegment(self, name: str, annotations: dict[str, str]) -> Iterator[None]:
        """One subsegment, annotated for search in the X-Ray console."""
        with self._recorder.in_subsegment(name) as segment:
            if segment is not None:
                for key, value in annotations.items():
                    segment.put_annotation(key, value)
            yield


class NoTracer:
    """A tracer that records nothing."""

    @contextmanager
    def subsegment(self, name: str, annotations: dict[str, str]) -> Iterator[None]:  # noqa: ARG002
        """Run the block untraced."""
        yield
