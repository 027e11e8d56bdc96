"""``fanout cost``: the hub's monthly AWS bill beside EventBridge Pipes + an event bus.

A back-of-the-envelope model from public on-demand prices (us-east-1, no free
tier, no Savings Plans). Every price is a named constant with the page it comes
from; every assumption is a ``Load`` field with a default, printed with the
estimate. Both designs end in the same per-consumer SQS queues and consumer
functions (EventBridge rule -> SQS target), so that part costs the same and the
difference is the middle: router Lambda + SNS versus Pipe + bus.

    fanout cost --events-per-day 1000000 --consumers 3 --item-kb 1
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, fields
from typing import Any, Final, TextIO

from schemas.limits import SNS_DEFAULT_MAX_MESSAGE_BYTES, SNS_PUBLISH_BATCH_MAX_ENTRIES

# Prices: us-east-1, on-demand, as published on the pages below, read 2026-11-27.
PRICES_READ: Final = "2026-11-27"
PRICED_REGION: Final = "us-east-1"
KB: Final = 1024
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
class Load:
    """The workload, and the assumptions behind the estimate (each one a flag)."""

    events_per_day: float
    consumers: int
    item_kb: float
    match_fraction: float = 1.0  # share of events each consumer's filter policy lets through
    envelope_overhead_kb: float = 1.0  # context attributes, keys, changed list
    images_per_event: int = 2  # NEW_AND_OLD_IMAGES carries the item twice
    shards: int = 1
    router_batch: int = 100  # template: BatchSize 100
    router_window_s: float = 1.0  # template: MaximumBatchingWindowInSeconds 1
    router_memory_mb: int = 512  # template: MemorySize 512
    router_base_ms: float = 20.0  # per invocation (wiring, one summary log line)
    router_ms_per_record: float = 2.0  # normalise + botocore; see docs/benchmarks.md
    consumer_batch: int = 10
    consumer_window_s: float = 1.0
    consumer_memory_mb: int = 256
    consumer_base_ms: float = 20.0
    consumer_ms_per_message: float = 10.0  # idempotency write + the consumer's own work
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


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of a bill: what, how many per month, and USD per month."""

    component: str
    quantity: float
    unit: str
    usd: float


def chunks(kb: float) -> int:
    """Billable 64 KB chunks in a payload of ``kb`` (at least one)."""
    return max(1, math.ceil(kb / CHUNK_KB - 1e-9))


def invocations(records: float, batch: int, window_s: float, shards: int = 1) -> float:
    """Invocations a batching window yields: full batches, or one per window when traffic is thin."""
    if records <= 0:
        return 0.0
    per_window_cap = SECONDS_PER_MONTH / window_s * shards if window_s > 0 else records
    return max(records / batch, min(records, per_window_cap))


def lambda_cost(
    name: str, calls: float, duration_ms: float, memory_mb: int, *, arm64: bool
) -> list[LineItem]:
    """Requests and GB-seconds of one function."""
    gb_seconds = calls * duration_ms / 1000 * memory_mb / 1024
    rate = LAMBDA_PER_GB_SECOND_ARM if arm64 else LAMBDA_PER_GB_SECOND_X86
    return [
        LineItem(f"{name} Lambda requests", calls, "invocations", calls * LAMBDA_PER_REQUEST),
        LineItem(f"{name} Lambda compute", gb_seconds, "GB-s", gb_seconds * rate),
    ]


def consumer_side(load: Load) -> list[LineItem]:
    """Per-consumer SQS queues and consumer functions: the same in both designs."""
    messages = load.events_per_month * load.match_fraction
    calls = invocations(messages, load.consumer_batch, load.consumer_window_s)
    per_call = messages / calls if calls else 0.0
    # Each message is sent by the subscription once; each batch is one receive and one
    # delete. Counted as SQS requests (conservative). Idle long polls are per queue.
    sqs_requests = load.consumers * (
        messages * chunks(load.message_kb) + 2 * calls * chunks(per_call * load.message_kb)
    )
    idle_polls = load.consumers * SQS_IDLE_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_SECONDS
    duration = load.consumer_base_ms + per_call * load.consumer_ms_per_message
    items = [
        LineItem(
            "SQS requests (send, receive, delete)",
            sqs_requests,
            "requests",
            sqs_requests * SQS_PER_REQUEST,
        ),
        LineItem(
            "SQS idle long polls by Lambda", idle_polls, "requests", idle_polls * SQS_PER_REQUEST
        ),
    ]
    items.extend(
        lambda_cost(
            "consumer", load.consumers * calls, duration, load.consumer_memory_mb, arm64=load.arm64
        )
    )
    log_gb = load.consumers * calls * load.log_bytes_per_invocation / 1e9
    items.append(LineItem("consumer CloudWatch Logs", log_gb, "GB", log_gb * LOGS_PER_GB_INGESTED))
    if load.offloaded:
        gets = messages * load.consumers
        items.append(LineItem("S3 claim-check GETs", gets, "requests", gets * S3_PER_GET))
    return items


def claim_check(load: Load) -> list[LineItem]:
    """S3 PUT and storage for envelopes over 256 KB (any design carrying them has to)."""
    if not load.offloaded:
        return []
    puts = load.events_per_month
    gb_month = puts * load.envelope_kb / 1e6 * load.claim_check_retention_days / DAYS_PER_MONTH
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
    deliveries = events * load.consumers * load.match_fraction
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
    deliveries = events * load.consumers * load.match_fraction
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


def total(items: list[LineItem]) -> float:
    """USD per month."""
    return sum(item.usd for item in items)


def render(load: Load, out: TextIO) -> None:
    """Both bills, their totals, and the assumptions."""
    for title, items in (
        ("fanout-hub (router Lambda + SNS)", hub(load)),
        ("EventBridge Pipes + event bus", pipes(load)),
    ):
        print(f"\n{title}", file=out)
        print(f"  {'component':<44}{'per month':>18}  {'unit':<12}{'USD/month':>12}", file=out)
        for item in items:
            print(
                f"  {item.component:<44}{item.quantity:>18,.0f}  {item.unit:<12}{item.usd:>12,.2f}",
                file=out,
            )
        print(f"  {'total':<44}{'':>18}  {'':<12}{total(items):>12,.2f}", file=out)
    print(
        f"\nPrices: {PRICED_REGION} on-demand, read {PRICES_READ}, no free tier; sources in "
        "fanout/cost.py. The Pipe forwards DynamoDB JSON as is: producing the hub's envelope "
        "would need an enrichment Lambda on top.",
        file=out,
    )
    print("Assumptions (change with the flags):", file=out)
    print("  " + ", ".join(f"{f.name}={getattr(load, f.name)}" for f in fields(load)), file=out)
    print(
        f"  -> envelope {load.envelope_kb:g} KB"
        + (" (over 256 KB: claim check, ~1 KB pointer published)" if load.offloaded else ""),
        file=out,
    )


def register(subcommands: Any) -> None:
    """Add ``cost``."""
    parser = subcommands.add_parser(
        "cost", help="monthly AWS cost of the hub beside EventBridge Pipes + bus"
    )
    parser.add_argument("--events-per-day", type=float, required=True)
    parser.add_argument("--consumers", type=int, required=True)
    parser.add_argument("--item-kb", type=float, required=True)
    parser.add_argument("--region", default=PRICED_REGION, help="only us-east-1 prices are known")
    parser.add_argument("--match-fraction", type=float, default=1.0)
    parser.add_argument("--router-ms-per-record", type=float, default=2.0)
    parser.add_argument("--consumer-ms-per-message", type=float, default=10.0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--x86", action="store_true", help="price Lambda on x86_64, not arm64")
    parser.set_defaults(run=run_cost)


def run_cost(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print the estimate; exit code 2 for a region without prices or a nonsense load."""
    if args.region != PRICED_REGION:
        print(f"only {PRICED_REGION} prices are in the model, not {args.region}", file=sys.stderr)
        return 2
    if args.events_per_day < 0 or args.consumers < 1 or args.item_kb <= 0:
        print("need events-per-day >= 0, consumers >= 1, item-kb > 0", file=sys.stderr)
        return 2
    load = Load(
        events_per_day=args.events_per_day,
        consumers=args.consumers,
        item_kb=args.item_kb,
        match_fraction=args.match_fraction,
        router_ms_per_record=args.router_ms_per_record,
        consumer_ms_per_message=args.consumer_ms_per_message,
        shards=args.shards,
        arm64=not args.x86,
    )
    render(load, out)
    return 0
