"""What ``fanout.deploy.deployer.deploy`` returns: the created stack tree, as the local pipeline needs it.

Each function's handler, environment (references resolved to real names, ARNs and
URLs), timeout and memory; each mapping's source ARN and properties; each queue's
URL, ARN and redrive policy; each subscription's attributes; the outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Function:
    """A deployed Lambda function, as the local invoker needs it."""

    path: str
    """Logical id, prefixed by nested stacks: ``RouterFunction``, ``AuditLogConsumer/ConsumerFunction``."""
    name: str
    arn: str
    handler: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]
    layers: tuple[str, ...] = ()
    """Layer version ARNs, in order (other accounts' too: the local invoker attaches them)."""


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    """An event source mapping of the template, resolved but not created.

    ``properties`` are the ``AWS::Lambda::EventSourceMapping`` properties with every
    intrinsic resolved (``EventSourceArn``, ``BatchSize``, ``FunctionResponseTypes``,
    ``DestinationConfig``, ``ScalingConfig`` ...), so CloudFormation's names and
    Lambda's defaults apply; ``FunctionName`` is the deployed function's name.
    """

    path: str
    function_path: str
    function_name: str
    source_arn: str
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    """Where a queue's messages go after ``max_receive_count`` receives."""

    dead_letter_arn: str
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class Queue:
    """A deployed SQS queue with its live attributes."""

    path: str
    name: str
    url: str
    arn: str
    attributes: Mapping[str, str]
    redrive_policy: RedrivePolicy | None

    @property
    def visibility_timeout_seconds(self) -> int:
        return int(self.attributes["VisibilityTimeout"])


@dataclass(frozen=True, slots=True)
class Subscription:
    """An SNS subscription created with ``sns.subscribe``."""

    path: str
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: Mapping[str, str]
    """As passed to ``Subscribe``: ``RawMessageDelivery``, ``FilterPolicy`` (JSON text) ..."""

    @property
    def filter_policy(self) -> dict[str, Any] | None:
        text = self.attributes.get("FilterPolicy")
        return json.loads(text) if text else None


@dataclass(frozen=True, slots=True)
class Topic:
    """A deployed SNS topic."""

    path: str
    arn: str
    attributes: Mapping[str, str]
    """Live attributes, plus those the template sets that the endpoint does not report."""


@dataclass(frozen=True, slots=True)
class DeployedStack:
    """One created stack and its nested stacks; the ``all_*`` views walk the whole tree."""

    name: str
    path: str
    """"" for the root stack, the nested application's logical id path otherwise."""
    stack_id: str
    parameters: Mapping[str, str]
    conditions: Mapping[str, bool]
    outputs: Mapping[str, str]
    physical_ids: Mapping[str, str]
    """Logical id to physical id of every created resource (CloudFormation and API)."""
    resource_types: Mapping[str, str]
    functions: Mapping[str, Function]
    queues: Mapping[str, Queue]
    subscriptions: Mapping[str, Subscription]
    event_source_mappings: tuple[EventSourceMapping, ...]
    alarms: Mapping[str, Mapping[str, Any]]
    """Alarm name to the ``PutMetricAlarm`` arguments used."""
    nested: Mapping[str, DeployedStack] = field(default_factory=dict)
    topics: Mapping[str, Topic] = field(default_factory=dict)
    account: str = ""
    layer_folders: Mapping[str, str] = field(default_factory=dict)
    """Layer version ARN to the local folder its ``ContentUri`` names (what Lambda would
    unpack to /opt: the local invoker puts it on the import path)."""

    def walk(self) -> Iterator[DeployedStack]:
        """This stack, then every nested stack depth first."""
        yield self
        for child in self.nested.values():
            yield from child.walk()

    def all_functions(self) -> dict[str, Function]:
        return {f.path: f for s in self.walk() for f in s.functions.values()}

    def all_queues(self) -> dict[str, Queue]:
        return {q.path: q for s in self.walk() for q in s.queues.values()}

    def all_subscriptions(self) -> dict[str, Subscription]:
        return {x.path: x for s in self.walk() for x in s.subscriptions.values()}

    def all_topics(self) -> dict[str, Topic]:
        return {t.path: t for s in self.walk() for t in s.topics.values()}

    def all_event_source_mappings(self) -> list[EventSourceMapping]:
        return [m for s in self.walk() for m in s.event_source_mappings]

    def all_layer_folders(self) -> dict[str, str]:
        return {arn: f for s in self.walk() for arn, f in s.layer_folders.items()}

    def all_alarms(self) -> dict[str, Mapping[str, Any]]:
        return {name: a for s in self.walk() for name, a in s.alarms.items()}

    def queue_by_arn(self, arn: str) -> Queue:
        """The queue with this ARN anywhere in the tree (``KeyError`` if none)."""
        for queue in self.all_queues().values():
            if queue.arn == arn:
                return queue
        raise KeyError(arn)
