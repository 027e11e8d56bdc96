"""``fanout status``: every queue and DLQ of the hub, failed stream batches, alarms in ALARM.

Depth and in-flight counts come from SQS (``GetQueueAttributes``). The age of the
oldest message is not a queue attribute: SQS publishes it to CloudWatch as
``ApproximateAgeOfOldestMessage`` (one-minute datapoints), read here with
``GetMetricData``. An endpoint without SQS metrics (the local hub's moto server,
LocalStack) has no datapoints, and the age shows as not available.
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.ops.replay.stream_failures import FAILURE_PREFIX
from fanout.ops.resolve import Hub

AGE_METRIC = "ApproximateAgeOfOldestMessage"
AGE_NOT_AVAILABLE = "no CloudWatch datapoints (the endpoint publishes no SQS metrics)"

Role = Literal["queue", "dlq", "router-dlq", "on-failure"]


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One queue's numbers."""

    owner: str
    role: Role
    name: str
    url: str
    visible: int
    in_flight: int
    delayed: int
    oldest_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """An alarm in ALARM, and where its runbook is."""

    name: str
    reason: str
    since: str | None
    runbook: str | None


@dataclass
class HubStatus:
    """What ``fanout status`` shows."""

    stack_name: str
    queues: list[QueueStatus] = field(default_factory=list)
    failed_batches: int | None = None
    failure_destination: str | None = None
    alarms: list[AlarmStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def dead_letters(self) -> int:
        """Messages waiting in every DLQ."""
        return sum(q.visible + q.in_flight for q in self.queues if q.role in ("dlq", "router-dlq"))

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return {
            "stack_name": self.stack_name,
            "queues": [asdict(q) for q in self.queues],
            "dead_letters": self.dead_letters,
            "failed_batches": self.failed_batches,
            "failure_destination": self.failure_destination,
            "alarms": [asdict(a) for a in self.alarms],
            "notes": self.notes,
        }


def _queues_of(hub: Hub) -> list[tuple[str, Role, str]]:
    queues: list[tuple[str, Role, str]] = []
    for consumer in hub.consumers:
        queues.append((consumer.name, "queue", consumer.queue_url))
        queues.append((consumer.name, "dlq", consumer.dlq_url))
    if hub.router_dlq_url:
        queues.append(("router", "router-dlq", hub.router_dlq_url))
    if hub.failure_destination and hub.failure_destination.startswith("arn:aws:sqs:"):
        queues.append(("router", "on-failure", hub.failure_destination))
    return queues


def _ages(cloudwatch: Any, names: list[str], now: datetime) -> dict[str, float]:
    """The latest ApproximateAgeOfOldestMessage (seconds) per queue name that has one."""
    if not names:
        return {}
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": AGE_METRIC,
                    "Dimensions": [{"Name": "QueueName", "Value": name}],
                },
                "Period": 60,
                "Stat": "Maximum",
            },
            "ReturnData": True,
        }
        for i, name in enumerate(names)
    ]
    try:
        response = cloudwatch.get_metric_data(
            MetricDataQueries=queries,
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            ScanBy="TimestampDescending",
        )
    except ClientError:
        return {}
    ages: dict[str, float] = {}
    for result in response.get("MetricDataResults", []):
        values = result.get("Values") or []
        if values:
            ages[names[int(result["Id"][1:])]] = float(values[0])
    return ages


_RUNBOOK = re.compile(r"Runbook:\s*(\S+)")


def _alarms(cloudwatch: Any, stack_name: str) -> list[AlarmStatus]:
    """Alarms named after the stack (CloudFormation's and the local hub's naming) in ALARM."""
    found: list[AlarmStatus] = []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{stack_name}-")
    for page in pages:
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            # Filtered here too: some endpoints ignore StateValue next to a name prefix.
            if alarm.get("StateValue") != "ALARM":
                continue
            since = alarm.get("StateUpdatedTimestamp")
            runbook = _RUNBOOK.search(alarm.get("AlarmDescription") or "")
            found.append(
                AlarmStatus(
                    name=alarm["AlarmName"],
                    reason=str(alarm.get("StateReason", "")),
                    since=since.isoformat() if isinstance(since, datetime) else None,
                    runbook=runbook.group(1) if runbook else None,
                )
            )
    return found


def _failed_batches(s3: Any, destination: str) -> int:
    bucket = destination.removeprefix("arn:aws:s3:::")
    response = s3.list_objects_v2(Bucket=bucket, Prefix=FAILURE_PREFIX, MaxKeys=1000)
    return int(response.get("KeyCount", 0))


def hub_status(connection: Connection, hub: Hub, now: datetime | None = None) -> HubStatus:
    """Read every number ``fanout status`` shows (read-only: nothing is received)."""
    sqs, cloudwatch = connection.client("sqs"), connection.client("cloudwatch")
    status = HubStatus(stack_name=hub.stack_name, failure_destination=hub.failure_destination)
    listed = _queues_of(hub)
    attributes: list[tuple[str, Role, str, dict[str, str]]] = []
    for owner, role, where in listed:
        url = where
        if where.startswith("arn:aws:sqs:"):
            from fanout.connection import queue_url_of  # noqa: PLC0415 - ARN only here

            url = queue_url_of(sqs, where)
        values = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "QueueArn",
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        attributes.append((owner, role, url, values))
    names = [values["QueueArn"].rsplit(":", 1)[-1] for *_, values in attributes]
    ages = _ages(cloudwatch, names, now or datetime.now(UTC))
    for (owner, role, url, values), name in zip(attributes, names, strict=True):
        status.queues.append(
            QueueStatus(
                owner=owner,
                role=role,
                name=name,
                url=url,
                visible=int(values.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(values.get("ApproximateNumberOfMessagesNotVisible", 0)),
                delayed=int(values.get("ApproximateNumberOfMessagesDelayed", 0)),
                oldest_age_seconds=ages.get(name),
            )
        )
    if names and not ages:
        status.notes.append(f"age of oldest message: {AGE_NOT_AVAILABLE}")
    if hub.failure_destination and hub.failure_destination.startswith("arn:aws:s3:::"):
        try:
            status.failed_batches = _failed_batches(
                connection.client("s3"), hub.failure_destination
            )
        except ClientError as exc:
            status.notes.append(f"failed batches: {exc}")
    status.alarms = _alarms(cloudwatch, hub.stack_name)
    return status
