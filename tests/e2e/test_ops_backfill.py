"""`fanout backfill` against the local hub.

The hub is deployed with the emulator stopped: the items are written "before the
consumer existed", so nothing routes them.

- 5,000 items are backfilled into one consumer's queue, interrupted part-way and
  resumed; a reader drains the queue meanwhile and proves every item arrived as a
  valid snapshot envelope, to that queue only. (moto's SQS gets slower with every
  message a queue holds, so the queue is kept short by draining it as it fills.)
- A smaller table is backfilled into the projection consumer, run by the emulator's
  own queue poller with the real handler, which must then hold every item. (The
  in-process consumer on moto handles a few messages per second on a 2-core machine,
  so 5,000 through the real handler would take many minutes.)
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from boto3.dynamodb.types import TypeDeserializer

from fanout.connection import Connection
from fanout.local.esm import Emulator, EmulatorSettings
from fanout.local.hub import LocalHub
from fanout.local.invoker import InProcessInvoker
from fanout.local.queues import QueueSettings
from fanout.ops.backfill import Backfill, Checkpoint, describe_target
from fanout.ops.resolve import Hub, resolve
from schemas import parse_envelope

pytestmark = pytest.mark.e2e

# 5,000 is the acceptance figure (FANOUT_BACKFILL_ITEMS=5000); the default keeps CI fast.
ITEMS = int(os.environ.get("FANOUT_BACKFILL_ITEMS", "400"))
SEGMENTS = 4
# Below what one reader drains from moto on a 2-core machine, so the queue stays short.
MESSAGES_PER_SECOND = 100
FRESH_ITEMS = 100
PAGE = 100


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
                        for n in range(start, start + 25)
                    ]
                }
            )
        yield hub


def backfill(
    connection: Connection, resolved: Hub, path: Path, *, table: str | None = None, **options: Any
) -> Backfill:
    consumer = resolved.consumer("projection")
    dynamodb = connection.client("dynamodb")
    target = describe_target(
        dynamodb,
        table or resolved.need("table_name", "-"),
        consumer.queue_url,
        resolved.router_environment,
    )
    checkpoint = Checkpoint.load_or_start(path, consumer.name, target.table, SEGMENTS)
    return Backfill(
        dynamodb,
        connection.client("sqs"),
        connection.client("s3"),
        target,
        checkpoint,
        read_units_per_second=0,
        messages_per_second=MESSAGES_PER_SECOND,
        page_items=PAGE,
        **options,
    )


class Drain:
    """Receives and deletes everything on a queue in the background, keeping the bodies."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url
        self.bodies: list[str] = []
        self.attributes: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                self._stop.wait(0.05)
                continue
            self.bodies += [m["Body"] for m in batch]
            self.attributes += [m.get("MessageAttributes", {}) for m in batch]
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_backfill_of_many_items_is_resumable_and_reaches_only_that_queue(
    hub: LocalHub, tmp_path: Path
):
    connection = Connection(endpoint_url=hub.endpoint_url, region=hub.region)
    resolved = resolve(connection, "fanout-hub")
    projection = resolved.consumer("projection")
    path = tmp_path / "checkpoint.json"
    pages = 0

    def die_after_three(_: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 3:
            raise InterruptedError("injected: the backfill process died")

    with Drain(connection.client("sqs"), projection.queue_url) as drain:
        # GIVEN a backfill that dies after a few pages
        with pytest.raises(InterruptedError):
            backfill(connection, resolved, path, on_page=die_after_three).run()
        assert path.exists()

        # WHEN it is run again with the same checkpoint
        resumed = backfill(connection, resolved, path)
        report = resumed.run()
        deadline = time.monotonic() + 90
        while hub.depth(projection.queue_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.depth(projection.queue_url) == 0, "the reader did not drain the queue"

    # THEN every item arrived as a valid snapshot envelope; only pages in flight at the
    # interruption came twice (same ids: the consumer de-duplicates them)
    assert report.resumed
    assert report.complete
    envelopes = [parse_envelope(body) for body in drain.bodies]
    subjects = {e.subject for e in envelopes}
    assert len(subjects) == ITEMS
    assert len(envelopes) - ITEMS <= SEGMENTS * PAGE
    assert len({e.id for e in envelopes}) == ITEMS
    assert {e.type for e in envelopes} == {"order.snapshot"}
    assert {e.sequence for e in envelopes} == {"0" * 40}
    assert {a["operation"]["StringValue"] for a in drain.attributes} == {"snapshot"}
    # ... and no other consumer saw any of it
    for other in resolved.consumers:
        if other.name != projection.name:
            assert hub.depth(other.queue_url) == 0, other.name


def test_a_freshly_added_consumer_processes_a_backfill_completely(hub: LocalHub, tmp_path: Path):
    # GIVEN a second table, written before the projection consumer runs
    dynamodb = hub.clients.client("dynamodb")
    dynamodb.create_table(
        TableName="fresh-items",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, FRESH_ITEMS, 25):
        dynamodb.batch_write_item(
            RequestItems={
                "fresh-items": [
                    {"PutRequest": {"Item": {"pk": {"S": f"CUSTOMER#{n}"}, "score": {"N": "0.1"}}}}
                    for n in range(start, min(start + 25, FRESH_ITEMS))
                ]
            }
        )
    connection = Connection(endpoint_url=hub.endpoint_url, region=hub.region)
    resolved = resolve(connection, "fanout-hub")
    projection = resolved.consumer("projection")
    mapping = next(m for m in hub.deployment.queue_mappings if m.source_arn == projection.queue_arn)
    consumer = Emulator(
        hub.deployment.functions,
        [mapping],
        hub.clients,
        InProcessInvoker(hub.handler_environment(), region=hub.region, output=io.StringIO()),
        settings=EmulatorSettings(queue=QueueSettings(wait_seconds=0, retry_visibility_seconds=0)),
    )

    # WHEN it is backfilled and the consumer (real handler, emulated mapping) runs
    report = backfill(connection, resolved, tmp_path / "fresh.json", table="fresh-items").run()
    with consumer:
        deadline = time.monotonic() + 60
        while hub.depth(projection.queue_url) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert report.complete
    assert hub.depth(projection.queue_url) == 0, "the consumer did not drain its queue"

    # THEN its read model holds every item, exactly
    table = hub.deployment.function(projection.function_name or "").environment["PROJECTION_TABLE"]
    rows = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if item["table"]["S"] == "fresh-items":
                rows[item["pk"]["S"]] = item
    assert len(rows) == FRESH_ITEMS
    one = rows['{"pk":"CUSTOMER#7"}']
    assert one["type"]["S"] == "customer.snapshot"
    assert str(TypeDeserializer().deserialize(one["item"])["score"]) == "0.1"
