"""The pure parts of the operations commands: pacing, snapshot envelopes, DLQ decoding."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from support.builders import TABLE_ARN, a_stream_record, ddb

from fanout.ops.backfill import Checkpoint, snapshot_outbound
from fanout.ops.dlq.decode import MessageFilter, decode_consumer_message, decode_router_message
from fanout.ops.dlq.pack import pack_for_send
from fanout.ops.pacing import TokenBucket
from fanout.ops.replay.stream_failures import past_retention
from router.normalise import EntityRules, to_outbound
from schemas import parse_envelope


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TestTokenBucket:
    """Work is paced at the configured rate, and debts from after-the-fact charges are waited off."""

    def test_waits_for_tokens_beyond_the_burst(self):
        clock = FakeClock()
        bucket = TokenBucket(10, burst=10, clock=clock, sleep=clock.sleep)
        bucket.take(10)
        bucket.take(5)
        assert clock.now == pytest.approx(0.5)

    def test_a_charge_into_debt_delays_the_next_take(self):
        clock = FakeClock()
        bucket = TokenBucket(100, burst=100, clock=clock, sleep=clock.sleep)
        bucket.charge(300)  # a Scan page consumed 300 read units
        bucket.take(0)
        assert clock.now == pytest.approx(2.0)

    def test_zero_rate_never_waits(self):
        clock = FakeClock()
        bucket = TokenBucket(0, clock=clock, sleep=clock.sleep)
        bucket.charge(10_000)
        assert bucket.take(1_000) == 0.0
        assert clock.slept == []


class TestSnapshotEnvelope:
    """A backfilled item is a valid v1 envelope of operation snapshot, built by the router's code."""

    def image(self) -> dict:
        return ddb(
            {
                "pk": "ORDER#7",
                "sk": "META",
                "total": Decimal("12.5"),
                "blob": b"\x00\x01",
                "tags": {"b", "a"},
            }
        )

    def test_is_a_valid_snapshot_envelope_with_the_item_as_new(self):
        outbound = snapshot_outbound(
            self.image(), ("pk", "sk"), TABLE_ARN, EntityRules(), "run1", 1_800_000_000
        )
        envelope = parse_envelope(outbound.body)
        assert envelope.type == "order.snapshot"
        assert envelope.operation == "snapshot"
        assert envelope.sequence == "0" * 40
        assert envelope.data is not None
        assert envelope.data.old is None
        assert envelope.data.new is not None
        assert str(envelope.data.new["total"]) == "12.5"
        assert envelope.data.new["tags"] == ["a", "b"]
        assert outbound.attributes["operation"]["StringValue"] == "snapshot"
        assert outbound.attributes["type"]["StringValue"] == "order.snapshot"

    def test_id_is_stable_within_a_run_and_new_for_another_run(self):
        def make(run: str) -> str:
            return snapshot_outbound(
                self.image(), ("pk", "sk"), TABLE_ARN, EntityRules(), run, 1
            ).envelope_id

        assert make("run1") == make("run1")
        assert make("run1") != make("run2")

    def test_values_that_look_like_the_header_are_left_alone(self):
        tricky = ddb({"pk": "ORDER#1", "sk": "META", "note": '"operation":"created"', "type": "x"})
        outbound = snapshot_outbound(
            ddb({"pk": "ORDER#1", "sk": "META"}), ("pk", "sk"), TABLE_ARN, EntityRules(), "r", 1
        )
        assert outbound.type == "order.snapshot"
        assert outbound.attributes["operation"]["StringValue"] == "snapshot"
        with_text = snapshot_outbound(tricky, ("pk", "sk"), TABLE_ARN, EntityRules(), "r", 1)
        envelope = parse_envelope(with_text.body)
        assert envelope.data is not None
        assert envelope.data.new is not None
        assert envelope.data.new["note"] == '"operation":"created"'


class TestDeadLetterDecoding:
    """Peek shows what a person needs: type, id, error, receive count, times."""

    def consumer_message(self, **attributes: str) -> dict:
        outbound = to_outbound(a_stream_record(), EntityRules())
        return {
            "MessageId": "m1",
            "Body": outbound.body,
            "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1800000000000"},
            "MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        }

    def test_runtime_dead_letter_shows_the_recorded_error(self):
        message = self.consumer_message(
            **{
                "fanout-error-type": "InvalidMessageError",
                "fanout-error": "total < 0",
                "fanout-origin": json.dumps(
                    {"receiveCount": 1, "deadLetteredAt": "2027-01-15T08:00:00Z", "consumer": "x"}
                ),
            }
        )
        decoded = decode_consumer_message(message)
        assert (decoded.type, decoded.error_type, decoded.error) == (
            "order.created",
            "InvalidMessageError",
            "total < 0",
        )
        assert decoded.receive_count == 1
        assert decoded.first_seen == "2027-01-15T08:00:00+00:00"
        assert decoded.dead_lettered_at == "2027-01-15T08:00:00Z"

    def test_a_message_moved_by_the_redrive_policy_says_so(self):
        decoded = decode_consumer_message(self.consumer_message())
        assert decoded.error_type == "maxReceiveCount"
        assert decoded.receive_count == 2

    def test_router_dead_letter_shows_reason_and_what_the_record_routes_as_now(self):
        record = a_stream_record()
        body = json.dumps(
            {
                "reason": "poison",
                "error": {"kind": "PoisonRecordError", "message": "bad"},
                "failed_at": "t",
                "sequence_number": "1",
                "record": record,
            }
        )
        decoded = decode_router_message({"MessageId": "m", "Body": body, "Attributes": {}})
        assert decoded.type == "order.created"
        assert decoded.error_type == "poison: PoisonRecordError"
        record["dynamodb"]["NewImage"]["total"] = {"ZZ": "x"}
        body = json.dumps(
            {
                "reason": "poison",
                "error": {"kind": "PoisonRecordError", "message": "bad"},
                "record": record,
            }
        )
        still = decode_router_message({"MessageId": "m", "Body": body, "Attributes": {}})
        assert still.type == "(INSERT record)"

    def test_filters_match_type_globs_and_error_text(self):
        decoded = decode_consumer_message(
            self.consumer_message(**{"fanout-error-type": "Timeout", "fanout-error": "Partner 503"})
        )
        assert MessageFilter("order.*").matches(decoded)
        assert not MessageFilter("customer.*").matches(decoded)
        assert MessageFilter(error_text="partner 503").matches(decoded)
        assert not MessageFilter(error_text="validation").matches(decoded)


def test_send_batches_hold_at_most_ten_entries_and_256_kib():
    messages = [{"MessageId": str(i), "Body": "x" * 100_000} for i in range(5)] + [
        {"MessageId": f"s{i}", "Body": "y"} for i in range(12)
    ]
    batches = pack_for_send(messages)
    assert [len(b) for b in batches] == [2, 2, 10, 3]
    assert [m["MessageId"] for b in batches for m in b] == [m["MessageId"] for m in messages]


def test_checkpoint_round_trips_and_refuses_another_backfill(tmp_path: Path):
    path = tmp_path / "c.json"
    started = Checkpoint.load_or_start(path, "projection", "Orders", 3)
    started.segments[1].last_key = {"pk": {"S": "ORDER#9"}}
    started.segments[2].done = True
    started.save()
    resumed = Checkpoint.load_or_start(path, "projection", "Orders", 3)
    assert (resumed.run_id, resumed.scanned_at) == (started.run_id, started.scanned_at)
    assert resumed.segments[1].last_key == {"pk": {"S": "ORDER#9"}}
    assert not resumed.complete
    with pytest.raises(ValueError, match="belongs to a backfill"):
        Checkpoint.load_or_start(path, "audit-log", "Orders", 3)
    assert (
        Checkpoint.load_or_start(path, "projection", "Orders", 3, restart=True).run_id
        != started.run_id
    )


def test_a_metadata_record_older_than_the_stream_retention_is_past_it():
    assert past_retention({"approximateArrivalOfFirstRecord": "2020-01-01T00:00:00Z"})
    assert not past_retention({"approximateArrivalOfFirstRecord": "2999-01-01T00:00:00Z"})
