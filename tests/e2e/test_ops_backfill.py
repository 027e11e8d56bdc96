"""`fanout backfill` against the local hub, consumed by a freshly added consumer.

The hub is deployed with the emulator stopped: the items are written "before the
consumer existed", so nothing routes them. Then the projection consumer is added:
the emulator's own queue poller runs its real handler on its queue, and nothing
else runs.

- Every item of the table is backfilled into that consumer's queue, interrupted
  part-way and resumed; the consumer processes all of it, so its read model holds
  every item, and no other consumer's queue sees any of it.
- An item whose snapshot is over the SQS message limit is claim-checked in the hub's
  payload bucket; the consumer resolves the pointer and holds the whole item.

The backfill bounds the consumer's backlog (``max_backlog``), as an operator would for
a large table: moto's SQS does work per message queued on every receive, so a queue
holding the whole table would slow the consumer down far more than the pause costs.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from consumers.runtime.settings import settings_environment
from fanout.connection import Connection
from fanout.local.esm import Emulator, EmulatorSettings
from fanout.local.hub import LocalHub
from fanout.local.invoker import InProcessInvoker
from fanout.local.observe import EventLog, InvocationOutcome
from fanout.local.queues import QueueSettings
from fanout.ops.backfill import Backfill, Checkpoint, describe_target
from fanout.ops.resolve import Hub, resolve
from hubcommon.limits import SQS_MAX_MESSAGE_BYTES
from schemas import parse_envelope

pytestmark = pytest.mark.e2e

# The size is a parameter: `make test` runs 400 items, eight pages of 50 in four segments,
# so the interruption after three pages and the resume are exercised with five pages still
# to come; `make soak` runs the acceptance size, 5,000 items (84 s on a quiet 2-core
# machine, docs/reliability.md).
ITEMS = int(os.environ.get("FANOUT_BACKFILL_ITEMS", "400"))
SEGMENTS = 4
PAGE = 50
# Enough to keep the consumer busy between two backlog readings (its poller holds up to
# five batches besides), small enough that moto's per-message work on every receive
# (it re-reads every queue attribute, an O(queue) scan, once per message returned) stays
# cheap: 100 waiting made the consumer ~40% slower than 30.
MAX_BACKLOG = 30
# Generous: the consumer is bound by moto's per-request cost on a loaded 2-core machine.
SECONDS_PER_ITEM = 0.5


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    with LocalHub(start_emulator=False, handler_output=io.StringIO()) as hub:
        dynamodb = hub.clients.client("dynamodb")
        for start in range(0, ITEMS, 25):
            dynamodb.batch_write_item(
                RequestItems={
                    hub.table_name: [
                        {
                            "PutRequest": {
                                "Item": {
                                    "pk": {"S": f"ORDER#{n:05d}"},
                                    "sk": {"S": "META"},
                                    "total": {"N": f"{n}.25"},
                                    "tags": {"SS": ["a", "b"]},
                                }
                            }
                        }
                        for n in range(start, min(start + 25, ITEMS))
                    ]
                }
            )
        yield hub


@pytest.fixture(scope="module")
def resolved(hub: LocalHub) -> Hub:
    return resolve(Connection(endpoint_url=hub.endpoint_url, region=hub.region), "fanout-hub")


@pytest.fixture(scope="module")
def deliveries(hub: LocalHub, resolved: Hub) -> Iterator[EventLog]:
    """The projection consumer, added after the items were written; what it finished."""
    projection = resolved.consumer("projection")
    mapping = next(m for m in hub.deployment.queue_mappings if m.source_arn == projection.queue_arn)
    log = EventLog()
    consumer = Emulator(
        hub.deployment.functions,
        [mapping],
        hub.clients,
        InProcessInvoker(hub.handler_environment(), region=hub.region, output=io.StringIO()),
        settings=EmulatorSettings(queue=QueueSettings(retry_visibility_seconds=0)),
        observer=log,
    )
    with consumer:
        yield log
    assert not consumer.errors, consumer.errors


def backfill(
    hub: LocalHub, resolved: Hub, path: Path, *, table: str | None = None, **options: Any
) -> Backfill:
    connection = Connection(endpoint_url=hub.endpoint_url, region=hub.region)
    consumer = resolved.consumer("projection")
    dynamodb = connection.client("dynamodb")
    target = describe_target(
        dynamodb,
        table or resolved.need("table_name", "-"),
        consumer.queue_url,
        resolved.router_environment,
        payload_bucket=resolved.payload_bucket,
    )
    checkpoint = Checkpoint.load_or_start(path, consumer.name, target.table, SEGMENTS)
    return Backfill(
        dynamodb,
        connection.client("sqs"),
        connection.client("s3"),
        target,
        checkpoint,
        read_units_per_second=0,
        page_items=PAGE,
        max_backlog=MAX_BACKLOG,
        backlog_poll_seconds=0.2,
        **options,
    )


def wait_until_consumed(
    hub: LocalHub, resolved: Hub, log: EventLog, messages: int, timeout: float
) -> None:
    """Until the consumer finished ``messages`` messages and its queue is empty."""
    queue_url = resolved.consumer("projection").queue_url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The event log is in memory; asking moto for the depth costs a scan of the queue.
        if log.count(InvocationOutcome.SUCCEEDED) >= messages and hub.depth(queue_url) == 0:
            return
        time.sleep(0.5)
    finished = log.count(InvocationOutcome.SUCCEEDED)
    raise AssertionError(
        f"the consumer finished {finished} of {messages} messages in {timeout:.0f} s;"
        f" {hub.depth(queue_url)} left on its queue"
    )


def projection_table(hub: LocalHub, resolved: Hub) -> str:
    projection = resolved.consumer("projection")
    return str(
        settings_environment(hub.deployment.function(projection.function_name or "").environment)[
            "PROJECTION_TABLE"
        ]
    )


def projection_rows(hub: LocalHub, resolved: Hub, table: str) -> dict[str, dict[str, Any]]:
    """The projection's read model for one source table, by subject."""
    rows: dict[str, dict[str, Any]] = {}
    paginator = hub.clients.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=projection_table(hub, resolved)):
        for item in page["Items"]:
            if item["table"]["S"] == table:
                rows[item["pk"]["S"]] = item
    return rows


def test_a_freshly_added_consumer_processes_a_resumed_backfill_completely(
    hub: LocalHub, resolved: Hub, deliveries: EventLog, tmp_path: Path
):
    path = tmp_path / "checkpoint.json"
    pages = 0

    def die_after_three(_: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 3:
            raise InterruptedError("injected: the backfill process died")

    # GIVEN a backfill into the projection consumer that dies after a few pages
    interrupted = backfill(hub, resolved, path, on_page=die_after_three)
    with pytest.raises(InterruptedError):
        interrupted.run()
    assert path.exists()

    # WHEN it is run again with the same checkpoint, while the consumer keeps consuming
    resumed = backfill(hub, resolved, path)
    report = resumed.run()
    sent = interrupted.report.sent + resumed.report.sent
    wait_until_consumed(hub, resolved, deliveries, sent, timeout=60 + ITEMS * SECONDS_PER_ITEM)

    # THEN the consumer's read model holds every item, with its exact values
    assert report.resumed
    assert report.complete
    rows = projection_rows(hub, resolved, hub.table_name)
    assert len(rows) == ITEMS
    seven = rows['{"pk":"ORDER#00007","sk":"META"}']
    assert seven["type"]["S"] == "order.snapshot"
    assert seven["sequence"]["S"] == "0" * 40
    image = TypeDeserializer().deserialize(seven["item"])
    assert str(image["total"]) == "7.25"
    assert sorted(image["tags"]) == ["a", "b"]
    # ... every message was a valid snapshot envelope; only pages in flight at the
    # interruption came twice, with the same ids (the consumer skipped them as duplicates)
    bodies = [
        body
        for event in deliveries.events
        if event.outcome is InvocationOutcome.SUCCEEDED
        for body in event.bodies
    ]
    envelopes = [parse_envelope(body) for body in bodies]
    mine = [e for e in envelopes if e.table == hub.table_name]
    assert len({e.subject for e in mine}) == ITEMS
    assert len({e.id for e in mine}) == ITEMS
    assert len(mine) - ITEMS <= SEGMENTS * PAGE
    assert {e.type for e in mine} == {"order.snapshot"}
    assert {e.operation for e in mine} == {"snapshot"}
    # ... the backlog stayed bounded while the consumer drained it
    waited = interrupted.report.backlog_wait_seconds + report.backlog_wait_seconds
    assert waited > 0 or ITEMS <= MAX_BACKLOG
    # ... and no other consumer saw any of it
    for other in resolved.consumers:
        if other.name != "projection":
            assert hub.depth(other.queue_url) == 0, other.name


def test_an_item_over_the_message_limit_reaches_the_consumer_whole(
    hub: LocalHub, resolved: Hub, deliveries: EventLog, tmp_path: Path
):
    # GIVEN a table holding one item whose snapshot is larger than an SQS message
    dynamodb = hub.clients.client("dynamodb")
    dynamodb.create_table(
        TableName="big-items",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    notes = "n" * (SQS_MAX_MESSAGE_BYTES + 20_000)
    dynamodb.put_item(TableName="big-items", Item={"pk": {"S": "DOC#big"}, "notes": {"S": notes}})
    dynamodb.put_item(TableName="big-items", Item={"pk": {"S": "DOC#small"}, "notes": {"S": "x"}})
    before = deliveries.count(InvocationOutcome.SUCCEEDED)

    # WHEN it is backfilled into the projection consumer
    report = backfill(hub, resolved, tmp_path / "big.json", table="big-items").run()
    wait_until_consumed(hub, resolved, deliveries, before + 2, timeout=60)

    # THEN the big one went as a claim-check pointer into the hub's payload bucket ...
    assert report.complete
    assert report.sent == 2
    assert report.offloaded == 1
    sent = [
        parse_envelope(body)
        for event in deliveries.events
        if event.outcome is InvocationOutcome.SUCCEEDED
        for body in event.bodies
        if '"big-items"' in body
    ]
    pointer = next(e for e in sent if e.subject == '{"pk":"DOC#big"}')
    assert pointer.data is None
    assert str(pointer.dataref).startswith(f"s3://{resolved.payload_bucket}/")
    # ... and the consumer resolved it: its read model holds the whole item
    rows = {
        subject: dynamodb.get_item(
            TableName=projection_table(hub, resolved), Key={"pk": {"S": subject}}
        ).get("Item")
        for subject in ('{"pk":"DOC#big"}', '{"pk":"DOC#small"}')
    }
    big_row, small_row = rows['{"pk":"DOC#big"}'], rows['{"pk":"DOC#small"}']
    assert big_row is not None
    assert small_row is not None
    assert big_row["item"]["M"]["notes"]["S"] == notes
    assert big_row["type"]["S"] == "doc.snapshot"
    assert small_row["item"]["M"]["notes"]["S"] == "x"
