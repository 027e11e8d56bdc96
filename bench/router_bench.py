"""Router benchmark: PublishBatch packing versus one ``sns.publish`` per record.

Both run in the same process, against the same moto server (a separate process),
with the same fixed latency added to every SNS request, so the ratio is measured
side by side. Prints SNS calls per record and wall time for each.

    make bench            # or: uv run python bench/router_bench.py --records 1000 --latency-ms 10
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.builders import FakeContext, a_batch, a_stream_record

from router.claimcheck import ClaimCheck
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.deadline import Deadline
from router.normalise import EntityRules, to_outbound
from router.observability import configure_logging
from router.publisher import SnsPublisher
from router.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class CallMeter:
    """Counts SNS requests and adds a fixed latency to each, like a network round trip."""

    def __init__(self, client: Any, latency: float) -> None:
        self.calls = 0
        self.accepted = 0
        self.latency = latency
        client.meta.events.register("before-send.sns.*", self._before_send)
        client.meta.events.register("after-call.sns.*", self._after_call)

    def _before_send(self, **_: Any) -> None:
        self.calls += 1
        time.sleep(self.latency)

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        # Messages SNS accepted: one MessageId per Publish, one per Successful batch entry.
        self.accepted += len(parsed.get("Successful", [])) + (1 if "MessageId" in parsed else 0)


def records(n: int, item_bytes: int) -> list[dict[str, Any]]:
    pad = "x" * max(0, item_bytes - 200)
    return [
        a_stream_record(
            "MODIFY",
            keys={"pk": f"ORDER#{i}", "sk": "META"},
            new={"pk": f"ORDER#{i}", "sk": "META", "status": "SHIPPED", "total": i, "note": pad},
            old={"pk": f"ORDER#{i}", "sk": "META", "status": "PLACED", "total": i, "note": pad},
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--item-bytes", type=int, default=1024)
    args = parser.parse_args()
    configure_logging("WARNING")
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's fake credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_XRAY_SDK_ENABLED="false",
    )
    batch = a_batch(*records(args.records, args.item_bytes))
    outbounds = [to_outbound(r, EntityRules()) for r in batch["Records"]]
    avg = sum(o.size for o in outbounds) / len(outbounds)

    with moto_server() as endpoint:
        session = boto3.session.Session(region_name="us-east-1")
        sns = session.client("sns", endpoint_url=endpoint)
        sqs = session.client("sqs", endpoint_url=endpoint)
        s3 = session.client("s3", endpoint_url=endpoint)
        topic = sns.create_topic(Name="bench")["TopicArn"]
        # No subscription: the benchmark measures the publisher's side of the wire, not
        # moto's in-process fan-out to SQS (which real SNS does on its own fleet).
        dlq = sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
        s3.create_bucket(Bucket="bench-payloads")
        settings = Settings.from_env(
            {"TOPIC_ARN": topic, "ROUTER_DLQ_URL": dlq, "PAYLOAD_BUCKET": "bench-payloads"}
        )

        # (a) the naive loop: one publish per record.
        naive_sns = session.client("sns", endpoint_url=endpoint)
        naive_meter = CallMeter(naive_sns, args.latency_ms / 1000)
        started = time.perf_counter()
        for out in outbounds:
            naive_sns.publish(TopicArn=topic, Message=out.body, MessageAttributes=out.attributes)  # type: ignore[arg-type]
        naive_s = time.perf_counter() - started

        # (b) the router: PublishBatch, packed by size, parallel calls.
        router_sns = session.client("sns", endpoint_url=endpoint)
        router_meter = CallMeter(router_sns, args.latency_ms / 1000)
        router = Router(
            settings,
            SnsPublisher(
                router_sns, topic, settings.max_message_bytes, settings.publish_concurrency
            ),
            ClaimCheck(s3, settings.payload_bucket),
            DeadLetterWriter(sqs, dlq, s3, settings.payload_bucket),
        )
        started = time.perf_counter()
        response = router.route(batch, Deadline.of(FakeContext(900_000)))
        router_s = time.perf_counter() - started

    n = args.records
    print(
        f"# router benchmark — {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"records={n} avg_message_bytes={avg:.0f} injected_latency_ms={args.latency_ms:g} (per SNS request)"
    )
    print(
        f"{'approach':<28}{'sns_calls':>10}{'calls/record':>14}{'wall_s':>10}{'records/s':>12}{'accepted':>10}"
    )
    for name, meter, secs in (
        ("naive publish per record", naive_meter, naive_s),
        ("router PublishBatch x8", router_meter, router_s),
    ):
        print(
            f"{name:<28}{meter.calls:>10}{meter.calls / n:>14.3f}{secs:>10.2f}{n / secs:>12.0f}{meter.accepted:>10}"
        )
    print(
        f"speedup={naive_s / router_s:.1f}x  unreported_failures={len(response['batchItemFailures'])}"
    )


if __name__ == "__main__":
    main()
