"""A FIFO hub (``FifoMode=true``) on the local hub: per-item order across a consumer failure and its retry.

Several updates to each of a few items are written to the table while the
audit-log consumer's first side-effect write fails once. On a FIFO queue the
consumer runtime then returns that message and every later one of its batch
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), SQS
holds back the rest of each message group until they are gone, and the router
publishes each item in its own message group. One run for the module; each test
asserts one thing a user of FIFO mode relies on.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

import pytest
from support.fifo import CompletedMessages, FailOnceBeforeLaterUpdates

from fanout.local.demo import Table
from fanout.local.esm import EmulatorSettings
from fanout.local.faults import FaultyInvoker, faulted_function_clients
from fanout.local.hub import LocalHub
from fanout.local.ledger import Row, Status, Subscriber, account, balanced
from fanout.local.observe import InvocationOutcome
from fanout.local.queues import QueueSettings
from fanout.local.records import sequence_of
from fanout.local.streams import StreamSettings

pytestmark = pytest.mark.e2e

ITEMS = ("ORDER#1", "ORDER#2", "ORDER#3")
UPDATES = 4  # writes per item: one put, then updates


class FifoRun:
    """What one FIFO run left behind."""

    def __init__(
        self,
        hub: LocalHub,
        quiet: bool,
        plan: FailOnceBeforeLaterUpdates,
        completed: CompletedMessages,
        subscribers: list[Subscriber],
        rows: list[Row],
        stream: dict[str, list[int]],
    ) -> None:
        self.hub = hub
        self.quiet = quiet
        self.plan = plan
        self.completed = completed
        self.subscribers = subscribers
        self.rows = rows
        self.stream = stream  # subject -> the item's stream sequence numbers, in stream order

    def seen(self, consumer: str) -> dict[str, list[int]]:
        """Per item, the sequences ``consumer`` completed, in the order it completed them."""
        function = next(s.function for s in self.subscribers if s.name == consumer)
        by_item: dict[str, list[int]] = defaultdict(list)
        for envelope in self.completed.envelopes(function):
            by_item[envelope["subject"]].append(int(envelope["sequence"]))
        return dict(by_item)


@pytest.fixture(scope="module")
def run() -> Any:
    settings = EmulatorSettings(
        stream=StreamSettings(poll_interval_seconds=0.05),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    hub = LocalHub(
        parameters={"FifoMode": "true"},
        settings=settings,
        handler_output=io.StringIO(),
        start_emulator=False,
    )
    plan = FailOnceBeforeLaterUpdates()
    with faulted_function_clients(plan), hub:
        completed = CompletedMessages(FaultyInvoker(hub.emulator.invoker, plan), plan)
        hub.emulator.invoker = completed
        subscribers = hub.subscribers()
        plan.function = next(s.function for s in subscribers if s.name == "audit-log")
        table = Table(hub)
        # Interleaved, and on the stream before the router starts reading it, so the
        # consumers' batches hold several items and several updates of an item.
        for version in range(UPDATES):
            for pk in ITEMS:
                if version == 0:
                    table.put(pk, "ORDER", status="new", version=version)
                else:
                    table.update(pk, "ORDER", status=f"step-{version}", version=version)
        hub.emulator.start()
        quiet = hub.wait_until_quiet(timeout=45)
        stream: dict[str, list[int]] = defaultdict(list)
        for record in hub.read_stream():
            pk = record["dynamodb"]["Keys"]["pk"]["S"]
            stream[pk].append(int(sequence_of(record)))
        rows = account(hub.sources(), subscribers, hub.evidence(subscribers))
        yield FifoRun(hub, quiet, plan, completed, subscribers, rows, dict(stream))


def subject_of(run: FifoRun, pk: str) -> str:
    """The envelope subject of an item (the key as a stable string), from what was delivered."""
    for envelope in run.completed.envelopes(run.plan.function):
        if pk in envelope["subject"]:
            return str(envelope["subject"])
    raise AssertionError(f"no envelope for {pk}")


def test_the_fifo_hub_drains(run: FifoRun):
    assert run.quiet, "the FIFO hub never went quiet"
    assert run.hub.topic_arn.endswith(".fifo")
    assert all(s.queue_url.endswith(".fifo") for s in run.subscribers)


def test_the_failed_message_went_back_with_the_later_updates_of_its_item(run: FifoRun):
    (failed,) = run.plan.failed_items
    retried = [
        [json.loads(body) for body in event.bodies]
        for event in run.hub.log.events
        if event.outcome is InvocationOutcome.RETRIED and event.function == run.plan.function
    ]
    (batch,) = [b for b in retried if failed in {e["id"] for e in b}]
    subject = next(e["subject"] for e in batch if e["id"] == failed)
    # The runtime returned the failed update and the item's later ones with it, unprocessed.
    assert sum(e["subject"] == subject for e in batch) > 1


@pytest.mark.parametrize("consumer", ["audit-log", "projection"])
def test_each_item_is_seen_in_stream_order_with_nothing_lost(run: FifoRun, consumer: str):
    seen = run.seen(consumer)
    for pk in ITEMS:
        expected = sorted(run.stream[pk])
        assert len(expected) == UPDATES
        # Every update once, in stream order: no loss, no duplicate, no reordering.
        assert seen[subject_of(run, pk)] == expected, (consumer, pk)


def test_each_item_has_its_own_message_group(run: FifoRun):
    # One group per item: an item's updates stay in order, different items run in parallel.
    groups: dict[str, set[str]] = defaultdict(set)
    for body, group in run.completed.groups.items():
        groups[json.loads(body)["subject"]].add(group)
    assert len(groups) == len(ITEMS)
    assert all(len(g) == 1 for g in groups.values())
    assert len(set().union(*groups.values())) == len(ITEMS)


def test_every_record_is_accounted_for(run: FifoRun):
    assert balanced(run.rows), [r for r in run.rows if r.status is not Status.PROCESSED]
    assert all(r.status is Status.PROCESSED for r in run.rows)


def test_the_emulator_saw_no_fifo_violation(run: FifoRun):
    assert run.hub.emulator.errors == []
