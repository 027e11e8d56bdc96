"""What moto's CloudFormation does not do, and how the deployer makes up for it.

moto's CloudFormation creates most resource types but not all (``API_CREATED``: made
with API calls once the stack exists, ``fanout.deploy.api_created``), ignores some
properties (``PROPERTY_GAPS``: applied by API when the live resource lacks them),
does not name unnamed FIFO topics and queues as CloudFormation does
(``FIFO_NAMES``), and would run every event source mapping in Docker
(``RECORDED_ONLY``: resolved for the local emulator, never created). moto's S3
denies every object request of a bucket whose policy denies plain HTTP
(``without_tls_denials``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from fanout.connection import Connection
from fanout.deploy.template import resolve_if_and_no_value

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
"""Resource types resolved and returned but never created.

moto would run the function in Docker on every write; the local emulator
(``fanout.local.esm``) drives each mapping instead.
"""

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


def listed(value: Any) -> Any:
    """A list property as one string (a probe output carries strings only)."""
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


def name_fifo(resource: dict[str, Any], prefix: str, conditions: Mapping[str, bool]) -> None:
    """Give an unnamed FIFO topic or queue the ``.fifo`` name CloudFormation would."""
    flag, name_property, longest = FIFO_NAMES.get(resource["Type"], ("", "", 0))
    properties = resource.get("Properties") or {}
    if not flag or name_property in properties:
        return
    fifo = resolve_if_and_no_value({"v": properties.get(flag, False)}, conditions).get("v")
    if str(fifo).lower() != "true":
        return
    suffix = "-" + hashlib.sha256(prefix.encode()).hexdigest()[:12].upper() + ".fifo"
    properties[name_property] = prefix[: longest - len(suffix)] + suffix


def fill_gap(  # noqa: C901 - one table of property fixes, a branch each
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


def without_tls_denials(document: Any) -> Any:
    """A bucket policy minus its "deny unless TLS" statements (``aws:SecureTransport``).

    The template denies plain-HTTP requests to its buckets, as AWS recommends
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingEncryptionInTransit.html#UsingEncryptionInTransit.enforcement).
    moto's S3 checks a bucket's policy on every object request, in-process
    (``mock_aws``) and server alike
    (https://github.com/getmoto/moto/blob/0af643a5dbfc98797f08ee64f5be3ef8002d56ff/moto/s3/responses.py#L1911),
    but evaluates no condition operator other than ``StringEquals``: it counts any
    other, such as ``Bool``, as met
    (https://github.com/getmoto/moto/blob/0af643a5dbfc98797f08ee64f5be3ef8002d56ff/moto/iam/policy_conditions.py#L38).
    The statement would therefore deny every object request, HTTPS or not, and the hub
    could not use its own buckets. It is kept in the template, where an account
    enforces it (``sam deploy``); locally ``fanout.local.policy`` evaluates the
    template's other "deny unless TLS" statements with ``aws:SecureTransport`` true.
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
