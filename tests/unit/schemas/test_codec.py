"""Envelope JSON is read and written without losing a digit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from support.builders import a_stream_record

from router.normalise import EntityRules, to_outbound
from schemas import codec, parse_envelope

# DynamoDB's widest number: 38 significant digits.
THIRTY_EIGHT_DIGITS = "12345678901234567890123456789012345678"


class TestRoundTrip:
    """What ``loads`` reads, ``dumps`` writes back as the same text."""

    def test_a_38_digit_integer_and_a_decimal_fraction_survive_exactly(self):
        # GIVEN a document with numbers a float would round
        text = '{"big":' + THIRTY_EIGHT_DIGITS + ',"tenth":0.1,"neg":-' + THIRTY_EIGHT_DIGITS + "}"

        # WHEN it is read and written back
        value = codec.loads(text)
        written = codec.dumps(value)

        # THEN every digit is kept, as numbers, not strings
        assert value == {
            "big": int(THIRTY_EIGHT_DIGITS),
            "tenth": Decimal("0.1"),
            "neg": -int(THIRTY_EIGHT_DIGITS),
        }
        assert written == text

    def test_nested_values_strings_and_literals_are_plain_json(self):
        text = '{"a":[1,2.50,{"b":null}],"c":true,"d":false,"e":"zoë \\"q\\""}'

        assert codec.dumps(codec.loads(text)) == text

    @pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
    def test_a_value_json_cannot_hold_is_refused(self, bad):
        with pytest.raises(ValueError, match="not a JSON number"):
            codec.dumps({"n": bad})

    def test_a_float_is_refused_rather_than_rounded(self):
        with pytest.raises(TypeError, match="float"):
            codec.dumps(0.1)  # type: ignore[arg-type]


class TestRfc3339:
    """Envelope times are UTC with 'Z', and a fraction only when there is one."""

    @pytest.mark.parametrize(
        ("moment", "text"),
        [
            (datetime(2025, 11, 27, tzinfo=UTC), "2025-11-27T00:00:00Z"),
            (datetime(2025, 11, 27, 0, 0, 0, 250_000, tzinfo=UTC), "2025-11-27T00:00:00.250Z"),
            (datetime(2025, 11, 27, 0, 0, 0, 250_001, tzinfo=UTC), "2025-11-27T00:00:00.250001Z"),
            (
                datetime(2025, 11, 27, 2, 0, tzinfo=timezone(timedelta(hours=2))),
                "2025-11-27T00:00:00Z",
            ),
        ],
    )
    def test_format(self, moment, text):
        assert codec.rfc3339(moment) == text


class TestEnvelopeJson:
    """An envelope written back is the envelope the router published."""

    def test_the_published_envelope_is_written_back_unchanged(self):
        # GIVEN an envelope whose item holds exact numbers
        record = a_stream_record(
            new={
                "pk": "ORDER#1",
                "sk": "META",
                "total": Decimal("0.1"),
                "n": int(THIRTY_EIGHT_DIGITS),
            }
        )
        published = to_outbound(record, EntityRules()).body

        # WHEN a consumer parses it and writes it again
        written = codec.envelope_json(parse_envelope(published))

        # THEN the same document comes out, numbers included
        assert codec.loads(written) == codec.loads(published)
        assert '"total":0.1' in written
        assert f'"n":{THIRTY_EIGHT_DIGITS}' in written
