"""The router holds items of a contracted entity to their contract: observe counts, enforce keeps back.

The real router over in-memory AWS (``support.router_doubles``) with the contracts
``make schemas`` exported (``schemas/json/entities``): ``order`` has one.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from structlog.testing import capture_logs
from support.builders import a_batch, a_stream_record, an_order
from support.hostile import canaries_in, canary
from support.router_doubles import ROUTE_SECONDS, MemoryHub, a_memory_hub

from router.deadline import Deadline
from schemas import parse_envelope

ORDER_SCHEMA = "urn:fanout-hub:schema:entity:order:1"
ENVELOPE_SCHEMA = "urn:fanout-hub:schema:envelope:1"
ROUTER_FUNCTION = "hub-a-RouterFunction-1A2B3C"


def an_order_record(number: int, **fields: Any) -> dict[str, Any]:
    return a_stream_record(
        keys={"pk": f"ORDER#{number}", "sk": "ORDER"}, new=an_order(number, **fields)
    )


def a_customer_record() -> dict[str, Any]:
    keys = {"pk": "CUSTOMER#1", "sk": "PROFILE"}
    return a_stream_record(keys=keys, new={**keys, "name": canary(9)})


def a_bad_order(number: int) -> dict[str, Any]:
    """An order whose status is not one the contract knows and whose lines are missing."""
    return an_order_record(number, status=canary(number), lines=None)


def _route(hub: MemoryHub, *records: dict[str, Any]) -> Any:
    return hub.router.route(
        a_batch(*records),
        Deadline.after(ROUTE_SECONDS),
        {"function": ROUTER_FUNCTION, "request_id": "req-1"},
    )


def _published(hub: MemoryHub) -> dict[str, Any]:
    """Each published envelope, by subject."""
    envelopes = [parse_envelope(entry["Message"]) for entry in hub.sns.published]
    return {json.loads(e.subject)["pk"]: e for e in envelopes}


def _metrics(hub: MemoryHub) -> list[dict[str, Any]]:
    return [json.loads(line) for line in hub.metrics]


class TestObserve:
    """observe (the default): a mismatching item is published, counted and logged without values."""

    def test_a_bad_item_is_published_counted_and_logged_by_field(self):
        hub = a_memory_hub(contract_mode="observe")

        with capture_logs() as logs:
            response = _route(hub, an_order_record(1), a_bad_order(2))

        assert response == {"batchItemFailures": []}
        assert set(_published(hub)) == {"ORDER#1", "ORDER#2"}
        assert hub.sqs.messages == []
        (metric,) = _metrics(hub)
        assert (metric["Entity"], metric["ContractViolations"], metric["ContractRejected"]) == (
            "order",
            1,
            0,
        )
        # Kept at LogLevel WARNING: Lambda reads a line without "level", or without a valid
        # RFC 3339 "timestamp", as INFO
        # (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
        assert metric["level"] == "warn"
        stamped = datetime.fromisoformat(metric["timestamp"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", metric["timestamp"])
        assert stamped.utcoffset() == timedelta(0)
        assert int(stamped.timestamp() * 1000) == metric["_aws"]["Timestamp"]
        directive = metric["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "FanoutHub/Router"
        # One hub's figures apart from another's in the account, still per entity.
        assert directive["Dimensions"] == [["FunctionName", "Entity"]]
        assert metric["FunctionName"] == ROUTER_FUNCTION
        assert {m["Name"] for m in directive["Metrics"]} == {
            "ContractViolations",
            "ContractRejected",
        }
        (line,) = [log for log in logs if log["event"] == "contract_violation"]
        assert line["violations"] == ["new.lines: required", "new.status: enum"]
        assert (line["entity"], line["mode"], line["outcome"]) == ("order", "observe", "published")
        assert canaries_in(json.dumps(logs, default=str) + "".join(hub.metrics)) == []

    def test_a_batch_with_no_violation_writes_no_metric(self):
        hub = a_memory_hub(contract_mode="observe")
        _route(hub, an_order_record(1), a_customer_record())
        assert hub.metrics == []


class TestEnforce:
    """enforce: a mismatching item goes to the router DLQ with its errors; the batch carries on."""

    def test_a_bad_item_is_dead_lettered_with_its_errors_and_the_rest_published(self):
        hub = a_memory_hub(contract_mode="enforce")
        bad = a_bad_order(2)

        response = _route(hub, an_order_record(1), bad, an_order_record(3))

        assert response == {"batchItemFailures": []}
        assert set(_published(hub)) == {"ORDER#1", "ORDER#3"}
        (body,) = hub.sqs.messages
        letter = json.loads(body)
        assert letter["reason"] == "contract"
        assert letter["record"] == bad
        assert letter["error"]["kind"] == "ContractViolation"
        assert [(v["path"], v["kind"]) for v in letter["error"]["violations"]] == [
            ("new.lines", "required"),
            ("new.status", "enum"),
        ]
        assert letter["error"]["message"].startswith(ORDER_SCHEMA + ": new.lines: required")
        # The record itself holds the value; the error beside it does not.
        assert canaries_in(json.dumps(letter["error"])) == []
        (metric,) = _metrics(hub)
        assert (metric["ContractViolations"], metric["ContractRejected"]) == (1, 1)

    def test_a_mode_per_entity(self):
        hub = a_memory_hub(contract_mode="observe,order=enforce")
        _route(hub, a_bad_order(1))
        assert hub.sns.published == []
        assert [json.loads(b)["reason"] for b in hub.sqs.messages] == ["contract"]

    def test_a_good_item_is_published_in_enforce_mode(self):
        hub = a_memory_hub(contract_mode="enforce")
        _route(hub, an_order_record(1))
        assert set(_published(hub)) == {"ORDER#1"}
        assert hub.sqs.messages == hub.metrics == []


class TestDataschema:
    """An envelope names its item's contract when the entity has one, the envelope's otherwise."""

    def test_a_contracted_entity_carries_its_contract_and_version(self):
        hub = a_memory_hub(contract_mode="observe")
        _route(hub, an_order_record(1), a_bad_order(2), a_customer_record())
        published = _published(hub)
        assert published["ORDER#1"].dataschema == ORDER_SCHEMA
        assert published["ORDER#2"].dataschema == ORDER_SCHEMA
        assert published["CUSTOMER#1"].dataschema == ENVELOPE_SCHEMA

    def test_an_entity_without_a_contract_is_routed_as_before_even_in_enforce_mode(self):
        with_contracts = a_memory_hub(contract_mode="enforce")
        without = a_memory_hub()
        record = a_customer_record()

        _route(with_contracts, record)
        _route(without, record)

        assert with_contracts.sns.published == without.sns.published
        assert with_contracts.metrics == with_contracts.sqs.messages == []

    def test_a_router_without_contracts_leaves_every_envelope_its_own_schema(self):
        hub = a_memory_hub()
        _route(hub, a_bad_order(1))
        assert _published(hub)["ORDER#1"].dataschema == ENVELOPE_SCHEMA
        assert hub.metrics == []
