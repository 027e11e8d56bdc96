"""The fast normaliser writes exactly what the fully checked one does, and it is a valid envelope.

``to_outbound`` takes a short path for well-formed records (text from cached
pieces, no model built) and hands anything unusual to the reference path,
which spells every check out. These properties pin the two together: same
``Outbound`` field for field, same error for a malformed record, and a body
the published schema accepts.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.builders import a_stream_record

from router import normalise
from router.errors import PoisonRecordError
from router.normalise import EntityRules, _normalise, _normalise_checked, to_outbound
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


def _both(record: dict[str, Any], rules: EntityRules) -> tuple[object, object]:
    outcomes = []
    for path in (_normalise, _normalise_checked):
        try:
            outcomes.append(path(copy.deepcopy(record), rules, None))
        except PoisonRecordError as exc:
            outcomes.append(f"PoisonRecordError: {exc}")
    return outcomes[0], outcomes[1]


class TestFastPathMatchesReference:
    """For any record, the fast path's result is the reference path's, byte for byte."""

    @settings(max_examples=200, deadline=None)
    @given(stream_records(), _rules)
    def test_same_outbound_or_same_error(self, record, rules):
        fast, reference = _both(record, rules)
        assert fast == reference

    @settings(max_examples=80, deadline=None)
    @given(stream_records(), _rules)
    def test_fast_output_is_a_valid_envelope_with_the_same_data(self, record, rules):
        try:
            out = to_outbound(record, rules)
        except PoisonRecordError:
            return  # covered by the property above: the reference refuses it too
        envelope = parse_envelope(out.body)
        raw = codec.loads(out.body)
        assert envelope.id == out.envelope_id
        assert envelope.subject == out.subject
        assert raw["data"]["keys"] == codec.loads(out.subject)
        assert codec.loads(codec.envelope_json(envelope)) == raw

    @settings(max_examples=60, deadline=None)
    @given(
        stream_records(),
        st.sampled_from(["NewImage", "OldImage", "Keys"]),
        st.sampled_from(
            [{"N": "NaN"}, {"ZZ": "1"}, {"S": 3}, {"BOOL": 1}, {"NULL": 1}, {"S": None}, {"M": []}]
        ),
    )
    def test_a_malformed_value_gives_the_reference_error(self, record, image, bad):
        if image not in record["dynamodb"]:
            return
        record["dynamodb"][image]["bad"] = bad
        fast, reference = _both(record, EntityRules())
        assert isinstance(fast, str)
        assert fast == reference


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
        fast, reference = _both(record, EntityRules())
        assert (
            fast
            == reference
            == (
                "PoisonRecordError: dynamodb.OldImage.flag: BOOL value is a JSON number, not true or false"
            )
        )
