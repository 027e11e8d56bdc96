"""What a stack takes from another account, resolved the way CloudFormation and the services do.

A consumer stack in account B names four things of the hub's account A
(``examples/other-team/``): the discovery parameters (by ARN), the kit template (by
URL), the runtime layer (by version ARN), and the topic it subscribes to. On AWS each
works only when A's side allows B:

- an ``AWS::SSM::Parameter::Value<String>`` parameter whose value is a parameter ARN of
  another account reads a parameter shared with B through AWS RAM (a parameter of
  the advanced tier); the full ARN is required, and a template parameter of an SSM
  type is the only form CloudFormation resolves across accounts (``{{resolve:ssm:}}``
  dynamic references do not):
  https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html
  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-supplied-parameter-types.html#cloudformation-supplied-parameter-types-ssm-parameter-types
- a nested stack's ``TemplateURL`` is read from S3 with the deployer's permissions,
  so A's bucket policy must let B ``s3:GetObject`` it:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-template.html
- a function may attach a layer version of another account only if the layer
  version's policy grants ``lambda:GetLayerVersion`` to that account:
  https://docs.aws.amazon.com/lambda/latest/dg/permissions-layer-cross-account.html
- B subscribes its queue from its own account; A's topic policy must grant
  ``sns:Subscribe``: https://docs.aws.amazon.com/sns/latest/dg/sns-send-message-to-sqs-cross-account.html

moto resolves none of these across accounts (a parameter ARN of another account is
not found, a layer of another account is unknown, a subscription made from B is kept
in B and never delivered), so the local deployer, given ``AccountConnections`` (how to
act as each account), reads each thing as its owner after evaluating the owner's
policy with ``fanout.local.policy``, and refuses (``CrossAccountRefusedError``) what AWS
would refuse. Without ``AccountConnections`` (a real account) the endpoint does both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.local.policy import SECURE_TRANSPORT, Principal, Request, evaluate_cross_account

AccountConnections = Callable[[str], Connection]
"""A connection acting as the given account (its resources, its identity)."""

SSM_PARAMETER_TYPE: Final = re.compile(r"AWS::SSM::Parameter::Value<.+>")

# https://bucket.s3.region.amazonaws.com/key, https://bucket.s3.amazonaws.com/key,
# https://s3.region.amazonaws.com/bucket/key (path style):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-bucket-intro.html
_VIRTUAL_HOSTED: Final = re.compile(
    r"https://(?P<bucket>[a-z0-9.-]+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com/(?P<key>.+)"
)
_PATH_STYLE: Final = re.compile(
    r"https://s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com/(?P<bucket>[a-z0-9.-]+)/(?P<key>.+)"
)


class CrossAccountRefusedError(RuntimeError):
    """AWS would refuse this cross-account reference (the owner's policy does not allow it)."""


def account_of(arn: str) -> str:
    """The account id field of an ARN ("" when it has none, as S3's)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""  # noqa: PLR2004 - arn:partition:service:region:account


def account_root(account: str) -> Principal:
    """The account as a principal: who deploys a stack, as a resource policy names it."""
    return Principal(f"arn:aws:iam::{account}:root")


def _allow(owner_policy: Any, account: str, action: str, resource: str, what: str) -> None:
    """Refuse unless the owner's resource policy lets ``account`` do ``action`` on ``resource``."""
    request = Request(account_root(account), action, resource, SECURE_TRANSPORT)
    result = evaluate_cross_account(request, [], owner_policy or {"Statement": []})
    if not result.decision.allowed:
        raise CrossAccountRefusedError(
            f"account {account} may not {action} {resource} ({what}): {result.reason}"
        )


# ---------------------------------------------------------------------------- SSM parameters


def ssm_typed_parameters(declared: Mapping[str, Any]) -> list[str]:
    """The names of the template parameters whose type reads Parameter Store."""
    return [
        name
        for name, spec in declared.items()
        if SSM_PARAMETER_TYPE.fullmatch(str((spec or {}).get("Type", "")))
    ]


def parameter_name(reference: str) -> str:
    """The parameter's name from its name or its ARN (``arn:...:parameter/a/b`` is ``/a/b``)."""
    if not reference.startswith("arn:"):
        return reference
    tail = reference.split(":", 5)[5].removeprefix("parameter")
    return tail if tail.startswith("/") else "/" + tail


def resolve_ssm_parameters(
    declared: Mapping[str, Any],
    values: Mapping[str, str],
    clients: Connection,
    account: str,
    owners: AccountConnections | None,
) -> dict[str, str]:
    """``values`` with each SSM-typed parameter replaced by the parameter's value.

    A parameter ARN of another account is read as its owner (``owners``) when the
    owner shares it with the deploying account through AWS RAM; refused otherwise.
    Without ``owners`` the deploying account reads it (on AWS, through the share).
    """
    resolved = dict(values)
    for name in ssm_typed_parameters(declared):
        reference = values[name]
        owner = account_of(reference) if reference.startswith("arn:") else account
        reader = clients
        if owner != account and owners is not None:
            reader = owners(owner)
            if not _exists(reader, reference):
                raise CrossAccountRefusedError(
                    f"parameter {name}: {reference} not found (account {owner} has no"
                    f" parameter {parameter_name(reference)})"
                )
            if not shared_with_account(reader, reference, account):
                raise CrossAccountRefusedError(
                    f"parameter {name}: {reference} is not shared with account {account}"
                    " (a parameter of another account is read only through an AWS RAM share);"
                    f" on the local hub, start the hub with --parameter ConsumerAccountIds={account}"
                )
        try:
            parameter = reader.client("ssm").get_parameter(Name=parameter_name(reference))
        except ClientError as exc:
            raise CrossAccountRefusedError(
                f"parameter {name}: no SSM parameter {reference} for account {account}: {exc}"
            ) from exc
        resolved[name] = str(parameter["Parameter"]["Value"])
    return resolved


def _exists(owner: Connection, reference: str) -> bool:
    """Whether the owner has the parameter (asked as the owner, who may always read it)."""
    try:
        owner.client("ssm").get_parameter(Name=parameter_name(reference))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return False
        raise
    return True


def shared_with_account(owner: Connection, arn: str, account: str) -> bool:
    """Whether the owner's RAM shares ``arn`` with ``account`` (a share naming both)."""
    ram = owner.client("ram")
    shares = ram.get_resource_share_associations(
        associationType="RESOURCE", resourceArn=arn, associationStatus="ASSOCIATED"
    )["resourceShareAssociations"]
    share_arns = [s["resourceShareArn"] for s in shares]
    if not share_arns:
        return False
    principals = ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=share_arns, principal=account
    )["resourceShareAssociations"]
    return any(p.get("status", "ASSOCIATED") == "ASSOCIATED" for p in principals)


# ---------------------------------------------------------------------------- templates by URL


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 https URL; ``ValueError`` for anything else."""
    for pattern in (_VIRTUAL_HOSTED, _PATH_STYLE):
        found = pattern.fullmatch(url)
        if found:
            return found["bucket"], found["key"]
    raise ValueError(f"{url} is not an Amazon S3 URL")


def fetch_template(
    url: str, into: Path, clients: Connection, account: str, owners: AccountConnections | None
) -> Path:
    """The template at an S3 URL, written under ``into``; its path.

    With ``owners``, a bucket of another account is read only if its bucket policy
    lets the deploying account ``s3:GetObject`` the key.
    """
    bucket, key = s3_location(url)
    s3 = clients.client("s3")
    if owners is not None:
        own = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in own:
            try:
                policy: Any = s3.get_bucket_policy(Bucket=bucket)["Policy"]
            except ClientError:
                policy = None
            _allow(policy, account, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", url)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise CrossAccountRefusedError(f"cannot read the template {url}: {exc}") from exc
    path = into / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


# ---------------------------------------------------------------------------- layers


def _layer_value(item: Any, values: Mapping[str, str]) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and set(item) == {"Ref"} and item["Ref"] in values:
        return str(values[item["Ref"]])
    return None


def detach_foreign_layers(
    resources: Mapping[str, Any],
    values: Mapping[str, str],
    account: str,
    owners: AccountConnections | None,
) -> dict[str, tuple[str, ...]]:
    """Per function logical id, its layer version ARNs in order; other accounts' taken off it.

    A layer version of another account must be granted to ``account`` by its policy
    (``lambda:GetLayerVersion``), else ``CrossAccountRefusedError``. moto resolves a
    function's layers in the function's own account only, so with ``owners`` those are
    detached from the template and attached by the local invoker instead
    (``fanout.local.invoker``). Only layers named by a parameter or a literal ARN are
    listed (a function cannot name a layer its own template creates locally).
    """
    layers: dict[str, tuple[str, ...]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        properties = resource.get("Properties") or {}
        kept, named = [], []
        for item in properties.get("Layers") or []:
            arn = _layer_value(item, values)
            if arn:
                named.append(arn)
            if arn and owners is not None and account_of(arn) not in {"", account}:
                check_layer_grant(arn, account, owners)
            else:
                kept.append(item)
        if named:
            layers[logical_id] = tuple(named)
        if "Layers" in properties:
            properties["Layers"] = kept
    return layers


def check_layer_grant(arn: str, account: str, owners: AccountConnections) -> None:
    """Refuse a layer version of another account unless its policy grants ``account``."""
    _, _, _, _, owner, _, name, version = arn.split(":", 7)
    try:
        policy: Any = (
            owners(owner)
            .client("lambda")
            .get_layer_version_policy(LayerName=name, VersionNumber=int(version))["Policy"]
        )
    except ClientError:
        policy = None
    _allow(layer_policy(policy), account, "lambda:GetLayerVersion", arn, "another account's layer")


def layer_policy(policy: Any) -> Any:
    """A layer version policy as Lambda returns it: an account principal as its root ARN.

    Lambda answers a grant to account 111122223333 with ``"Principal": {"AWS":
    "arn:aws:iam::111122223333:root"}``
    (https://docs.aws.amazon.com/lambda/latest/dg/permissions-layer-cross-account.html);
    moto keeps the bare account id, which is no IAM principal.
    """
    if policy is None:
        return None
    document = json.loads(policy) if isinstance(policy, str) else dict(policy)
    statements = [
        {**s, "Principal": {"AWS": f"arn:aws:iam::{s['Principal']}:root"}}
        if isinstance(s.get("Principal"), str) and s["Principal"] != "*"
        else s
        for s in document.get("Statement", [])
    ]
    return {**document, "Statement": statements}


# ---------------------------------------------------------------------------- subscriptions


def subscriber(
    topic_arn: str, clients: Connection, account: str, owners: AccountConnections | None
) -> Connection:
    """The connection that subscribes to ``topic_arn`` for the deploying account.

    The topic's own account when it is another one (moto keeps a subscription made
    from another account in that account, where the topic never delivers to it),
    after its topic policy allowed ``sns:Subscribe`` to the deploying account.
    """
    owner = account_of(topic_arn)
    if owners is None or owner in {"", account}:
        return clients
    topic_owner = owners(owner)
    attributes = topic_owner.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    _allow(attributes.get("Policy"), account, "sns:Subscribe", topic_arn, "the hub's topic")
    return topic_owner
