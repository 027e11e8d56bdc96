"""Item contracts on the local hub: the router holds ``order`` items to their contract.

A few records through the deployed template (``ContractMode`` parameter, the router's
``CONTRACT_MODE``), the real router handler and the topic: in ``observe`` mode an
order that breaks its contract is published and counted (``ContractViolations``, an
embedded-metric-format line in the router's output); in ``enforce`` mode it goes to the
router DLQ with its errors and the rest of the stream is published.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from support.queues import drain

from fanout.local.demo import Table
from fanout.local.esm import EmulatorSettings
from fanout.local.hub import LocalHub
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings
from fanout.tail import Tail

pytestmark = pytest.mark.e2e

ORDER_SCHEMA = "urn:fanout-hub:schema:entity:order:1"
ENVELOPE_SCHEMA = "urn:fanout-hub:schema:envelope:1"


@dataclass
class Run:
    """What one mode made of the same three writes."""

    mode: str
    published: dict[str, dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    metrics: list[dict[str, Any]]


def _write(table: Table) -> None:
    table.put(
        "ORDER#1",
        "ORDER",
        status="placed",
        total=Decimal("19.99"),
        lines=[{"sku": "SKU-1", "qty": 1}],
        tags={"web"},
    )
    # Breaks the order contract twice: a status it does not know, and no lines.
    table.put("ORDER#2", "ORDER", status="lost", total=Decimal("5.50"))
    table.put("CUSTOMER#1", "PROFILE", name="Customer 1")


def _router_metrics(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        if '"FanoutHub/Router"' in line:
            document = json.loads(line[line.index("{") :])
            found.append(document)
    return found


@pytest.fixture(scope="module", params=["observe", "enforce"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    settings = EmulatorSettings(
        stream=StreamSettings(poll_interval_seconds=0.05),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    output = io.StringIO()
    hub = LocalHub(
        # No webhook consumer: the test is about the router, and a smaller stack deploys faster.
        parameters={"ContractMode": request.param},
        settings=settings,
        handler_output=output,
    )
    with hub, Tail(hub.topic_arn, endpoint_url=hub.endpoint_url) as tail:
        _write(Table(hub))
        assert hub.wait_until_quiet(timeout=90), "the hub never went quiet"
        expected = 3 if request.param == "observe" else 2
        published: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 30
        while len(published) < expected and time.monotonic() < deadline:
            for body in tail.poll():
                envelope = json.loads(body)
                published[json.loads(envelope["subject"])["pk"]] = envelope
        letters = [
            json.loads(m["Body"]) for m in drain(hub.clients.client("sqs"), hub.router_dlq_url)
        ]
        yield Run(request.param, published, letters, _router_metrics(output.getvalue()))


def test_a_breaking_order_is_counted_and_published_or_dead_lettered(run: Run):
    (metric,) = run.metrics
    assert metric["Entity"] == "order"
    assert metric["ContractViolations"] == 1
    if run.mode == "observe":
        assert metric["ContractRejected"] == 0
        assert set(run.published) == {"ORDER#1", "ORDER#2", "CUSTOMER#1"}
        assert run.dead_letters == []
    else:
        assert metric["ContractRejected"] == 1
        assert set(run.published) == {"ORDER#1", "CUSTOMER#1"}
        (letter,) = run.dead_letters
        assert letter["reason"] == "contract"
        assert letter["record"]["dynamodb"]["Keys"]["pk"] == {"S": "ORDER#2"}
        assert [(v["path"], v["kind"]) for v in letter["error"]["violations"]] == [
            ("new.lines", "required"),
            ("new.status", "enum"),
        ]


def test_envelopes_name_the_contract_of_a_contracted_entity_only(run: Run):
    assert run.published["ORDER#1"]["dataschema"] == ORDER_SCHEMA
    assert run.published["CUSTOMER#1"]["dataschema"] == ENVELOPE_SCHEMA
