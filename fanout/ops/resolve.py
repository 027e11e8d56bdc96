"""Find a hub's resources (topic, table, queues, DLQs, buckets, router settings) from its stack.

The stack's CloudFormation description is the source of truth, on an account and on
the local hub alike:

- the root stack's outputs name the topic, the router DLQ, the buckets, the source
  stream and the router function (``template.yaml`` ``Outputs``);
- each consumer is a nested consumer-kit stack whose outputs name its queue, DLQ and
  function, whose ``ConsumerName`` parameter names it and whose ``FilterPolicy`` and
  ``FilterPolicyScope`` parameters are its subscription's (backfill applies them). On an account a nested
  stack is a resource of type ``AWS::CloudFormation::Stack`` of the root stack
  (``ListStackResources``, the paginated form of ``DescribeStackResources``); the
  local hub (``fanout.deploy``) creates each as its own stack named
  ``<stack>-<LogicalId>``, so stacks with that prefix whose ``TopicArn`` parameter is
  this hub's topic are taken as well;
- the router's settings are its function's environment (``GetFunctionConfiguration``),
  so replays route exactly as the deployed router does, and its OnFailure destination
  is read from its event source mapping (``ListEventSourceMappings``), falling back to
  the ``FailedBatchBucketName`` output (the local hub emulates mappings and creates none).
  A refusal of either call (``AccessDenied``) is raised, not taken for "no such function":
  the commands would otherwise run on guessed settings.

Every value can also be given explicitly (``Overrides``) for a hub whose stack cannot
be read, or to point a command at another resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.options import DEFAULT_STACK_NAME

ROUTER_DLQ_NAME = "router"


class ResolveError(LookupError):
    """A resource the command needs could not be found (the message says which, and how to pass it)."""


class StackNotFoundError(ResolveError):
    """The hub's stack does not exist where the command looked."""

    @classmethod
    def of(cls, connection: Connection, name: str) -> StackNotFoundError:
        """The error for ``name``, naming the hub stacks that do exist there."""
        where = connection.endpoint_url or f"region {connection.region}"
        hubs = hub_stacks(connection.client("cloudformation"))
        found = f"hub stacks there: {', '.join(hubs)}" if hubs else "no hub stack there"
        return cls(f"no stack {name!r} at {where} ({found}): pass --stack-name")


@dataclass(frozen=True, slots=True)
class Overrides:
    """Explicit values; each one wins over what the stack says."""

    topic_arn: str | None = None
    table_name: str | None = None
    stream_arn: str | None = None
    router_dlq_url: str | None = None
    failure_destination: str | None = None
    payload_bucket: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerQueues:
    """One consumer: its queue, its DLQ and its function."""

    name: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    function_name: str | None = None
    stack_name: str | None = None
    filter_policy: str = ""
    """The subscription's SNS filter policy (JSON text, the kit's ``FilterPolicy``); empty for none."""
    filter_policy_scope: str = "MessageAttributes"


@dataclass(frozen=True, slots=True)
class Hub:
    """Everything the operations commands need to know about one deployed hub."""

    stack_name: str
    outputs: Mapping[str, str] = field(default_factory=dict)
    topic_arn: str | None = None
    table_name: str | None = None
    stream_arn: str | None = None
    router_function: str | None = None
    router_environment: Mapping[str, str] = field(default_factory=dict)
    router_timeout: int | None = None
    """The router function's ``Timeout`` in seconds, when its configuration was read."""
    router_dlq_url: str | None = None
    failure_destination: str | None = None
    payload_bucket: str | None = None
    idempotency_table: str | None = None
    consumers: tuple[ConsumerQueues, ...] = ()
    found: bool = False
    """Whether the stack exists (False: only the overrides are known)."""

    def need(self, attribute: str, how: str) -> str:
        """The value of ``attribute``, or ``ResolveError`` telling how to pass it."""
        value = getattr(self, attribute)
        if not value:
            raise ResolveError(
                f"stack {self.stack_name!r} does not say its {attribute.replace('_', ' ')}: pass {how}"
            )
        return str(value)

    def consumer(self, name: str) -> ConsumerQueues:
        """A consumer by name (``ResolveError`` listing the known ones otherwise)."""
        for consumer in self.consumers:
            if consumer.name == name:
                return consumer
        known = ", ".join(c.name for c in self.consumers) or "none"
        raise ResolveError(f"no consumer {name!r} in stack {self.stack_name!r} (known: {known})")

    def router_settings_environment(self) -> dict[str, str]:
        """The router's environment variables: the function's own, else rebuilt from outputs."""
        env = dict(self.router_environment)
        env.setdefault("TOPIC_ARN", self.need("topic_arn", "--topic-arn"))
        env.setdefault("ROUTER_DLQ_URL", self.need("router_dlq_url", "--router-dlq-url"))
        env.setdefault("PAYLOAD_BUCKET", self.need("payload_bucket", "--payload-bucket"))
        return env


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])}


def _parameters(stack: Mapping[str, Any]) -> dict[str, str]:
    return {
        p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])
    }


def describe_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    """The stack ``name`` as DescribeStacks gives it, or None if it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            return None  # "Stack with id X does not exist"
        raise
    return dict(stacks[0]) if stacks else None


HUB_OUTPUTS = frozenset({"TopicArn", "RouterFunctionName"})
"""Outputs only a hub's root stack has (``template.yaml``)."""


def hub_stacks(cloudformation: Any) -> list[str]:
    """The names of the live stacks that are hubs (they have the hub's outputs)."""
    return sorted(
        stack["StackName"]
        for page in cloudformation.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
        if set(_outputs(stack)) >= HUB_OUTPUTS
        and not stack.get("StackStatus", "").startswith("DELETE")
    )


def _nested_stacks(cloudformation: Any, root: str, topic_arn: str | None) -> list[dict[str, Any]]:
    """The consumer-kit stacks of a hub: real nested stacks, else the local hub's naming."""
    found: dict[str, dict[str, Any]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=root):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::CloudFormation::Stack":
                physical = resource.get("PhysicalResourceId")
                stack = describe_stack(cloudformation, physical) if physical else None
                if stack is not None:
                    found[stack["StackName"]] = stack
    if found or not topic_arn:
        return list(found.values())
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if (
                stack["StackName"].startswith(f"{root}-")
                and _parameters(stack).get("TopicArn") == topic_arn
                and stack.get("StackStatus", "").endswith("_COMPLETE")
                and not stack.get("StackStatus", "").startswith("DELETE")
            ):
                found[stack["StackName"]] = dict(stack)
    return list(found.values())


def consumer_of(stack: Mapping[str, Any]) -> ConsumerQueues | None:
    """A consumer kit stack's queues, DLQ, function and filter policy; None for any other stack."""
    outputs, parameters = _outputs(stack), _parameters(stack)
    needed = ("QueueUrl", "QueueArn", "DeadLetterQueueUrl", "DeadLetterQueueArn")
    if not all(outputs.get(k) for k in needed):
        return None
    return ConsumerQueues(
        name=parameters.get("ConsumerName") or stack["StackName"],
        queue_url=outputs["QueueUrl"],
        queue_arn=outputs["QueueArn"],
        dlq_url=outputs["DeadLetterQueueUrl"],
        dlq_arn=outputs["DeadLetterQueueArn"],
        function_name=outputs.get("FunctionName") or None,
        stack_name=stack["StackName"],
        filter_policy=parameters.get("FilterPolicy", ""),
        filter_policy_scope=parameters.get("FilterPolicyScope") or "MessageAttributes",
    )


ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


def _denied(exc: ClientError) -> bool:
    """A refusal the operator must see: a missing permission is not a missing resource."""
    return exc.response.get("Error", {}).get("Code") in ACCESS_DENIED_CODES


def _router_configuration(lambda_: Any, function: str | None) -> dict[str, Any]:
    """The router's function configuration; {} when it does not exist. AccessDenied raises."""
    if not function:
        return {}
    try:
        return dict(lambda_.get_function_configuration(FunctionName=function))
    except ClientError as exc:
        if _denied(exc):
            raise
        return {}


def _environment_of(config: Mapping[str, Any]) -> dict[str, str]:
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return {k: str(v) for k, v in variables.items()}


def _failure_destination(lambda_: Any, function: str | None) -> str | None:
    if not function:
        return None
    try:
        mappings = lambda_.list_event_source_mappings(FunctionName=function).get(
            "EventSourceMappings", []
        )
    except ClientError as exc:
        if _denied(exc):
            raise
        return None
    for mapping in mappings:
        destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        if destination:
            return str(destination)
    return None


def _table_of_stream(stream_arn: str | None) -> str | None:
    if not stream_arn or ":table/" not in stream_arn:
        return None
    return stream_arn.split(":table/", 1)[1].split("/", 1)[0]


def resolve(
    connection: Connection, stack_name: str = DEFAULT_STACK_NAME, overrides: Overrides | None = None
) -> Hub:
    """The hub deployed as ``stack_name``; a stack that does not exist leaves only the overrides."""
    overrides = overrides or Overrides()
    cloudformation = connection.client("cloudformation")
    root = describe_stack(cloudformation, stack_name)
    hub = Hub(stack_name=stack_name)
    if root is not None:
        outputs = _outputs(root)
        router = outputs.get("RouterFunctionName") or None
        lambda_ = connection.client("lambda")
        configuration = _router_configuration(lambda_, router)
        environment = _environment_of(configuration)
        stream_arn = outputs.get("SourceStreamArn") or None
        bucket = outputs.get("FailedBatchBucketName")
        consumers = tuple(
            sorted(
                (
                    c
                    for c in map(
                        consumer_of,
                        _nested_stacks(cloudformation, stack_name, outputs.get("TopicArn")),
                    )
                    if c is not None
                ),
                key=lambda c: c.name,
            )
        )
        hub = Hub(
            stack_name=stack_name,
            outputs=outputs,
            topic_arn=outputs.get("TopicArn") or environment.get("TOPIC_ARN"),
            stream_arn=stream_arn,
            table_name=outputs.get("DemoTableName") or _table_of_stream(stream_arn),
            router_function=router,
            router_environment=environment,
            router_timeout=int(configuration["Timeout"]) if "Timeout" in configuration else None,
            router_dlq_url=outputs.get("RouterDeadLetterQueueUrl")
            or environment.get("ROUTER_DLQ_URL"),
            failure_destination=_failure_destination(lambda_, router)
            or (f"arn:aws:s3:::{bucket}" if bucket else None),
            payload_bucket=outputs.get("PayloadBucketName") or environment.get("PAYLOAD_BUCKET"),
            idempotency_table=outputs.get("IdempotencyTableName") or None,
            consumers=consumers,
            found=True,
        )
    explicit: dict[str, Any] = {k: v for k, v in _as_dict(overrides).items() if v}
    if "stream_arn" in explicit and "table_name" not in explicit:
        explicit["table_name"] = _table_of_stream(explicit["stream_arn"])
    return replace(hub, **explicit)


def _as_dict(overrides: Overrides) -> dict[str, str | None]:
    return {name: getattr(overrides, name) for name in Overrides.__slots__}


def queue_arn_of(sqs: Any, queue_url: str) -> str:
    """A queue's ARN from its URL."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])
