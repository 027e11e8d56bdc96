"""Every record is published or kept, and the shard resumes at the earliest one that was not.

The real router, publisher, claim check and DLQ writer over in-memory AWS
(``support.router_doubles``), which holds them to SNS's and SQS's limits.
"""

from __future__ import annotations

import json
from typing import Any

from support.builders import a_batch, a_stream_record
from support.router_doubles import ROUTE_SECONDS, a_memory_hub

from hubcommon.limits import SNS_MIN_MESSAGE_BYTES
from router.deadline import Deadline
from schemas import parse_envelope


def _route(hub: Any, *records: dict[str, Any]) -> Any:
    return hub.router.route(
        a_batch(*records), Deadline.after(ROUTE_SECONDS), {"request_id": "req-1"}
    )


def _letters(hub: Any) -> list[dict[str, Any]]:
    return [json.loads(body) for body in hub.sqs.messages]


def _failing(*sequences: str) -> Any:
    marks = [f'"sequence":"{s.zfill(40)}"' for s in sequences]
    return lambda body: any(mark in body for mark in marks)


class TestCheckpointByPosition:
    """Records sharing an eventID are still told apart: the shard resumes at the earliest failure."""

    def test_the_earlier_of_two_records_with_one_event_id_fails(self):
        first = a_stream_record(event_id="same", sequence="100000000000000000001")
        second = a_stream_record(event_id="same", sequence="100000000000000000002")
        hub = a_memory_hub(sns_fails=_failing("100000000000000000001"))

        response = _route(hub, first, second)

        assert response == {"batchItemFailures": [{"itemIdentifier": "100000000000000000001"}]}
        assert [parse_envelope(e["Message"]).sequence[-3:] for e in hub.sns.published] == ["002"]

    def test_the_later_of_two_records_with_one_event_id_fails(self):
        first = a_stream_record(event_id="same", sequence="100000000000000000001")
        second = a_stream_record(event_id="same", sequence="100000000000000000002")
        hub = a_memory_hub(sns_fails=_failing("100000000000000000002"))

        assert _route(hub, first, second) == {
            "batchItemFailures": [{"itemIdentifier": "100000000000000000002"}]
        }

    def test_a_rejected_record_sharing_an_event_id_is_the_one_dead_lettered(self):
        first = a_stream_record(event_id="same", sequence="100000000000000000001")
        second = a_stream_record(event_id="same", sequence="100000000000000000002")
        hub = a_memory_hub()
        hub.sns.rejects = _failing("100000000000000000001")

        assert _route(hub, first, second) == {"batchItemFailures": []}

        (letter,) = _letters(hub)
        assert letter["reason"] == "rejected"
        assert letter["record"] == first


class TestPointerOverTheLimit:
    """A claim-check pointer that is itself too big for the topic is poison, not a failed batch."""

    def test_a_long_key_on_a_small_topic_goes_to_the_dlq_and_the_rest_is_published(self):
        long_key = {"pk": "ORDER#" + "k" * 700, "sk": "s" * 400}
        big = a_stream_record(keys=long_key, new={**long_key, "blob": "x" * 5_000})
        good = a_stream_record(keys={"pk": "ORDER#1", "sk": "META"})
        hub = a_memory_hub(SNS_MIN_MESSAGE_BYTES)

        response = _route(hub, big, good)

        assert response == {"batchItemFailures": []}
        assert [parse_envelope(e["Message"]).subject for e in hub.sns.published] == [
            '{"pk":"ORDER#1","sk":"META"}'
        ]
        (letter,) = _letters(hub)
        assert letter["reason"] == "poison"
        assert letter["record"] == big
        assert "claim-check pointer" in letter["error"]["message"]
        assert not any(key.startswith("envelopes/") for key in hub.s3.objects)

    def test_a_pointer_that_fits_is_published(self):
        record = a_stream_record(new={"pk": "ORDER#42", "sk": "META", "blob": "x" * 5_000})
        hub = a_memory_hub(SNS_MIN_MESSAGE_BYTES)
        assert _route(hub, record) == {"batchItemFailures": []}
        (entry,) = hub.sns.published
        assert parse_envelope(entry["Message"]).is_pointer


class TestOversizeDeadLetters:
    """Each oversize dead letter gets its own object, even with no sequence numbers to tell them apart."""

    def test_two_without_sequence_numbers_in_one_invocation(self):
        records = []
        for blob in ("a", "b"):
            record = a_stream_record(new={"pk": "ORDER#1", "sk": "s", "blob": blob * 300_000})
            del record["dynamodb"]["SequenceNumber"]
            records.append(record)
        hub = a_memory_hub()

        _route(hub, *records)

        refs = [letter["record_ref"] for letter in _letters(hub)]
        assert len(set(refs)) == 2
        assert hub.s3.overwritten == []
        stored = [json.loads(hub.s3.objects[ref.split("/", 3)[3]])["record"] for ref in refs]
        assert stored == records


class TestDeadLettersInSqsCharacters:
    """A record holding characters SQS refuses is still dead-lettered, and reads back exactly."""

    def test_noncharacters_and_lone_surrogates(self):
        record = a_stream_record(
            "INSERT", new={"pk": "ORDER#1", "sk": "s", "note": "a\ufffeb\uffff"}
        )
        record["dynamodb"]["NewImage"]["bad"] = {"S": "\ud800 lone"}
        record["dynamodb"]["NewImage"]["more"] = {"SS": ["\udfff", 3]}
        hub = a_memory_hub()

        assert _route(hub, record) == {"batchItemFailures": []}

        (letter,) = _letters(hub)  # the double refuses what SQS refuses
        assert letter["record"] == record
