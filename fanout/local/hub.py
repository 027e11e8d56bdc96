"""The local hub: an endpoint, the stack from template.yaml, and the emulator driving it.

``LocalHub`` works against a local endpoint: the embedded moto server (default) or
LocalStack on this machine (``endpoint_url``). Any other endpoint is refused with
``NotLocalEndpointError``: an AWS account is deployed to with ``sam deploy``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import Any, Final, Self, TextIO
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from fanout.connection import Connection, queue_url_of
from fanout.crossaccount import AccountConnections
from fanout.deploy.deployer import delete as delete_stack
from fanout.deploy.deployer import deploy as deploy_stack
from fanout.deploy.deployer import require_local_endpoint
from fanout.deploy.models import DeployedStack
from fanout.kit import ARTIFACTS_OUTPUT, publish_kit
from fanout.local.access import LocalAccess, check_queue_subscriptions
from fanout.local.consumer import build_layers, live_stacks, remove_leftover, stack_names
from fanout.local.deadletters import DeadLetterWatch
from fanout.local.esm import Emulator, EmulatorSettings
from fanout.local.invoker import InProcessInvoker
from fanout.local.lambda_front import LocalLambdaFront
from fanout.local.ledger import Evidence, SourceRecord, Subscriber, envelope_id_of
from fanout.local.model import FunctionSpec, MappingSpec, SourceKind
from fanout.local.observe import EventLog, Observer, ignore
from fanout.local.records import sequence_of, to_lambda_stream_record
from fanout.local.server import FAKE_CREDENTIALS, MotoEndpoint, MotoProcess, local_session
from fanout.local.streams import BotoShardReader, key_fingerprint

# Where `fanout local up` leaves the running hub's endpoint and functions, so that
# `fanout local invoke` and `fanout tail` can find it from another terminal.
STATE_FILE: Final = Path(tempfile.gettempdir()) / "fanout-local-hub.json"
# The X-Ray SDK has no daemon locally: keep it quiet instead of erroring on every call.
LOCAL_TRACING_ENV: Final = {
    "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}
# Local webhook receivers (the demo's closed port, the chaos run's HTTPS server) listen
# on this machine's loopback, which the webhook consumer refuses unless allowed.
LOCAL_WEBHOOK_ENV: Final = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the emulator needs from a deployed stack."""

    functions: tuple[FunctionSpec, ...]
    mappings: tuple[MappingSpec, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)
    layer_folders: Mapping[str, str] = field(default_factory=dict)
    """Layer version ARN to its local folder, for every layer the stack publishes."""

    @property
    def router_mapping(self) -> MappingSpec:
        """The (first) stream mapping: the router's."""
        return next(m for m in self.mappings if m.kind is SourceKind.DYNAMODB_STREAM)

    @property
    def router(self) -> FunctionSpec:
        """The function reading the stream."""
        return self.function(self.router_mapping.function)

    def function(self, name: str) -> FunctionSpec:
        """A function by name or logical id."""
        for function in self.functions:
            if name in {function.name, function.logical_id}:
                return function
        raise KeyError(
            f"no function {name!r}; have {[f.logical_id or f.name for f in self.functions]}"
        )

    @property
    def queue_mappings(self) -> list[MappingSpec]:
        """Every SQS mapping (one per consumer)."""
        return [m for m in self.mappings if m.kind is SourceKind.SQS_QUEUE]


def from_stack(
    stack: DeployedStack,
    layer_folders: Mapping[str, str] | None = None,
    built: Mapping[str, str] | None = None,
) -> Deployment:
    """The emulator's view of a ``fanout.deploy`` deployment.

    A function's layers are found in the stack's own ``layer_folders`` and in
    ``layer_folders`` (those other stacks published: the hub's runtime layer); a
    folder of the stack's own that was built (``built``: source folder to built folder)
    is replaced by its build.
    """
    own = {arn: (built or {}).get(f, f) for arn, f in stack.all_layer_folders().items()}
    folders = {**(layer_folders or {}), **own}
    functions = tuple(
        FunctionSpec(
            name=f.name,
            handler=f.handler,
            environment=dict(f.environment),
            timeout_seconds=f.timeout_seconds,
            memory_mb=f.memory_mb,
            arn=f.arn,
            logical_id=f.path,
            layers=tuple(folders[arn] for arn in f.layers if arn in folders),
        )
        for f in stack.all_functions().values()
    )
    mappings = tuple(
        MappingSpec.from_properties(
            m.function_name,
            {**m.properties, "EventSourceArn": m.source_arn},
            # Lambda names a mapping by a UUID; a stable one keeps S3 failure keys stable.
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stack.stack_id}/{m.path}")),
        )
        for m in stack.all_event_source_mappings()
    )
    return Deployment(functions, mappings, dict(stack.outputs), own)


def deploy(
    clients: Connection, template: Path, parameters: Mapping[str, str] | None = None
) -> Deployment:
    """Create the template's resources at the clients' (local) endpoint with ``fanout.deploy``."""
    stack = deploy_stack(
        template,
        parameters=dict(parameters or {}),
        endpoint_url=clients.endpoint_url,
        region=clients.region,
    )
    return from_stack(stack)


def publish_local_kit(clients: Connection, outputs: Mapping[str, str]) -> str | None:
    """Publish the consumer kit to the deployed hub's artifacts bucket; its URL (None: no bucket).

    So a consumer stack on the local hub nests the kit by the same ``Location`` URL it
    would use on AWS (``fanout kit publish``).
    """
    bucket = outputs.get(ARTIFACTS_OUTPUT)
    return publish_kit(clients, bucket) if bucket else None


LOCAL_SECRET_PREFIX: Final = "local-secret:"  # noqa: S105 - a marker, not a secret
"""A parameter given as ``local-secret:<value>`` names a secret the local hub creates first."""


def store_local_secrets(clients: Connection, parameters: Mapping[str, str]) -> dict[str, str]:
    """``parameters`` with each ``local-secret:<value>`` stored in Secrets Manager and replaced by its ARN.

    What an operator does with ``aws secretsmanager create-secret`` before ``sam deploy``
    (docs/deploy.md): the template takes a secret's ARN, never the secret.
    """
    resolved = dict(parameters)
    for name, value in parameters.items():
        if value.startswith(LOCAL_SECRET_PREFIX):
            created = clients.client("secretsmanager").create_secret(
                Name=f"fanout-hub-local/{name}-{uuid.uuid4().hex[:8]}",
                SecretString=value.removeprefix(LOCAL_SECRET_PREFIX),
            )
            resolved[name] = created["ARN"]
    return resolved


class LocalHub:
    """Start, run and inspect the whole hub; a context manager."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        region: str = "us-east-1",
        template: Path | str = "template.yaml",
        parameters: Mapping[str, str] | None = None,
        settings: EmulatorSettings | None = None,
        observer: Observer | None = None,
        write_state: bool = False,
        handler_output: TextIO | None = None,
        start_emulator: bool = True,
        moto_process: bool = False,
    ) -> None:
        """``endpoint_url``: LocalStack (or a moto server) on this machine; None starts the
        embedded moto server. ``moto_process``: run that server in a child process (long runs).
        """
        self._moto_process = moto_process
        self._handler_output = handler_output
        self._start_emulator = start_emulator
        self._endpoint_url = endpoint_url
        self._embedded = endpoint_url is None
        self.region = region
        self.template = Path(template)
        self.parameters = dict(parameters or {})
        self.settings = settings or EmulatorSettings()
        self.log = EventLog(also=observer)
        self._write_state = write_state
        self._server: MotoEndpoint | MotoProcess | None = None
        self.consumer_stacks: list[ConsumerStack] = []
        self.clients: Connection
        self.deployment: Deployment
        self.emulator: Emulator

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client and handler talks to (None until the embedded one starts)."""
        return self._endpoint_url

    def handler_environment(self) -> dict[str, str]:
        """What every function sees besides its own variables: where AWS is, quiet tracing, local receivers."""
        env = {**LOCAL_TRACING_ENV, **LOCAL_WEBHOOK_ENV}
        if self._endpoint_url:
            env["AWS_ENDPOINT_URL"] = self._endpoint_url
        if self._server is not None:
            env.update(FAKE_CREDENTIALS)
        return env

    def start(self) -> Self:
        """Start the endpoint (if embedded), deploy, and start the emulator."""
        if self._embedded:
            self._server = MotoProcess() if self._moto_process else MotoEndpoint()
            self._endpoint_url = self._server.start()
            for name, value in FAKE_CREDENTIALS.items():
                os.environ.setdefault(name, value)
        # aws-sam-translator reads the region from the environment, not from arguments.
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        self.clients = Connection(endpoint_url=self._endpoint_url, region=self.region)
        require_local_endpoint(self.clients)  # before anything is created there
        self.parameters = store_local_secrets(self.clients, self.parameters)
        self.deployment = deploy(self.clients, self.template, self.parameters)
        self.kit_url = publish_local_kit(self.clients, self.deployment.outputs)
        self.access: LocalAccess | None = None
        self.dead_letters = DeadLetterWatch()
        identities: dict[str, dict[str, str]] = {}
        if self._server is not None:
            # moto evaluates no policy and cannot run a function: the hub does both
            # (LocalStack does them itself).
            SERVED[str(self._endpoint_url)] = None  # held by self.access
            self.access = LocalAccess.start(
                self.clients, self.deployment.functions, self.deployment.outputs, self.topic_arn
            )
            identities = self.access.function_credentials
        invoker = InProcessInvoker(
            self.handler_environment(),
            region=self.region,
            output=self._handler_output,
            identities=identities,
        )
        self.invoker = invoker
        if self.access is not None:
            # `fanout replay` invokes the router: answered here, under the router's role.
            # The live view tells dead letters from processed messages (deadletters.py).
            self.access.serve(
                LocalLambdaFront(self.deployment.functions, invoker).before_call,
                self.dead_letters.before_call,
            )
        self.emulator = Emulator(
            self.deployment.functions,
            self.deployment.mappings,
            self.clients,
            invoker,
            settings=self.settings,
            observer=self.log,
        )
        if self._start_emulator:
            self.emulator.start()
        if self._write_state:
            self.save_state()
        return self

    def stop(self) -> None:
        """Stop the emulator, then the embedded endpoint (idempotent)."""
        for consumer in self.consumer_stacks:
            consumer.emulator.stop()
            consumer.discard_build()
        emulator = getattr(self, "emulator", None)
        if emulator is not None:
            emulator.stop()
        access = getattr(self, "access", None)
        if access is not None:
            access.close()
            SERVED.pop(str(self._endpoint_url), None)
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._write_state:
            forget_state(str(self._endpoint_url))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def deploy_consumer(
        self,
        template: Path | str,
        *,
        account: str,
        stack_name: str,
        parameters: Mapping[str, str] | None = None,
    ) -> ConsumerStack:
        """Deploy another team's stack into ``account`` on this hub's endpoint, and run it.

        Deployed as that account (``fanout.local.accounts``), with what it takes from
        the hub's account resolved and checked as AWS would (``fanout.crossaccount``);
        its functions run here under their own roles and its queues are polled.
        """
        if self.access is None:
            raise RuntimeError("another account needs the embedded moto server")
        consumer = deploy_consumer_stack(
            self.access,
            template,
            account=account,
            stack_name=stack_name,
            parameters=parameters,
            layer_folders=self.deployment.layer_folders,
            invoker=self.invoker,
            settings=self.settings,
            observer=self.log,
            hub_topic_arn=self.topic_arn,
        )
        self.consumer_stacks.append(consumer)
        return consumer

    # ------------------------------------------------------------ where things are
    @property
    def stream_arn(self) -> str:
        """The source stream the router reads."""
        return self.deployment.router_mapping.source_arn

    @property
    def table_name(self) -> str:
        """The source table."""
        return self.stream_arn.split(":table/", 1)[1].split("/", 1)[0]

    @property
    def table_arn(self) -> str:
        """The source table's ARN."""
        return self.stream_arn.split("/stream/", 1)[0]

    @property
    def topic_arn(self) -> str:
        """The hub's topic (the router's TOPIC_ARN)."""
        return str(self.deployment.router.environment["TOPIC_ARN"])

    @property
    def router_dlq_url(self) -> str:
        """The router's dead-letter queue."""
        return str(self.deployment.router.environment["ROUTER_DLQ_URL"])

    def subscribers(self) -> list[Subscriber]:
        """Each consumer: its function, queue, DLQ and filter policy (read from SNS and SQS)."""
        sns, sqs = self.clients.client("sns"), self.clients.client("sqs")
        by_queue = {m.source_arn: m.function for m in self.deployment.queue_mappings}
        found: list[Subscriber] = []
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.topic_arn)
        for page in pages:
            for subscription in page["Subscriptions"]:
                function = by_queue.get(subscription["Endpoint"])
                if function is None:
                    continue  # e.g. a `fanout tail` queue
                attributes = sns.get_subscription_attributes(
                    SubscriptionArn=subscription["SubscriptionArn"]
                )["Attributes"]
                queue_url = queue_url_of(sqs, subscription["Endpoint"])
                policy = attributes.get("FilterPolicy")
                found.append(
                    Subscriber(
                        name=self.deployment.function(function).environment.get(
                            "CONSUMER_NAME", ""
                        ),
                        function=function,
                        queue_url=queue_url,
                        dlq_url=self._dlq_of(queue_url),
                        filter_policy=json.loads(policy) if policy else None,
                        filter_policy_scope=attributes.get("FilterPolicyScope")
                        or "MessageAttributes",
                    )
                )
        return sorted(found, key=lambda s: s.function)

    def _dlq_of(self, queue_url: str) -> str | None:
        sqs = self.clients.client("sqs")
        redrive = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ].get("RedrivePolicy")
        if not redrive:
            return None
        return queue_url_of(sqs, json.loads(redrive)["deadLetterTargetArn"])

    def depth(self, queue_url: str) -> int:
        """Messages visible plus in flight (waiting out a visibility timeout)."""
        attributes = self.clients.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # ------------------------------------------------------------ waiting
    def quiet(self, subscribers: Sequence[Subscriber] | None = None) -> bool:
        """Nothing read and unresolved, nothing queued, nothing inside a function."""
        if self.emulator.stream_backlog() or self.emulator.queues_in_flight():
            return False
        return all(self.depth(s.queue_url) == 0 for s in subscribers or self.subscribers())

    def wait_until_quiet(self, timeout: float, settle: float = 1.5) -> bool:
        """True once the hub stayed quiet for ``settle`` seconds; False at ``timeout``."""
        subscribers = self.subscribers()
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.quiet(subscribers):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False

    # ------------------------------------------------------------ accounting
    def read_stream(self, ttl_keys: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Every record of the stream from TRIM_HORIZON, in Lambda's format (an independent read)."""
        streams = self.clients.client("dynamodbstreams")
        pending_ttl = [key_fingerprint(k) for k in ttl_keys]
        records: list[dict[str, Any]] = []
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            reader = BotoShardReader(streams, self.stream_arn, shard["ShardId"], "TRIM_HORIZON")
            while batch := reader.fetch():
                for raw in batch:
                    fingerprint = key_fingerprint(raw.get("dynamodb", {}).get("Keys", {}))
                    ttl = raw.get("eventName") == "REMOVE" and fingerprint in pending_ttl
                    if ttl:
                        pending_ttl.remove(fingerprint)
                    records.append(to_lambda_stream_record(raw, self.stream_arn, ttl_expiry=ttl))
        return records

    def sources(
        self,
        injected: Sequence[Mapping[str, Any]] = (),
        ttl_keys: Iterable[Mapping[str, Any]] = (),
    ) -> list[SourceRecord]:
        """Every record the router was given, with the envelope it makes (or why it can't)."""
        from router.errors import PoisonRecordError  # noqa: PLC0415 - the router's own rules
        from router.normalise import EntityRules, to_outbound  # noqa: PLC0415 - same

        rules = EntityRules.of_router(self.deployment.router.environment)
        out: list[SourceRecord] = []
        for record in [*self.read_stream(ttl_keys), *injected]:
            sequence = sequence_of(record)
            try:
                outbound = to_outbound(record, rules)
            except PoisonRecordError as exc:
                label = f"{record.get('eventName')} (poison)"
                out.append(SourceRecord(sequence, label, None, None, poison=str(exc)))
                continue
            out.append(
                SourceRecord(
                    sequence,
                    f"{outbound.type} {outbound.subject}",
                    outbound.envelope_id,
                    outbound.type,
                    outbound.attributes,
                    outbound.body,
                )
            )
        return out

    def evidence(self, subscribers: Sequence[Subscriber]) -> Evidence:
        """What the hub did: finished deliveries, dead letters, failed router batches."""
        evidence = Evidence()
        evidence.add_events(self.log.events, [s.function for s in subscribers])
        for subscriber in subscribers:
            if subscriber.dlq_url is None:
                continue
            for message in self.peek(subscriber.dlq_url):
                envelope_id = envelope_id_of(message.get("Body", ""))
                if envelope_id:
                    evidence.consumer_dlq[subscriber.function][envelope_id] = _consumer_reason(
                        message
                    )
        for message in self.peek(self.router_dlq_url):
            letter = json.loads(message["Body"])
            error = letter.get("error") or {}
            reason = f"{letter.get('reason')}: {error.get('kind')}: {error.get('message')}"
            evidence.router_dlq[str(letter.get("sequence_number"))] = reason
        evidence.failed_batches.update(self.failed_batches())
        return evidence

    def failed_batches(self) -> dict[str, str]:
        """Sequence numbers the router's mapping discarded, with the condition."""
        destination = self.deployment.router_mapping.on_failure_destination or ""
        if not destination.startswith("arn:aws:s3:::"):
            return {}
        s3 = self.clients.client("s3")
        bucket = destination.split(":::", 1)[1]
        found: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                document = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                condition = document["requestContext"]["condition"]
                for record in json.loads(document["payload"])["Records"]:
                    found[sequence_of(record)] = f"{condition}: s3://{bucket}/{item['Key']}"
        return found

    def peek(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message on a queue, left on it (made visible again at once)."""
        sqs = self.clients.client("sqs")
        seen: dict[str, dict[str, Any]] = {}
        while True:
            batch = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                seen[message["MessageId"]] = message
        for message in seen.values():
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return list(seen.values())

    # ------------------------------------------------------------ state for other commands
    def save_state(self) -> None:
        """Record the endpoint and functions for `fanout local invoke` / `fanout tail`."""
        state = {
            "pid": os.getpid(),
            "endpoint_url": self._endpoint_url,
            "region": self.region,
            "table_name": self.table_name,
            "topic_arn": self.topic_arn,
            "embedded": self.access is not None,
            "outputs": dict(self.deployment.outputs),
            "handler_environment": self.handler_environment(),
            "functions": [
                {
                    "name": f.name,
                    "logical_id": f.logical_id,
                    "handler": f.handler,
                    "environment": dict(f.environment),
                    "timeout_seconds": f.timeout_seconds,
                    "memory_mb": f.memory_mb,
                    "arn": f.arn,
                    "layers": list(f.layers),
                }
                for f in self.deployment.functions
            ],
            "layer_folders": dict(self.deployment.layer_folders),
        }
        STATE_FILE.write_text(json.dumps(state, indent=2))


SERVED: Final[dict[str, LocalAccess | None]] = {}
"""Endpoints of local hubs whose principals and functions this process serves.

Holds each ``LocalAccess``: the hooks are removed when it is closed or collected.
"""


def serve_running_hub(state: Mapping[str, Any], output: TextIO | None = None) -> LocalAccess | None:
    """In another process than `fanout local up`'s, act for its principals as the hub does.

    An ``Invoke`` of one of its functions runs the handler here, under the function's
    role, and the calls of its roles and of the operator are checked against the
    template's policies (``fanout.local.access``). None when this process already
    serves that hub, or the hub is not on the embedded moto server (LocalStack runs
    functions and evaluates policies itself).
    """
    endpoint = str(state["endpoint_url"])
    if endpoint in SERVED or not state.get("embedded"):
        return None
    region = str(state.get("region") or "us-east-1")
    clients = Connection(endpoint_url=endpoint, region=region, session=local_session(region))
    functions = tuple(FunctionSpec(**f) for f in state["functions"])
    access = LocalAccess.start(clients, functions, state.get("outputs") or {}, state["topic_arn"])
    invoker = InProcessInvoker(
        state.get("handler_environment") or {},
        region=region,
        output=output,
        identities=access.function_credentials,
    )
    access.serve(LocalLambdaFront(functions, invoker).before_call)
    SERVED[endpoint] = access
    return access


@dataclass
class ConsumerStack:
    """A stack of another account running on the local hub: its deployment and its emulator."""

    account: str
    stack: DeployedStack
    deployment: Deployment
    emulator: Emulator
    connection: Connection | None = None
    """Acting in ``account`` (as the stack was deployed)."""
    owners: AccountConnections | None = None
    workdir: Path | None = None
    """Where its layers were built; removed with the stack."""
    replaced: tuple[str, ...] = ()
    """Stacks of the same names an earlier run left in the account, deleted first."""

    def remove(self) -> None:
        """Stop its functions, delete its stacks and their subscriptions, and its built layers."""
        self.emulator.stop()
        try:
            if self.connection is not None and self.is_live():
                delete_stack(
                    self.stack,
                    endpoint_url=self.connection.endpoint_url,
                    region=self.connection.region,
                    session=self.connection.session,
                    owners=self.owners,
                )
        finally:
            self.discard_build()

    def is_live(self) -> bool:
        """Whether the account's stack of this name is still this one (not replaced by another run)."""
        if self.connection is None:
            return False
        try:
            stacks = self.connection.client("cloudformation").describe_stacks(
                StackName=self.stack.name
            )["Stacks"]
        except ClientError:
            return False
        return any(s["StackId"] == self.stack.stack_id for s in stacks)

    def discard_build(self) -> None:
        """Remove the built layers (idempotent)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def deploy_consumer_stack(
    access: LocalAccess,
    template: Path | str,
    *,
    account: str,
    stack_name: str,
    parameters: Mapping[str, str] | None,
    layer_folders: Mapping[str, str],
    invoker: InProcessInvoker,
    settings: EmulatorSettings | None = None,
    observer: Observer | None = None,
    hub_topic_arn: str | None = None,
) -> ConsumerStack:
    """Deploy ``template`` as ``account`` and start polling its queues with its functions.

    ``access`` is the hub's (its policies are checked for the new roles too);
    ``invoker`` runs the functions, with the layer folders of ``layer_folders`` and of
    the new stack on their import path, each of the stack's own layers built as
    ``sam build`` builds it (``fanout.local.consumer``). A stack of that name already
    in the account (a run that did not finish) is deleted first, with its queues'
    subscriptions to ``hub_topic_arn``. Raises ``LayerBuildError``, what
    ``fanout.deploy.deployer.deploy`` raises, and ``DeliveryRefusedError`` if a queue subscribed
    to the hub's topic does not admit it.
    """
    home = access.clients
    os.environ.setdefault("AWS_DEFAULT_REGION", home.region)
    connection = access.accounts(account)
    template = Path(template)
    workdir = Path(tempfile.mkdtemp(prefix="fanout-layers-"))
    try:
        # Built first: a failed build leaves the account as it was.
        built = build_layers(template, workdir)
        replaced = tuple(live_stacks(connection, stack_names(template, stack_name)))
        if replaced:
            remove_leftover(connection, list(replaced), home, hub_topic_arn or "")
        stack = deploy_stack(
            template,
            stack_name=stack_name,
            parameters=dict(parameters or {}),
            endpoint_url=home.endpoint_url,
            region=home.region,
            session=connection.session,
            owners=access.accounts,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    deployment = from_stack(stack, layer_folders, built)
    invoker.add_identities(access.add_account_functions(deployment.functions, account))
    for topic_arn in {s.topic_arn for s in stack.all_subscriptions().values()}:
        check_queue_subscriptions(home, access.authorizer.store, topic_arn)
    emulator = Emulator(
        deployment.functions,
        deployment.mappings,
        connection,
        invoker,
        settings=settings,
        observer=observer or ignore,
    )
    emulator.start()
    return ConsumerStack(
        account, stack, deployment, emulator, connection, access.accounts, workdir, replaced
    )


def load_state() -> dict[str, Any] | None:
    """The running hub's state, if `fanout local up` is running."""
    try:
        return dict(json.loads(STATE_FILE.read_text()))
    except (OSError, ValueError):
        return None


def forget_state(endpoint_url: str, pid: int | None = None) -> bool:
    """Delete the state file if it still names this hub (this process, this endpoint).

    Another `fanout local up` may have replaced it since: its file is left alone,
    or every command would lose the hub that still runs.
    """
    state = load_state()
    mine = pid if pid is not None else os.getpid()
    if state is None or state.get("pid") != mine or state.get("endpoint_url") != endpoint_url:
        return False
    STATE_FILE.unlink(missing_ok=True)
    return True


def pid_alive(pid: object) -> bool:
    """Whether a process with this id runs on this machine."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: the existence check, nothing is delivered
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return False
    return True


def endpoint_answers(endpoint_url: object, timeout: float = 2.0) -> bool:
    """Whether an HTTP server answers at the endpoint (any status counts as an answer)."""
    if not isinstance(endpoint_url, str):
        return False
    url = urlsplit(endpoint_url)
    if url.scheme not in {"http", "https"} or not url.hostname:
        return False
    connection_type = HTTPSConnection if url.scheme == "https" else HTTPConnection
    connection = connection_type(url.hostname, url.port, timeout=timeout)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except (OSError, HTTPException):
        return False
    finally:
        connection.close()
    return True


def hub_alive(state: Mapping[str, Any]) -> bool:
    """Whether the hub a state file names still runs: its process lives and its endpoint answers.

    A file written before it recorded a pid counts on its endpoint alone.
    """
    pid = state.get("pid")
    if pid is not None and not pid_alive(pid):
        return False
    return endpoint_answers(state.get("endpoint_url"))


def _consumer_reason(message: Mapping[str, Any]) -> str:
    attributes = message.get("MessageAttributes") or {}
    if "fanout-error" in attributes:
        kind = attributes.get("fanout-error-type", {}).get("StringValue", "Error")
        return f"{kind}: {attributes['fanout-error'].get('StringValue', '')}"
    receives = (message.get("Attributes") or {}).get("ApproximateReceiveCount", "?")
    return f"redriven by the queue after maxReceiveCount (receive count {receives})"
