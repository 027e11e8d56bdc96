"""events/ is generated from the project's own code and says what its names promise."""

from __future__ import annotations

import json

import pytest

from fanout import events
from hubcommon.limits import SNS_DEFAULT_MAX_MESSAGE_BYTES
from router.errors import PoisonRecordError
from router.normalise import EntityRules, to_outbound
from schemas import parse_envelope


class TestCommittedEvents:
    """The committed files are exactly what `python -m fanout.events` writes now."""

    def test_events_folder_is_fresh(self):
        assert events.stale() == []

    def test_stale_reports_a_changed_file(self, tmp_path):
        events.write(tmp_path)
        (tmp_path / "router" / "insert.json").write_text("{}\n", encoding="utf-8")
        (tmp_path / "router" / "extra.json").write_text("{}\n", encoding="utf-8")
        assert events.stale(tmp_path) == [
            tmp_path.joinpath("router", "extra.json").relative_to(tmp_path),
            tmp_path.joinpath("router", "insert.json").relative_to(tmp_path),
        ]


class TestRouterEvents:
    """Each router sample is the stream batch its name says."""

    def load(self, name):
        return json.loads((events.EVENTS / "router" / name).read_text(encoding="utf-8"))

    @pytest.mark.parametrize(
        ("name", "operation"),
        [
            ("insert.json", "created"),
            ("modify.json", "updated"),
            ("remove.json", "deleted"),
            ("ttl-remove.json", "expired"),
        ],
    )
    def test_operation(self, name, operation):
        (record,) = self.load(name)["Records"]
        assert (
            to_outbound(record, EntityRules()).attributes["operation"]["StringValue"] == operation
        )

    def test_poison_batch_has_one_poison_record_then_a_good_one(self):
        poison, good = self.load("poison.json")["Records"]
        with pytest.raises(PoisonRecordError):
            to_outbound(poison, EntityRules())
        assert to_outbound(good, EntityRules()).type == "order.created"

    def test_oversize_needs_the_claim_check(self):
        (record,) = self.load("oversize.json")["Records"]
        assert to_outbound(record, EntityRules()).size > SNS_DEFAULT_MAX_MESSAGE_BYTES


class TestConsumerEvents:
    """Consumer samples carry real envelopes, raw and SNS-wrapped, filtered like the template."""

    @pytest.mark.parametrize("consumer", sorted(events.CONSUMER_OPERATIONS))
    def test_raw_and_wrapped_carry_the_same_envelopes(self, consumer):
        folder = events.EVENTS / consumer
        raw = json.loads((folder / "sqs-raw.json").read_text(encoding="utf-8"))["Records"]
        wrapped = json.loads((folder / "sqs-sns-wrapped.json").read_text(encoding="utf-8"))[
            "Records"
        ]
        raw_envelopes = [parse_envelope(r["body"]) for r in raw]
        wrapped_envelopes = [parse_envelope(json.loads(r["body"])["Message"]) for r in wrapped]
        assert raw_envelopes == wrapped_envelopes
        assert {e.operation for e in raw_envelopes} == events.CONSUMER_OPERATIONS[consumer]
        for record, envelope in zip(raw, raw_envelopes, strict=True):
            assert record["messageAttributes"]["type"]["stringValue"] == envelope.type
            assert record["eventSource"] == "aws:sqs"
