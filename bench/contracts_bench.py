"""CPU cost of item contracts on the router, per record: an entity without a contract beside one with.

The real ``Router.route`` (normalise, contract check, claim-check size, the real
``SnsPublisher`` packing ``PublishBatch`` calls) against an SNS client that accepts every
entry at once: no network, no SDK, so the figures are the router's own CPU. Batches of
100 records (the stream mapping's BatchSize in template.yaml), logs rendered as in Lambda
(JSON at INFO) into /dev/null. The cases run interleaved in one process, round after
round, and each figure is the median of the rounds' CPU time (``time.process_time``)
per record; a pure-Python yardstick is timed in the same rounds, since this shared VM's
speed moves by 2-3x over a day (compare rows of one run, not runs):

- ``no contracts``: the router as it was, with no contract loaded at all;
- ``no contract for the entity``: contracts loaded (``order``), records of ``customer``;
- ``contract, observe``: ``order`` records whose items match their contract;
- ``contract, observe, breaking``: ``order`` records whose every item breaks it twice
  (each is checked, then checked again field by field, logged and counted).

A second table times the check alone (``ContractCheck.violations`` on one envelope).

    uv run python bench/contracts_bench.py [--rounds 15] [--batches 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Any

from common import header, median, table
from support.builders import a_batch, a_stream_record, an_order
from support.router_doubles import (
    BUCKET,
    DLQ_URL,
    ROUTE_SECONDS,
    TOPIC_ARN,
    MemoryS3,
    MemorySqs,
)

from hubcommon.logs import configure_logging
from router.claimcheck import ClaimCheckWriter
from router.contracts import Contracts, contract_modes
from router.core import Router
from router.deadletter import DeadLetterWriter
from router.deadline import Deadline
from router.normalise import EntityRules, to_outbound
from router.publisher import SnsPublisher
from router.settings import Settings

BATCH = 100
PAD = "x" * 600  # about 1 KB per item, the other benchmarks' size


def orders(n: int, *, breaking: bool = False) -> list[dict[str, Any]]:
    """``n`` order INSERTs (about 1 KB each), matching their contract unless ``breaking``."""
    fields: dict[str, Any] = {"status": "lost", "lines": None} if breaking else {}
    return [
        a_stream_record(
            keys={"pk": f"ORDER#{i}", "sk": "ORDER"},
            new=an_order(i, note=PAD, **fields),
        )
        for i in range(1, n + 1)
    ]


def customers(n: int) -> list[dict[str, Any]]:
    """``n`` customer INSERTs of the same size: an entity without a contract."""
    return [
        a_stream_record(
            keys={"pk": f"CUSTOMER#{i}", "sk": "PROFILE"},
            new={
                "pk": f"CUSTOMER#{i}",
                "sk": "PROFILE",
                "name": "Jane",
                "tier": "gold",
                "note": PAD,
            },
        )
        for i in range(1, n + 1)
    ]


class AcceptingSns:
    """PublishBatch that accepts every entry, at no cost beyond the call."""

    def publish_batch(self, **call: Any) -> Any:
        entries = call["PublishBatchRequestEntries"]
        return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}


def a_router(mode: str | None) -> Router:
    """The real router; ``mode`` None loads no contract (the router as it was)."""
    settings = Settings(
        topic_arn=TOPIC_ARN,
        dlq_url=DLQ_URL,
        payload_bucket=BUCKET,
        **({} if mode is None else {"contract_modes": contract_modes(mode)}),
    )
    s3 = MemoryS3()
    return Router(
        settings,
        SnsPublisher(AcceptingSns(), TOPIC_ARN, settings.max_message_bytes, concurrency=1),  # type: ignore[arg-type]
        ClaimCheckWriter(s3, BUCKET),  # type: ignore[arg-type]
        DeadLetterWriter(MemorySqs(), DLQ_URL, s3, BUCKET),  # type: ignore[arg-type]
        None if mode is None else Contracts.shipped(settings.contract_modes),
        lambda _: None,
    )


def per_record_us(router: Router, batches: list[dict[str, Any]]) -> float:
    """CPU µs per record of routing ``batches``."""
    records = sum(len(b["Records"]) for b in batches)
    started = time.process_time()
    for batch in batches:
        router.route(batch, Deadline.after(ROUTE_SECONDS), {"request_id": "bench"})
    return (time.process_time() - started) / records * 1e6


def yardstick_us() -> float:
    started = time.process_time()
    for _ in range(2000):
        sum(range(100))
    return (time.process_time() - started) / 2000 * 1e6


def check_alone_us(rounds: int) -> list[list[object]]:
    """CPU µs of ``ContractCheck.violations`` on one order envelope, matching and breaking."""
    check = Contracts.shipped().get("order")
    if check is None:
        raise SystemExit("the order contract is not exported: run make schemas")
    rows: list[list[object]] = []
    for label, record in (
        ("matching", orders(1)[0]),
        ("breaking (two fields)", orders(1, breaking=True)[0]),
    ):
        body = to_outbound(record, EntityRules()).body
        check.violations(body)  # compile first: once per container
        samples = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(1000):
                check.violations(body)
            samples.append((time.process_time() - started) / 1000 * 1e6)
        rows.append([label, len(body), f"{median(samples):.1f}", f"{min(samples):.1f}"])
    return rows


def run(rounds: int = 15, batches: int = 10) -> None:
    header("Item contracts: router CPU per record")
    n = BATCH * batches

    def batched(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a_batch(*records[i : i + BATCH]) for i in range(0, len(records), BATCH)]

    # (records, router): each case's "vs" is against the first case of the same records.
    cases: dict[str, tuple[str, Router, list[dict[str, Any]]]] = {
        "customer, no contracts loaded": ("customer", a_router(None), batched(customers(n))),
        "customer, no contract for the entity": (
            "customer",
            a_router("observe"),
            batched(customers(n)),
        ),
        "order, no contracts loaded": ("order", a_router(None), batched(orders(n))),
        "order, contract, observe": ("order", a_router("observe"), batched(orders(n))),
        "order (breaking), no contracts loaded": (
            "breaking",
            a_router(None),
            batched(orders(n, breaking=True)),
        ),
        "order (breaking), contract, observe": (
            "breaking",
            a_router("observe"),
            batched(orders(n, breaking=True)),
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    yardstick: list[float] = []
    configure_logging("INFO")
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # noqa: PTH123
        for _, router, work in cases.values():
            per_record_us(router, work[:1])  # warm: the first order compiles its validator
        for _ in range(rounds):
            yardstick.append(yardstick_us())
            for name, (_, router, work) in cases.items():
                samples[name].append(per_record_us(router, work))
    base: dict[str, float] = {}
    rows: list[list[object]] = []
    for name, values in samples.items():
        kind = cases[name][0]
        base.setdefault(kind, median(values))
        rows.append(
            [
                name,
                n,
                rounds,
                f"{median(values):.1f}",
                f"{min(values):.1f}",
                f"{median(values) - base[kind]:+.1f}",
            ]
        )
    table(
        rows,
        [
            "case",
            "records/round",
            "rounds",
            "CPU µs/record (median)",
            "CPU µs (best)",
            "vs no contracts loaded",
        ],
    )
    print(f"# yardstick sum(range(100)): {median(yardstick):.2f} µs (median)")
    print("\n### The check alone: ContractCheck.violations on one envelope\n")
    table(
        check_alone_us(rounds), ["order item", "envelope bytes", "CPU µs (median)", "CPU µs (best)"]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", type=int, default=10, help="batches of 100 records per round")
    args = parser.parse_args(argv)
    run(args.rounds, args.batches)


if __name__ == "__main__":
    main()
