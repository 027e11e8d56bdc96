"""``fanout cost``: the hub's monthly AWS bill beside EventBridge Pipes + an event bus.

A back-of-the-envelope model from public on-demand prices (us-east-1, no free
tier, no Savings Plans). Every price is a named constant with the page it comes
from; every assumption is a ``Load`` field with a default, printed with the
estimate. Both designs end in the same per-consumer SQS queues and consumer
functions (EventBridge rule -> SQS target), so that part, the consumer side, is
the same list of line items on both bills and the difference is the middle:
router Lambda + SNS versus Pipe + bus.

The consumer side is priced consumer by consumer, from what its mode does per
message (see ``Mode``): DynamoDB request units, S3 requests and the Lambda time
they take.

    fanout cost --events-per-day 1000000 --item-kb 1
    fanout cost --events-per-day 1000000 --item-kb 1 --consumer search:state:0.2 \\
        --consumer billing:side_effect:1:3 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, TextIO

# The runtime's own modes: what the bill prices is what the handlers declare.
from consumers.runtime.core import Mode
from hubcommon.limits import SNS_DEFAULT_MAX_MESSAGE_BYTES, SNS_PUBLISH_BATCH_MAX_ENTRIES

# Prices: us-east-1, on-demand, as published on the pages below, read 2026-11-27
# (DynamoDB's on 2026-12-07, DYNAMODB_PRICES_READ).
PRICES_READ: Final = "2026-11-27"
DYNAMODB_PRICES_READ: Final = "2026-12-07"
PRICED_REGION: Final = "us-east-1"
KB: Final = 1024
GB: Final = 1024**3  # AWS bills storage per GB of 2^30 bytes
CHUNK_KB: Final = 64  # SNS, SQS, Pipes and EventBridge bill each 64 KB of payload as one request
HOURS_PER_MONTH: Final = 730  # AWS's convention on its pricing pages
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH: Final = HOURS_PER_MONTH / 24

# https://aws.amazon.com/lambda/pricing/
LAMBDA_PER_REQUEST: Final = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND_X86: Final = 0.0000166667
LAMBDA_PER_GB_SECOND_ARM: Final = 0.0000133334
# https://aws.amazon.com/sns/pricing/ - standard topic; "each 64 KB chunk of published
# data is billed as 1 request"; a PublishBatch is one request for up to 10 messages.
SNS_PER_PUBLISH_REQUEST: Final = 0.50 / 1_000_000
SNS_PER_SQS_DELIVERY: Final = 0.0  # deliveries to SQS queues are not charged
# https://aws.amazon.com/sqs/pricing/ - standard queue, per request, per 64 KB chunk.
SQS_PER_REQUEST: Final = 0.40 / 1_000_000
# https://aws.amazon.com/dynamodb/pricing/on-demand/ - "GetRecords API calls invoked by
# AWS Lambda as part of DynamoDB triggers are free"; other readers (a Pipe) pay per call.
STREAMS_PER_READ_REQUEST: Final = 0.02 / 100_000
STREAMS_PER_LAMBDA_READ: Final = 0.0
# https://aws.amazon.com/dynamodb/pricing/on-demand/ - on-demand capacity, Standard table
# class: $0.625 per million write request units and $0.125 per million read request units
# (the prices since the on-demand cut of November 2024), storage from $0.25 per GB-month
# (the first 25 GB a month free, not counted here: no free tier in this model).
# The same figures, machine-readable, in the AWS Price List API's offer for us-east-1:
# https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonDynamoDB/current/us-east-1/index.json
DYNAMODB_PER_WRITE_REQUEST_UNIT: Final = 0.625 / 1_000_000
DYNAMODB_PER_READ_REQUEST_UNIT: Final = 0.125 / 1_000_000
DYNAMODB_PER_GB_MONTH: Final = 0.25
# "Amazon DynamoDB measures the size of your billable data by adding up the raw byte size
# of the data you upload, plus a per-item storage overhead of 100 bytes" (pricing page).
DYNAMODB_ITEM_OVERHEAD_BYTES: Final = 100
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
# "One write unit represents one write for an item up to 1 KB"; "item sizes for writes are
# rounded up to the next 1 KB multiple", per request. PutItem counts the larger of the old
# and new item, UpdateItem the larger of before and after, DeleteItem the deleted item. A
# conditional write whose condition is false "still consumes write capacity units", sized
# on the item: an older change or a redelivery costs the same units as a fresh one.
DYNAMODB_WRITE_UNIT_KB: Final = 1
# https://aws.amazon.com/s3/pricing/ - S3 Standard.
S3_PER_PUT: Final = 0.005 / 1000
S3_PER_GET: Final = 0.0004 / 1000
S3_PER_GB_MONTH: Final = 0.023
# https://aws.amazon.com/cloudwatch/pricing/ - Logs, standard class, ingestion.
LOGS_PER_GB_INGESTED: Final = 0.50
# https://aws.amazon.com/eventbridge/pricing/ - Pipes: per request after filtering;
# custom events put on a bus: per event; both per 64 KB chunk. Rule deliveries to AWS
# service targets in the same account are not charged.
PIPES_PER_REQUEST: Final = 0.40 / 1_000_000
BUS_PER_CUSTOM_EVENT: Final = 1.00 / 1_000_000
BUS_PER_SAME_ACCOUNT_DELIVERY: Final = 0.0

SNS_BATCH_ENTRIES: Final = SNS_PUBLISH_BATCH_MAX_ENTRIES
SNS_MAX_PAYLOAD_KB: Final = SNS_DEFAULT_MAX_MESSAGE_BYTES / KB
# Lambda's SQS poller: 5 long-polling connections per idle queue, 20 s each.
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
SQS_IDLE_POLLERS: Final = 5
SQS_LONG_POLL_SECONDS: Final = 20
# A Pipe polls a DynamoDB stream shard about 4 times a second, like Lambda.
PIPE_POLLS_PER_SECOND: Final = 4


@dataclass(frozen=True, slots=True)
class Consumer:
    """One consumer: its own queue and function, its mode, the share of events it receives."""

    name: str
    mode: Mode
    match_fraction: float = 1.0  # share of events its filter policy lets through
    effects: int = 1  # side_effect: effects per message, each claimed (2 writes) and called out
    s3_puts: int = 0  # objects the consumer writes to S3 per message (the audit log: 1)
    batch: int | None = None  # messages per invocation; None: Load.consumer_batch

    @property
    def uses_dynamodb(self) -> bool:
        """True for the modes that keep state or records in DynamoDB."""
        return self.mode is not Mode.NATURALLY_IDEMPOTENT


# As template.yaml deploys them: the projection keeps a read model, the webhook posts to
# its URL (one endpoint, BatchSize 5), the audit log writes one S3 object per event.
# tests/unit/fanout/test_cost.py holds each mode equal to its handler's.
IN_REPO_CONSUMERS: Final = (
    Consumer("projection", Mode.STATE),
    Consumer("webhook", Mode.SIDE_EFFECT, effects=1, batch=5),
    Consumer("audit-log", Mode.NATURALLY_IDEMPOTENT, s3_puts=1),
)


@dataclass(frozen=True, slots=True)
class Load:
    """The workload, and the assumptions behind the estimate (each one a flag)."""

    events_per_day: float
    item_kb: float
    consumers: tuple[Consumer, ...] = IN_REPO_CONSUMERS
    envelope_overhead_kb: float = 1.0  # context attributes, keys, changed list
    images_per_event: int = 2  # NEW_AND_OLD_IMAGES carries the item twice
    shards: int = 1
    router_batch: int = 100  # template: BatchSize 100
    router_window_s: float = 1.0  # template: MaximumBatchingWindowInSeconds 1
    router_memory_mb: int = 512  # template: MemorySize 512
    router_base_ms: float = 20.0  # per invocation (wiring, one summary log line)
    router_ms_per_record: float = 2.0  # normalise + botocore; see docs/benchmarks.md
    consumer_batch: int = 10  # kit: BatchSize 10
    consumer_window_s: float = 1.0  # kit: MaximumBatchingWindowInSeconds 1
    consumer_memory_mb: int = 256  # kit: MemorySize 256
    consumer_base_ms: float = 20.0
    # The handler's own work per message outside DynamoDB and S3: parse the envelope, build
    # the request. The router's measured per-record parse + botocore cost is ~2 ms.
    consumer_ms_per_message: float = 2.0
    # One DynamoDB request's round trip from Lambda in the same region: DynamoDB's
    # "single-digit millisecond latency".
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html
    dynamodb_ms_per_request: float = 5.0
    # One small S3 GET or PUT: "median latencies are often in the tens of milliseconds range"
    # for requests under 512 KB. https://docs.aws.amazon.com/whitepapers/latest/
    # s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html
    s3_ms_per_request: float = 20.0
    # A side effect's call out (an HTTPS POST to a webhook, a payment API), per endpoint.
    side_effect_ms_per_call: float = 100.0
    state_columns_kb: float = 0.3  # pk, sequence, entity, table, type, envelope_id, changed_at
    table_items: float = 1_000_000.0  # items in the source table, which a state consumer mirrors
    ledger_record_kb: float = 0.3  # a side-effect claim: key, lease token, status, expires_at
    # Runtime: records expire by TTL, whose deletes consume no write throughput.
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html
    ledger_ttl_days: float = 15.0
    audit_retention_days: float = 30.0  # objects kept (the audit bucket has no expiry rule)
    arm64: bool = True  # template default Architecture
    log_bytes_per_invocation: int = 1200  # START/END/REPORT + one summary line
    claim_check_retention_days: float = 1.0  # payload bucket lifecycle

    @property
    def events_per_month(self) -> float:
        """Events in an average month."""
        return self.events_per_day * DAYS_PER_MONTH

    @property
    def envelope_kb(self) -> float:
        """Size of one envelope on the wire."""
        return self.item_kb * self.images_per_event + self.envelope_overhead_kb

    @property
    def offloaded(self) -> bool:
        """True when envelopes exceed SNS's 256 KB and go through the S3 claim check."""
        return self.envelope_kb > SNS_MAX_PAYLOAD_KB

    @property
    def message_kb(self) -> float:
        """What SNS and SQS carry: the envelope, or a ~1 KB pointer to it."""
        return self.envelope_overhead_kb if self.offloaded else self.envelope_kb

    @property
    def deliveries_per_event(self) -> float:
        """Queue deliveries one event makes: the sum of the consumers' match fractions."""
        return sum(consumer.match_fraction for consumer in self.consumers)


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of a bill: what, how many per month, USD per month, and whose (a consumer's)."""

    component: str
    quantity: float
    unit: str
    usd: float
    consumer: str = ""  # empty: the middle of the pipeline, not one consumer's


@dataclass(frozen=True, slots=True)
class PerMessage:
    """What one consumer's runtime and handler send to AWS for one message."""

    dynamodb_requests: int
    write_units: int
    read_units: int
    s3_puts: int
    s3_gets: int
    calls_out: int


def chunks(kb: float) -> int:
    """Billable 64 KB chunks in a payload of ``kb`` (at least one)."""
    return max(1, math.ceil(kb / CHUNK_KB - 1e-9))


def write_units(item_kb: float) -> int:
    """DynamoDB write request units of one write of an item: its size rounded up to 1 KB."""
    return max(1, math.ceil(item_kb / DYNAMODB_WRITE_UNIT_KB - 1e-9))


def dynamodb_gb(items: float, item_kb: float) -> float:
    """Billable GB of ``items`` items of ``item_kb`` each, with DynamoDB's per-item overhead."""
    return items * (item_kb * KB + DYNAMODB_ITEM_OVERHEAD_BYTES) / GB


def invocations(records: float, batch: int, window_s: float, shards: int = 1) -> float:
    """Invocations a batching window yields: full batches, or one per window when traffic is thin."""
    if records <= 0:
        return 0.0
    per_window_cap = SECONDS_PER_MONTH / window_s * shards if window_s > 0 else records
    return max(records / batch, min(records, per_window_cap))


def lambda_cost(
    name: str,
    calls: float,
    duration_ms: float,
    memory_mb: int,
    *,
    arm64: bool,
    consumer: str = "",
) -> list[LineItem]:
    """Requests and GB-seconds of one function."""
    gb_seconds = calls * duration_ms / 1000 * memory_mb / 1024
    rate = LAMBDA_PER_GB_SECOND_ARM if arm64 else LAMBDA_PER_GB_SECOND_X86
    return [
        LineItem(
            f"{name} Lambda requests", calls, "invocations", calls * LAMBDA_PER_REQUEST, consumer
        ),
        LineItem(f"{name} Lambda compute", gb_seconds, "GB-s", gb_seconds * rate, consumer),
    ]


def per_message(consumer: Consumer, load: Load) -> PerMessage:
    """The requests one message costs in ``consumer``'s mode (the runtime's floor)."""
    s3_gets = 1 if load.offloaded else 0  # each receiver of a pointer reads the envelope once
    if consumer.mode is Mode.STATE:
        # One conditional PutItem of the new image and the runtime's columns; no reads.
        return PerMessage(
            dynamodb_requests=1,
            write_units=write_units(load.item_kb + load.state_columns_kb),
            read_units=0,
            s3_puts=consumer.s3_puts,
            s3_gets=s3_gets,
            calls_out=0,
        )
    if consumer.mode is Mode.SIDE_EFFECT:
        # Per effect: the claim (PutItem) and the completion (UpdateItem), or on failure
        # the release (DeleteItem) instead of the completion: two writes either way.
        requests = 2 * consumer.effects
        return PerMessage(
            dynamodb_requests=requests,
            write_units=requests * write_units(load.ledger_record_kb),
            read_units=0,
            s3_puts=consumer.s3_puts,
            s3_gets=s3_gets,
            calls_out=consumer.effects,
        )
    # Idempotent by its own effect: no DynamoDB; what it writes to S3, if anything.
    return PerMessage(
        dynamodb_requests=0,
        write_units=0,
        read_units=0,
        s3_puts=consumer.s3_puts,
        s3_gets=s3_gets,
        calls_out=0,
    )


def consumer_lines(consumer: Consumer, load: Load) -> list[LineItem]:
    """One consumer's queue, function, and what its mode sends to DynamoDB and S3."""
    name = consumer.name
    messages = load.events_per_month * consumer.match_fraction
    batch = consumer.batch or load.consumer_batch
    calls = invocations(messages, batch, load.consumer_window_s)
    per_call = messages / calls if calls else 0.0
    need = per_message(consumer, load)
    # Each message is sent by the subscription once; each batch is one receive and one
    # delete. Counted as SQS requests (conservative). Idle long polls are per queue.
    sqs_requests = messages * chunks(load.message_kb) + 2 * calls * chunks(
        per_call * load.message_kb
    )
    idle_polls = SQS_IDLE_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_SECONDS
    # The batch is handled message by message, each waiting on its own requests.
    ms_per_message = (
        load.consumer_ms_per_message
        + need.dynamodb_requests * load.dynamodb_ms_per_request
        + (need.s3_puts + need.s3_gets) * load.s3_ms_per_request
        + need.calls_out * load.side_effect_ms_per_call
    )
    duration = load.consumer_base_ms + per_call * ms_per_message
    log_gb = calls * load.log_bytes_per_invocation / 1e9
    items = [
        LineItem(
            "SQS requests (send, receive, delete)",
            sqs_requests,
            "requests",
            sqs_requests * SQS_PER_REQUEST,
            name,
        ),
        LineItem(
            "SQS idle long polls by Lambda",
            idle_polls,
            "requests",
            idle_polls * SQS_PER_REQUEST,
            name,
        ),
        *lambda_cost(
            "consumer", calls, duration, load.consumer_memory_mb, arm64=load.arm64, consumer=name
        ),
        LineItem("consumer CloudWatch Logs", log_gb, "GB", log_gb * LOGS_PER_GB_INGESTED, name),
    ]
    if consumer.uses_dynamodb:
        wru = messages * need.write_units
        rru = messages * need.read_units
        items += [
            LineItem(
                "DynamoDB write request units",
                wru,
                "WRU",
                wru * DYNAMODB_PER_WRITE_REQUEST_UNIT,
                name,
            ),
            LineItem(
                "DynamoDB read request units",
                rru,
                "RRU",
                rru * DYNAMODB_PER_READ_REQUEST_UNIT,
                name,
            ),
        ]
    if consumer.mode is Mode.STATE:
        # One item per key of the source table it receives, however often the key changes.
        stored = dynamodb_gb(
            load.table_items * consumer.match_fraction, load.item_kb + load.state_columns_kb
        )
        items.append(
            LineItem(
                "DynamoDB storage (state table)",
                stored,
                "GB-month",
                stored * DYNAMODB_PER_GB_MONTH,
                name,
            )
        )
    if consumer.mode is Mode.SIDE_EFFECT:
        # One record per message and effect, kept until its TTL (TTL deletes are free).
        records = (
            load.events_per_day * consumer.match_fraction * consumer.effects * load.ledger_ttl_days
        )
        stored = dynamodb_gb(records, load.ledger_record_kb)
        items.append(
            LineItem(
                "DynamoDB storage (idempotency records)",
                stored,
                "GB-month",
                stored * DYNAMODB_PER_GB_MONTH,
                name,
            )
        )
    if need.s3_puts:
        puts = messages * need.s3_puts
        kept_gb = (
            load.events_per_day
            * consumer.match_fraction
            * load.audit_retention_days
            * load.envelope_kb
            * KB
            / GB
        )
        items += [
            LineItem("S3 PUTs (objects written)", puts, "requests", puts * S3_PER_PUT, name),
            LineItem(
                "S3 storage (objects kept)", kept_gb, "GB-month", kept_gb * S3_PER_GB_MONTH, name
            ),
        ]
    if need.s3_gets:
        gets = messages * need.s3_gets
        items.append(
            LineItem("S3 claim-check GETs", gets, "requests", gets * S3_PER_GET, name),
        )
    return items


def consumer_side(load: Load) -> list[LineItem]:
    """Every consumer's lines: the same in both designs."""
    return [item for consumer in load.consumers for item in consumer_lines(consumer, load)]


def claim_check(load: Load) -> list[LineItem]:
    """S3 PUT and storage for envelopes over 256 KB (any design carrying them has to)."""
    if not load.offloaded:
        return []
    puts = load.events_per_month
    gb_month = load.events_per_day * load.claim_check_retention_days * load.envelope_kb * KB / GB
    return [
        LineItem("S3 claim-check PUTs", puts, "requests", puts * S3_PER_PUT),
        LineItem("S3 claim-check storage", gb_month, "GB-month", gb_month * S3_PER_GB_MONTH),
    ]


def hub(load: Load) -> list[LineItem]:
    """The hub: stream -> router Lambda -> SNS -> SQS per consumer -> consumer Lambda."""
    events = load.events_per_month
    calls = invocations(events, load.router_batch, load.router_window_s, load.shards)
    per_call = events / calls if calls else 0.0
    per_publish = max(
        1, min(SNS_BATCH_ENTRIES, per_call, math.floor(SNS_MAX_PAYLOAD_KB / load.message_kb))
    )
    publishes = events / per_publish
    publish_requests = publishes * chunks(per_publish * load.message_kb)
    deliveries = events * load.deliveries_per_event
    duration = load.router_base_ms + per_call * load.router_ms_per_record
    log_gb = calls * load.log_bytes_per_invocation / 1e9
    return [
        LineItem(
            "DynamoDB Streams reads (Lambda trigger)",
            calls,
            "GetRecords",
            calls * STREAMS_PER_LAMBDA_READ,
        ),
        *lambda_cost("router", calls, duration, load.router_memory_mb, arm64=load.arm64),
        LineItem("router CloudWatch Logs", log_gb, "GB", log_gb * LOGS_PER_GB_INGESTED),
        LineItem(
            "SNS PublishBatch requests (64 KB chunks)",
            publish_requests,
            "requests",
            publish_requests * SNS_PER_PUBLISH_REQUEST,
        ),
        LineItem(
            "SNS -> SQS deliveries", deliveries, "deliveries", deliveries * SNS_PER_SQS_DELIVERY
        ),
        *claim_check(load),
        *consumer_side(load),
    ]


def pipes(load: Load) -> list[LineItem]:
    """The alternative: stream -> EventBridge Pipe -> bus -> a rule per consumer -> SQS -> Lambda."""
    events = load.events_per_month
    polls = PIPE_POLLS_PER_SECOND * SECONDS_PER_MONTH * load.shards
    pipe_requests = events * chunks(load.message_kb)
    deliveries = events * load.deliveries_per_event
    return [
        LineItem(
            "DynamoDB Streams reads (Pipe polling)",
            polls,
            "GetRecords",
            polls * STREAMS_PER_READ_REQUEST,
        ),
        LineItem(
            "Pipes requests (64 KB chunks)",
            pipe_requests,
            "requests",
            pipe_requests * PIPES_PER_REQUEST,
        ),
        LineItem(
            "bus custom events (64 KB chunks)",
            pipe_requests,
            "events",
            pipe_requests * BUS_PER_CUSTOM_EVENT,
        ),
        LineItem(
            "rule -> SQS deliveries",
            deliveries,
            "deliveries",
            deliveries * BUS_PER_SAME_ACCOUNT_DELIVERY,
        ),
        *claim_check(load),
        *consumer_side(load),
    ]


def total(items: Iterable[LineItem]) -> float:
    """USD per month."""
    return sum(item.usd for item in items)


def middle(items: Iterable[LineItem]) -> list[LineItem]:
    """The lines that are not one consumer's: where the two designs differ."""
    return [item for item in items if not item.consumer]


def subtotal(items: Iterable[LineItem], consumer: str) -> float:
    """USD per month of one consumer's lines."""
    return total(item for item in items if item.consumer == consumer)


@dataclass(frozen=True, slots=True)
class ModeSummary:
    """One mode's share of the consumer side."""

    mode: str
    consumers: int
    messages: float
    write_units: float
    read_units: float
    s3_requests: float
    usd: float


def by_mode(load: Load) -> list[ModeSummary]:
    """The consumer side summed per mode, in ``Mode`` order, modes without consumers left out."""
    lines = consumer_side(load)
    summaries = []
    for mode in Mode:
        members = [c for c in load.consumers if c.mode is mode]
        if not members:
            continue
        names = {c.name for c in members}
        mine = [item for item in lines if item.consumer in names]
        s3 = [i for i in mine if i.component.startswith("S3") and i.unit == "requests"]
        summaries.append(
            ModeSummary(
                mode=mode.value,
                consumers=len(members),
                messages=sum(load.events_per_month * c.match_fraction for c in members),
                write_units=sum(i.quantity for i in mine if i.unit == "WRU"),
                read_units=sum(i.quantity for i in mine if i.unit == "RRU"),
                s3_requests=sum(i.quantity for i in s3),
                usd=total(mine),
            )
        )
    return summaries


DESIGNS: Final = (
    ("hub", "fanout-hub (router Lambda + SNS)", hub),
    ("pipes", "EventBridge Pipes + event bus", pipes),
)


def describe(consumer: Consumer, load: Load) -> str:
    """``projection: state, match 1, per message 2 WRU, 0 RRU, 0 S3 requests``."""
    need = per_message(consumer, load)
    effects = (
        f", {consumer.effects} effect{'s' if consumer.effects != 1 else ''} claimed"
        if consumer.mode is Mode.SIDE_EFFECT
        else ""
    )
    return (
        f"{consumer.name}: {consumer.mode.value}{effects}, match {consumer.match_fraction:g};"
        f" per message {need.write_units} WRU, {need.read_units} RRU,"
        f" {need.s3_puts + need.s3_gets} S3 request{'' if need.s3_puts + need.s3_gets == 1 else 's'}"
    )


def _row(out: TextIO, label: str, quantity: str, unit: str, usd: float, indent: int = 2) -> None:
    pad = " " * indent
    print(f"{pad}{label:<{46 - indent}}{quantity:>16}  {unit:<12}{usd:>12,.2f}", file=out)


def _header(out: TextIO) -> None:
    print(f"  {'component':<44}{'per month':>16}  {'unit':<12}{'USD/month':>12}", file=out)


def render(load: Load, out: TextIO) -> None:
    """Both bills, the consumer side itemised once, by consumer and by mode, and the assumptions."""
    consumers = consumer_side(load)
    count = len(load.consumers)
    for _, title, design in DESIGNS:
        items = design(load)
        print(f"\n{title}", file=out)
        _header(out)
        for item in middle(items):
            _row(out, item.component, f"{item.quantity:,.0f}", item.unit, item.usd)
        _row(
            out,
            f"consumer side: {count} consumer{'s' if count != 1 else ''} (below)",
            "",
            "",
            total(consumers),
        )
        _row(out, "total", "", "", total(items))

    print("\nConsumer side: the same lines on both bills", file=out)
    _header(out)
    for consumer in load.consumers:
        print(f"  {describe(consumer, load)}", file=out)
        for item in consumers:
            if item.consumer == consumer.name:
                _row(out, item.component, f"{item.quantity:,.0f}", item.unit, item.usd, indent=4)
        _row(out, "subtotal", "", "", subtotal(consumers, consumer.name), indent=4)
    _row(out, "consumer side total", "", "", total(consumers))

    print("\nBy mode (per month)", file=out)
    print(
        f"  {'mode':<22}{'consumers':>10}{'messages':>14}{'DynamoDB WRU':>14}"
        f"{'DynamoDB RRU':>14}{'S3 requests':>13}{'USD/month':>12}",
        file=out,
    )
    for summary in by_mode(load):
        print(
            f"  {summary.mode:<22}{summary.consumers:>10}{summary.messages:>14,.0f}"
            f"{summary.write_units:>14,.0f}{summary.read_units:>14,.0f}"
            f"{summary.s3_requests:>13,.0f}{summary.usd:>12,.2f}",
            file=out,
        )

    print(
        f"\nPrices: {PRICED_REGION} on-demand, read {PRICES_READ} (DynamoDB "
        f"{DYNAMODB_PRICES_READ}), no free tier; sources in fanout/cost.py. The Pipe forwards "
        "DynamoDB JSON as is: producing the hub's envelope would need an enrichment Lambda "
        "on top.",
        file=out,
    )
    print(
        "Assumptions (those with a flag in `fanout cost --help` can be changed; "
        "the rest are fanout.cost.Load's defaults):",
        file=out,
    )
    print(
        "  "
        + ", ".join(
            f"{f.name}={getattr(load, f.name)}" for f in fields(load) if f.name != "consumers"
        ),
        file=out,
    )
    print(
        f"  -> envelope {load.envelope_kb:g} KB"
        + (" (over 256 KB: claim check, ~1 KB pointer published)" if load.offloaded else ""),
        file=out,
    )


def _design(title: str, items: list[LineItem], consumers: list[LineItem]) -> dict[str, Any]:
    return {
        "title": title,
        "lines": [asdict(item) for item in items],
        "middle_usd": total(middle(items)),
        "consumer_side_usd": total(consumers),
        "total_usd": total(items),
    }


def bill(load: Load) -> dict[str, Any]:
    """The estimate as data: both designs, their lines, the consumers, modes and assumptions."""
    consumers = consumer_side(load)
    assumptions = {f.name: getattr(load, f.name) for f in fields(load) if f.name != "consumers"}
    return {
        "region": PRICED_REGION,
        "prices_read": PRICES_READ,
        "dynamodb_prices_read": DYNAMODB_PRICES_READ,
        "currency": "USD",
        "period": "month",
        "load": {
            **assumptions,
            "events_per_month": load.events_per_month,
            "envelope_kb": load.envelope_kb,
            "offloaded": load.offloaded,
        },
        "designs": {key: _design(title, design(load), consumers) for key, title, design in DESIGNS},
        "consumers": [
            {
                "name": consumer.name,
                "mode": consumer.mode.value,
                "match_fraction": consumer.match_fraction,
                "effects": consumer.effects if consumer.mode is Mode.SIDE_EFFECT else None,
                "s3_puts": consumer.s3_puts,
                "batch": consumer.batch or load.consumer_batch,
                "per_message": asdict(per_message(consumer, load)),
                "lines": [asdict(item) for item in consumers if item.consumer == consumer.name],
                "usd": subtotal(consumers, consumer.name),
            }
            for consumer in load.consumers
        ],
        "by_mode": [asdict(summary) for summary in by_mode(load)],
    }


class CostInputError(ValueError):
    """A flag's value the model cannot price; its message is the one line shown to the user."""


CONSUMER_SYNTAX: Final = "NAME:MODE[:MATCH_FRACTION][:effects=N][:s3_puts=N]"


def parse_consumer(text: str, default_match: float) -> Consumer:
    """``search:state:0.2`` or ``billing:side_effect:effects=3`` -> a ``Consumer``; ``CostInputError`` if not."""
    parts = text.split(":")
    modes = ", ".join(m.value for m in Mode)
    if len(parts) < 2 or not parts[0]:  # noqa: PLR2004 - NAME and MODE at least
        raise CostInputError(f"--consumer {text!r}: expected {CONSUMER_SYNTAX}")
    name, mode_text, *rest = parts
    try:
        mode = Mode(mode_text)
    except ValueError:
        raise CostInputError(f"--consumer {text!r}: mode must be one of {modes}") from None
    match = default_match
    if rest and "=" not in rest[0]:
        try:
            match = float(rest.pop(0))
        except ValueError:
            raise CostInputError(f"--consumer {text!r}: match fraction must be a number") from None
    counts = {"effects": 1, "s3_puts": 0}
    for option in rest:
        key, _, value = option.partition("=")
        if key not in counts or not value:
            raise CostInputError(f"--consumer {text!r}: expected {CONSUMER_SYNTAX}")
        try:
            counts[key] = int(value)
        except ValueError:
            raise CostInputError(f"--consumer {text!r}: {key} must be a whole number") from None
    if counts["effects"] != 1 and mode is not Mode.SIDE_EFFECT:
        raise CostInputError(f"--consumer {text!r}: only side_effect consumers claim effects")
    consumer = Consumer(name, mode, match, effects=counts["effects"], s3_puts=counts["s3_puts"])
    check_consumer(consumer, text)
    return consumer


def check_consumer(consumer: Consumer, text: str) -> None:
    """``CostInputError`` for a match fraction outside 0..1, no effect, or negative S3 PUTs."""
    if not 0 <= consumer.match_fraction <= 1:
        raise CostInputError(f"--consumer {text!r}: match fraction must be between 0 and 1")
    if consumer.effects < 1:
        raise CostInputError(f"--consumer {text!r}: a side_effect consumer claims 1 effect or more")
    if consumer.s3_puts < 0:
        raise CostInputError(f"--consumer {text!r}: s3_puts must be 0 or more")


def consumers_from(args: argparse.Namespace) -> tuple[Consumer, ...]:
    """The consumers the flags describe: ``--consumer``s, ``--consumers N``, or the in-repo three."""
    if args.consumer and args.consumers is not None:
        raise CostInputError("give --consumer (each one described) or --consumers N, not both")
    if args.consumer_mode is not None and args.consumers is None:
        raise CostInputError("--consumer-mode is the mode of --consumers N; give both, or neither")
    if not 0 <= args.match_fraction <= 1:
        raise CostInputError("--match-fraction must be between 0 and 1")
    if args.consumer:
        chosen = tuple(parse_consumer(text, args.match_fraction) for text in args.consumer)
    elif args.consumers is not None:
        if args.consumers < 1:
            raise CostInputError("--consumers must be 1 or more")
        mode = Mode(args.consumer_mode or Mode.STATE.value)
        chosen = tuple(
            Consumer(f"consumer-{n}", mode, args.match_fraction)
            for n in range(1, args.consumers + 1)
        )
    else:
        chosen = tuple(replace(c, match_fraction=args.match_fraction) for c in IN_REPO_CONSUMERS)
    names = [c.name for c in chosen]
    if len(set(names)) != len(names):
        raise CostInputError("--consumer names must be unique (each is its own queue and function)")
    return chosen


# Flags that must not be negative, with the Load field each sets.
NON_NEGATIVE: Final = (
    ("events_per_day", "--events-per-day"),
    ("router_ms_per_record", "--router-ms-per-record"),
    ("consumer_ms_per_message", "--consumer-ms-per-message"),
    ("dynamodb_ms_per_request", "--dynamodb-ms-per-request"),
    ("s3_ms_per_request", "--s3-ms-per-request"),
    ("side_effect_ms_per_call", "--side-effect-ms-per-call"),
    ("table_items", "--table-items"),
    ("ledger_ttl_days", "--ledger-ttl-days"),
    ("audit_retention_days", "--audit-retention-days"),
)


def load_from(args: argparse.Namespace) -> Load:
    """The ``Load`` the flags describe; ``CostInputError`` names the first flag out of range."""
    if args.region != PRICED_REGION:
        raise CostInputError(f"only {PRICED_REGION} prices are in the model, not {args.region}")
    for attribute, flag in NON_NEGATIVE:
        value = getattr(args, attribute)
        if not math.isfinite(value) or value < 0:
            raise CostInputError(f"{flag} must be a number, not negative")
    if not math.isfinite(args.item_kb) or args.item_kb <= 0:
        raise CostInputError("--item-kb must be more than 0")
    if args.shards < 1:
        raise CostInputError("--shards must be 1 or more")
    return Load(
        events_per_day=args.events_per_day,
        item_kb=args.item_kb,
        consumers=consumers_from(args),
        router_ms_per_record=args.router_ms_per_record,
        consumer_ms_per_message=args.consumer_ms_per_message,
        dynamodb_ms_per_request=args.dynamodb_ms_per_request,
        s3_ms_per_request=args.s3_ms_per_request,
        side_effect_ms_per_call=args.side_effect_ms_per_call,
        table_items=args.table_items,
        ledger_ttl_days=args.ledger_ttl_days,
        audit_retention_days=args.audit_retention_days,
        shards=args.shards,
        arm64=not args.x86,
    )


def register(subcommands: Any) -> None:
    """Add ``cost``."""
    defaults = Load(events_per_day=0, item_kb=1)
    parser = subcommands.add_parser(
        "cost",
        help="monthly AWS cost of the hub beside EventBridge Pipes + bus, consumers included",
        description=(
            "Monthly AWS cost of the hub beside EventBridge Pipes + an event bus, from public "
            f"{PRICED_REGION} on-demand prices. Both bills carry the same consumer lines; with "
            "no consumer flags the consumers are the three in this repository as deployed "
            "(projection: state, webhook: side_effect, audit-log: naturally_idempotent)."
        ),
    )
    parser.add_argument(
        "--events-per-day",
        type=float,
        required=True,
        metavar="N",
        help="item changes a day on the table",
    )
    parser.add_argument(
        "--item-kb",
        type=float,
        required=True,
        metavar="KB",
        help="size of one item (each image) in KB",
    )
    parser.add_argument(
        "--consumer",
        action="append",
        metavar=CONSUMER_SYNTAX,
        help=(
            "one consumer (repeat for each): MODE is the runtime's mode, state, side_effect or "
            "naturally_idempotent; MATCH_FRACTION the share of events it receives (default "
            "--match-fraction); effects=N, side_effect only, the effects claimed one by one per "
            "message (default 1, the runtime's claim of the event; the webhook claims one per "
            "endpoint); s3_puts=N the objects it writes to S3 per message (default 0; the audit "
            "log 1). E.g. search:state:0.2, billing:side_effect:effects=3, "
            "archive:naturally_idempotent:s3_puts=1"
        ),
    )
    parser.add_argument(
        "--consumers",
        type=int,
        metavar="N",
        help="N generic consumers in --consumer-mode instead of the in-repo three",
    )
    parser.add_argument(
        "--consumer-mode",
        choices=[m.value for m in Mode],
        default=None,
        help="the mode of the --consumers N generic consumers (default: state)",
    )
    parser.add_argument(
        "--match-fraction",
        type=float,
        default=1.0,
        metavar="FRACTION",
        help="share of events a consumer receives when none is given (default: %(default)s)",
    )
    parser.add_argument(
        "--region", default=PRICED_REGION, help="only us-east-1 prices are known (default)"
    )
    parser.add_argument(
        "--router-ms-per-record",
        type=float,
        default=defaults.router_ms_per_record,
        metavar="MS",
        help="router time per record (default: %(default)s, measured; docs/benchmarks.md)",
    )
    parser.add_argument(
        "--consumer-ms-per-message",
        type=float,
        default=defaults.consumer_ms_per_message,
        metavar="MS",
        help="a consumer's own work per message outside DynamoDB and S3 (default: %(default)s)",
    )
    parser.add_argument(
        "--dynamodb-ms-per-request",
        type=float,
        default=defaults.dynamodb_ms_per_request,
        metavar="MS",
        help=(
            "Lambda time per DynamoDB request, the round trip (default: %(default)s, "
            "DynamoDB's single-digit millisecond latency)"
        ),
    )
    parser.add_argument(
        "--s3-ms-per-request",
        type=float,
        default=defaults.s3_ms_per_request,
        metavar="MS",
        help=(
            "Lambda time per S3 GET or PUT of a small object (default: %(default)s, S3's "
            "'tens of milliseconds' median)"
        ),
    )
    parser.add_argument(
        "--side-effect-ms-per-call",
        type=float,
        default=defaults.side_effect_ms_per_call,
        metavar="MS",
        help="Lambda time per side-effect call out, per effect (default: %(default)s)",
    )
    parser.add_argument(
        "--table-items",
        type=float,
        default=defaults.table_items,
        metavar="N",
        help="items in the source table, mirrored by a state consumer (default: %(default).0f)",
    )
    parser.add_argument(
        "--ledger-ttl-days",
        type=float,
        default=defaults.ledger_ttl_days,
        metavar="DAYS",
        help="days a side-effect idempotency record is kept before TTL (default: %(default)s)",
    )
    parser.add_argument(
        "--audit-retention-days",
        type=float,
        default=defaults.audit_retention_days,
        metavar="DAYS",
        help="days the objects a consumer writes to S3 (s3_puts) are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=defaults.shards,
        metavar="N",
        help="stream shards (default: 1)",
    )
    parser.add_argument("--x86", action="store_true", help="price Lambda on x86_64, not arm64")
    parser.add_argument(
        "--json", action="store_true", help="print the bill as JSON instead of tables"
    )
    parser.set_defaults(run=run_cost)


def run_cost(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print the estimate; exit code 2, with one line on stderr, for input it cannot price."""
    try:
        load = load_from(args)
    except CostInputError as bad:
        print(f"fanout cost: {bad}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(bill(load), out, indent=2)
        print(file=out)
    else:
        render(load, out)
    return 0
