"""The router over arbitrary records: never raises, every record published or kept, checkpoint by position.

Hypothesis builds batches of stream records, in every stream view type, whose
attribute values are valid or not (wrong JSON types, sets of mixed members,
binary that is not base64, numbers DynamoDB cannot hold, lone surrogates,
noncharacters, creation times out of range), often sharing an eventID, and
runs the real router over in-memory SNS/SQS/S3 (``support.router_doubles``)
that fail some calls. For every batch:

- every published message is a strict CloudEvents 1.0 event that ``schemas``
  parses (a claim-check pointer's stored envelope too);
- every record is published or dead-lettered whole with a reason, except those
  from the earliest one not handled, where the shard resumes (by position);
- no item value reaches a poison reason or a log line (but the event type, which
  the operator chose to expose).

ROUTER_FUZZ_EXAMPLES sets how many batches (default small, for ``make test``;
``ROUTER_FUZZ_EXAMPLES=5000`` for a soak).
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from support.cloudevents import strict_cloudevent
from support.router_doubles import BUCKET, ROUTE_SECONDS, a_memory_hub

from router.core import IncompleteBatchError
from router.deadline import Deadline
from router.errors import PoisonRecordError
from router.normalise import EntityRules, sequence_number_of, to_outbound
from schemas import parse_envelope

EXAMPLES = int(os.environ.get("ROUTER_FUZZ_EXAMPLES", "100"))
# Every string *value* starts with this mark and no name holds it: a mark in a
# reason or a log line is an item value leaking.
MARK = "\u2603"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-27T00:00:00.000"
VIEWS = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")

# Plain text with, sometimes, one character of the kinds that break things: lone
# surrogates, noncharacters, C1 controls, quotes. (Drawn as one piece, not per character:
# the generator, not the router, would otherwise be most of the test's time.)
_odd_char = st.sampled_from(
    [
        "",
        "",
        "",
        "\ud800",
        "\udfff",
        "\ufffe",
        "\uffff",
        "\ufdd0",
        "\x85",
        "\x00",
        "\U0001fffe",
        '"',
        "\\",
    ]
)
_text = st.builds(
    lambda head, odd, tail: head + odd + tail,
    st.text(max_size=3).filter(lambda t: MARK not in t),
    _odd_char,
    st.sampled_from(["", "x", "é", "日本"]),
)
_value_text = _text.map(lambda t: MARK + t)
_names = st.one_of(
    st.sampled_from(["pk", "sk", "status", "kind", "total", "é", 'a"b', ""]),
    _text,
)
_good_numbers = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.sampled_from(["1E+125", "-1E-130", "0", "-0", "007", "+5.50", "1e-7"]),
)
_bad_numbers = st.one_of(
    st.sampled_from(
        ["NaN", "Infinity", "1e999999999999999999999", "9" * 39, "1E+126", "1E-131", ""]
    ),
    _value_text,
)
_b64 = st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())


def _scalars(bad: bool) -> st.SearchStrategy[Any]:
    good = [
        st.builds(lambda s: {"S": s}, _value_text),
        st.builds(lambda n: {"N": n}, _good_numbers),
        st.builds(lambda b: {"B": b}, _b64),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda m: {"SS": sorted(m)}, st.sets(_value_text, min_size=1, max_size=3)),
        st.builds(
            lambda m: {"NS": m}, st.lists(_good_numbers, min_size=1, max_size=3, unique=True)
        ),
        st.builds(lambda m: {"BS": m}, st.lists(_b64, min_size=1, max_size=3, unique=True)),
    ]
    if not bad:
        return st.one_of(*good)
    anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _value_text)
    return st.one_of(
        *good,
        st.builds(lambda n: {"N": n}, _bad_numbers),
        st.builds(lambda b: {"B": b}, _value_text),
        st.builds(
            lambda t, v: {t: v},
            st.sampled_from(["S", "N", "B", "BOOL", "NULL", "M", "L"]),
            anything,
        ),
        st.builds(
            lambda t, m: {t: m},
            st.sampled_from(["SS", "NS", "BS"]),
            st.lists(st.one_of(anything, _b64, _good_numbers), min_size=1, max_size=3),
        ),
        st.builds(lambda v: {"ZZ": v}, _value_text),
        st.builds(lambda v: {"S": v, "N": "1"}, _value_text),
        anything,
    )


def _values(bad: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(bad),
        lambda inner: st.one_of(
            st.builds(lambda m: {"M": m}, st.dictionaries(_names, inner, max_size=3)),
            st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        ),
        max_leaves=5,
    )


# Built once: a strategy made per draw is rebuilt (and re-validated) every time.
_SCALARS = {bad: _scalars(bad) for bad in (False, True)}
_VALUES = {bad: _values(bad) for bad in (False, True)}


@st.composite
def records(draw: st.DrawFn, event_ids: list[str]) -> Any:
    """One stream record: mostly well formed, often with a bad value somewhere, sometimes not a record."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), _value_text, st.just({}), st.just([])))
    bad = draw(st.booleans())
    values = _VALUES[bad]
    op = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    view = draw(st.sampled_from(VIEWS))
    keys = draw(st.dictionaries(st.sampled_from(["pk", "sk"]), _SCALARS[bad], min_size=1))
    new = {**draw(st.dictionaries(_names, values, max_size=3)), **keys}
    old = {**draw(st.dictionaries(_names, values, max_size=3)), **keys}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": draw(
            st.one_of(
                st.sampled_from([1_764_201_600, 1_764_201_600.125]),
                st.floats() if bad else st.integers(0, 253_402_300_799),
                st.integers() if bad else st.just(0),
            )
        ),
        "Keys": keys,
        "SequenceNumber": draw(
            st.one_of(
                st.integers(10**20, 10**21).map(str),
                st.sampled_from(["12a", "", "1" * 41])
                if bad
                else st.integers(10**20, 10**39).map(str),
            )
        ),
        "SizeBytes": 100,
        "StreamViewType": view,
    }
    if op != "REMOVE" and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["NewImage"] = new
    if op != "INSERT" and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["OldImage"] = old
    if bad and draw(st.integers(0, 5)) == 0:
        del dynamodb["SequenceNumber"]
    record = {
        "eventID": draw(st.sampled_from(event_ids)),
        "eventName": op,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN if not bad or draw(st.integers(0, 9)) else draw(_value_text),
    }
    if op == "REMOVE" and draw(st.booleans()):
        record["userIdentity"] = {"principalId": "dynamodb.amazonaws.com", "type": "Service"}
    return record


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    # A small pool, so that records often share an eventID (and so an envelope id).
    event_ids = draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3))
    return draw(st.lists(records(event_ids), min_size=1, max_size=6))


def _fails(salt: int, one_in: int) -> Any:
    return lambda body: one_in > 0 and zlib.crc32(body.encode() + bytes([salt])) % one_in == 0


def _expected_body(record: Any, rules: EntityRules) -> str | None:
    try:
        return to_outbound(record, rules).body
    except PoisonRecordError:
        return None


def _published_envelopes(hub: Any) -> Counter[str]:
    """Each published envelope (a pointer's stored one), after checking it is a strict CloudEvent."""
    published: Counter[str] = Counter()
    for entry in hub.sns.published:
        strict_cloudevent(entry["Message"])
        envelope = parse_envelope(entry["Message"])
        body = entry["Message"]
        if envelope.is_pointer:
            body = hub.s3.objects[envelope.dataref.removeprefix(f"s3://{BUCKET}/")].decode()
            strict_cloudevent(body)
            assert parse_envelope(body).id == envelope.id
        published[body] += 1
    return published


def _dead_lettered_records(hub: Any) -> Counter[str]:
    """Each dead-lettered record, after checking its letter has a reason holding no value."""
    letters: Counter[str] = Counter()
    for message in hub.sqs.messages:
        letter = json.loads(message)
        assert letter["reason"] in ("poison", "rejected")
        assert letter["error"]["message"]
        assert MARK not in letter["error"]["message"]
        if "record_ref" in letter:
            stored = hub.s3.objects[letter["record_ref"].removeprefix(f"s3://{BUCKET}/")]
            letter = json.loads(stored)
        letters[json.dumps(letter["record"], sort_keys=True)] += 1
    assert hub.s3.overwritten == []
    return letters


def _unhandled(
    batch: list[Any], published: Counter[str], letters: Counter[str], rules: EntityRules
) -> list[int]:
    """Positions of the records neither published nor dead-lettered (each match used once)."""
    unhandled = []
    for index, record in enumerate(batch):
        body = _expected_body(record, rules)
        whole = json.dumps(record, sort_keys=True)
        if body is not None and published[body]:
            published[body] -= 1
        elif letters[whole]:
            letters[whole] -= 1
        else:
            unhandled.append(index)
    return unhandled


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    batch=batches(),
    limit=st.sampled_from([1024, 4096, 262_144]),
    salt=st.integers(0, 255),
    sns_one_in=st.sampled_from([0, 0, 3]),
    reject_one_in=st.sampled_from([0, 0, 4]),
    s3_down=st.booleans(),
    sqs_down=st.sampled_from([False, False, False, True]),
    entity_attribute=st.sampled_from([None, "kind"]),
)
def test_every_record_is_published_or_kept_and_the_shard_resumes_at_the_earliest_other(
    batch, limit, salt, sns_one_in, reject_one_in, s3_down, sqs_down, entity_attribute
):
    hub = a_memory_hub(limit, sns_fails=_fails(salt, sns_one_in), entity_attribute=entity_attribute)
    hub.sns.rejects = _fails(salt ^ 0xFF, reject_one_in)
    hub.s3.down, hub.sqs.down = s3_down, sqs_down
    rules = EntityRules(entity_attribute=entity_attribute)

    with capture_logs() as logs:
        try:
            response = hub.router.route({"Records": batch}, Deadline.after(ROUTE_SECONDS))
        except IncompleteBatchError:
            response = None

    published = _published_envelopes(hub)
    letters = _dead_lettered_records(hub)
    unhandled = _unhandled(batch, published, letters, rules)
    assert +published == Counter(), "published something that is no record of the batch"
    assert +letters == Counter(), "dead-lettered something that is no record of the batch"
    if not unhandled:
        assert response == {"batchItemFailures": []}
    else:
        earliest = sequence_number_of(batch[unhandled[0]])
        if earliest is None:
            assert response is None, "a failure with no sequence number must fail the whole batch"
        else:
            assert response == {"batchItemFailures": [{"itemIdentifier": earliest}]}

    for line in logs:
        # The event type is the one item-derived text a line may carry: the operator
        # chose it as the entity (ENTITY_ATTRIBUTE or the key's prefix), it is an SNS
        # attribute every subscriber sees, and the debug line names it on purpose.
        shown = {name: value for name, value in line.items() if name != "type"}
        assert MARK not in json.dumps(shown, default=str, ensure_ascii=False)


def test_the_fuzz_covers_every_view_type():
    """The generator reaches each stream view type (a fuzz that never did would prove nothing)."""
    seen: set[str] = set()

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches())
    def collect(batch):
        seen.update(r["dynamodb"]["StreamViewType"] for r in batch if isinstance(r, dict) and r)

    collect()
    assert seen == set(VIEWS)


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
