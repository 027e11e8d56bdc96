"""The whole hub on the embedded moto server: template.yaml, real handlers, emulated mappings.

One hub is started for the module (deploying the template is the slow part) and
the demo stream is written once; each test asserts one thing a user relies on.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from fanout.local.demo import parameters_for_demo, write_demo_stream
from fanout.local.esm import EmulatorSettings
from fanout.local.hub import LocalHub
from fanout.local.ledger import Row, Status, account, balanced
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from fanout.tail import Tail

pytestmark = pytest.mark.e2e


class Run:
    """Everything one run of the demo stream left behind."""

    def __init__(self, hub: LocalHub, rows: list[Row], tailed: list[dict[str, Any]]) -> None:
        self.hub = hub
        self.rows = rows
        self.tailed = tailed

    def statuses(self, label_part: str) -> dict[str, Status]:
        return {r.consumer: r.status for r in self.rows if label_part in r.record.label}


@pytest.fixture(scope="module")
def run() -> Any:
    settings = EmulatorSettings(
        stream=StreamSettings(poll_interval_seconds=0.05),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    hub = LocalHub(
        parameters=parameters_for_demo({}), settings=settings, handler_output=io.StringIO()
    )
    with hub:
        with Tail(
            hub.topic_arn, endpoint_url=hub.endpoint_url, filter_policy={"entity": ["customer"]}
        ) as tail:
            writes = write_demo_stream(hub)
            assert hub.wait_until_quiet(timeout=90), "the hub never went quiet"
            tailed = [json.loads(body) for body in tail.poll() + tail.poll()]
        subscribers = hub.subscribers()
        rows = account(
            hub.sources(writes.injected, writes.ttl_keys), subscribers, hub.evidence(subscribers)
        )
        yield Run(hub, rows, tailed)


def test_every_record_is_accounted_for(run: Run):
    assert balanced(run.rows), [
        r for r in run.rows if r.status in {Status.MISSING, Status.UNEXPECTED}
    ]


def test_each_consumer_gets_what_its_filter_policy_selects(run: Run):
    assert run.statuses("order.updated") == {
        "audit-log": Status.PROCESSED,
        "projection": Status.PROCESSED,
    }  # the webhook's policy takes created and deleted only
    assert set(run.statuses("session.expired")) == {"audit-log", "projection"}


def test_ttl_removal_becomes_an_expired_event(run: Run):
    assert any(r.record.event_type == "session.expired" for r in run.rows)


def test_oversize_item_arrives_through_the_claim_check(run: Run):
    assert run.statuses("document.created") == {
        "audit-log": Status.PROCESSED,
        "projection": Status.PROCESSED,
        "webhook": Status.CONSUMER_DLQ,
    }


def test_failing_consumer_messages_are_redriven_to_its_dlq(run: Run):
    dead = [r for r in run.rows if r.consumer == "webhook"]
    assert dead
    assert all(r.status is Status.CONSUMER_DLQ for r in dead)
    assert all("maxReceiveCount" in r.reason or "Error" in r.reason for r in dead)


def test_poison_record_is_kept_in_the_router_dlq_and_the_shard_moves_on(run: Run):
    (poison,) = [r for r in run.rows if r.record.poison is not None]
    assert poison.status is Status.ROUTER_DLQ
    assert "ZZ" in poison.reason
    assert run.statuses("customer.created")["audit-log"] is Status.PROCESSED


def test_tail_sees_only_what_its_filter_selects(run: Run):
    assert run.tailed
    assert {e["type"] for e in run.tailed} == {"customer.created"}


def test_tail_queue_is_removed_on_exit(run: Run):
    sqs = run.hub.clients.client("sqs")
    urls = sqs.list_queues(QueueNamePrefix="fanout-tail-").get("QueueUrls", [])
    assert urls == []
