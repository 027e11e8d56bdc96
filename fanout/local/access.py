"""Who may do what on the local hub: the template's policies, enforced on each principal's calls.

On AWS a function's SDK signs with its execution role's credentials (Lambda puts them
in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
and the service evaluates the role's identity policies and the resource's policy
(``fanout.local.policy``). moto does neither, so the local hub gives every principal
it acts as its own access key id and checks each call of those keys before it leaves
the process, in a botocore ``before-call`` hook:

- each function's role (``role_key``): the router and every consumer run under it;
- the operator (``OPERATOR_ACCESS_KEY``): its identity policy is the template's
  ``OperatorPolicy`` managed policy, read back from the endpoint's IAM.

A role of another account (a second team's stack, ``LocalAccess.add_account_functions``)
signs with credentials from assuming it, so moto serves it in its own account; a call
of it on a resource of another account is allowed only if both the role's policies and
the resource's policy allow it (``policy.evaluate_cross_account``).

Any other key (the test harness, ``fanout local`` itself, the deployer) is not
checked. Refusals carry the error code the service returns (SNS ``AuthorizationError``,
SQS ``AccessDenied``, S3 ``AccessDenied``, Lambda ``AccessDeniedException``...).

The checked operations are those the handlers and the ``fanout`` operations commands
use (``OPERATIONS``); local calls count as TLS (``aws:SecureTransport`` true, see
docs/local.md), and a role's calls carry ``aws:PrincipalArn``/``aws:PrincipalAccount``. The hook is installed on every botocore session created while the
hub runs (``botocore.handlers.BUILTIN_HANDLERS``), because handlers build their own
sessions at cold start.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Final

import botocore.handlers
from botocore.exceptions import ClientError

from fanout.connection import Connection, queue_url_of
from fanout.crossaccount import account_of
from fanout.local.accounts import AccountConnections, assume
from fanout.local.model import FunctionSpec
from fanout.local.policy import (
    SECURE_TRANSPORT,
    Decision,
    Principal,
    Request,
    evaluate,
    evaluate_cross_account,
)

OPERATOR_ACCESS_KEY: Final = "LOCALOPERATOR0000000"
"""The operator's access key id on the local hub (any secret is accepted)."""
OPERATOR_ROLE_NAME: Final = "fanout-operator"
OPERATOR_POLICY_OUTPUT: Final = "OperatorPolicyArn"


def role_key(role_arn: str) -> str:
    """A stable access key id for a role, 20 characters like AWS's."""
    return "LOCALROLE" + hashlib.sha256(role_arn.encode()).hexdigest()[:11].upper()


def credentials_of(access_key: str) -> dict[str, str]:
    """The environment variables Lambda sets for an execution role's credentials."""
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": "local",  # nosec B105 - never checked locally
        "AWS_SESSION_TOKEN": "local",  # nosec B105 - never checked locally
    }


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Target:
    """The IAM action and resource ARN of one call."""

    action: str
    resource: str


ERROR_CODES: Final = {
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "s3": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "dynamodb": ("AccessDeniedException", 400),
    "dynamodbstreams": ("AccessDeniedException", 400),
    "cloudformation": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "secretsmanager": ("AccessDeniedException", 400),
}
"""What each service answers an unauthorised call with."""


def _queue_arn(url: str, region: str) -> str:
    # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (moto: http://host/ACCOUNT/NAME)
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _function_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return ":".join(name.split(":")[:7])  # drop a qualifier
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _table_arn(name: str, region: str, account: str) -> str:
    # TableName takes a name or the table's ARN:
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _secret_arn(secret_id: str, region: str, account: str) -> str:
    # SecretId takes the secret's ARN or its name; the hub resolves a name to the
    # full ARN (with its random suffix) before this, when the secret exists.
    # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
    if secret_id.startswith("arn:"):
        return secret_id
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"


DYNAMODB_TABLE_OPERATIONS: Final = frozenset(
    {"DescribeTable", "Scan", "Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem"}
)
"""The table operations the handlers (idempotency, projection) and operations commands make."""


def targets_of(  # noqa: C901, PLR0911, PLR0912 - one table of operations, read top to bottom
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str
) -> list[Target] | None:
    """The action(s) and resource(s) a call needs; None for an operation not checked.

    Action names: https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
    Stream ``GetRecords`` names no stream, only a shard iterator: the ``Authorizer``
    gives its stream as ``params["StreamArn"]`` (the stream the iterator was issued for).
    """
    if service == "sns":
        if operation in {"Publish", "PublishBatch"}:
            return [Target("sns:Publish", str(params.get("TopicArn", "*")))]
        if operation in {"Subscribe", "GetTopicAttributes", "ListSubscriptionsByTopic"}:
            return [Target(f"sns:{operation}", str(params["TopicArn"]))]
        if operation == "GetSubscriptionAttributes":
            # Its resource type is the subscription's topic (the subscription ARN minus ":<id>").
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
            topic = str(params["SubscriptionArn"]).rpartition(":")[0]
            return [Target("sns:GetSubscriptionAttributes", topic)]
        return None
    if service == "secretsmanager":
        if operation == "GetSecretValue":
            secret = _secret_arn(str(params["SecretId"]), region, account)
            return [Target("secretsmanager:GetSecretValue", secret)]
        return None
    if service == "sqs":
        if operation == "GetQueueUrl":
            owner = params.get("QueueOwnerAWSAccountId") or account
            name = params["QueueName"]
            return [Target("sqs:GetQueueUrl", f"arn:aws:sqs:{region}:{owner}:{name}")]
        if operation in {"StartMessageMoveTask", "ListMessageMoveTasks"}:
            return [Target(f"sqs:{operation}", str(params["SourceArn"]))]
        if operation == "CancelMessageMoveTask":
            return [Target("sqs:CancelMessageMoveTask", "*")]
        if "QueueUrl" not in params:
            return None
        action = operation.removesuffix("Batch")
        return [Target(f"sqs:{action}", _queue_arn(str(params["QueueUrl"]), region))]
    if service == "s3":
        bucket = str(params.get("Bucket", ""))
        if operation in {"GetObject", "HeadObject"}:
            return [Target("s3:GetObject", _object(bucket, params["Key"]))]
        if operation in {"PutObject", "DeleteObject"}:
            return [Target(f"s3:{operation}", _object(bucket, params["Key"]))]
        if operation == "CopyObject":
            source = params["CopySource"]
            if isinstance(source, str):
                source_bucket, _, source_key = source.lstrip("/").partition("/")
            else:
                source_bucket, source_key = source["Bucket"], source["Key"]
            return [
                Target("s3:GetObject", _object(source_bucket, source_key)),
                Target("s3:PutObject", _object(bucket, params["Key"])),
            ]
        if operation in {"ListObjectsV2", "ListObjects"}:
            return [Target("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
        return None
    if service == "lambda":
        if operation == "Invoke":
            function = _function_arn(str(params["FunctionName"]), region, account)
            return [Target("lambda:InvokeFunction", function)]
        if operation == "GetFunctionConfiguration":
            function = _function_arn(str(params["FunctionName"]), region, account)
            return [Target("lambda:GetFunctionConfiguration", function)]
        if operation == "ListEventSourceMappings":
            return [Target("lambda:ListEventSourceMappings", "*")]
        return None
    if service == "dynamodb":
        if operation in DYNAMODB_TABLE_OPERATIONS:
            table = _table_arn(str(params["TableName"]), region, account)
            return [Target(f"dynamodb:{operation}", table)]
        return None
    if service == "dynamodbstreams":
        if operation in {"GetShardIterator", "DescribeStream", "GetRecords"}:
            return [Target(f"dynamodb:{operation}", str(params.get("StreamArn") or "*"))]
        return None
    if service == "cloudformation":
        if operation in {"DescribeStacks", "ListStackResources"}:
            name = params.get("StackName")
            resource = (
                str(name)
                if name and str(name).startswith("arn:")
                else f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"
                if name
                else "*"
            )
            return [Target(f"cloudformation:{operation}", resource)]
        return None
    if service == "cloudwatch":
        if operation in {"GetMetricData", "DescribeAlarms"}:
            return [Target(f"cloudwatch:{operation}", "*")]
        return None
    return None


# ---------------------------------------------------------------------------- policies


class PolicyStore:
    """Identity and resource policies as the endpoint holds them, read once each.

    Reads go through ``clients``, whose key is never checked, or, for a role or a
    topic or queue of another account, through ``accounts`` acting as that account
    (moto keeps each account's resources apart).
    """

    def __init__(self, clients: Connection, accounts: AccountConnections | None = None) -> None:
        self._clients = clients
        self._accounts = accounts
        self._resource: dict[str, Any] = {}
        self._identity: dict[str, list[Any]] = {}
        self._home_buckets: set[str] = set()
        self._lock = threading.Lock()

    def _owner_clients(self, arn: str) -> Connection:
        account = account_of(arn)
        if self._accounts is None or not account:
            return self._clients
        return self._accounts(account)

    def owner_account(self, arn: str) -> str:
        """The account a resource belongs to ("" when unknown: a bucket not the home account's)."""
        if not arn.startswith("arn:aws:s3:::") or self._accounts is None:
            return account_of(arn)
        bucket = self._owner(arn).removeprefix("arn:aws:s3:::")
        with self._lock:
            if not self._home_buckets:
                listed = self._clients.client("s3").list_buckets().get("Buckets", [])
                self._home_buckets = {b["Name"] for b in listed}
            home = bucket in self._home_buckets
        return self._accounts.home_account if home else ""

    def role_policies(self, role_arn: str) -> list[Any]:
        """Every inline and attached managed policy document of a role."""
        with self._lock:
            if role_arn not in self._identity:
                self._identity[role_arn] = self._read_role(role_arn)
            return self._identity[role_arn]

    def managed_policy(self, arn: str) -> Any:
        """The default version's document of a managed policy."""
        iam = self._owner_clients(arn).client("iam")
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
            "Document"
        ]
        return _document(document)

    def _read_role(self, role_arn: str) -> list[Any]:
        name = role_arn.rsplit("/", 1)[-1]
        iam = self._owner_clients(role_arn).client("iam")
        documents: list[Any] = []
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            documents.append(_document(document))
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        documents.extend(self.managed_policy(a["PolicyArn"]) for a in attached)
        return documents

    def secret_arn(self, name: str) -> str | None:
        """The full ARN of the secret named ``name`` (None if there is none)."""
        try:
            described = self._clients.client("secretsmanager").describe_secret(SecretId=name)
        except ClientError:
            return None
        return str(described["ARN"])

    def resource_policy(self, arn: str) -> Any | None:
        """The topic, queue or bucket policy guarding ``arn`` (None if it has none)."""
        owner = self._owner(arn)
        with self._lock:
            if owner not in self._resource:
                self._resource[owner] = self._read_resource(owner)
            return self._resource[owner]

    @staticmethod
    def _owner(arn: str) -> str:
        if arn.startswith("arn:aws:s3:::"):
            return "arn:aws:s3:::" + arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return arn

    def _read_resource(self, arn: str) -> Any | None:
        try:
            if arn.startswith("arn:aws:sns:"):
                sns = self._owner_clients(arn).client("sns")
                attributes = sns.get_topic_attributes(TopicArn=arn)
                text = attributes.get("Attributes", {}).get("Policy")
            elif arn.startswith("arn:aws:sqs:"):
                sqs = self._owner_clients(arn).client("sqs")
                url = queue_url_of(sqs, arn)
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
                text = attributes.get("Attributes", {}).get("Policy")
            elif arn.startswith("arn:aws:s3:::"):
                bucket = arn.removeprefix("arn:aws:s3:::")
                text = self._clients.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
            else:
                return None
        except ClientError:
            return None  # no such resource, or no policy: identity policies decide
        return json.loads(text) if text else None


def _document(value: Any) -> Any:
    """A policy document as boto3 returns it: a dict, JSON text, or moto's Python repr.

    moto keeps the inline policies of a role created by CloudFormation as ``str(dict)``.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


# ---------------------------------------------------------------------------- the hook


@dataclass
class Identity:
    """A principal the hub acts as, and the identity policies it has."""

    principal: Principal
    policies: list[Any]


class Authorizer:
    """Decides every checked call made with a registered key; refuses with AWS's error."""

    def __init__(self, store: PolicyStore, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._identities: dict[str, Identity] = {}
        self._iterators: dict[str, str] = {}
        self._iterators_lock = threading.Lock()

    def register(self, access_key: str, identity: Identity) -> None:
        """Check every call made with ``access_key`` as ``identity``."""
        self._identities[access_key] = identity

    def identity(self, access_key: str) -> Identity:
        """The identity registered for a key (``KeyError`` if none)."""
        return self._identities[access_key]

    def add_role(self, role_arn: str) -> str:
        """Register a role with its policies from the endpoint; its access key id."""
        key = role_key(role_arn)
        self.register(key, Identity(Principal(role_arn), self.store.role_policies(role_arn)))
        return key

    def decide(self, identity: Identity, target: Target) -> tuple[Decision, str]:
        """The evaluation of one target for one identity.

        The request context has ``aws:SecureTransport`` and, from the principal,
        ``aws:PrincipalArn`` and ``aws:PrincipalAccount`` (``policy.Request.key``).
        """
        request = Request(identity.principal, target.action, target.resource, SECURE_TRANSPORT)
        resource_policy = self.store.resource_policy(target.resource)
        owner = self.store.owner_account(target.resource)
        if owner and identity.principal.account and owner != identity.principal.account:
            # Another account's resource: both its policy and the role's must allow it.
            result = evaluate_cross_account(
                request, identity.policies, resource_policy or {"Statement": []}
            )
        else:
            result = evaluate(request, identity.policies, resource_policy)
        return result.decision, result.reason

    def _arguments(self, service: str, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments with what its resource needs resolved.

        A secret named by name is its full ARN (names get a random suffix in the ARN,
        https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html);
        a ``GetRecords`` iterator is the stream it was issued for.
        """
        if service == "secretsmanager" and operation == "GetSecretValue":
            secret = str(arguments.get("SecretId", ""))
            if secret and not secret.startswith("arn:"):
                arguments = {**arguments, "SecretId": self.store.secret_arn(secret) or secret}
        if service == "dynamodbstreams" and operation == "GetRecords":
            arguments = {**arguments, "StreamArn": self.stream_of(str(arguments["ShardIterator"]))}
        return arguments

    def stream_of(self, iterator: str) -> str:
        """The stream a shard iterator reads ("*" if unknown).

        An iterator is opaque on AWS; the hub remembers the stream of every iterator
        a checked ``GetShardIterator``/``GetRecords`` returned (``after_call``). moto's
        iterator starts with the stream ARN, which serves for one issued elsewhere.
        """
        with self._iterators_lock:
            known = self._iterators.get(iterator)
        if known:
            return known
        head = iterator.split("|", 1)[0]
        return head if head.startswith("arn:") and "/stream/" in head else "*"

    def after_call(self, model: Any, parsed: Mapping[str, Any], context: Any, **_: Any) -> None:
        """botocore ``after-call``: remember the stream of each iterator a checked call got."""
        stream = context.get(STREAM_OF_CALL) if isinstance(context, Mapping) else None
        if not stream or not isinstance(parsed, Mapping):
            return
        issued = parsed.get("ShardIterator") or parsed.get("NextShardIterator")
        if not issued:
            return
        with self._iterators_lock:
            if model.name == "GetRecords":
                previous = (context.get(API_PARAMS) or {}).get("ShardIterator")
                self._iterators.pop(str(previous), None)
            self._iterators[str(issued)] = str(stream)

    def before_call(
        self,
        model: Any,
        params: Mapping[str, Any],
        request_signer: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        """botocore ``before-call``: raise ``ClientError`` when the call is not allowed."""
        credentials = getattr(request_signer, "_credentials", None)
        key = getattr(credentials, "access_key", None) if credentials else None
        identity = self._identities.get(str(key))
        if identity is None:
            return
        del params  # serialised already; the caller's arguments were kept in the context
        service = model.service_model.endpoint_prefix
        service = "dynamodbstreams" if service == "streams.dynamodb" else service
        arguments = self._arguments(service, model.name, dict(context.get(API_PARAMS) or {}))
        if service == "dynamodbstreams" and arguments.get("StreamArn", "*") != "*":
            context[STREAM_OF_CALL] = arguments["StreamArn"]
        # A name (a table, a function, a secret) is resolved in the caller's own account.
        account = identity.principal.account or self.account
        targets = targets_of(service, model.name, arguments, self.region, account)
        for target in targets or []:
            decision, reason = self.decide(identity, target)
            if not decision.allowed:
                code, status = ERROR_CODES.get(service, ("AccessDenied", 403))
                raise service_error(
                    code,
                    f"User: {identity.principal.arn} is not authorized to perform:"
                    f" {target.action} on resource: {target.resource} ({reason})",
                    status,
                    model.name,
                )


def service_error(code: str, message: str, status: int, operation: str) -> ClientError:
    """The ``ClientError`` botocore raises for a service's error response."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


API_PARAMS: Final = "fanout_api_params"
STREAM_OF_CALL: Final = "fanout_stream_arn"


def keep_api_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parameter-build``: keep the caller's arguments for ``before-call``."""
    context[API_PARAMS] = dict(params)


@contextmanager
def installed(
    *handlers: Callable[..., Any], after: Iterable[Callable[..., Any]] = ()
) -> Iterator[None]:
    """Register the ``before-call`` handlers, in order, on the clients created inside.

    Every botocore session created inside gets them, and so does boto3's default session
    if one exists already (``boto3.client`` reuses it). ``keep_api_params`` comes first
    so that they see the call's own arguments; ``after`` are ``after-call`` handlers.
    """
    import boto3  # noqa: PLC0415 - only its default session, if any

    entries = (
        [("before-parameter-build", keep_api_params)]
        + [("before-call", handler) for handler in handlers]
        + [("after-call", handler) for handler in after]
    )
    default = boto3.DEFAULT_SESSION
    botocore.handlers.BUILTIN_HANDLERS.extend(entries)
    if default is not None:
        for event, handler in entries:
            default.events.register(event, handler)
    try:
        yield
    finally:
        for entry in entries:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        if default is not None:
            for event, handler in entries:
                default.events.unregister(event, handler)


# ---------------------------------------------------------------------------- deploy-time checks


class DeliveryRefusedError(RuntimeError):
    """A queue subscribed to the topic whose policy does not let the topic deliver to it."""


SNS_SERVICE: Final = "sns.amazonaws.com"


def delivery_context(topic_arn: str) -> dict[str, str | bool]:
    """The condition keys of SNS's delivery from ``topic_arn``: the topic and its account.

    A service principal acting for a resource sets ``aws:SourceArn`` and
    ``aws:SourceAccount`` (the resource's owner), which AWS recommends conditioning
    a resource policy on against the confused deputy:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    """
    return {
        **SECURE_TRANSPORT,
        "aws:SourceArn": topic_arn,
        "aws:SourceAccount": topic_arn.split(":")[4],
    }


def check_queue_subscriptions(clients: Connection, store: PolicyStore, topic_arn: str) -> int:
    """Refuse a queue subscription SNS could not deliver to; the number checked.

    SNS delivers to a queue as the ``sns.amazonaws.com`` service principal, so the
    queue's policy must allow it ``sqs:SendMessage`` (with the topic as
    ``aws:SourceArn`` and its account as ``aws:SourceAccount``, ``delivery_context``);
    otherwise every delivery fails.
    https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
    https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
    moto delivers regardless, so the check is made here, when the hub is deployed.
    """
    sns = clients.client("sns")
    checked = 0
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            if subscription["Protocol"] != "sqs":
                continue
            queue = subscription["Endpoint"]
            request = Request(
                Principal(service=SNS_SERVICE),
                "sqs:SendMessage",
                queue,
                delivery_context(topic_arn),
            )
            result = evaluate(request, [], store.resource_policy(queue))
            if not result.decision.allowed:
                raise DeliveryRefusedError(
                    f"{queue} is subscribed to {topic_arn} but its queue policy does not let"
                    f" {SNS_SERVICE} sqs:SendMessage with aws:SourceArn {topic_arn}"
                    f" ({result.reason}): SNS could never deliver to it"
                )
            checked += 1
    return checked


# ---------------------------------------------------------------------------- wiring


class LocalAccess:
    """The local hub's principals and their hooks, from deploy to stop."""

    def __init__(self, clients: Connection, authorizer: Authorizer) -> None:
        self.clients = clients
        self.authorizer = authorizer
        self.function_credentials: dict[str, dict[str, str]] = {}
        self.accounts = AccountConnections(clients)
        self._stack = ExitStack()

    @classmethod
    def start(
        cls,
        clients: Connection,
        functions: Iterable[FunctionSpec],
        outputs: Mapping[str, str],
        topic_arn: str,
    ) -> LocalAccess:
        """Register each function's role and the operator; check the topic's queues."""
        accounts = AccountConnections(clients)
        account = accounts.home_account
        store = PolicyStore(clients, accounts)
        access = cls(clients, Authorizer(store, clients.region, account))
        access.accounts = accounts
        lambda_ = clients.client("lambda")
        for function in functions:
            role = lambda_.get_function_configuration(FunctionName=function.name)["Role"]
            access.function_credentials[function.name] = credentials_of(
                access.authorizer.add_role(role)
            )
        policy_arn = outputs.get(OPERATOR_POLICY_OUTPUT)
        if policy_arn:
            access.authorizer.register(
                OPERATOR_ACCESS_KEY,
                Identity(
                    Principal(f"arn:aws:iam::{account}:role/{OPERATOR_ROLE_NAME}"),
                    [store.managed_policy(policy_arn)],
                ),
            )
        check_queue_subscriptions(clients, store, topic_arn)
        return access

    def add_account_functions(
        self, functions: Iterable[FunctionSpec], account: str
    ) -> dict[str, dict[str, str]]:
        """Register the functions of another account; per function name, its credentials.

        Each runs with credentials from assuming its execution role, as Lambda does, so
        moto serves its calls in its own account; those calls are checked like any role's.
        """
        connection = self.accounts(account)
        lambda_ = connection.client("lambda")
        added: dict[str, dict[str, str]] = {}
        for function in functions:
            role = str(lambda_.get_function_configuration(FunctionName=function.name)["Role"])
            credentials = assume(self.clients, role, function.name)
            self.authorizer.register(
                credentials["AWS_ACCESS_KEY_ID"],
                Identity(Principal(role), self.authorizer.store.role_policies(role)),
            )
            added[function.name] = credentials
        self.function_credentials.update(added)
        return added

    def serve(self, *handlers: Callable[..., Any]) -> None:
        """Install the authorizer, then ``handlers``, on every botocore session from now on."""
        self._stack.enter_context(
            installed(self.authorizer.before_call, *handlers, after=[self.authorizer.after_call])
        )

    def close(self) -> None:
        """Remove the hooks (sessions created meanwhile keep theirs)."""
        self._stack.close()
