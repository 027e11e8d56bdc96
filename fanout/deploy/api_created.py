"""The resources moto's CloudFormation does not create, made with the services' own API calls.

One function per type of ``moto_gaps.API_CREATED``, given the resource's properties
with every intrinsic already resolved (``fanout.deploy.probes``); each returns or
records what CloudFormation would give as the resource's physical id.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any, Final

from fanout import aws_rules
from fanout.connection import Connection
from fanout.deploy.exceptions import StackError
from fanout.deploy.models import Subscription
from fanout.deploy.moto_gaps import without_tls_denials
from fanout.deploy.template import STUB_CODE, STUB_LAYER_FILE


def subscribe(clients: Connection, path: str, properties: Mapping[str, Any]) -> Subscription:
    """An ``AWS::SNS::Subscription``, made with ``Subscribe`` and its attributes."""
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
            attributes[key] = _text(properties[key])
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


def alarm_arguments(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """``PutMetricAlarm``'s arguments for an ``AWS::CloudWatch::Alarm``'s properties."""
    arguments: dict[str, Any] = {"AlarmName": name}
    for key in _ALARM_KEYS:
        if key in properties:
            arguments[key] = properties[key]
    for key, kind in _ALARM_NUMBERS.items():
        if key in properties:
            arguments[key] = kind(properties[key])
    return arguments


def put_topic_policy(clients: Connection, properties: Mapping[str, Any]) -> None:
    """An ``AWS::SNS::TopicPolicy``: the document set as each topic's ``Policy``."""
    for topic in properties["Topics"]:
        clients.client("sns").set_topic_attributes(
            TopicArn=topic,
            AttributeName="Policy",
            AttributeValue=_text(properties["PolicyDocument"]),
        )


def put_queue_policy(clients: Connection, properties: Mapping[str, Any]) -> None:
    """An ``AWS::SQS::QueuePolicy``: the document set as each queue's ``Policy``."""
    for url in properties["Queues"]:
        clients.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": _text(properties["PolicyDocument"])}
        )


def put_bucket_policy(clients: Connection, properties: Mapping[str, Any]) -> None:
    """An ``AWS::S3::BucketPolicy``, minus what moto would misread (``without_tls_denials``)."""
    policy = without_tls_denials(properties["PolicyDocument"])
    if policy["Statement"]:
        clients.client("s3").put_bucket_policy(Bucket=properties["Bucket"], Policy=_text(policy))


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def put_parameter(clients: Connection, properties: Mapping[str, Any]) -> str:
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


def share(clients: Connection, properties: Mapping[str, Any]) -> str:
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


def grant_layer(clients: Connection, logical_id: str, properties: Mapping[str, Any]) -> str:
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


def publish_stub_layer(clients: Connection, properties: Mapping[str, Any]) -> str:
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
