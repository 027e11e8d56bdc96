"""The chaos run's printed ledger: workload, faults, router and per-consumer accounting, verdict."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from fanout.chaos.checks import Checks
from fanout.chaos.workload import Workload
from fanout.local.faults import FaultPlan, FaultRates
from fanout.local.hub import LocalHub
from fanout.local.ledger import Row, Status, balanced, envelope_id_of, totals
from fanout.local.observe import InvocationOutcome


def _deliveries(hub: LocalHub, function: str) -> tuple[int, int]:
    """(messages handed to the function, successes beyond the first per event)."""
    delivered = hub.log.count(InvocationOutcome.DELIVERED, function)
    per_event: Counter[str] = Counter()
    for event in hub.log.events:
        if event.outcome is InvocationOutcome.SUCCEEDED and event.function == function:
            per_event.update(filter(None, (envelope_id_of(b) for b in event.bodies)))
    return delivered, sum(n - 1 for n in per_event.values())


def ledger_lines(
    size: int,
    seed: int,
    rates: FaultRates,
    seconds: float,
    workload: Workload,
    rows: Sequence[Row],
    checks: Checks,
    plan: FaultPlan,
    hub: LocalHub,
    quiet: bool,  # noqa: FBT001 - a plain fact for the ledger
) -> list[str]:
    """The printed ledger: workload, faults, router and per-consumer accounting, verdict."""
    lines = [
        (
            f"chaos run: {size} records, seed {seed}, {seconds:.1f} s "
            f"({seconds / max(size, 1) * 1000:.1f} ms per record), quiet={quiet}"
        ),
        "workload: " + ", ".join(f"{k}={n}" for k, n in sorted(workload.counts.items())),
        f"fault rates: {rates.describe()} (at most {plan.max_faults_per_item} per item per function)",
        "faults injected: "
        + (", ".join(f"{k}={n}" for k, n in sorted(plan.injected.items())) or "none"),
    ]
    router = checks.figures.get("router", {})
    router_function = hub.deployment.router.name
    invocations = hub.log.count(InvocationOutcome.DELIVERED, router_function)
    lines.append(
        f"router: records in={router.get('records_in')} = published={router.get('published')} "
        f"+ router DLQ={router.get('router_dlq')} (failed-batch store={router.get('failed_batches')}); "
        f"PublishBatch entries accepted={router.get('published_entries')} "
        f"(re-published duplicates={router.get('published_entries', 0) - router.get('published', 0)}); "
        f"records handed to the router={invocations}"
    )
    per_consumer: dict[str, Counter[Status]] = defaultdict(Counter)
    for row in rows:
        per_consumer[row.consumer][row.status] += 1
    for subscriber in hub.subscribers():
        counts = per_consumer.get(subscriber.label, Counter())
        delivered, duplicates = _deliveries(hub, subscriber.function)
        reasons = Counter(
            r.reason[:60]
            for r in rows
            if r.consumer == subscriber.label and r.status is Status.CONSUMER_DLQ
        )
        extra = checks.figures.get(subscriber.label, {})
        lines.append(
            f"{subscriber.label}: expected={sum(counts.values())} "
            f"processed={counts[Status.PROCESSED]} in DLQ={counts[Status.CONSUMER_DLQ]} "
            f"missing={counts[Status.MISSING]} unexpected={counts[Status.UNEXPECTED]}; "
            f"messages delivered={delivered}, duplicate successes absorbed={duplicates}"
            + (f"; {extra}" if extra else "")
            + (f"; DLQ reasons: {dict(reasons)}" if reasons else "")
        )
    summary = ", ".join(f"{status}={n}" for status, n in sorted(totals(rows).items()))
    lines.append(f"rows: {summary}")
    problems = [f"{name}: {p}" for name, found in checks.problems.items() for p in found]
    if problems:
        lines.append(f"NOT OK: {len(problems)} problem(s)")
        lines.extend(f"  - {p}" for p in problems)
    elif quiet and balanced(rows):
        lines.append("OK: nothing lost, every effect exactly once, the read model equals the table")
    else:
        lines.append("NOT OK: the hub did not go quiet" if not quiet else "NOT OK: not balanced")
    return lines
