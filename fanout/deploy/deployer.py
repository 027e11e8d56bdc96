"""Create the hub's stack from ``template.yaml`` on a local endpoint (moto, LocalStack on this machine).

``deploy()`` is the single way tooling turns the SAM template into live resources
locally; an AWS account is deployed to with ``sam deploy`` and nothing else, so any
other endpoint is refused (``NotLocalEndpointError``, ``require_local_endpoint``).

1. The template is read, its conditions and rules are evaluated for the given
   parameters, and it is translated by ``aws-sam-translator``
   (``fanout.deploy.template``). Function code is replaced by a stub: locally the
   handlers run in-process from the source tree.
2. Every resource type is created through CloudFormation, except those moto's
   CloudFormation does not create (``moto_gaps.API_CREATED``), which are made with
   direct API calls after the stack exists (``fanout.deploy.api_created``): SNS
   subscriptions, topic, queue and bucket policies, CloudWatch alarms, layer versions
   (published with stub content, like the functions' code; a local ``ContentUri``
   folder is recorded for the invoker), and last SSM parameters (one names the layer
   version), layer version permissions and RAM shares. Their intrinsics are resolved
   by the endpoint's CloudFormation (``fanout.deploy.probes``); the properties it
   ignores are applied by API (``moto_gaps.PROPERTY_GAPS``).
3. Event source mappings are *not* created (``moto_gaps.RECORDED_ONLY``): they are
   resolved and returned (``EventSourceMapping``) for the local event-source-mapping
   emulator (``fanout.local``) to drive. Types in ``moto_gaps.NOT_EMULATED`` (the
   X-Ray resource policy) are left out.
4. ``AWS::Serverless::Application`` resources with a local ``Location`` (the
   consumer kit) or an S3 URL (the published kit) become child stacks named
   ``<stack>-<LogicalId>``, deployed the same way, recursively, with their parameters
   resolved from the parent.
5. What a stack takes from another account (SSM-typed parameters given as ARNs, a
   template by URL, layer versions, a topic to subscribe to) is resolved and checked
   against the owner's policies as AWS does, given ``owners`` (``fanout.crossaccount``).

The result, ``DeployedStack`` (``fanout.deploy.models``), tells the local pipeline
everything it needs.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3

from fanout import aws_rules
from fanout.connection import Connection
from fanout.crossaccount import (
    AccountConnections,
    detach_foreign_layers,
    fetch_template,
    resolve_ssm_parameters,
    ssm_typed_parameters,
    subscriber,
)
from fanout.deploy.api_created import (
    alarm_arguments,
    grant_layer,
    publish_stub_layer,
    put_bucket_policy,
    put_parameter,
    put_queue_policy,
    put_topic_policy,
    share,
    subscribe,
)
from fanout.deploy.exceptions import NotLocalEndpointError, StackError
from fanout.deploy.live import live_functions, live_queues, live_topics, mapping_properties
from fanout.deploy.models import DeployedStack, EventSourceMapping, Subscription
from fanout.deploy.moto_gaps import (
    API_CREATED,
    LAST,
    LIST_GAPS,
    NOT_EMULATED,
    PROPERTY_GAPS,
    RECORDED_ONLY,
    fill_gap,
    listed,
    name_fifo,
)
from fanout.deploy.probes import Probes, fill, fill_late_refs, late_refs, split_parameters
from fanout.deploy.template import (
    NESTED_STACK,
    TEMPLATE,
    check_rules,
    evaluate_conditions,
    layer_folder,
    load_template,
    local_layer_folders,
    parameter_values,
    references,
    resolve_find_in_map,
    resolve_if_and_no_value,
    translate,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


def require_local_endpoint(clients: Connection) -> None:
    """Refuse (``NotLocalEndpointError``, one line) clients whose calls would leave this machine.

    Local is an endpoint URL whose host is a loopback address (or a name that resolves
    only to loopback addresses, as ``localhost`` does), or moto's in-process mock
    (``moto.mock_aws``), which answers calls to AWS's own endpoints before they are
    sent.
    """
    url = clients.client("sts").meta.endpoint_url
    if _on_this_machine(url) or _moto_in_process():
        return
    raise NotLocalEndpointError(
        f"{url} is not a local endpoint: the local deployer creates stacks on moto or"
        " LocalStack on this machine only; deploy to an AWS account with `sam deploy`"
    )


def _on_this_machine(url: str) -> bool:
    host = urlsplit(url).hostname
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass  # a name, not an address
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


def _moto_in_process() -> bool:
    # mock_aws() switches moto's botocore hook on while it is active:
    # https://github.com/getmoto/moto/blob/0af643a5dbfc98797f08ee64f5be3ef8002d56ff/moto/core/models.py#L212
    from moto.core.models import botocore_stubber  # noqa: PLC0415 - only when asked

    return bool(botocore_stubber.enabled)


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

    ``endpoint_url`` is a moto server or LocalStack on this machine, or ``None`` for the
    default endpoint inside ``moto.mock_aws()`` (moto's in-process backend). Raises
    ``NotLocalEndpointError`` for any other endpoint, ``StackError`` for a failed rule or an unsupported template shape,
    ``aws_rules.AwsRuleError`` for a configuration AWS would refuse (moto accepts
    it), and the endpoint's ``ClientError`` when it refuses a resource.

    ``owners`` acts as other accounts where the endpoint cannot (moto): what the stack
    takes from another account is then read as its owner, and refused
    (``CrossAccountRefusedError``) where the owner's policy would refuse it
    (``fanout.crossaccount``).
    """
    clients = Connection(endpoint_url=endpoint_url, region=region, session=session)
    require_local_endpoint(clients)
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
        name_fifo(resource, f"{stack_name}-{logical_id}", conditions)

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
            resource["Properties"] = resolve_if_and_no_value(resource["Properties"], conditions)
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn")
        if depends:
            kept = [
                d for d in ([depends] if isinstance(depends, str) else depends) if d not in deferred
            ]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]
        if references(resource.get("Properties", {})) & set(deferred):
            raise StackError(f"{logical_id} refers to a resource created outside CloudFormation")

    # Outputs that name deferred resources are resolved here after those exist.
    outputs: dict[str, Any] = cfn_template.get("Outputs") or {}
    late_outputs = {
        name: output
        for name, output in outputs.items()
        if references(output["Value"]) & set(deferred)
    }
    for name in late_outputs:
        del outputs[name]

    probes = Probes()
    marked = {
        logical_id: probes.mark(
            late_refs(
                split_parameters(
                    resolve_if_and_no_value(resource.get("Properties", {}), conditions),
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
            listed(resource["Properties"][prop])
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
    aws_rules.check_buckets(
        _active_properties(resources, "AWS::S3::Bucket", conditions), context, path
    )
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
    resolved = {logical_id: fill(props, all_outputs) for logical_id, props in marked.items()}

    declared: dict[str, dict[str, str]] = {}
    for (logical_id, prop), value in gaps.items():
        filled = fill(value, all_outputs)
        fill_gap(clients, types[logical_id], prop, physical[logical_id], filled)
        if types[logical_id] == "AWS::SNS::Topic":
            declared.setdefault(logical_id, {})[prop] = str(filled)

    subscriptions: dict[str, Subscription] = {}
    alarms: dict[str, Mapping[str, Any]] = {}
    mappings: list[EventSourceMapping] = []
    nested: dict[str, DeployedStack] = {}
    functions = live_functions(clients, resources, physical, path, layers)
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
            subscription = subscribe(
                subscriber(topic_arn, clients, account, owners), full_path, properties
            )
            subscriptions[logical_id] = subscription
            physical[logical_id] = subscription.arn
        elif kind == "AWS::SNS::TopicPolicy":
            put_topic_policy(clients, properties)
            physical[logical_id] = f"{stack_name}-{logical_id}"
        elif kind == "AWS::SQS::QueuePolicy":
            put_queue_policy(clients, properties)
            physical[logical_id] = f"{stack_name}-{logical_id}"
        elif kind == "AWS::S3::BucketPolicy":
            put_bucket_policy(clients, properties)
            physical[logical_id] = properties["Bucket"]
        elif kind == "AWS::CloudWatch::Alarm":
            name = properties.get("AlarmName") or f"{stack_name}-{logical_id}"
            arguments = alarm_arguments(name, properties)
            clients.client("cloudwatch").put_metric_alarm(**arguments)
            alarms[name] = arguments
            physical[logical_id] = name
        elif kind == "AWS::Lambda::LayerVersion":
            physical[logical_id] = publish_stub_layer(clients, properties)
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
        filled = fill_late_refs(late, physical)
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
        filled = fill_late_refs(properties, physical)
        if types[logical_id] == "AWS::Lambda::LayerVersionPermission":
            physical[logical_id] = grant_layer(clients, logical_id, filled)
        elif types[logical_id] == "AWS::RAM::ResourceShare":
            physical[logical_id] = share(clients, filled)
        else:
            physical[logical_id] = put_parameter(clients, filled)

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
        queues=live_queues(clients, resources, physical, path),
        subscriptions=subscriptions,
        event_source_mappings=tuple(mappings),
        alarms=alarms,
        nested=nested,
        topics=live_topics(clients, resources, physical, path, declared),
        account=account,
        layer_folders=layer_folders,
    )


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
    require_local_endpoint(clients)
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
