"""Each class of malformed input is poison with a reason, never an exception of another kind.

A record the normaliser cannot turn into an envelope must reach the router DLQ
(``PoisonRecordError``); anything else it raises fails the whole batch. Every
class below is generated, not one example, and each reason must name where the
value is and its type, never the value: reasons are logged.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.builders import a_stream_record

from router.errors import PoisonRecordError
from router.normalise import EntityRules, to_outbound
from schemas import parse_envelope

RULES = EntityRules()
SECRET = "s3cr3t-VALUE"  # seeded into bad values: no reason may repeat it

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)
_lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


def _with_bad(value: dict[str, Any], where: str = "NewImage") -> dict[str, Any]:
    record = a_stream_record("MODIFY")
    record["dynamodb"][where]["bad"] = value
    return record


def _poison_reason(record: dict[str, Any]) -> str:
    with pytest.raises(PoisonRecordError) as caught:
        to_outbound(record, RULES)
    reason = str(caught.value)
    assert SECRET not in reason
    return reason


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _in_dynamodb_range(value: Decimal) -> bool:
    if not value:
        return True
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    return len(digits) <= 38 and -130 <= value.adjusted() <= 125


class TestSetsWithMixedMembers:
    """A set member of another JSON type is poison naming the set and the member's place."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.sampled_from(["SS", "NS", "BS"]),
        st.lists(st.just(SECRET), max_size=3),
        _json_scalars.filter(lambda v: not isinstance(v, str)),
        st.data(),
    )
    def test_a_member_of_another_type(self, tag, good, odd, data):
        good = {"SS": good, "NS": ["1"] * len(good), "BS": ["AAAA"] * len(good)}[tag]
        members = [*good]
        members.insert(data.draw(st.integers(0, len(members))), odd)
        reason = _poison_reason(
            _with_bad({tag: members}, data.draw(st.sampled_from(["NewImage", "OldImage"])))
        )
        assert reason.startswith("dynamodb.")
        assert f".bad[{members.index(odd)}]: {tag} value is a JSON" in reason


class TestBinary:
    """Binary that is not ASCII base64 is poison, whatever its characters."""

    @settings(max_examples=80, deadline=None)
    @given(st.text(min_size=1, max_size=12).filter(lambda t: not t.isascii()), st.booleans())
    def test_non_ascii_text(self, text, in_a_set):
        value = {"BS": ["AAAA", text]} if in_a_set else {"B": text}
        reason = _poison_reason(_with_bad(value))
        assert "base64" in reason
        assert reason.startswith("dynamodb.NewImage.bad")


class TestNumbers:
    """Only numbers DynamoDB can hold are published; the rest are poison, quickly."""

    @settings(max_examples=80, deadline=None)
    @given(
        st.one_of(
            st.integers(39, 2000).map(lambda n: "9" * n),  # more than 38 digits
            st.integers(126, 10**20).map(lambda e: f"1E+{e}"),  # beyond 1E+126
            st.integers(131, 10**20).map(lambda e: f"1E-{e}"),  # below 1E-130
            st.sampled_from(["NaN", "Infinity", "-inf", "sNaN", "1e999999999999999999999", ""]),
            st.text(max_size=8).filter(lambda t: t.strip() and not _is_decimal(t)),
            st.integers(1025, 5000).map(lambda n: "0." + "0" * n + "1"),
        ),
        st.sampled_from(["N", "NS"]),
    )
    def test_not_a_dynamodb_number(self, text, tag):
        value = {"N": text} if tag == "N" else {"NS": ["1", text]}
        reason = _poison_reason(_with_bad(value))
        assert f"{tag} value" in reason
        assert reason.startswith("dynamodb.NewImage.bad")

    @settings(max_examples=80, deadline=None)
    @given(
        st.decimals(allow_nan=False, allow_infinity=False).filter(_in_dynamodb_range),
        st.sampled_from(["{}", "{:E}", "{:f}"]),
    )
    def test_every_dynamodb_number_is_published_exactly(self, number, form):
        text = form.format(number)
        record = a_stream_record("INSERT")
        record["dynamodb"]["NewImage"]["n"] = {"N": text}
        published = parse_envelope(to_outbound(record, RULES).body).data.new["n"]
        assert Decimal(published) == number


class TestLoneSurrogates:
    """Text that is not Unicode (a lone surrogate) is poison naming where it is."""

    @settings(max_examples=60, deadline=None)
    @given(_lone_surrogates, st.sampled_from(["S", "SS", "name", "nested", "eventID", "key"]))
    def test_anywhere_in_a_record(self, surrogate, place):
        record = a_stream_record("INSERT")
        bad = SECRET + surrogate
        new = record["dynamodb"]["NewImage"]
        expected = "dynamodb.NewImage.x"
        if place == "S":
            new["x"] = {"S": bad}
        elif place == "SS":
            new["x"] = {"SS": ["a", bad]}
        elif place == "name":
            new[bad] = {"S": "v"}
            expected = "dynamodb.NewImage: an attribute name"
        elif place == "nested":
            new["x"] = {"M": {"y": {"L": [{"S": "ok"}, {"S": bad}]}}}
            expected = "dynamodb.NewImage.x.y[1]"
        elif place == "eventID":
            record["eventID"] = bad
            expected = "eventID"
        else:
            record["dynamodb"]["Keys"]["pk"] = {"S": bad}
            expected = "dynamodb.Keys.pk"
        reason = _poison_reason(record)
        assert reason.startswith(expected)
        assert "surrogate" in reason


class TestCreationTime:
    """A creation time outside RFC 3339's years (or not a time at all) is poison."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.one_of(
            st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 10**400]),
            st.floats(min_value=253_402_300_800, allow_infinity=False, allow_nan=False),
            st.floats(max_value=-62_135_596_801, allow_infinity=False, allow_nan=False),
            st.integers(min_value=253_402_300_800),
        )
    )
    def test_out_of_range(self, created):
        reason = _poison_reason(a_stream_record("INSERT", created=created))
        assert reason.startswith("dynamodb.ApproximateCreationDateTime")

    @settings(max_examples=60, deadline=None)
    @given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
    def test_every_time_in_range_is_published_as_rfc_3339(self, millis):
        record = a_stream_record("INSERT", created=millis / 1000)
        body = to_outbound(record, RULES).body
        envelope = parse_envelope(body)
        assert abs(envelope.time.timestamp() * 1000 - millis) <= 1
        assert f'"time":"{envelope.time.year:04d}-' in body


def test_a_reason_never_holds_the_value():
    """One sample per class, each carrying a secret: the reasons name places and types only."""
    samples = [
        {"N": SECRET},
        {"B": SECRET + "é"},
        {"SS": [SECRET, 1]},
        {"BOOL": SECRET},
        {SECRET: "x"},
        [SECRET],
        {"M": {"a": {"N": SECRET}}},
    ]
    for value in samples:
        _poison_reason(_with_bad(value))  # type: ignore[arg-type]
