"""End-to-end latency on the local hub: table write -> consumer handler, p50/p99.

Starts the whole hub in this process (embedded moto server, ``template.yaml``,
the event-source-mapping emulator, the real handlers), as ``fanout local up``
does. Each update carries the wall-clock time it was written (``written_at``);
an observer on the emulator takes the time each consumer's handler is handed
the message (the ``delivered`` fact, just before the invocation) and reads
``written_at`` back from the envelope. Only first deliveries count.

Updates match the audit-log and projection consumers' filter policies, not the
webhook's (which, in the demo parameters, points at a closed port). The
template's batching windows (router and consumers: ``MaximumBatchingWindowInSeconds``
1 s each by default) and the stream poll interval (4 per second, as Lambda) are
kept, so the figure is what a deployed hub with these settings would add on top
of AWS's own delivery times, not a minimum.

    uv run python bench/e2e_bench.py [--items 40] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from common import header, percentile, table, use_fake_aws

from fanout.local.demo import parameters_for_demo
from fanout.local.hub import LocalHub
from fanout.local.observe import BatchEvent, InvocationOutcome


class Latencies:
    """An emulator observer: write -> handler latency per consumer function."""

    def __init__(self) -> None:
        self.by_function: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: BatchEvent) -> None:
        """Record the first delivery of every message carrying ``written_at``."""
        if event.outcome is not InvocationOutcome.DELIVERED or not event.bodies:
            return
        seen = time.time()
        for body, receives in zip(event.bodies, event.receive_counts, strict=False):
            if receives != 1:
                continue
            written = _written_at(body)
            if written is not None:
                with self._lock:
                    self.by_function.setdefault(event.function, []).append(seen - written)

    def count(self) -> int:
        """Latencies recorded so far, all consumers."""
        with self._lock:
            return sum(len(v) for v in self.by_function.values())


def _written_at(body: str) -> float | None:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    new = (envelope.get("data") or {}).get("new") or {}
    value = new.get("written_at") if isinstance(new, Mapping) else None
    return float(value) if value is not None else None


def run(items: int = 40, interval: float = 0.25, timeout: float = 120.0) -> dict[str, float]:
    """Write ``items`` updates ``interval`` seconds apart; print p50/p99 per consumer."""
    use_fake_aws()
    latencies = Latencies()
    hub = LocalHub(
        parameters=parameters_for_demo({}), observer=latencies, handler_output=io.StringIO()
    )
    with hub:
        ddb = hub.clients.client("dynamodb")
        keys = [
            k["AttributeName"]
            for k in ddb.describe_table(TableName=hub.table_name)["Table"]["KeySchema"]
        ]

        def key(i: int) -> dict[str, Any]:
            return {name: {"S": f"ORDER#{i}" if n == 0 else "ORDER"} for n, name in enumerate(keys)}

        # The items exist first (their "created" events also go to the webhook); then the
        # measured updates.
        for i in range(items):
            ddb.put_item(TableName=hub.table_name, Item={**key(i), "status": {"S": "placed"}})
        hub.wait_until_quiet(timeout=timeout)
        consumers = {s.function: s.name for s in hub.subscribers() if "webhook" not in s.name}
        header("End-to-end latency on the local hub: write -> consumer handler")
        for i in range(items):
            ddb.update_item(
                TableName=hub.table_name,
                Key=key(i),
                UpdateExpression="SET #s = :s, written_at = :t",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "paid"}, ":t": {"N": f"{time.time():.6f}"}},
            )
            time.sleep(interval)  # pacing the workload, not waiting for a result
        deadline = time.monotonic() + timeout
        while latencies.count() < items * len(consumers) and time.monotonic() < deadline:
            time.sleep(0.1)
    rows = []
    results: dict[str, float] = {}
    for function, name in consumers.items():
        values = latencies.by_function.get(function, [])
        results[name] = percentile(values, 50)
        rows.append(
            [
                name,
                f"{len(values)}/{items}",
                f"{percentile(values, 50) * 1000:,.0f}",
                f"{percentile(values, 99) * 1000:,.0f}",
                f"{min(values, default=float('nan')) * 1000:,.0f}",
            ]
        )
    print(
        f"# {items} updates, one every {interval:g} s; template batching windows kept "
        "(router 1 s, consumers 1 s), stream polled 4x/s"
    )
    table(rows, ["consumer", "seen", "p50 ms", "p99 ms", "min ms"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    run(args.items, args.interval)


if __name__ == "__main__":
    main()
