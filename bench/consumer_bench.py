"""Consumer runtime cost: DynamoDB and S3 requests, capacity and CPU per message, side by side.

For each in-repo consumer (projection, webhook, audit log), three contenders run the
SAME handler code on the SAME messages, against one moto server in a child process:

(a) new runtime      - the consumer as consumers/ wires it (``handler.build``): the
                       projection in ``Mode.STATE``, the webhook in ``Mode.SIDE_EFFECT``
                       with its per-endpoint claims (``claim_events=False``), the audit
                       log in ``Mode.NATURALLY_IDEMPOTENT``.
(b) previous runtime - runtime 0.2.0's per-message requests, as the current runtime still
                       makes them when asked with 0.2.0's switches: the claim and
                       completion of every event (``Mode.SIDE_EFFECT``) and, for the
                       projection, the stale check and sequence mark (``skip_stale``);
                       the audit log was ``idempotent=False`` at 0.2.0
                       (``Mode.NATURALLY_IDEMPOTENT``).
(c) Powertools       - the handler under Powertools for AWS Lambda's idempotency
                       utility, ``idempotent_function`` with ``DynamoDBPersistenceLayer``
                       keyed on the envelope id (``event_key_jmespath="id"``), the runtime
                       itself making no DynamoDB request:
                       https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/

The workload is what a consumer queue delivers: envelopes made by the router from
DynamoDB stream records, raw-delivered to SQS, in batches of 10; a mix of fresh changes,
redeliveries of a message already handled, and an old change of an item arriving after a
newer one. The webhook posts to two endpoints through a stub transport that answers 200
(no network); the audit log writes to a bucket in moto.

Each contender runs twice, on fresh tables each time:

1. the request pass counts every DynamoDB and S3 request per operation, asks moto for
   ``ConsumedCapacity`` (``ReturnConsumedCapacity=TOTAL`` added in botocore's
   ``before-parameter-build`` hook), and computes the capacity AWS would charge from
   the sizes of the items involved (bench/capacity.py; moto's own figures are fixed
   numbers), reading each item before and after a write with a separate, uncounted client;
2. the CPU pass runs the same messages with nothing added, and measures this process's
   CPU (``time.process_time`` around each batch) and the moto server's.

Targets, checked on the new runtime: projection 1 write and 0 reads per
message, webhook at most 2 writes per message per endpoint and no read, audit log no
DynamoDB request. The script exits 1 when one is missed.

    uv run python bench/consumer_bench.py [--messages 50] [--json results.json]
"""

from __future__ import annotations

# First: common sets how botocore signs, which botocore reads when first imported.
from common import (  # isort: skip
    MotoServer,
    header,
    moto_server,
    signer,
    table,
    use_fake_aws,
)

import argparse
import io
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from capacity import item_size, read_units, write_units
from support.builders import FakeContext, a_stream_record
from support.deliveries import raw_delivery

import consumers.webhook.forwarder
from consumers.audit_log import app as audit_app
from consumers.projection import app as projection_app
from consumers.runtime import (
    Consumer,
    ConsumerHandler,
    Envelope,
    Mode,
    RuntimeSettings,
    load_settings,
)
from consumers.runtime.clients import aws_clients
from consumers.webhook import app as webhook_app
from consumers.webhook.transport import Response
from hubcommon.logs import configure_logging
from router.normalise import EntityRules, to_outbound

DEFAULT_MESSAGES = 50  # about a minute on 2 cores: 9 contender runs, each twice
BATCH_SIZE = 10  # what an SQS event source mapping hands a function by default
ENDPOINTS = ("https://hooks.example.com/orders", "https://partner.example.net/fanout")
SIGNING_KEY = "bench-signing-key-0123456789abcdef"
CONTEXT = FakeContext(300_000, function_name="consumer")

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
PRICED = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem"})

NEW, PREVIOUS, POWERTOOLS = "new runtime", "previous runtime (0.2.0)", "Powertools idempotency"
CONTENDERS = (NEW, PREVIOUS, POWERTOOLS)


# --- the workload ------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """SQS batches as the consumer's function receives them, and what each message is."""

    batches: list[list[dict[str, Any]]]
    kinds: Counter[str]

    @property
    def messages(self) -> int:
        """Deliveries in all batches."""
        return sum(len(b) for b in self.batches)


def workload(
    messages: int,
    item_bytes: int,
    *,
    prefix: str = "ORDER",
    first_sequence: int = 10**20,
    seed: int = 7,
) -> Workload:
    """``messages`` deliveries in batches of 10: per 10, 8 fresh changes, 1 redelivery, 1 late change.

    A fresh change is the next change of one of ``messages // 4`` items (so most items
    change several times); a redelivery repeats an earlier message (same message id and
    body, one more receive); a late change is an older change of an item whose newer
    change was already delivered (a new envelope, with a lower sequence). Envelope ids
    follow from the stream sequence: workloads that must not share an envelope start
    ``first_sequence`` apart.
    """
    rng = random.Random(seed)
    items = max(1, messages // 4)
    pad = "x" * max(0, item_bytes - 200)
    sequence = first_sequence
    latest: dict[int, int] = {}  # item -> sequence of its newest delivered change
    delivered: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for position in range(messages):
        slot = position % 10
        if slot == 8 and delivered:
            earlier = rng.choice(delivered)
            count = int(earlier["attributes"]["ApproximateReceiveCount"]) + 1
            record = raw_delivery(
                earlier["body"],
                _sns_attributes(earlier),
                message_id=earlier["messageId"],
                receive_count=count,
            )
            kinds["redelivery"] += 1
        elif slot == 9 and latest:
            item = rng.choice(sorted(latest))
            record = _change(prefix, item, latest[item] - 1, pad, f"{prefix}-late-{position}")
            kinds["late change"] += 1
        else:
            item = position % items
            sequence += 100
            latest[item] = sequence
            record = _change(prefix, item, sequence, pad, f"{prefix}-{position}")
            kinds["fresh"] += 1
        delivered.append(record)
        batch.append(record)
        if len(batch) == BATCH_SIZE:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return Workload(batches, kinds)


def _change(prefix: str, item: int, sequence: int, pad: str, message_id: str) -> dict[str, Any]:
    """The router's envelope of one MODIFY, raw-delivered."""
    keys = {"pk": f"{prefix}#{item}", "sk": "META"}
    record = a_stream_record(
        "MODIFY",
        keys=keys,
        new={**keys, "status": "SHIPPED", "total": item, "note": pad},
        old={**keys, "status": "PLACED", "total": item, "note": pad},
        sequence=str(sequence),
    )
    out = to_outbound(record, EntityRules())
    return raw_delivery(out.body, out.attributes, message_id=message_id)


def _sns_attributes(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {"DataType": a["dataType"], "StringValue": a["stringValue"]}
        for name, a in record["messageAttributes"].items()
    }


# --- counting requests --------------------------------------------------------------


@dataclass
class Tally:
    """What one contender's requests were, and what they cost."""

    calls: Counter[str] = field(default_factory=Counter)  # "dynamodb:PutItem" -> count
    rcu: float = 0.0
    wcu: float = 0.0
    unpriced: Counter[str] = field(default_factory=Counter)  # operations no rule here prices
    reported: float = 0.0  # capacity moto put in ConsumedCapacity
    unreported: int = 0  # DynamoDB calls whose answer had no ConsumedCapacity
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def count(self, service: str, kinds: frozenset[str] | None = None) -> int:
        """Calls to ``service``, of the operations in ``kinds`` when given."""
        return sum(
            n
            for key, n in self.calls.items()
            if key.startswith(f"{service}:") and (kinds is None or key.split(":", 1)[1] in kinds)
        )


class Meter:
    """Counts a client's requests per operation; with ``pricing``, also prices DynamoDB's.

    Registered on the client's own event system, so only requests made through it count.
    ``observer`` (pricing only) is an uncounted client that reads an item before and after
    each write, for the sizes AWS charges by.
    """

    def __init__(self, tally: Tally, observer: Any | None = None) -> None:
        self.tally = tally
        self._observer = observer
        self._key_schema: dict[str, list[str]] = {}

    def attach(self, client: Any) -> None:
        """Count (and price) every request ``client`` makes from now on."""
        events = client.meta.events
        service = client.meta.service_model.service_name
        events.register(
            f"after-call.{client.meta.service_model.service_id.hyphenize()}", self._after
        )
        if self._observer is not None and service == "dynamodb":
            events.register("before-parameter-build.dynamodb", self._before)

    def _after(
        self,
        http_response: Any,
        parsed: Mapping[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        service = model.service_model.service_name
        operation = model.name
        self.tally.calls[f"{service}:{operation}"] += 1
        if self._observer is None or service != "dynamodb":
            return
        consumed = parsed.get("ConsumedCapacity")
        if isinstance(consumed, Mapping) and "CapacityUnits" in consumed:
            self.tally.reported += float(consumed["CapacityUnits"])
        else:
            self.tally.unreported += 1
        request = context.get("bench_request")
        if operation not in PRICED or request is None:
            self.tally.unpriced[operation] += 1
            return
        table, key, params, before = request
        if operation == "GetItem":
            self.tally.rcu += read_units(before, consistent=bool(params.get("ConsistentRead")))
            return
        failed = http_response.status_code >= 300
        if failed or operation == "DeleteItem":
            # A failed condition writes nothing: charged for the stored item (at least 1).
            self.tally.wcu += write_units(before)
            return
        after = item_size(
            self._observer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        )
        self.tally.wcu += write_units(max(before, after))

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        operation = model.name
        if operation not in PRICED:
            return
        params["ReturnConsumedCapacity"] = "TOTAL"
        table = params["TableName"]
        key = params.get("Key") or {name: params["Item"][name] for name in self._keys(table)}
        stored = self._observer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        context["bench_request"] = (table, key, dict(params), item_size(stored))

    def _keys(self, table: str) -> list[str]:
        if table not in self._key_schema:
            schema = self._observer.describe_table(TableName=table)["Table"]["KeySchema"]
            self._key_schema[table] = [k["AttributeName"] for k in schema]
        return self._key_schema[table]


# --- the consumers and the contenders -----------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One in-repo consumer: its handler, its cold-start setup, and its wiring at 0.2.0."""

    name: str
    handler: ConsumerHandler
    setup: Callable[[], object]
    claims_at_0_2_0: bool  # @consumer(idempotent=...) at 0.2.0: the runtime's claim and completion
    stale_guard_at_0_2_0: bool  # @consumer(skip_stale=...) at 0.2.0
    endpoints: int = 0  # webhook endpoints (the target is per endpoint)


SPECS = (
    Spec(
        "projection",
        projection_app.handler,
        projection_app.projection,
        claims_at_0_2_0=True,
        stale_guard_at_0_2_0=True,
    ),
    Spec(
        "webhook",
        webhook_app.handler,
        webhook_app.forwarder,
        claims_at_0_2_0=True,
        stale_guard_at_0_2_0=False,
        endpoints=len(ENDPOINTS),
    ),
    Spec(
        "audit-log",
        audit_app.handler,
        audit_app.archive,
        claims_at_0_2_0=False,  # @consumer(idempotent=False): its S3 write is conditional
        stale_guard_at_0_2_0=False,
    ),
)


class StubTransport:
    """A webhook ``Transport`` that answers 200 at once: no network, no endpoint CPU."""

    def __init__(self, *_: object) -> None:
        self.posts = 0

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:  # noqa: ARG002
        """Accept the event."""
        self.posts += 1
        return Response(200)


def build(contender: str, spec: Spec, environ: Mapping[str, str]) -> Consumer:
    """``spec``'s consumer as ``contender`` runs it, wired from ``environ`` (already in os.environ)."""
    spec.handler.reset()
    if contender == NEW:
        return spec.handler.build(dict(environ))
    # What ConsumerHandler.build does before wiring: settings, logging, the consumer's setup.
    settings = load_settings(RuntimeSettings, environ)
    configure_logging(settings.log_level)
    spec.setup()
    clients = aws_clients()
    handle: Callable[[Envelope], bool | None] = spec.handler.handle
    if contender == PREVIOUS:
        # 0.2.0's idempotent=True is SIDE_EFFECT claiming every event, its skip_stale the
        # runtime's sequence guard; idempotent=False at 0.2.0 wrote nothing.
        mode = Mode.SIDE_EFFECT if spec.claims_at_0_2_0 else Mode.NATURALLY_IDEMPOTENT
        return Consumer.from_settings(
            handle,
            settings,
            clients=clients,
            mode=mode,
            skip_stale=spec.stale_guard_at_0_2_0,
        )
    layer = DynamoDBPersistenceLayer(
        table_name=environ["IDEMPOTENCY_TABLE"], key_attr="pk", boto3_client=clients.dynamodb
    )
    config = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)
    config.register_lambda_context(CONTEXT)  # type: ignore[arg-type]
    inner = handle

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=config)
    def once(event: Envelope) -> bool | None:
        return inner(event)

    # Powertools claims and completes; the runtime adds nothing.
    return Consumer.from_settings(
        lambda envelope: once(event=envelope),
        settings,
        clients=clients,
        mode=Mode.NATURALLY_IDEMPOTENT,
    )


class Hub:
    """The moto server and the resources every run needs; fresh tables per run."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.session = boto3.session.Session(region_name="us-east-1")
        self.dynamodb = self.session.client("dynamodb", endpoint_url=server.url)
        self.s3 = self.session.client("s3", endpoint_url=server.url)
        sqs = self.session.client("sqs", endpoint_url=server.url)
        self.dlq_url = sqs.create_queue(QueueName="bench-consumer-dlq")["QueueUrl"]
        self.s3.create_bucket(Bucket="bench-payloads")
        secrets = self.session.client("secretsmanager", endpoint_url=server.url)
        self.secret_arn = secrets.create_secret(Name="bench-webhook", SecretString=SIGNING_KEY)[
            "ARN"
        ]
        self._runs = 0

    def environment(self, spec: Spec) -> dict[str, str]:
        """A consumer function's environment, naming tables and a bucket no run used before."""
        self._runs += 1
        run = f"bench-{self._runs}"
        for table_name in (f"{run}-idempotency", f"{run}-projection"):
            self.dynamodb.create_table(
                TableName=table_name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.s3.create_bucket(Bucket=f"{run}-audit")
        return {
            "CONSUMER_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "IDEMPOTENCY_TABLE": f"{run}-idempotency",
            "PROJECTION_TABLE": f"{run}-projection",
            "AUDIT_BUCKET": f"{run}-audit",
            "PAYLOAD_BUCKET": "bench-payloads",
            "DLQ_URL": self.dlq_url,
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_URLS": ",".join(ENDPOINTS),
            "WEBHOOK_SECRET_ARN": self.secret_arn,
        }


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the block (the consumers' setup reads it there)."""
    with mock.patch.dict(os.environ, values):
        yield


def drain(consumer: Consumer, batches: list[list[dict[str, Any]]]) -> float:
    """Every batch through ``consumer``; this process's CPU seconds inside ``process``.

    The runtime writes its metrics (EMF lines) to stdout, where Lambda ships them; here
    each contender writes them to a buffer instead of the table.
    """
    cpu = 0.0
    for batch in batches:
        with redirect_stdout(io.StringIO()):
            started = time.process_time()
            response = consumer.process({"Records": batch}, CONTEXT)  # type: ignore[arg-type]
            cpu += time.process_time() - started
        if response["batchItemFailures"]:
            raise RuntimeError(f"{consumer.name}: messages failed: {response}")
    return cpu


def measure(
    hub: Hub, contender: str, spec: Spec, load: Workload, warmup: Workload, *, pricing: bool
) -> Tally:
    """One contender on one consumer, on fresh tables; requests counted after a warm-up."""
    environ = hub.environment(spec)
    with environment(environ):
        consumer = build(contender, spec, environ)
        # The first batch through a client loads its operation models: not per-message cost.
        drain(consumer, warmup.batches)
        tally = Tally()
        observer = hub.session.client("dynamodb", endpoint_url=hub.server.url) if pricing else None
        meter = Meter(tally, observer)
        clients = aws_clients()
        meter.attach(clients.dynamodb)
        meter.attach(clients.s3)
        server_cpu = hub.server.cpu_seconds()
        tally.client_cpu = drain(consumer, load.batches)
        tally.server_cpu = hub.server.cpu_seconds() - server_cpu
    spec.handler.reset()
    return tally


# --- results ------------------------------------------------------------------------


@dataclass
class Result:
    """One contender on one consumer: the request pass's counts, the CPU pass's times (if run)."""

    consumer: str
    contender: str
    messages: int
    endpoints: int
    requests: Tally
    cpu: Tally | None
    """None with --counts-only: no CPU pass."""

    def per_message(self, value: float) -> float:
        """``value`` divided by the messages delivered."""
        return value / self.messages

    @property
    def reads(self) -> float:
        """DynamoDB read requests per message."""
        return self.per_message(self.requests.count("dynamodb", READS))

    @property
    def writes(self) -> float:
        """DynamoDB write requests per message."""
        return self.per_message(self.requests.count("dynamodb", WRITES))

    @property
    def dynamodb(self) -> float:
        """DynamoDB requests of any kind per message."""
        return self.per_message(self.requests.count("dynamodb"))

    def target(self) -> tuple[str, bool] | None:
        """The issue's target for this consumer and whether it is met (new runtime only)."""
        if self.contender != NEW:
            return None
        if self.consumer == "projection":
            return "1 write, 0 reads", self.writes <= 1 and self.reads == 0
        if self.consumer == "webhook":
            per_endpoint = self.writes / self.endpoints
            return "<= 2 writes/endpoint, 0 reads", per_endpoint <= 2 and self.reads == 0
        return "0 DynamoDB requests", self.dynamodb == 0

    def as_json(self) -> dict[str, Any]:
        """The figures, for --json and the test."""
        return {
            "consumer": self.consumer,
            "contender": self.contender,
            "messages": self.messages,
            "endpoints": self.endpoints,
            "calls": dict(self.requests.calls),
            "cpu_pass_calls": dict(self.cpu.calls) if self.cpu else None,
            "rcu": self.requests.rcu,
            "wcu": self.requests.wcu,
            "moto_reported_capacity": self.requests.reported,
            "unpriced": dict(self.requests.unpriced),
            "client_cpu_seconds": self.cpu.client_cpu if self.cpu else None,
            "server_cpu_seconds": self.cpu.server_cpu if self.cpu else None,
            "target": self.target(),
        }


HEADINGS = [
    "consumer",
    "contender",
    "DDB reads/msg",
    "DDB writes/msg",
    "DDB requests by operation, per msg",
    "RCU/msg ¹",
    "WCU/msg ¹",
    "moto's CU/msg ²",
    "S3 requests/msg",
    "consumer CPU ms/msg ³",
    "moto CPU ms/msg",
    "target (new runtime)",
]


def row(result: Result) -> list[object]:
    """One table row."""
    calls = result.requests.calls
    by_operation = ", ".join(
        f"{key.split(':', 1)[1]} {n / result.messages:.2f}"
        for key, n in sorted(calls.items())
        if key.startswith("dynamodb:")
    )
    s3 = ", ".join(
        f"{key.split(':', 1)[1]} {n / result.messages:.2f}"
        for key, n in sorted(calls.items())
        if key.startswith("s3:")
    )
    target = result.target()
    if target is None:
        verdict = ""
    else:
        measured = (
            f"{result.writes / result.endpoints:.2f} writes/endpoint"
            if result.consumer == "webhook"
            else f"{result.dynamodb:.2f} requests"
            if result.consumer == "audit-log"
            else f"{result.writes:.2f} writes, {result.reads:.2f} reads"
        )
        verdict = f"{target[0]}: {measured} {'ok' if target[1] else 'MISSED'}"
    return [
        result.consumer + (f" ({result.endpoints} endpoints)" if result.endpoints else ""),
        result.contender,
        f"{result.reads:.2f}",
        f"{result.writes:.2f}",
        by_operation or "none",
        f"{result.per_message(result.requests.rcu):.2f}",
        f"{result.per_message(result.requests.wcu):.2f}",
        f"{result.per_message(result.requests.reported):.2f}",
        f"{result.per_message(result.requests.count('s3')):.2f}" + (f" ({s3})" if s3 else ""),
        *(
            (
                f"{result.per_message(result.cpu.client_cpu) * 1000:.2f}",
                f"{result.per_message(result.cpu.server_cpu) * 1000:.2f}",
            )
            if result.cpu
            else ("not run", "not run")
        ),
        verdict,
    ]


def run(
    messages: int = DEFAULT_MESSAGES, item_bytes: int = 1024, *, cpu_pass: bool = True
) -> tuple[Workload, list[Result]]:
    """Every consumer under every contender; prints the table, returns the workload and results.

    ``cpu_pass=False`` counts requests only: half the run, for a check of the counts.
    """
    use_fake_aws()
    load = workload(messages, item_bytes)
    warmup = workload(BATCH_SIZE, item_bytes, prefix="WARMUP", first_sequence=9 * 10**20)
    results: list[Result] = []
    started = time.monotonic()
    # Every webhook POST goes to the stub: the forwarder builds its transport at cold start.
    with (
        moto_server() as server,
        environment({"AWS_ENDPOINT_URL": server.url, "AWS_REGION": "us-east-1"}),
        mock.patch.object(consumers.webhook.forwarder, "HttpTransport", StubTransport),
    ):
        hub = Hub(server)
        for spec in SPECS:
            for contender in CONTENDERS:
                requests = measure(hub, contender, spec, load, warmup, pricing=True)
                cpu = (
                    measure(hub, contender, spec, load, warmup, pricing=False) if cpu_pass else None
                )
                if cpu is not None and cpu.calls != requests.calls:
                    raise RuntimeError(
                        f"{spec.name}/{contender}: the passes made different requests: "
                        f"{dict(requests.calls)} vs {dict(cpu.calls)}"
                    )
                results.append(
                    Result(spec.name, contender, load.messages, spec.endpoints, requests, cpu)
                )
    header("Consumer runtime: requests, capacity and CPU per message, side by side")
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(load.kinds.items()))
    print(
        f"# {load.messages} messages in batches of {BATCH_SIZE} ({kinds}); images ~{item_bytes} B; "
        f"signing: {signer()}; run took {time.monotonic() - started:.0f} s"
    )
    table([row(r) for r in results], HEADINGS)
    print(FOOTNOTES)
    return load, results


FOOTNOTES = """\
¹ Capacity AWS would charge, computed from item sizes by AWS's rules (bench/capacity.py): 1 RCU per
  4 KB of a strongly consistent read, 1 WCU per 1 KB written, rounded up, PutItem/UpdateItem charged for
  the larger of the item before and after, a failed conditional write charged too (at least 1 WCU):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
² What moto returned for ReturnConsumedCapacity=TOTAL: fixed numbers (PutItem/DeleteItem 1.0,
  GetItem and UpdateItem 0.5), nothing for a failed conditional write; shown to say why ¹ is computed.
³ CPU of this process (time.process_time around each batch) in a second pass with nothing added;
  moto runs in its own process, its CPU is the next column."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=DEFAULT_MESSAGES, help="deliveries per contender"
    )
    parser.add_argument("--item-bytes", type=int, default=1024, help="size of each item image")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--counts-only",
        action="store_true",
        help="count requests and capacity only, without the CPU pass (half the time)",
    )
    args = parser.parse_args()
    load, results = run(args.messages, args.item_bytes, cpu_pass=not args.counts_only)
    if args.json:
        document = {
            "messages": load.messages,
            "kinds": dict(load.kinds),
            "results": [r.as_json() for r in results],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    missed = [r for r in results if (t := r.target()) is not None and not t[1]]
    for result in missed:
        print(f"# target missed: {result.consumer}: {result.target()}", file=sys.stderr)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
