"""A stream record becomes exactly the envelope of the published contract."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from support.builders import TABLE_ARN, a_stream_record, load_event

from router.errors import PoisonRecordError
from router.normalise import EntityRules, padded_sequence, pointer_body, rfc3339, to_outbound
from schemas import Envelope, parse_envelope

RULES = EntityRules()


def envelope_of(record, rules=RULES) -> Envelope:
    return parse_envelope(to_outbound(record, rules).body)


class TestContextAttributes:
    """CloudEvents context attributes, each derived as the contract says."""

    def test_cloudevents_required_attributes(self):
        env = envelope_of(a_stream_record("INSERT", created=1_764_201_600))
        assert env.specversion == "1.0"
        assert env.source == TABLE_ARN
        assert env.datacontenttype == "application/json"
        assert env.dataschema == "urn:fanout-hub:schema:envelope:1"
        assert env.schemaversion == "1"
        assert env.time.isoformat() == "2025-11-27T00:00:00+00:00"
        assert env.table == "Orders"

    def test_id_is_deterministic_per_event_id(self):
        first = a_stream_record("INSERT", event_id="abc")
        again = a_stream_record("INSERT", event_id="abc")
        other = a_stream_record("INSERT", event_id="abd")
        assert envelope_of(first).id == envelope_of(again).id
        assert envelope_of(first).id != envelope_of(other).id

    def test_subject_is_the_key_as_canonical_json(self):
        env = envelope_of(a_stream_record(keys={"sk": "META", "pk": "ORDER#42"}))
        assert env.subject == '{"pk":"ORDER#42","sk":"META"}'

    def test_sequence_is_zero_padded_so_string_order_is_stream_order(self):
        short, long_ = "4421584500000000017450439091", "100000000000000000000000000000000000"
        a = envelope_of(a_stream_record(sequence=short)).sequence
        b = envelope_of(a_stream_record(sequence=long_)).sequence
        assert len(a) == len(b) == 40
        assert (a < b) == (int(short) < int(long_))
        assert a.lstrip("0") == short

    def test_time_keeps_milliseconds_when_given(self):
        assert rfc3339(1_764_201_600.25) == "2025-11-27T00:00:00.250Z"
        assert rfc3339(1_764_201_600) == "2025-11-27T00:00:00Z"
        assert rfc3339(1_764_201_600.9996) == "2025-11-27T00:00:01Z"


class TestType:
    """<entity>.<created|updated|deleted|expired>, entity found by configuration."""

    @pytest.mark.parametrize(
        ("op", "ttl", "expected"),
        [
            ("INSERT", False, "order.created"),
            ("MODIFY", False, "order.updated"),
            ("REMOVE", False, "order.deleted"),
            ("REMOVE", True, "order.expired"),
        ],
    )
    def test_operation_verbs(self, op, ttl, expected):
        env = envelope_of(a_stream_record(op, ttl=ttl))
        assert env.type == expected
        assert env.operation == expected.split(".")[1]

    def test_a_user_remove_with_another_identity_is_deleted_not_expired(self):
        record = a_stream_record("REMOVE")
        record["userIdentity"] = {"principalId": "someone", "type": "Service"}
        assert envelope_of(record).type == "order.deleted"

    def test_entity_attribute_wins_and_is_lower_cased(self):
        record = a_stream_record(new={"pk": "ORDER#1", "sk": "x", "kind": "Invoice"})
        assert envelope_of(record, EntityRules(entity_attribute="kind")).type == "invoice.created"

    def test_entity_attribute_is_read_from_the_old_image_on_remove(self):
        record = a_stream_record("REMOVE", old={"pk": "ORDER#1", "sk": "x", "kind": "Invoice"})
        assert envelope_of(record, EntityRules(entity_attribute="kind")).type == "invoice.deleted"

    def test_missing_entity_attribute_falls_back_to_partition_key_prefix(self):
        record = a_stream_record(keys={"pk": "Customer#7", "sk": "PROFILE"})
        assert envelope_of(record, EntityRules(entity_attribute="kind")).type == "customer.created"

    def test_configured_partition_key_is_used_for_the_prefix(self):
        record = a_stream_record(keys={"pk": "tenant-1", "sk": "LINE#3"})
        assert envelope_of(record, EntityRules(partition_key="pk")).entity == "orders"
        assert envelope_of(record, EntityRules(partition_key="sk")).entity == "line"

    def test_table_name_when_no_prefix(self):
        record = a_stream_record(keys={"id": 101})
        assert envelope_of(record).type == "orders.created"


class TestData:
    """data.keys / new / old as plain JSON, null where the view type carries no image."""

    def test_images_and_changed_attributes_on_update(self):
        record = a_stream_record(
            "MODIFY",
            new={"pk": "ORDER#42", "sk": "META", "status": "SHIPPED", "total": 10, "note": "x"},
            old={"pk": "ORDER#42", "sk": "META", "status": "PLACED", "total": 10, "gone": 1},
        )
        data = envelope_of(record).data
        assert data is not None
        assert data.keys == {"pk": "ORDER#42", "sk": "META"}
        assert data.new is not None
        assert data.new["status"] == "SHIPPED"
        assert data.old is not None
        assert data.old["status"] == "PLACED"
        assert data.changed == ["gone", "note", "status"]

    def test_a_reordered_set_is_not_a_change(self):
        record = a_stream_record(
            "MODIFY",
            new={"pk": "A#1", "sk": "s", "tags": {"b", "a"}},
            old={"pk": "A#1", "sk": "s", "tags": {"a", "b"}},
        )
        record["dynamodb"]["OldImage"]["tags"]["SS"].reverse()
        assert envelope_of(record).data.changed == []

    def test_insert_and_remove_have_no_changed_list(self):
        assert envelope_of(a_stream_record("INSERT")).data.changed is None
        assert envelope_of(a_stream_record("REMOVE")).data.changed is None

    @pytest.mark.parametrize(
        ("view", "has_new", "has_old"),
        [
            ("KEYS_ONLY", False, False),
            ("NEW_IMAGE", True, False),
            ("OLD_IMAGE", False, True),
            ("NEW_AND_OLD_IMAGES", True, True),
        ],
    )
    def test_view_types(self, view, has_new, has_old):
        data = envelope_of(a_stream_record("MODIFY", view=view)).data
        assert data.keys == {"pk": "ORDER#42", "sk": "META"}
        assert (data.new is not None) == has_new
        assert (data.old is not None) == has_old
        assert (data.changed is not None) == (has_new and has_old)

    def test_numbers_keep_every_digit_in_the_published_text(self):
        record = a_stream_record(
            new={"pk": "A#1", "sk": "s", "big": Decimal("1" * 38), "tenth": Decimal("0.1")}
        )
        body = to_outbound(record, RULES).body
        assert '"big":' + "1" * 38 in body
        assert '"tenth":0.1' in body
        assert envelope_of(record).data.new["big"] == int("1" * 38)


class TestRealEvents:
    """The sample `sam local generate-event dynamodb update` prints."""

    def test_every_sample_record_normalises(self):
        event = load_event("dynamodb-update.json")
        envelopes = [envelope_of(r) for r in event["Records"]]
        assert [e.type for e in envelopes] == [
            "exampletablewithstream.created",
            "exampletablewithstream.updated",
            "exampletablewithstream.deleted",
        ]
        assert envelopes[1].data.changed == ["Message"]
        assert envelopes[0].subject == '{"Id":101}'


class TestAttributesForFilterPolicies:
    """SNS message attributes carry what subscriptions filter on, within SNS's limit of 10."""

    def test_attributes(self):
        out = to_outbound(a_stream_record("MODIFY"), RULES)
        attrs = {k: v["StringValue"] for k, v in out.attributes.items()}
        assert attrs == {
            "type": "order.updated",
            "entity": "order",
            "operation": "updated",
            "table": "Orders",
            "schemaversion": "1",
            "changed": '["status"]',
        }
        assert out.attributes["changed"]["DataType"] == "String.Array"
        assert len(out.attributes) <= 10

    def test_size_counts_body_and_attributes_in_utf8_bytes(self):
        out = to_outbound(a_stream_record(new={"pk": "A#1", "sk": "s", "t": "日本"}), RULES)
        attrs = sum(
            len(k) + len(v["DataType"]) + len(v["StringValue"].encode())
            for k, v in out.attributes.items()
        )
        assert out.size == len(out.body.encode()) + attrs


class TestPoison:
    """Anything that can never normalise raises PoisonRecordError with a reason."""

    @pytest.mark.parametrize(
        ("mutate", "reason"),
        [
            (lambda r: r.pop("eventID"), "eventID"),
            (lambda r: r.update(eventName="UPSERT"), "eventName"),
            (lambda r: r.update(eventSourceARN="arn:aws:sqs:x"), "eventSourceARN"),
            (lambda r: r.pop("dynamodb"), "dynamodb"),
            (lambda r: r["dynamodb"].pop("Keys"), "Keys"),
            (lambda r: r["dynamodb"].pop("SequenceNumber"), "SequenceNumber"),
            (lambda r: r["dynamodb"].update(SequenceNumber="12a"), "SequenceNumber"),
            (lambda r: r["dynamodb"].update(SequenceNumber="1" * 41), "SequenceNumber"),
            (
                lambda r: r["dynamodb"].pop("ApproximateCreationDateTime"),
                "ApproximateCreationDateTime",
            ),
            (lambda r: r["dynamodb"]["NewImage"].update(x={"Q": "1"}), "unknown attribute type"),
            (lambda r: r["dynamodb"].update(NewImage=[1]), "NewImage"),
        ],
    )
    def test_bad_shapes(self, mutate, reason):
        record = a_stream_record("INSERT")
        mutate(record)
        with pytest.raises(PoisonRecordError, match=reason):
            to_outbound(record, RULES)

    def test_not_an_object(self):
        with pytest.raises(PoisonRecordError):
            to_outbound("nope", RULES)  # type: ignore[arg-type]

    def test_padded_sequence_rejects_non_ascii_digits(self):
        with pytest.raises(PoisonRecordError):
            padded_sequence("١٢٣")


class TestPointer:
    """The claim-check pointer keeps every context attribute and swaps data for dataref."""

    def test_pointer_body(self):
        out = to_outbound(a_stream_record("INSERT"), RULES)
        pointer = parse_envelope(pointer_body(out.body, "s3://bucket-1/envelopes/x.json"))
        full = parse_envelope(out.body)
        assert pointer.is_pointer
        assert pointer.data is None
        assert pointer.dataref == "s3://bucket-1/envelopes/x.json"
        assert pointer.model_dump(exclude={"data", "dataref"}) == full.model_dump(
            exclude={"data", "dataref"}
        )
        assert "data" not in json.loads(pointer_body(out.body, "s3://bucket-1/k"))
