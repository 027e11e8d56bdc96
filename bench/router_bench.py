"""Router throughput: the router beside a naive publish loop and Powertools' BatchProcessor.

All three run in this process, against the same moto server (a separate
process), with the same fixed latency added to every SNS request in botocore's
``before-send`` hook, so ratios are measured side by side:

(a) naive      - for each record: ``to_outbound`` then one ``sns.publish``.
(b) powertools - Powertools for AWS Lambda's standard DynamoDB stream pattern:
                 ``BatchProcessor(event_type=EventType.DynamoDBStreams)`` and
                 ``process_partial_response`` with a record handler that
                 normalises and ``sns.publish``-es one record.
(c) router     - ``router.core.Router.route``: PublishBatch packed by size,
                 calls in parallel, every entry checked.

(a) and (b) are sequential (one round trip per record), so at 10 ms a 10,000
record batch takes 100 s or more; they run at most ``--per-record-cap`` records
per batch and the batch latency for larger batches is extrapolated linearly
from that prefix (marked ``~`` in the table).

The topic has no subscription by default: the figures are the publisher's side
of the wire, not moto's own fan-out to SQS (which real SNS does on its own
fleet). ``--subscribed`` adds a run with one SQS subscription, and a latency
sweep shows how the ratio moves with the round-trip time.

    uv run python bench/router_bench.py [--latency-ms 10] [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

# First: common sets how botocore signs, which botocore reads when first imported.
from common import (  # isort: skip
    CallMeter,
    MotoServer,
    client_settings,
    header,
    median,
    moto_server,
    percentile,
    records,
    signer,
    stub_sns,
    table,
    use_fake_aws,
)

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.config import Config
from support.builders import FakeContext, a_batch

from router.claimcheck import ClaimCheckWriter
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.deadline import Deadline
from router.normalise import EntityRules, to_outbound
from router.observability import configure_logging
from router.publisher import SnsPublisher
from router.settings import Settings

# Runs per batch size: enough for a median; p99 of a handful of runs is their maximum.
RUNS = {10: 10, 100: 5, 1000: 3, 10000: 2}


@dataclass
class Sample:
    """What one approach did over the runs of one batch size."""

    records: int = 0  # records actually sent (a capped run sends a prefix)
    seconds: float = 0.0
    calls: int = 0
    accepted: int = 0
    latencies: list[float] = field(default_factory=list)  # per batch, extrapolated if capped
    extrapolated: bool = False
    client_cpu: float = 0.0  # this process: normalising, botocore, threads
    server_cpu: float = 0.0  # the moto server process


class Hub:
    """A topic on the moto server and a client per approach, each with its own meter.

    Every client has the same configuration (``common.client_settings``).
    """

    def __init__(
        self,
        server: MotoServer,
        latency: float,
        *,
        subscribed: bool = False,
        parameter_validation: bool = True,
        publish_to: MotoServer | None = None,
    ) -> None:
        self.session = boto3.session.Session(region_name="us-east-1")
        self.endpoint = server.url
        # Where the contenders publish (moto, or a stub SNS endpoint) and whose CPU is shown.
        self.server = publish_to or server
        self.config = Config(**client_settings(parameter_validation=parameter_validation))
        sqs = self._client("sqs")
        s3 = self._client("s3")
        name = "bench-subscribed" if subscribed else "bench-stub" if publish_to else "bench"
        self.topic = self._client("sns").create_topic(Name=name)["TopicArn"]
        if subscribed:
            queue = sqs.create_queue(QueueName=f"{name}-consumer")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            self._client("sns").subscribe(
                TopicArn=self.topic,
                Protocol="sqs",
                Endpoint=arn["Attributes"]["QueueArn"],
                Attributes={"RawMessageDelivery": "true"},
            )
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        s3.create_bucket(Bucket=f"{name}-payloads")
        self.settings = Settings.from_env(
            {"TOPIC_ARN": self.topic, "ROUTER_DLQ_URL": dlq, "PAYLOAD_BUCKET": f"{name}-payloads"}
        )
        self.rules = EntityRules()
        self.naive_sns = self._client("sns", self.server.url)
        self.naive_meter = CallMeter(self.naive_sns, latency)
        self.powertools_sns = self._client("sns", self.server.url)
        self.powertools_meter = CallMeter(self.powertools_sns, latency)
        router_sns = self._client("sns", self.server.url)
        self.router_meter = CallMeter(router_sns, latency)
        self.publisher = SnsPublisher(
            router_sns,
            self.topic,
            self.settings.max_message_bytes,
            self.settings.publish_concurrency,
        )
        self.router = Router(
            self.settings,
            self.publisher,
            ClaimCheckWriter(s3, self.settings.payload_bucket),
            DeadLetterWriter(sqs, dlq, s3, self.settings.payload_bucket),
        )
        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def _client(self, service: str, endpoint: str | None = None) -> Any:
        return self.session.client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint or self.endpoint, config=self.config
        )

    # (a) ------------------------------------------------------------------
    def naive(self, event: dict[str, Any]) -> None:
        """One publish per record, in order."""
        for record in event["Records"]:
            out = to_outbound(record, self.rules)
            self.naive_sns.publish(
                TopicArn=self.topic, Message=out.body, MessageAttributes=out.attributes
            )

    # (b) ------------------------------------------------------------------
    def _record_handler(self, record: DynamoDBRecord) -> None:
        out = to_outbound(record.raw_event, self.rules)
        self.powertools_sns.publish(
            TopicArn=self.topic, Message=out.body, MessageAttributes=out.attributes
        )

    def powertools(self, event: dict[str, Any]) -> None:
        """Powertools' documented pattern for a DynamoDB stream with partial failures."""
        response = process_partial_response(
            event=event,
            record_handler=self._record_handler,
            processor=self.processor,
            context=FakeContext(900_000),  # type: ignore[arg-type]
        )
        if response.get("batchItemFailures"):
            raise RuntimeError(f"powertools reported failures: {response}")

    # (c) ------------------------------------------------------------------
    def route(self, event: dict[str, Any]) -> None:
        """The router, as its handler calls it."""
        response = self.router.route(event, Deadline.of(FakeContext(900_000)))
        if response["batchItemFailures"]:
            raise RuntimeError(f"router reported failures: {response}")


def measure(
    hub: Hub,
    approach: Callable[[dict[str, Any]], None],
    meter: CallMeter,
    size: int,
    runs: int,
    item_bytes: int,
    cap: int | None,
) -> Sample:
    """Run ``runs`` batches of ``size`` records (at most ``cap`` of each sent)."""
    sample = Sample()
    meter.reset()
    sent = size if cap is None else min(size, cap)
    for run in range(runs):
        event = a_batch(*records(sent, item_bytes, start=run * size))
        server_cpu, client_cpu = hub.server.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        approach(event)
        seconds = time.perf_counter() - started
        sample.client_cpu += time.process_time() - client_cpu
        sample.server_cpu += hub.server.cpu_seconds() - server_cpu
        sample.records += sent
        sample.seconds += seconds
        sample.latencies.append(seconds * size / sent)
    sample.calls, sample.accepted = meter.calls, meter.accepted
    sample.extrapolated = sent < size
    return sample


def row(name: str, size: int, s: Sample, naive_rate: float | None) -> list[object]:
    """One table row; ``~`` marks figures extrapolated from a prefix of each batch."""
    mark = "~" if s.extrapolated else ""
    rate = s.records / s.seconds
    return [
        f"{size:,}",
        name,
        f"{s.records:,}",
        len(s.latencies),
        f"{mark}{rate:,.0f}",
        f"{s.calls / s.records:.3f}",
        f"{mark}{percentile(s.latencies, 50) * 1000:,.0f}",
        f"{mark}{percentile(s.latencies, 99) * 1000:,.0f}",
        f"{rate / naive_rate:.1f}x" if naive_rate else "",
        f"{s.client_cpu / s.records * 1000:.2f}",
        f"{s.server_cpu / s.records * 1000:.2f}",
        "ok" if s.accepted == s.records else f"{s.accepted}/{s.records} accepted!",
    ]


HEADINGS = [
    "batch",
    "approach",
    "records sent",
    "runs",
    "records/s",
    "SNS calls/record",
    "p50 batch ms",
    "p99 batch ms",
    "vs naive",
    "bench CPU ms/rec",
    "moto CPU ms/rec",
    "SNS accepted",
]


def compare(hub: Hub, sizes: list[int], item_bytes: int, cap: int) -> dict[int, dict[str, Sample]]:
    """All three approaches at each batch size; prints the table."""
    results: dict[int, dict[str, Sample]] = {}
    rows: list[list[object]] = []
    for size in sizes:
        runs = RUNS.get(size, 3)
        by = {
            "naive publish/record": measure(
                hub, hub.naive, hub.naive_meter, size, runs, item_bytes, cap
            ),
            "Powertools BatchProcessor": measure(
                hub, hub.powertools, hub.powertools_meter, size, runs, item_bytes, cap
            ),
            f"router (PublishBatch x{hub.publisher.concurrency})": measure(
                hub, hub.route, hub.router_meter, size, runs, item_bytes, None
            ),
        }
        naive = by["naive publish/record"]
        naive_rate = naive.records / naive.seconds
        rows += [row(name, size, s, naive_rate) for name, s in by.items()]
        results[size] = by
    table(rows, HEADINGS)
    return results


def sweep(hub: Hub, latencies_ms: list[float], size: int, item_bytes: int, cap: int) -> None:
    """The naive loop and the router at one batch size over a range of round-trip times."""
    rows: list[list[object]] = []
    for latency_ms in latencies_ms:
        for meter in (hub.naive_meter, hub.router_meter):
            meter.latency = latency_ms / 1000
        naive = measure(hub, hub.naive, hub.naive_meter, size, 1, item_bytes, cap)
        routed = [
            measure(hub, hub.route, hub.router_meter, size, 1, item_bytes, None) for _ in range(3)
        ]
        naive_rate = naive.records / naive.seconds
        router_rate = median([s.records / s.seconds for s in routed])
        rows.append(
            [
                f"{latency_ms:g}",
                f"{'~' if naive.extrapolated else ''}{naive_rate:,.0f}",
                f"{router_rate:,.0f}",
                f"{router_rate / naive_rate:.1f}x",
                f"{median([s.latencies[0] for s in routed]) * 1000:,.0f}",
            ]
        )
    table(
        rows,
        ["latency ms", "naive records/s", "router records/s", "router/naive", "router batch ms"],
    )


def run(
    latency_ms: float = 10.0,
    sizes: list[int] | None = None,
    item_bytes: int = 1024,
    cap: int = 200,
    *,
    subscribed: bool = True,
    sweep_ms: list[float] | None = None,
    parameter_validation: bool = True,
    stub: bool = True,
) -> dict[int, dict[str, Sample]]:
    """Every router table; returns the main comparison for the summary."""
    sizes = sizes or [10, 100, 1000, 10000]
    configure_logging("WARNING")
    use_fake_aws()
    envelope = to_outbound(records(1, item_bytes)[0], EntityRules())
    with moto_server() as server:
        hub = Hub(server, latency_ms / 1000, parameter_validation=parameter_validation)
        header(f"Router throughput, {latency_ms:g} ms injected per SNS request, no subscription")
        print(
            f"# item ~{item_bytes} B per image (NEW_AND_OLD_IMAGES: envelope {envelope.size} B); "
            f"naive and Powertools send at most {cap} records per batch, '~' = extrapolated"
        )
        print(
            f"# every client: {client_settings(parameter_validation=parameter_validation)}; "
            f"signing: {signer()}"
        )
        results = compare(hub, sizes, item_bytes, cap)
        print("# targets: router >= 20x naive at 1,000 records; <= 0.1 SNS calls/record at 1 KB")
        if subscribed:
            header(
                f"Same, with one SQS subscription on the topic (moto fans out), {latency_ms:g} ms"
            )
            # 100, not 1,000: moto's PublishBatch fan-out costs ~80 ms of server CPU per record.
            subscribed_hub = Hub(
                server,
                latency_ms / 1000,
                subscribed=True,
                parameter_validation=parameter_validation,
            )
            compare(subscribed_hub, [100], item_bytes, cap)
        if sweep_ms:
            header("Latency sweep, 1,000 records, no subscription")
            sweep(hub, sweep_ms, 1000, item_bytes, min(cap, 100))
        if stub:
            with stub_sns() as endpoint:
                header(
                    f"Same, publishing to a stub SNS endpoint that does no work, {latency_ms:g} ms"
                )
                print("# 'moto CPU' is the stub's CPU here; HTTP keep-alive, like SNS's endpoint")
                stub_hub = Hub(
                    server,
                    latency_ms / 1000,
                    parameter_validation=parameter_validation,
                    publish_to=endpoint,
                )
                compare(stub_hub, [s for s in sizes if s >= 1000] or sizes[-1:], item_bytes, cap)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--records", type=int, help="a single batch size (same as --sizes N)")
    parser.add_argument("--item-bytes", type=int, default=1024)
    parser.add_argument("--per-record-cap", type=int, default=200)
    parser.add_argument("--no-subscribed", action="store_true")
    parser.add_argument("--sweep-ms", default="0,10,50")
    parser.add_argument("--no-stub", action="store_true", help="skip the stub SNS endpoint run")
    parser.add_argument(
        "--no-parameter-validation",
        action="store_true",
        help="every client with botocore Config(parameter_validation=False)",
    )
    args = parser.parse_args()
    sizes = [args.records] if args.records else [int(s) for s in args.sizes.split(",")]
    run(
        args.latency_ms,
        sizes,
        args.item_bytes,
        args.per_record_cap,
        subscribed=not args.no_subscribed,
        sweep_ms=[float(s) for s in args.sweep_ms.split(",") if s],
        parameter_validation=not args.no_parameter_validation,
        stub=not args.no_stub,
    )


if __name__ == "__main__":
    main()
