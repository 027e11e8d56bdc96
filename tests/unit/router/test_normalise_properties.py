"""Laws of the normaliser over generated records: it is total, and what it writes is the item.

``to_outbound`` returns an envelope or raises ``PoisonRecordError``. Its data is
checked against an independent decoding of the same records (boto3's
``TypeDeserializer``), so the text writer cannot drift from DynamoDB's meaning,
and every body is parsed by the published schema.
"""

from __future__ import annotations

import base64
import copy
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer
from hypothesis import given, settings
from hypothesis import strategies as st
from support.builders import a_stream_record
from support.cloudevents import not_a_cloudevents_string

from router import normalise
from router.errors import PoisonRecordError
from router.normalise import EntityRules, to_outbound
from schemas import codec, parse_envelope, v1

_names = st.sampled_from(["pk", "sk", "status", "note", "total", "tags", "é", 'a"b', "kind"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    # Long strings take the byte-check path; some need escaping, some do not.
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", 'q"', "\\", "\t", "é", "\ufffe"]),
        st.integers(500, 700),
    ),
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.binary(min_size=1, max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
        st.sets(st.text(max_size=4), min_size=1, max_size=3),
        st.sets(st.integers(min_value=-50, max_value=50), min_size=1, max_size=3),
    ),
    max_leaves=6,
)
_items = st.dictionaries(_names, _values, max_size=6)
_keys = st.fixed_dictionaries(
    {"pk": st.sampled_from(["ORDER#1", "Cust#2", "#x", "plain", "naïve#3"])},
    optional={"sk": st.sampled_from(["META", "LINE#1", "é"])},
)
_rules = st.sampled_from(
    [EntityRules(), EntityRules(entity_attribute="kind"), EntityRules(partition_key="sk")]
)
_NOT_NUMBERS = ("NaN", "x")
_odd_numbers = st.sampled_from(["007", "+5.50", "1E+3", "-0", "1e-7", "NaN", "x", "1.5"])


@st.composite
def stream_records(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    keys = draw(_keys)
    new = {**draw(_items), **keys}
    # An update changes some attributes and keeps the rest: the old image shares values.
    old = {**new, **draw(_items), **keys} if draw(st.booleans()) else {**draw(_items), **keys}
    record = a_stream_record(
        op,
        keys=dict(reversed(keys.items())) if draw(st.booleans()) else keys,
        new=new,
        old=old,
        ttl=op == "REMOVE" and draw(st.booleans()),
        view=draw(st.sampled_from(["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"])),
        created=draw(st.sampled_from([1_764_201_600, 1_764_201_600.125, 0])),
    )
    for image in ("NewImage", "OldImage"):
        if image in record["dynamodb"] and draw(st.integers(0, 4)) == 0:
            record["dynamodb"][image]["odd"] = {"N": draw(_odd_numbers)}
    return record


_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    """What the envelope must carry for a value boto3 decoded: sets sorted, binary as base64."""
    if isinstance(value, Binary | bytes):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, set | frozenset):
        binary = any(isinstance(m, Binary | bytes) for m in value)
        return sorted((_plain(m) for m in value), key=base64.b64decode if binary else None)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _decoded(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """boto3's reading of a Lambda-format image (binary there is base64 text)."""
    if image is None:
        return None

    def bytes_of(value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((tag, raw),) = value.items()
            if tag == "B":
                return {"B": base64.b64decode(raw)}
            if tag == "BS":
                return {"BS": [base64.b64decode(b) for b in raw]}
            if tag == "M":
                return {"M": {k: bytes_of(v) for k, v in raw.items()}}
            if tag == "L":
                return {"L": [bytes_of(v) for v in raw]}
        return value

    return {k: _plain(_deserializer.deserialize(bytes_of(v))) for k, v in image.items()}


def _entity_value(dynamodb: dict[str, Any]) -> str:
    """The entity the ``kind`` attribute gives (the generator's only configured one), or ''."""
    for image in ("NewImage", "OldImage"):
        value = dynamodb.get(image, {}).get("kind", {})
        text = value.get("S", value.get("N")) if isinstance(value, dict) else None
        if isinstance(text, str) and text.strip():
            return text.strip().lower()
    return ""


class TestWhatIsWrittenIsTheItem:
    """For any well-formed record, the envelope's data is boto3's reading of the record."""

    @settings(max_examples=150, deadline=None)
    @given(stream_records(), _rules)
    def test_data_matches_an_independent_decoding(self, record, rules):
        dynamodb = record["dynamodb"]
        odd = [
            image
            for image in ("NewImage", "OldImage")
            if dynamodb.get(image, {}).get("odd", {}).get("N") in _NOT_NUMBERS
        ]
        if rules.entity_attribute and not_a_cloudevents_string(_entity_value(dynamodb)):
            # The entity is found before any value is written, so its reason comes first.
            with pytest.raises(PoisonRecordError, match=r"^entity "):
                to_outbound(record, rules)
            return
        if odd:
            with pytest.raises(PoisonRecordError, match=f"^dynamodb.{odd[0]}.odd: N value"):
                to_outbound(record, rules)
            return
        out = to_outbound(copy.deepcopy(record), rules)
        envelope = parse_envelope(out.body)
        data = envelope.data
        assert data.keys == _decoded(dynamodb["Keys"])
        assert data.new == _decoded(dynamodb.get("NewImage"))
        assert data.old == _decoded(dynamodb.get("OldImage"))
        assert envelope.id == out.envelope_id
        assert codec.loads(out.subject) == data.keys
        assert codec.loads(codec.envelope_json(envelope)) == codec.loads(out.body)
        if data.changed is not None:
            for name in data.new.keys() | data.old.keys():
                if data.new.get(name) != data.old.get(name):
                    assert name in data.changed

    @settings(max_examples=40, deadline=None)
    @given(stream_records(), _rules)
    def test_any_mapping_is_read_as_the_same_dict(self, record, rules):
        try:
            expected: object = to_outbound(copy.deepcopy(record), rules)
        except PoisonRecordError as exc:
            expected = str(exc)
        try:
            got: object = to_outbound(MappingProxyType(copy.deepcopy(record)), rules)
        except PoisonRecordError as exc:
            got = str(exc)
        assert got == expected

    @settings(max_examples=60, deadline=None)
    @given(
        stream_records(),
        st.sampled_from(["NewImage", "OldImage", "Keys"]),
        st.sampled_from(
            [{"N": "NaN"}, {"ZZ": "1"}, {"S": 3}, {"BOOL": 1}, {"NULL": 1}, {"S": None}, {"M": []}]
        ),
    )
    def test_a_malformed_value_is_poison_naming_where_it_is(self, record, image, bad):
        if image not in record["dynamodb"]:
            return
        for planted in ("NewImage", "OldImage"):  # the generator's own odd number may be poison
            record["dynamodb"].get(planted, {}).pop("odd", None)
        record["dynamodb"][image]["bad"] = bad
        with pytest.raises(PoisonRecordError, match=f"^dynamodb.{image}.bad: "):
            to_outbound(record, EntityRules())


def test_envelope_constants_are_the_models():
    # The router writes them without importing the model; they must not drift apart.
    assert (normalise.SPECVERSION, normalise.CONTENT_TYPE) == (v1.SPECVERSION, v1.CONTENT_TYPE)
    assert (normalise.DATASCHEMA, normalise.SCHEMA_VERSION) == (v1.DATASCHEMA, v1.SCHEMA_VERSION)


class TestSharedValuesInAnUpdate:
    """An unchanged string is written once per image and never listed as changed."""

    def test_equal_strings_are_unchanged_and_written_in_both_images(self):
        note = "n" * 900
        record = a_stream_record(
            "MODIFY",
            new={"pk": "ORDER#1", "sk": "META", "note": note, "total": Decimal("2.50")},
            old={"pk": "ORDER#1", "sk": "META", "note": note, "total": Decimal("2.5")},
        )
        out = to_outbound(record, EntityRules())
        data = codec.loads(out.body)["data"]
        assert data["new"]["note"] == data["old"]["note"] == note
        assert data["changed"] == ["total"]
        assert out.attributes["changed"]["StringValue"] == '["total"]'

    def test_a_value_equal_in_python_but_not_in_json_is_still_refused(self):
        # 1 == True in Python, yet {"BOOL": 1} is not DynamoDB JSON.
        record = a_stream_record("MODIFY")
        record["dynamodb"]["NewImage"]["flag"] = {"BOOL": True}
        record["dynamodb"]["OldImage"]["flag"] = {"BOOL": 1}
        with pytest.raises(PoisonRecordError) as refused:
            to_outbound(record, EntityRules())
        assert str(refused.value) == (
            "dynamodb.OldImage.flag: BOOL value is a JSON number, not true or false"
        )
