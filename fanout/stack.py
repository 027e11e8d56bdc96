"""Create the hub's stack from ``template.yaml`` on any AWS endpoint (moto, LocalStack, an account).

``deploy()`` is the single way tooling turns the SAM template into live resources
without ``sam deploy``:

1. The template is read, its conditions and rules are evaluated for the given
   parameters, and it is translated by ``aws-sam-translator`` (the same library
   CloudFormation's ``AWS::Serverless`` transform runs). Function code is replaced by
   a stub: locally the handlers run in-process from the source tree.
2. Every resource type is created through CloudFormation, except these, which moto's
   CloudFormation does not create (``API_CREATED``) and which are applied with
   direct API calls after the stack exists: SNS subscriptions (``sns.subscribe``
   with ``FilterPolicy``, ``FilterPolicyScope``, ``RawMessageDelivery``,
   ``RedrivePolicy``), topic, queue and bucket policies, CloudWatch alarms, layer
   versions (published with stub content, like the functions' code; a local
   ``ContentUri`` folder is recorded for the invoker), and last SSM parameters (one
   names the layer version), layer version permissions and RAM shares.
3. Event source mappings are *not* created: moto would try to run the function in
   Docker on every write. They are resolved and returned (``EventSourceMapping``)
   for the local event-source-mapping emulator (``fanout.local``) to drive. Types in
   ``NOT_EMULATED`` (the X-Ray resource policy) are left out.
4. ``AWS::Serverless::Application`` resources with a local ``Location`` (the
   consumer kit) or an S3 URL (the published kit) become child stacks named
   ``<stack>-<LogicalId>``, deployed the same way, recursively, with their parameters
   resolved from the parent.
5. What a stack takes from another account (SSM-typed parameters given as ARNs, a
   template by URL, layer versions, a topic to subscribe to) is resolved and checked
   against the owner's policies as AWS does, given ``owners`` (``fanout.crossaccount``).

Intrinsic functions inside the resources created by API (and nested-stack
parameters) are resolved by CloudFormation itself: each such value is added to the
stack as an extra output (a "probe") and read back, so ``Ref``/``GetAtt``/``Sub``
mean exactly what the endpoint's CloudFormation says they mean.

The result, ``DeployedStack``, tells the local pipeline everything it needs: each
function's handler, environment (references resolved to real names, ARNs and
URLs), timeout and memory; each mapping's source ARN and properties; each queue's
URL, ARN and redrive policy; each subscription's attributes; the outputs.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
import yaml
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from fanout import aws_rules
from fanout.aws_rules.cloudformation import check_parameter_names, check_parameter_value
from fanout.connection import Connection
from fanout.crossaccount import (
    AccountConnections,
    detach_foreign_layers,
    fetch_template,
    resolve_ssm_parameters,
    ssm_typed_parameters,
    subscriber,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

ROOT: Final = Path(__file__).resolve().parent.parent
TEMPLATE: Final = ROOT / "template.yaml"

API_CREATED: Final = frozenset(
    {
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::CloudWatch::Alarm",
        # moto's CloudFormation publishes a layer version but its Ref is no ARN (the
        # model has no physical id), so the deployer publishes it and names its ARN.
        "AWS::Lambda::LayerVersion",
        # Its layer version is one of those above.
        "AWS::Lambda::LayerVersionPermission",
        # The discovery parameters name the layer version above, which exists only once
        # the stack does; they are put after every other API-created resource.
        "AWS::SSM::Parameter",
        # Shares those parameters: after them.
        "AWS::RAM::ResourceShare",
    }
)
"""Resource types applied with API calls after the stack exists."""

LAST: Final = {
    "AWS::SSM::Parameter": 0,
    "AWS::Lambda::LayerVersionPermission": 1,
    "AWS::RAM::ResourceShare": 2,
}
"""API-created types applied after all others, in this order (each may name the one before)."""

RECORDED_ONLY: Final = frozenset({"AWS::Lambda::EventSourceMapping"})
"""Resource types resolved and returned but never created."""

NESTED_STACK: Final = "AWS::CloudFormation::Stack"

NOT_EMULATED: Final = frozenset({"AWS::XRay::ResourcePolicy"})
"""Resource types no local endpoint models and nothing local depends on; left out locally.

The X-Ray resource policy only lets SNS send trace segments to X-Ray in a real account.
"""

PROPERTY_GAPS: Final = frozenset(
    {
        ("AWS::DynamoDB::Table", "TimeToLiveSpecification"),
        ("AWS::S3::Bucket", "PublicAccessBlockConfiguration"),
        ("AWS::S3::Bucket", "LifecycleConfiguration"),
        ("AWS::S3::Bucket", "VersioningConfiguration"),
        ("AWS::SNS::Topic", "MaximumMessageSize"),
        ("AWS::IAM::Role", "ManagedPolicyArns"),
    }
)
"""Properties moto's CloudFormation ignores; applied by API when the live resource lacks them."""

LIST_GAPS: Final = frozenset({"ManagedPolicyArns"})
"""Gap properties that are lists: read back comma-joined (a stack output is a string)."""


def _listed(value: Any) -> Any:
    return {"Fn::Join": [",", value]}


FIFO_NAMES: Final = {
    "AWS::SNS::Topic": ("FifoTopic", "TopicName", 256),
    "AWS::SQS::Queue": ("FifoQueue", "QueueName", 80),
}
"""Type -> (FIFO flag, name property, longest name). CloudFormation names an unnamed FIFO
topic or queue ``<generated>.fifo`` (SNS and SQS refuse a FIFO name without the suffix);
moto's CloudFormation does not, so the deployer names them the same way. The SNS handler:
https://github.com/aws-cloudformation/aws-cloudformation-resource-providers-sns/blob/b4c28f873f1f75417a90cfcf5f26a40881b2c264/aws-sns-topic/src/main/java/software/amazon/sns/topic/CreateHandler.java
(SQS's is not public; its generated FIFO names end in ``.fifo`` too:
https://github.com/cloudtools/troposphere/pull/931).
"""

# Code every function gets locally; the local pipeline imports the real handler instead.
STUB_CODE: Final = (
    "# fanout-hub: code is built by `sam build`; locally the handler runs in-process\n"
)
# A layer's content locally: the translator takes an S3 location only (what `sam
# package` writes), and the local pipeline imports the runtime from the source tree.
STUB_LAYER_URI: Final = {"Bucket": "fanout-local-stub", "Key": "layer.zip"}
STUB_LAYER_FILE: Final = "python/fanout_local_stub.py"

_INTRINSICS: Final = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::Base64",
        "Fn::GetAZs",
    }
)
_PSEUDO_PARAMETERS: Final = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName")


class StackError(RuntimeError):
    """The template cannot be deployed as asked (a rule failed, a shape is unsupported)."""


# ---------------------------------------------------------------------------- result


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


# ---------------------------------------------------------------------------- template


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation's short-form tags (``!Ref``, ``!Sub`` ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise StackError(f"unexpected YAML node for !{suffix}")
    if suffix == "Condition":
        return {"Condition": value}
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation/SAM template (YAML or JSON) as plain dicts, short-form tags expanded."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise StackError(f"{path} is not a CloudFormation template")
    return data


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value: the override, else its default.

    Refused as CloudFormation refuses them (``AwsRuleError``, ``ValidationError``): an
    undeclared or missing parameter, and a value (given or default) outside its
    ``AllowedValues``, ``AllowedPattern``, length or number range.
    """
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    check_parameter_names(declared, overrides)
    values: dict[str, str] = {}
    for name, spec in declared.items():
        values[name] = str(overrides[name]) if name in overrides else str(spec["Default"])
        check_parameter_value(name, spec, values[name])
    return values


def _select(args: Any, value: Callable[[Any], Any]) -> Any:
    index, items = args
    return value(items)[int(value(index))]


def _split(args: Any, value: Callable[[Any], Any]) -> Any:
    delimiter, source = args
    return str(value(source)).split(str(value(delimiter)))


def _sub(args: Any, value: Callable[[Any], Any]) -> Any:
    if not isinstance(args, str):
        raise StackError("a condition's Fn::Sub takes a string of ${Parameter} references")
    return re.sub(r"\$\{([^}!]+)\}", lambda m: str(value({"Ref": m.group(1)})), args)


_CONDITION_VALUES: Final[dict[str, Callable[[Any, Callable[[Any], Any]], Any]]] = {
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::Sub": _sub,
}
"""Value functions a condition may compare (Fn::Equals): the Nth item of a list parameter."""


def evaluate_conditions(  # noqa: C901 - one small interpreter, its cases read best together
    template: Mapping[str, Any], context: Mapping[str, str]
) -> dict[str, bool]:
    """The truth of every condition for these parameter (and pseudo parameter) values."""
    definitions: Mapping[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            if node["Ref"] not in context:
                raise StackError(f"a condition refers to {node['Ref']}, not a parameter")
            return context[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return condition(node["Condition"])
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _CONDITION_VALUES:
            ((fn, args),) = node.items()
            return _CONDITION_VALUES[fn](args, value)
        if isinstance(node, dict) and len(node) == 1:
            return truth(node)
        if isinstance(node, list):
            return [value(item) for item in node]
        return node

    def truth(node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not truth(args[0])
            if fn == "Fn::And":
                return all(truth(a) for a in args)
            if fn == "Fn::Or":
                return any(truth(a) for a in args)
            if fn == "Fn::Contains":  # a rule function: the value is one of the strings
                return str(value(args[1])) in {str(value(v)) for v in args[0]}
            if fn == "Condition":
                return condition(args)
        raise StackError(f"unsupported condition function {node!r:.80}")

    def condition(name: str) -> bool:
        if name not in results:
            if name not in definitions:
                raise StackError(f"unknown condition {name}")
            results[name] = truth(definitions[name])
        return results[name]

    for name in definitions:
        condition(name)
    return results


def check_rules(template: Mapping[str, Any], context: Mapping[str, str], name: str) -> None:
    """Apply the template's ``Rules`` as CloudFormation would before creating anything."""
    rules = template.get("Rules") or {}
    if not rules:
        return
    scratch: dict[str, Any] = {"Conditions": {}}
    for rule_name, rule in rules.items():
        scratch["Conditions"] = {"_when": rule.get("RuleCondition", {"Fn::Equals": ["a", "a"]})}
        if not evaluate_conditions(scratch, context)["_when"]:
            continue
        for assertion in rule.get("Assertions", []):
            scratch["Conditions"] = {"_assert": assertion["Assert"]}
            if not evaluate_conditions(scratch, context)["_assert"]:
                reason = assertion.get("AssertDescription", "assertion failed")
                raise StackError(f"{name}: rule {rule_name}: {reason}")


def prune_conditionals(node: Any, conditions: Mapping[str, bool]) -> Any:
    """Pick each ``Fn::If`` branch and drop ``AWS::NoValue``, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return prune_conditionals(when_true if conditions[name] else when_false, conditions)
        pruned = {}
        for key, value in node.items():
            kept = prune_conditionals(value, conditions)
            if kept is not _NO_VALUE:
                pruned[key] = kept
        return pruned
    if isinstance(node, list):
        items = [prune_conditionals(v, conditions) for v in node]
        return [v for v in items if v is not _NO_VALUE]
    return node


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Final = _NoValue()


def _drop_no_value(node: Any) -> Any:
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        return {k: _drop_no_value(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_drop_no_value(v) for v in node]
    return node


def resolve_find_in_map(node: Any, mappings: Mapping[str, Any], context: Mapping[str, str]) -> Any:
    """Replace ``Fn::FindInMap`` whose keys are literals or parameters by its value.

    Done here because moto passes ``Number`` parameters as integers, which never
    match a mapping's (always string) keys.
    """
    if isinstance(node, dict):
        if set(node) == {"Fn::FindInMap"}:
            keys = [
                context.get(k["Ref"]) if isinstance(k, dict) and set(k) == {"Ref"} else k
                for k in node["Fn::FindInMap"]
            ]
            if all(isinstance(k, str | int) for k in keys):
                value: Any = mappings
                for key in keys:
                    value = value[str(key)]
                return value
        return {k: resolve_find_in_map(v, mappings, context) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_find_in_map(v, mappings, context) for v in node]
    return node


def _resolve_if_and_no_value(node: Any, conditions: Mapping[str, bool]) -> Any:
    return prune_conditionals(_drop_no_value(node), conditions)


def translate(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    """The SAM template as plain CloudFormation, function code replaced by ``STUB_CODE``."""
    sam = copy.deepcopy(dict(template))
    for resource in sam["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            del properties["CodeUri"]
            properties["InlineCode"] = STUB_CODE
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = dict(STUB_LAYER_URI)
    # The translator records usage metrics meant for its own service and warns when
    # they are garbage-collected unpublished; nothing here publishes them.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    translated: dict[str, Any] = Translator(None, Parser()).translate(
        sam,
        parameter_values={**parameters, "AWS::Region": region},
        get_managed_policy_map=dict,  # every role is explicit; no managed policy is looked up
    )
    return translated


# ---------------------------------------------------------------------------- probes


@dataclass
class _Probes:
    """Values to resolve through CloudFormation: each leaf intrinsic becomes an output."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def mark(self, node: Any) -> Any:
        """``node`` with every intrinsic replaced by a placeholder output name."""
        if isinstance(node, dict):
            if len(node) == 1 and next(iter(node)) in _INTRINSICS:
                name = f"FanoutProbe{next(self._counter):04d}"
                self.outputs[name] = {"Value": node}
                return _Placeholder(name)
            return {k: self.mark(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.mark(v) for v in node]
        return node


@dataclass(frozen=True, slots=True)
class _Placeholder:
    output: str


def _fill(node: Any, outputs: Mapping[str, Any]) -> Any:
    if isinstance(node, _Placeholder):
        return outputs[node.output]
    if isinstance(node, dict):
        return {k: _fill(v, outputs) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, outputs) for v in node]
    return node


def _references(node: Any) -> set[str]:
    """Logical ids a node refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(value, list):
                    found |= _references(value[1])
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


# ---------------------------------------------------------------------------- deploy


def nested_stack_name(parent: str, logical_id: str) -> str:
    """The name ``deploy`` gives the child stack of a nested application (step 4 above)."""
    return f"{parent}-{logical_id}"


def deploy(
    template: Path = TEMPLATE,
    *,
    stack_name: str = "fanout-hub",
    parameters: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    session: boto3.session.Session | None = None,
    owners: AccountConnections | None = None,
) -> DeployedStack:
    """Create ``template`` (and its nested applications) as ``stack_name`` on the endpoint.

    ``endpoint_url`` is a moto server, LocalStack, or ``None`` for the default endpoint
    (inside ``moto.mock_aws()`` that is moto's in-process backend). Raises
    ``StackError`` for a failed rule or an unsupported template shape,
    ``aws_rules.AwsRuleError`` for a configuration AWS would refuse (moto accepts
    it), and the endpoint's ``ClientError`` when it refuses a resource.

    ``owners`` acts as other accounts where the endpoint cannot (moto): what the stack
    takes from another account is then read as its owner, and refused
    (``CrossAccountRefusedError``) where the owner's policy would refuse it
    (``fanout.crossaccount``).
    """
    clients = Connection(endpoint_url=endpoint_url, region=region, session=session)
    account = clients.client("sts").get_caller_identity()["Account"]
    stack = _deploy(
        template, stack_name, "", dict(parameters or {}), clients, region, str(account), owners
    )
    aws_rules.check_deployed(stack)
    return stack


def _deploy(  # noqa: C901, PLR0912, PLR0915 - one linear procedure, split into helpers below
    template_path: Path,
    stack_name: str,
    path: str,
    overrides: dict[str, str],
    clients: Connection,
    region: str,
    account: str,
    owners: AccountConnections | None = None,
) -> DeployedStack:
    source = load_template(template_path)
    values = resolve_ssm_parameters(
        source.get("Parameters") or {},
        parameter_values(source, overrides),
        clients,
        account,
        owners,
    )
    folders = local_layer_folders(source, template_path)
    context = {
        **values,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
    }
    check_rules(source, context, stack_name)
    cfn_template = translate(source, values, region)
    for name in ssm_typed_parameters(source.get("Parameters") or {}):
        # Resolved above, as CloudFormation resolves it before creating anything.
        cfn_template["Parameters"][name]["Type"] = "String"
    conditions = evaluate_conditions(cfn_template, context)
    cfn_template.pop("Rules", None)  # checked above; not every endpoint accepts them
    cfn_template["Resources"] = resolve_find_in_map(
        cfn_template["Resources"], cfn_template.get("Mappings") or {}, context
    )
    resources: dict[str, Any] = cfn_template["Resources"]
    for logical_id, resource in resources.items():
        _name_fifo(resource, f"{stack_name}-{logical_id}", conditions)

    # Resources created elsewhere, and those switched off by their condition.
    deferred = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] in API_CREATED | RECORDED_ONLY | NOT_EMULATED | {NESTED_STACK}
    }
    active_deferred = {
        logical_id: resource
        for logical_id, resource in deferred.items()
        if conditions.get(resource.get("Condition", ""), True)
    }
    for logical_id in deferred:
        del resources[logical_id]
    # Conditions decided here, as CloudFormation decides them: moto's CloudFormation leaves
    # an AWS::NoValue inside a list (a policy's conditional statement) as a null.
    for resource in resources.values():
        if "Properties" in resource:
            resource["Properties"] = _resolve_if_and_no_value(resource["Properties"], conditions)
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn")
        if depends:
            kept = [
                d for d in ([depends] if isinstance(depends, str) else depends) if d not in deferred
            ]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]
        if _references(resource.get("Properties", {})) & set(deferred):
            raise StackError(f"{logical_id} refers to a resource created outside CloudFormation")

    # Outputs that name deferred resources are resolved here after those exist.
    outputs: dict[str, Any] = cfn_template.get("Outputs") or {}
    late_outputs = {
        name: output
        for name, output in outputs.items()
        if _references(output["Value"]) & set(deferred)
    }
    for name in late_outputs:
        del outputs[name]

    probes = _Probes()
    marked = {
        logical_id: probes.mark(
            _late_refs(
                _split_parameters(
                    _resolve_if_and_no_value(resource.get("Properties", {}), conditions),
                    values,
                ),
                set(deferred),
            )
        )
        for logical_id, resource in active_deferred.items()
    }
    # Properties of CloudFormation-created resources are already resolved (above).
    gaps = {
        (logical_id, prop): probes.mark(
            _listed(resource["Properties"][prop])
            if prop in LIST_GAPS
            else resource["Properties"][prop]
        )
        for logical_id, resource in resources.items()
        if conditions.get(resource.get("Condition", ""), True)
        for kind, prop in PROPERTY_GAPS
        if resource["Type"] == kind and prop in (resource.get("Properties") or {})
    }
    cfn_template["Outputs"] = {**outputs, **probes.outputs}
    if not cfn_template["Outputs"]:
        del cfn_template["Outputs"]

    layers = detach_foreign_layers(resources, values, account, owners)
    aws_rules.check_queues(
        _active_properties(resources, "AWS::SQS::Queue", conditions), values, path
    )
    aws_rules.check_topics(_active_properties(resources, "AWS::SNS::Topic", conditions), path)
    cloudformation: CloudFormationClient = clients.client("cloudformation")
    created = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
    )
    described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    all_outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs", [])}
    physical: dict[str, str] = {}
    types: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
            types[summary["LogicalResourceId"]] = summary["ResourceType"]
    resolved = {logical_id: _fill(props, all_outputs) for logical_id, props in marked.items()}

    declared: dict[str, dict[str, str]] = {}
    for (logical_id, prop), value in gaps.items():
        filled = _fill(value, all_outputs)
        _fill_gap(clients, types[logical_id], prop, physical[logical_id], filled)
        if types[logical_id] == "AWS::SNS::Topic":
            declared.setdefault(logical_id, {})[prop] = str(filled)

    subscriptions: dict[str, Subscription] = {}
    alarms: dict[str, Mapping[str, Any]] = {}
    mappings: list[EventSourceMapping] = []
    nested: dict[str, DeployedStack] = {}
    functions = _functions(clients, resources, physical, path, layers)
    layer_folders: dict[str, str] = {}
    function_paths = {f.name: f.path for f in functions.values()}
    parameters_last: list[tuple[str, Any]] = []
    nested_last: list[tuple[str, str, Any]] = []
    for logical_id, resource in active_deferred.items():
        kind, properties = resource["Type"], resolved[logical_id]
        types[logical_id] = kind
        full_path = f"{path}/{logical_id}" if path else logical_id
        if kind == "AWS::SNS::Subscription":
            topic_arn = str(properties["TopicArn"])
            subscription = _subscribe(
                subscriber(topic_arn, clients, account, owners), full_path, properties
            )
            subscriptions[logical_id] = subscription
            physical[logical_id] = subscription.arn
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in properties["Topics"]:
                clients.client("sns").set_topic_attributes(
                    TopicArn=topic,
                    AttributeName="Policy",
                    AttributeValue=_json(properties["PolicyDocument"]),
                )
            physical[logical_id] = f"{stack_name}-{logical_id}"
        elif kind == "AWS::SQS::QueuePolicy":
            for url in properties["Queues"]:
                clients.client("sqs").set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": _json(properties["PolicyDocument"])}
                )
            physical[logical_id] = f"{stack_name}-{logical_id}"
        elif kind == "AWS::S3::BucketPolicy":
            policy = without_tls_denials(properties["PolicyDocument"])
            if policy["Statement"]:
                clients.client("s3").put_bucket_policy(
                    Bucket=properties["Bucket"], Policy=_json(policy)
                )
            physical[logical_id] = properties["Bucket"]
        elif kind == "AWS::CloudWatch::Alarm":
            name = properties.get("AlarmName") or f"{stack_name}-{logical_id}"
            arguments = _alarm_arguments(name, properties)
            clients.client("cloudwatch").put_metric_alarm(**arguments)
            alarms[name] = arguments
            physical[logical_id] = name
        elif kind == "AWS::Lambda::LayerVersion":
            physical[logical_id] = _publish_stub_layer(clients, properties)
            folder = layer_folder(logical_id, folders)
            if folder:
                layer_folders[physical[logical_id]] = folder
        elif kind in LAST:
            parameters_last.append((logical_id, properties))
        elif kind == "AWS::Lambda::EventSourceMapping":
            function_name = str(properties["FunctionName"]).rsplit(":", 1)[-1]
            mappings.append(
                EventSourceMapping(
                    path=full_path,
                    function_path=function_paths.get(function_name, function_name),
                    function_name=function_name,
                    source_arn=str(properties["EventSourceArn"]),
                    properties=mapping_properties(properties),
                )
            )
        elif kind == NESTED_STACK:
            nested_last.append((logical_id, full_path, properties))

    # Nested stacks after the other API-created resources: their parameters may name one
    # (a layer version the parent publishes).
    for logical_id, full_path, late in nested_last:
        filled = _fill_late_refs(late, physical)
        # A template read from S3 is needed only while its stack is created.
        with tempfile.TemporaryDirectory(prefix="fanout-template-") as fetched:
            child = _deploy(
                _child_template(
                    template_path,
                    str(filled["TemplateURL"]),
                    Path(fetched),
                    clients,
                    account,
                    owners,
                ),
                nested_stack_name(stack_name, logical_id),
                full_path,
                {k: str(v) for k, v in (filled.get("Parameters") or {}).items()},
                clients,
                region,
                account,
                owners,
            )
        nested[logical_id] = child
        physical[logical_id] = child.stack_id

    for logical_id, properties in sorted(parameters_last, key=lambda p: LAST[types[p[0]]]):
        filled = _fill_late_refs(properties, physical)
        if types[logical_id] == "AWS::Lambda::LayerVersionPermission":
            physical[logical_id] = _grant_layer(clients, logical_id, filled)
        elif types[logical_id] == "AWS::RAM::ResourceShare":
            physical[logical_id] = _share(clients, filled)
        else:
            physical[logical_id] = _put_parameter(clients, filled)

    for name, output in late_outputs.items():
        if conditions.get(output.get("Condition", ""), True):
            all_outputs[name] = _late_output(name, output["Value"], physical, nested)

    return DeployedStack(
        name=stack_name,
        path=path,
        stack_id=created["StackId"],
        parameters=values,
        conditions=conditions,
        outputs={k: v for k, v in all_outputs.items() if not k.startswith("FanoutProbe")},
        physical_ids=physical,
        resource_types=types,
        functions=functions,
        queues=_queues(clients, resources, physical, path),
        subscriptions=subscriptions,
        event_source_mappings=tuple(mappings),
        alarms=alarms,
        nested=nested,
        topics=_topics(clients, resources, physical, path, declared),
        account=account,
        layer_folders=layer_folders,
    )


def local_layer_folders(template: Mapping[str, Any], template_path: Path) -> dict[str, str]:
    """Logical id to folder of each ``AWS::Serverless::LayerVersion`` whose ContentUri is local.

    ``sam build`` packages that folder as the layer (a makefile build may install into
    it, https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html);
    locally the folder's source is the layer's code.
    """
    folders: dict[str, str] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        content = (resource.get("Properties") or {}).get("ContentUri")
        if (
            resource.get("Type") == "AWS::Serverless::LayerVersion"
            and isinstance(content, str)
            and not content.startswith("s3://")
        ):
            folders[logical_id] = str((template_path.parent / content).resolve())
    return folders


def layer_folder(logical_id: str, folders: Mapping[str, str]) -> str | None:
    """The folder of a translated layer version: SAM names it ``<LogicalId><10-hex hash>``."""
    for sam_id, folder in folders.items():
        if re.fullmatch(re.escape(sam_id) + "[0-9a-f]{10}", logical_id) or sam_id == logical_id:
            return folder
    return None


def _child_template(
    parent: Path,
    location: str,
    into: Path,
    clients: Connection,
    account: str,
    owners: AccountConnections | None,
) -> Path:
    """A nested stack's template: a path next to the parent's, or an S3 URL (a published kit) read into ``into``."""
    if not location.startswith("https://"):
        return (parent.parent / location).resolve()
    return fetch_template(location, into, clients, account, owners)


def _active_properties(
    resources: Mapping[str, Any], kind: str, conditions: Mapping[str, bool]
) -> dict[str, Any]:
    """Logical id to properties of the resources of ``kind`` switched on.

    ``resources`` are the CloudFormation-created ones, whose ``Fn::If`` ``_deploy`` has
    already chosen.
    """
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource["Type"] == kind and conditions.get(resource.get("Condition", ""), True)
    }


@dataclass(frozen=True, slots=True)
class _LateRef:
    """A ``Ref`` to an API-created resource, filled in with its physical id once it exists."""

    logical_id: str


def _late_refs(node: Any, deferred: set[str]) -> Any:
    """``node`` with every plain ``Ref`` to an API-created resource left for later."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in deferred:
            return _LateRef(str(node["Ref"]))
        return {k: _late_refs(v, deferred) for k, v in node.items()}
    if isinstance(node, list):
        return [_late_refs(v, deferred) for v in node]
    return node


def _fill_late_refs(node: Any, physical: Mapping[str, str]) -> Any:
    if isinstance(node, _LateRef):
        if node.logical_id not in physical:
            raise StackError(f"{node.logical_id} is referred to before it exists")
        return physical[node.logical_id]
    if isinstance(node, dict):
        return {k: _fill_late_refs(v, physical) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill_late_refs(v, physical) for v in node]
    return node


def _split_parameters(node: Any, values: Mapping[str, str]) -> Any:
    """``Fn::Split`` of a parameter, split here.

    The value is a list (``Fn::Split`` "returns a list of string values",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-split.html),
    and a probe output can only carry a string: moto writes the list's Python repr.
    """
    if isinstance(node, dict):
        if set(node) == {"Fn::Split"}:
            delimiter, source = node["Fn::Split"]
            if isinstance(source, dict) and set(source) == {"Ref"} and source["Ref"] in values:
                return str(values[source["Ref"]]).split(str(delimiter))
        return {k: _split_parameters(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_split_parameters(v, values) for v in node]
    return node


def _put_parameter(clients: Connection, properties: Mapping[str, Any]) -> str:
    """An ``AWS::SSM::Parameter`` (Type String or StringList); its Ref is the name.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ssm-parameter.html
    """
    name = str(properties["Name"])
    arguments: dict[str, Any] = {
        "Name": name,
        "Value": str(properties["Value"]),
        "Type": str(properties["Type"]),
    }
    for optional in ("Description", "Tier"):
        if optional in properties:
            arguments[optional] = str(properties[optional])
    tags = properties.get("Tags") or {}
    if tags:
        arguments["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    clients.client("ssm").put_parameter(**arguments)
    return name


def _share(clients: Connection, properties: Mapping[str, Any]) -> str:
    """An ``AWS::RAM::ResourceShare``; its ARN.

    RAM shares a Parameter Store parameter only in the advanced tier, so a standard
    parameter is refused here as RAM refuses it:
    https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html
    """
    arns = [str(arn) for arn in properties.get("ResourceArns") or []]
    ssm = clients.client("ssm")
    for arn in arns:
        if ":parameter/" not in arn:
            continue
        name = "/" + arn.split(":parameter/", 1)[1]
        found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
        tiers = {p.get("Tier", "Standard") for p in found["Parameters"]}
        if tiers != {"Advanced"}:
            raise StackError(f"{arn}: only an advanced-tier parameter can be shared ({tiers})")
    created = clients.client("ram").create_resource_share(
        name=str(properties["Name"]),
        resourceArns=arns,
        principals=[str(p) for p in properties.get("Principals") or []],
        allowExternalPrincipals=str(properties.get("AllowExternalPrincipals", "true")).lower()
        == "true",
    )
    return str(created["resourceShare"]["resourceShareArn"])


def _grant_layer(clients: Connection, logical_id: str, properties: Mapping[str, Any]) -> str:
    """An ``AWS::Lambda::LayerVersionPermission``; its physical id is ``<layer ARN>#<statement>``.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-layerversionpermission.html
    """
    layer_arn = str(properties["LayerVersionArn"])
    name, version = layer_arn.rsplit(":", 2)[-2:]
    arguments: dict[str, Any] = {
        "LayerName": name,
        "VersionNumber": int(version),
        "StatementId": logical_id,
        "Action": str(properties["Action"]),
        "Principal": str(properties["Principal"]),
    }
    if properties.get("OrganizationId"):
        arguments["OrganizationId"] = str(properties["OrganizationId"])
    clients.client("lambda").add_layer_version_permission(**arguments)
    return f"{layer_arn}#{logical_id}"


def _publish_stub_layer(clients: Connection, properties: Mapping[str, Any]) -> str:
    """Publish the layer version with ``STUB_CODE`` as content; its version ARN."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(STUB_LAYER_FILE, STUB_CODE)
    optional = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
    published = clients.client("lambda").publish_layer_version(
        LayerName=str(properties["LayerName"]),
        Content={"ZipFile": buffer.getvalue()},
        **{key: properties[key] for key in optional if key in properties},
    )
    return str(published["LayerVersionArn"])


def _name_fifo(resource: dict[str, Any], prefix: str, conditions: Mapping[str, bool]) -> None:
    """Give an unnamed FIFO topic or queue the ``.fifo`` name CloudFormation would."""
    flag, name_property, longest = FIFO_NAMES.get(resource["Type"], ("", "", 0))
    properties = resource.get("Properties") or {}
    if not flag or name_property in properties:
        return
    fifo = _resolve_if_and_no_value({"v": properties.get(flag, False)}, conditions).get("v")
    if str(fifo).lower() != "true":
        return
    suffix = "-" + hashlib.sha256(prefix.encode()).hexdigest()[:12].upper() + ".fifo"
    properties[name_property] = prefix[: longest - len(suffix)] + suffix


def _fill_gap(  # noqa: C901 - one table of property fixes, a branch each
    clients: Connection, kind: str, prop: str, physical_id: str, value: Any
) -> None:
    """Apply a property the endpoint's CloudFormation left out (no-op where it did not)."""
    if kind == "AWS::DynamoDB::Table":
        dynamodb = clients.client("dynamodb")
        live = dynamodb.describe_time_to_live(TableName=physical_id)["TimeToLiveDescription"]
        wanted = str(value.get("Enabled", False)).lower() == "true"
        if wanted and live.get("TimeToLiveStatus") in ("DISABLED", None):
            dynamodb.update_time_to_live(
                TableName=physical_id,
                TimeToLiveSpecification={"AttributeName": value["AttributeName"], "Enabled": True},
            )
    elif kind == "AWS::SNS::Topic":
        # moto's GetTopicAttributes does not report MaximumMessageSize; the topic's
        # rules need it (fanout.aws_rules.sns), so the deployer keeps the declared value.
        clients.client("sns").set_topic_attributes(
            TopicArn=physical_id, AttributeName=prop, AttributeValue=str(value)
        )
    elif prop == "ManagedPolicyArns":
        iam = clients.client("iam")
        attached = {
            policy["PolicyArn"]
            for policy in iam.list_attached_role_policies(RoleName=physical_id)["AttachedPolicies"]
        }
        for policy_arn in filter(None, str(value).split(",")):
            if policy_arn not in attached:
                iam.attach_role_policy(RoleName=physical_id, PolicyArn=str(policy_arn))
    elif prop == "PublicAccessBlockConfiguration":
        s3 = clients.client("s3")
        try:
            s3.get_public_access_block(Bucket=physical_id)
        except s3.exceptions.ClientError:
            s3.put_public_access_block(
                Bucket=physical_id,
                PublicAccessBlockConfiguration={
                    k: str(v).lower() == "true" for k, v in value.items()
                },
            )
    elif prop == "VersioningConfiguration":
        s3 = clients.client("s3")
        if s3.get_bucket_versioning(Bucket=physical_id).get("Status") != value["Status"]:
            s3.put_bucket_versioning(
                Bucket=physical_id, VersioningConfiguration={"Status": value["Status"]}
            )
    elif prop == "LifecycleConfiguration":
        s3 = clients.client("s3")
        try:
            s3.get_bucket_lifecycle_configuration(Bucket=physical_id)
        except s3.exceptions.ClientError:
            s3.put_bucket_lifecycle_configuration(
                Bucket=physical_id, LifecycleConfiguration=_lifecycle(value)
            )


def _lifecycle(value: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape to the S3 API's."""
    rules = []
    for rule in value.get("Rules", []):
        api: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"], "Filter": {}}
        if "Prefix" in rule:
            api["Filter"] = {"Prefix": rule["Prefix"]}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
        rules.append(api)
    return {"Rules": rules}


_MAPPING_INTEGERS: Final = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
)
_MAPPING_BOOLEANS: Final = ("BisectBatchOnFunctionError", "Enabled")


def mapping_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Event source mapping properties typed as Lambda's API types them.

    Values passed through nested-stack parameters arrive as strings ("10"); CloudFormation
    coerces them, so the emulator gets them already coerced.
    """
    typed = dict(properties)
    for key in _MAPPING_INTEGERS:
        if key in typed:
            typed[key] = int(typed[key])
    for key in _MAPPING_BOOLEANS:
        if key in typed and isinstance(typed[key], str):
            typed[key] = typed[key].strip().lower() == "true"
    scaling = typed.get("ScalingConfig")
    if isinstance(scaling, dict) and "MaximumConcurrency" in scaling:
        typed["ScalingConfig"] = {
            **scaling,
            "MaximumConcurrency": int(scaling["MaximumConcurrency"]),
        }
    return typed


def without_tls_denials(document: Any) -> Any:
    """A bucket policy minus its ``aws:SecureTransport`` denials.

    moto's S3 evaluates bucket policies and treats every request, even in decorator
    mode, as plain HTTP, so a "deny unless TLS" statement would deny the hub its own
    buckets. The statement is only meaningful on a real endpoint, which enforces it.
    """
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    kept = [
        s
        for s in statements
        if not (
            s.get("Effect") == "Deny"
            and "aws:SecureTransport" in json.dumps(s.get("Condition", {}))
        )
    ]
    return {**document, "Statement": kept}


def _json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _subscribe(clients: Connection, path: str, properties: Mapping[str, Any]) -> Subscription:
    # Before Subscribe: moto refuses some of these itself, without naming the resource.
    aws_rules.check_subscription(properties, path)
    attributes: dict[str, str] = {}
    for key in ("RawMessageDelivery", "FilterPolicyScope"):
        if key in properties:
            attributes[key] = (
                str(properties[key]).lower()
                if key == "RawMessageDelivery"
                else str(properties[key])
            )
    for key in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
        if key in properties:
            attributes[key] = _json(properties[key])
    response = clients.client("sns").subscribe(
        TopicArn=properties["TopicArn"],
        Protocol=properties["Protocol"],
        Endpoint=properties["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return Subscription(
        path=path,
        arn=response["SubscriptionArn"],
        topic_arn=properties["TopicArn"],
        protocol=properties["Protocol"],
        endpoint=properties["Endpoint"],
        attributes=attributes,
    )


_ALARM_NUMBERS: Final = {
    "Period": int,
    "EvaluationPeriods": int,
    "DatapointsToAlarm": int,
    "Threshold": float,
}
_ALARM_KEYS: Final = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Unit",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "ActionsEnabled",
    "Metrics",
    "ThresholdMetricId",
)


def _alarm_arguments(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {"AlarmName": name}
    for key in _ALARM_KEYS:
        if key in properties:
            arguments[key] = properties[key]
    for key, kind in _ALARM_NUMBERS.items():
        if key in properties:
            arguments[key] = kind(properties[key])
    return arguments


def _late_output(
    name: str, value: Any, physical: Mapping[str, str], nested: Mapping[str, DeployedStack]
) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in physical:
        return physical[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target, attribute = value["Fn::GetAtt"]
        if target in nested and attribute.startswith("Outputs."):
            return nested[target].outputs[attribute.removeprefix("Outputs.")]
    raise StackError(
        f"output {name}: only a plain Ref to an API-created resource or a nested stack's"
        " output can name a resource created outside CloudFormation"
    )


def _functions(
    clients: Connection,
    resources: Mapping[str, Any],
    physical: Mapping[str, str],
    path: str,
    layers: Mapping[str, tuple[str, ...]],
) -> dict[str, Function]:
    lambda_ = clients.client("lambda")
    functions: dict[str, Function] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function" or logical_id not in physical:
            continue
        config = lambda_.get_function_configuration(FunctionName=physical[logical_id])
        functions[logical_id] = Function(
            path=f"{path}/{logical_id}" if path else logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            handler=config["Handler"],
            runtime=config["Runtime"],
            timeout_seconds=int(config["Timeout"]),
            memory_mb=int(config["MemorySize"]),
            environment={
                k: str(v)
                for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()
            },
            # From the template: moto's configuration of a function CloudFormation created
            # lists no layers.
            layers=layers.get(logical_id, ()),
        )
    return functions


def _queues(
    clients: Connection, resources: Mapping[str, Any], physical: Mapping[str, str], path: str
) -> dict[str, Queue]:
    sqs = clients.client("sqs")
    queues: dict[str, Queue] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SQS::Queue" or logical_id not in physical:
            continue
        url = physical[logical_id]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
        queues[logical_id] = Queue(
            path=f"{path}/{logical_id}" if path else logical_id,
            name=attributes["QueueArn"].rsplit(":", 1)[-1],
            url=url,
            arn=attributes["QueueArn"],
            attributes=attributes,
            redrive_policy=(
                RedrivePolicy(redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"]))
                if redrive
                else None
            ),
        )
    return queues


def _topics(
    clients: Connection,
    resources: Mapping[str, Any],
    physical: Mapping[str, str],
    path: str,
    declared: Mapping[str, Mapping[str, str]],
) -> dict[str, Topic]:
    sns = clients.client("sns")
    topics: dict[str, Topic] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SNS::Topic" or logical_id not in physical:
            continue
        arn = physical[logical_id]
        live = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        topics[logical_id] = Topic(
            path=f"{path}/{logical_id}" if path else logical_id,
            arn=arn,
            attributes={**declared.get(logical_id, {}), **live},
        )
    return topics


def delete(
    stack: DeployedStack,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    session: boto3.session.Session | None = None,
    owners: AccountConnections | None = None,
) -> None:
    """Delete the stack tree (children first) and the subscriptions created for it.

    ``session`` and ``owners`` as ``deploy`` was given them: a subscription to another
    account's topic is removed where ``deploy`` made it (``crossaccount.subscriber``).
    """
    clients = Connection(endpoint_url=endpoint_url, region=region, session=session)
    for child in stack.nested.values():
        delete(child, endpoint_url=endpoint_url, region=region, session=session, owners=owners)
    for subscription in stack.subscriptions.values():
        subscriber(subscription.topic_arn, clients, stack.account, owners).client(
            "sns"
        ).unsubscribe(SubscriptionArn=subscription.arn)
    if stack.alarms:
        clients.client("cloudwatch").delete_alarms(AlarmNames=list(stack.alarms))
    parameters = [
        stack.physical_ids[logical_id]
        for logical_id, kind in stack.resource_types.items()
        if kind == "AWS::SSM::Parameter" and logical_id in stack.physical_ids
    ]
    if parameters:
        clients.client("ssm").delete_parameters(Names=parameters)
    for logical_id, kind in stack.resource_types.items():
        if kind == "AWS::RAM::ResourceShare" and logical_id in stack.physical_ids:
            clients.client("ram").delete_resource_share(
                resourceShareArn=stack.physical_ids[logical_id]
            )
    # Policies the deployer attached (ManagedPolicyArns, a PROPERTY_GAPS entry) are detached
    # by it too, as CloudFormation would: IAM refuses to delete a role with one attached.
    iam = clients.client("iam")
    for logical_id, kind in stack.resource_types.items():
        if kind == "AWS::IAM::Role" and logical_id in stack.physical_ids:
            role = stack.physical_ids[logical_id]
            for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
    clients.client("cloudformation").delete_stack(StackName=stack.name)
