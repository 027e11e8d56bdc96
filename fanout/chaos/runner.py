"""The chaos run: start the local hub under faults, write the workload, wait, check, account."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from fanout.chaos.certificates import trusting
from fanout.chaos.checks import Checks
from fanout.chaos.receiver import WebhookReceiver
from fanout.chaos.report import ledger_lines
from fanout.chaos.workload import Mix, Workload, plan_operations, write_workload
from fanout.connection import queue_url_of
from fanout.local.demo import plain_line, stats
from fanout.local.esm import EmulatorSettings
from fanout.local.faults import (
    DeleteFaults,
    FaultPlan,
    FaultRates,
    FaultyInvoker,
    faulted_function_clients,
    sqs_copier,
)
from fanout.local.hub import LOCAL_SECRET_PREFIX, LocalHub
from fanout.local.ledger import Row, Subscriber, account, balanced
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings

WEBHOOK_SECRET: Final = "chaos-run-webhook-secret"  # noqa: S105 - a local receiver's test key
# Rates the test and the script use unless told otherwise.
DEFAULT_RATES: Final = FaultRates(
    publish_entry_failed=0.1,
    publish_throttled=0.1,
    sqs_send_failed=0.3,
    sqs_delete_failed=0.1,
    handler_timeout=0.1,
    consumer_error=0.1,
    consumer_error_after=0.05,
    crash_mid_batch=0.1,
    duplicate_message=0.1,
    redeliver_stream_batch=0.2,
    webhook_unavailable=0.1,
)

# Handler logs are kept in memory (for a failing test to show) only for small runs.
KEEP_LOGS_UP_TO: Final = 5_000
# A long run reports progress this often (seconds), and checks its backlog this often.
PROGRESS_EVERY: Final = 60.0
THROTTLE_POLL_SECONDS: Final = 1.0


# ---------------------------------------------------------------- the run
@dataclass
class ChaosResult:
    """Everything a run found; ``ok`` when every check passed."""

    size: int
    seed: int
    rates: FaultRates
    seconds: float
    quiet: bool
    rows: list[Row]
    problems: dict[str, list[str]]  # check name -> what it found wrong
    ledger: list[str]
    injected: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # per check: what it counted

    @property
    def ok(self) -> bool:
        """The hub went quiet, every record is accounted for, every check passed."""
        return self.quiet and balanced(self.rows) and not any(self.problems.values())


def run_chaos(
    size: int,
    seed: int,
    rates: FaultRates = DEFAULT_RATES,
    *,
    mix: Mix | None = None,
    max_faults_per_item: int = 3,
    timeout: float = 600.0,
    chunk: int | None = None,
    backlog: int | None = None,
    moto_process: bool = False,
    visibility_seconds: int | None = None,
    say: Callable[[str], None] = print,
) -> ChaosResult:
    """Run ``size`` stream records through the local hub under faults; check and account.

    ``chunk``: write that many records at a time. With ``backlog`` None the hub
    drains (goes quiet) after each chunk; with a number, the next chunk is
    written as soon as at most that many messages and stream records are in
    flight, so the hub never idles between chunks. Either way the backlog stays
    bounded: every queue scan in moto is linear in the queue's length, and a
    long queue slows every call, invocations included.

    ``moto_process``: run moto in a child process, so that its work and the
    handlers' run on two cores instead of sharing one interpreter lock.

    ``visibility_seconds``: the consumer queues' visibility timeout for this run
    (never below a function's timeout, as the template requires). A message
    whose batch the emulator itself lost (a poller error) reappears after that
    long instead of the template's 6 x timeout.
    """
    started = time.monotonic()
    plan = FaultPlan(seed, rates, max_faults_per_item=max_faults_per_item)
    webhook_function: list[str] = []
    receiver = WebhookReceiver(
        plan, lambda: webhook_function[0] if webhook_function else "", WEBHOOK_SECRET
    ).start()
    # Lambda's own stream pace (four GetRecords a second): faster polling only adds moto
    # requests, as the router's batching window (1 s) holds records longer than that anyway.
    settings = EmulatorSettings(
        stream=StreamSettings(),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    hub = LocalHub(
        parameters={
            "WebhookUrls": ",".join(receiver.urls),
            "WebhookSecretArn": f"{LOCAL_SECRET_PREFIX}{WEBHOOK_SECRET}",
        },
        settings=settings,
        handler_output=io.StringIO() if size <= KEEP_LOGS_UP_TO else _Discard(),
        start_emulator=False,
        moto_process=moto_process,
    )
    try:
        with trusting(receiver.cert_path), faulted_function_clients(plan), hub:
            sqs = hub.clients.client("sqs")
            invoker = FaultyInvoker(
                hub.emulator.invoker,
                plan,
                send_copy=sqs_copier(sqs, lambda arn: queue_url_of(sqs, arn)),
            )
            DeleteFaults(plan, invoker.receipts).attach(sqs)
            hub.emulator.invoker = invoker
            subscribers = hub.subscribers()
            webhook_function.extend(s.function for s in subscribers if s.label == "webhook")
            if visibility_seconds is not None:
                _shorten_visibility(hub, subscribers, visibility_seconds)
            hub.emulator.start()
            up = time.monotonic()
            say(f"hub up in {up - started:.1f} s; writing {size} records")
            operations = plan_operations(size, seed, mix or Mix())
            step = chunk or len(operations) or 1
            workload = Workload()
            quiet, written = _write_paced(
                hub, subscribers, operations, workload, step, backlog, up + timeout, say
            )
            drained = time.monotonic()
            say(f"last write at {written - started:.1f} s, quiet after {drained - written:.1f} s")
            sources = hub.sources(workload.injected, workload.ttl_keys)
            evidence = hub.evidence(subscribers)
            rows = account(sources, subscribers, evidence)
            checks = Checks(hub, sources, rows, plan, receiver)
            problems = checks.run()
            labels = {s.function: s.label for s in subscribers}
            labels[hub.deployment.router.name] = "router"
            seconds = time.monotonic() - started
            ledger = ledger_lines(
                size, seed, rates, seconds, workload, rows, checks, plan, hub, quiet
            )
            names = sorted(invoker.invocations, key=lambda n: labels.get(n, n))
            pacing = f"chunks of {step}" + (
                "" if backlog is None else f", next chunk once <= {backlog} in flight"
            )
            ledger.insert(
                1,
                f"phases: hub up {up - started:.1f} s, writes and drains {drained - up:.1f} s "
                f"({pacing}), checks {time.monotonic() - drained:.1f} s; "
                "handler runs (seconds inside): "
                + ", ".join(
                    f"{labels.get(name, name)}={invoker.invocations[name]} "
                    f"({invoker.busy_seconds[name]:.0f} s)"
                    for name in names
                )
                + f"; emulator poller errors={len(hub.emulator.errors)}",
            )
    finally:
        receiver.stop()
    return ChaosResult(
        size,
        seed,
        rates,
        seconds,
        quiet,
        rows,
        problems,
        ledger,
        dict(plan.injected),
        checks.figures,
    )


def _write_paced(
    hub: LocalHub,
    subscribers: Sequence[Subscriber],
    operations: Sequence[tuple[str, int]],
    workload: Workload,
    step: int,
    backlog: int | None,
    deadline: float,
    say: Callable[[str], None],
) -> tuple[bool, float]:
    """Write ``operations`` ``step`` at a time, paced by ``backlog``, then drain.

    Returns whether the hub went quiet every time it had to, and when the last write was.
    """
    up = written = time.monotonic()
    quiet = True
    report_at = up + PROGRESS_EVERY
    for first in range(0, len(operations), step):
        if first and backlog is not None:
            quiet = _throttle(hub, subscribers, backlog, deadline) and quiet
        write_workload(hub, operations[first : first + step], workload)
        written = time.monotonic()
        done = min(first + step, len(operations))
        if backlog is None and done < len(operations):
            quiet = _drain(hub, subscribers, deadline - time.monotonic(), say) and quiet
            say(f"{done} records written and drained")
        elif time.monotonic() >= report_at:
            report_at = time.monotonic() + PROGRESS_EVERY
            say(
                f"{done} records written in {written - up:.0f} s "
                f"({done / max(written - up, 1e-9):.1f} records/s); "
                + "; ".join(plain_line(row) for row in stats(hub, subscribers))
            )
    quiet = _drain(hub, subscribers, deadline - time.monotonic(), say) and quiet
    return quiet, written


def _shorten_visibility(hub: LocalHub, subscribers: Sequence[Subscriber], seconds: int) -> None:
    """Set each consumer queue's visibility timeout, kept above its function's timeout."""
    sqs = hub.clients.client("sqs")
    for subscriber in subscribers:
        function = hub.deployment.function(subscriber.function)
        floor = int(function.timeout_seconds) + 1
        sqs.set_queue_attributes(
            QueueUrl=subscriber.queue_url,
            Attributes={"VisibilityTimeout": str(max(seconds, floor))},
        )


def in_flight(hub: LocalHub, subscribers: Sequence[Subscriber]) -> int:
    """Stream records read but unresolved, plus messages queued or in flight on every queue."""
    return hub.emulator.stream_backlog() + sum(hub.depth(s.queue_url) for s in subscribers)


def _throttle(
    hub: LocalHub, subscribers: Sequence[Subscriber], backlog: int, deadline: float
) -> bool:
    """Wait until at most ``backlog`` records and messages are in flight; False at the deadline."""
    while in_flight(hub, subscribers) > backlog:
        if time.monotonic() > deadline:
            return False
        time.sleep(THROTTLE_POLL_SECONDS)
    return True


def _drain(
    hub: LocalHub,
    subscribers: Sequence[Subscriber],
    timeout: float,
    say: Callable[[str], None],
    every: float = 60.0,
) -> bool:
    """Wait until the hub is quiet, reporting progress every ``every`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if hub.wait_until_quiet(timeout=min(every, left)):
            return True
        say("draining: " + "; ".join(plain_line(row) for row in stats(hub, subscribers)))
    return False


class _Discard(io.StringIO):
    """Handler logs of a big run: not kept (they would hold every line in memory)."""

    def write(self, text: str) -> int:
        return len(text)
