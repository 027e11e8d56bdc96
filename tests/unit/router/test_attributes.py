"""DynamoDB attribute values become plain JSON without losing anything."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st
from support.builders import ddb

from router.attributes import map_text, number_text, sns_safe, value_text
from router.errors import PoisonRecordError
from schemas import codec


class TestNumbers:
    """Every digit DynamoDB gave survives, with no float anywhere."""

    def test_a_38_digit_integer_is_exact(self):
        digits = "12345678901234567890123456789012345678"
        assert codec.loads(value_text({"N": digits})) == int(digits)
        assert value_text({"N": digits}) == digits

    def test_one_tenth_is_exactly_one_tenth(self):
        assert value_text({"N": "0.1"}) == "0.1"
        assert codec.loads(value_text({"N": "0.1"})) == Decimal("0.1")

    def test_38_significant_digits_after_the_point_are_kept(self):
        text = "3.1415926535897932384626433832795028841"
        assert codec.loads(value_text({"N": text})) == Decimal(text)

    def test_non_json_number_forms_are_normalised_not_rejected(self):
        assert codec.loads(number_text("007")) == 7
        assert codec.loads(number_text("+5.50")) == Decimal("5.50")

    @pytest.mark.parametrize("bad", ["NaN", "Infinity", "abc", "", "1e"])
    def test_not_a_finite_number_is_poison(self, bad):
        with pytest.raises(PoisonRecordError):
            value_text({"N": bad})


class TestOtherTypes:
    """Binary, sets, null, booleans, nesting, unicode and empty strings."""

    def test_binary_stays_base64(self):
        raw = base64.b64encode(b"\x00\xffhello").decode()
        assert codec.loads(value_text({"B": raw})) == raw

    def test_invalid_base64_is_poison(self):
        with pytest.raises(PoisonRecordError, match="base64"):
            value_text({"B": "not base64!"})

    def test_sets_become_sorted_arrays(self):
        assert codec.loads(value_text({"SS": ["pear", "apple", "Zed"]})) == ["Zed", "apple", "pear"]
        assert codec.loads(value_text({"NS": ["10", "9", "-1.5", "0.1"]})) == [
            Decimal("-1.5"),
            Decimal("0.1"),
            9,
            10,
        ]

    def test_binary_sets_sort_by_bytes_not_by_base64_text(self):
        members = [base64.b64encode(b).decode() for b in (b"\xff", b"\x00", b"\x10")]
        out = codec.loads(value_text({"BS": members}))
        assert [base64.b64decode(m) for m in out] == [b"\x00", b"\x10", b"\xff"]

    def test_null_bool_nested_unicode_and_empty_string(self):
        image = ddb(
            {
                "none": None,
                "yes": True,
                "empty": "",
                "text": 'naïve 日本 🚀 "quoted" \\ back',
                "nested": {"list": [1, "two", {"three": [Decimal("3.0")]}], "map": {}},
            }
        )
        assert codec.loads(map_text(image)) == {
            "none": None,
            "yes": True,
            "empty": "",
            "text": 'naïve 日本 🚀 "quoted" \\ back',
            "nested": {"list": [1, "two", {"three": [Decimal("3.0")]}], "map": {}},
        }

    @pytest.mark.parametrize(
        "bad",
        [{"X": "1"}, {"S": 1}, {"BOOL": "true"}, {"NULL": False}, {"M": []}, {"L": {}}, {}, "S"],
    )
    def test_unknown_or_malformed_values_are_poison(self, bad):
        with pytest.raises(PoisonRecordError):
            value_text(bad)

    def test_characters_sns_refuses_are_escaped_and_json_equivalent(self):
        text = sns_safe(map_text(ddb({"odd": "a\ufffeb\uffff"})))
        assert "\ufffe" not in text
        assert "\uffff" not in text
        assert codec.loads(text) == {"odd": "a\ufffeb\uffff"}


# The law: DynamoDB JSON -> envelope JSON -> Python is lossless against what
# boto3's TypeSerializer was given (sets read back as sorted lists, binary as base64).
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(),
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: d == 0 or (abs(d.adjusted()) < 120 and len(d.as_tuple().digits) <= 38)
    ),
    st.binary(min_size=1, max_size=32).map(Binary),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
        st.sets(st.text(), min_size=1, max_size=4),
        st.sets(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=4),
    ),
    max_leaves=12,
)


def _expected(value: object) -> object:
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode()
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    return value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _values, min_size=1, max_size=6))
def test_round_trip_through_type_serializer_is_lossless(item):
    serialized = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    lambda_format = ddb_binary_as_base64(serialized)
    assert codec.loads(map_text(lambda_format)) == _expected(item)


def ddb_binary_as_base64(value: object) -> object:
    """Lambda events carry binary as base64 strings; boto3 gives bytes."""
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: ddb_binary_as_base64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ddb_binary_as_base64(v) for v in value]
    return value
