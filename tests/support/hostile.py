"""Hostile input for consumer tests: arbitrary message bodies, and secret-looking canary values.

``message_bodies(bases)`` draws SQS message bodies of every shape a consumer queue
can be handed: arbitrary text, arbitrary JSON (with numbers no parser holds and
escapes of lone surrogates), valid
envelopes with one field replaced or removed, extended-client pointer look-alikes,
claim checks into every kind of bucket, each raw or inside an SNS notification.

Item values are seeded with ``canary`` strings: secret-looking text (a card number,
an access key, a password) wrapped in ``CANARY_MARK`` at both ends, so a log scan
finds a value even when a line kept only its head or its tail. Canaries stand
where item values stand (``data``, ``subject``, a body that is not an envelope),
not in the context a log line is meant to carry (``id``, ``type``, ``table``) nor in
pointer locations (a bucket and key the router or a producer chose).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from hypothesis import strategies as st

CANARY_MARK: Final = "zqcanary"
SECRET_LOOKING: Final = (
    "4111111111111111",
    "AKIAIOSFODNN7EXAMPLE",
    "password=hunter2",
    "jane.doe@example.com",
    "-----BEGIN PRIVATE KEY-----",
)
EXTENDED_POINTER_CLASS: Final = "software.amazon.payloadoffloading.PayloadS3Pointer"
TOPIC_ARN: Final = "arn:aws:sns:us-east-1:123456789012:fanout-hub-events"

# Raw JSON number texts: valid JSON that no Decimal or int holds, or that is merely odd.
ODD_NUMBERS: Final = (
    "1.5e99999999999999999999",
    "-2E+99999999999999999999",
    "1e999999999999999999",
    "1e-999999999999999999",
    "9" * 5000,
    "-0",
    "0.0000000000000000000000000000000000000001",
)


def as_sqs_delivers(body: str) -> str:
    """``body`` with each character SQS refuses written as its JSON escape.

    SQS never delivers such a character raw, so a queue's message can only hold it
    escaped (inside a JSON string, where it decodes back to the character).
    """
    return SQS_REFUSED.sub(lambda found: json.dumps(found.group())[1:-1], body)


def canary(index: int, secret: str = SECRET_LOOKING[0]) -> str:
    """A secret-looking value a log line must never hold, marked at both ends."""
    return f"{CANARY_MARK}{index:04d}-{secret}-{CANARY_MARK}"


def canaries_in(text: str) -> list[str]:
    """Every line of ``text`` that holds a canary mark."""
    return [line for line in text.splitlines() if CANARY_MARK in line]


def sns_notification(
    message: str, attributes: Mapping[str, Mapping[str, str]] | None = None
) -> str:
    """The JSON document SNS delivers to SQS when raw message delivery is off.

    ``attributes`` are as published (``DataType``, ``StringValue``).
    https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
    """
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "3f5a1b7e-0000-4000-8000-000000000001",
            "TopicArn": TOPIC_ARN,
            "Message": message,
            "Timestamp": "2026-11-27T00:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "c2lnbmF0dXJl",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {
                name: {"Type": a["DataType"], "Value": a["StringValue"]}
                for name, a in (attributes or {}).items()
            },
        }
    )


# Raw JSON string texts: escapes of lone UTF-16 surrogates (which no DynamoDB string
# holds and no UTF-8 writer can write) and a well-formed pair, for contrast.
# and characters SQS refuses (NUL, the noncharacter U+FFFE), which a message can only
# carry escaped.
ODD_STRINGS: Final = (
    '"\\ud800"',
    '"order.\\udfff"',
    '"\\ud83d\\ude00"',
    '"nul\\u0000"',
    '"\\ufffe"',
)
# Object keys a pointer may name that hold characters SQS refuses (an error naming the
# key must not carry them to the DLQ's attributes).
ODD_KEYS: Final = ("nul\x00.json", "\ufffe.json", "tab\t.json")
# What SQS refuses in a body or String attribute value (API_SendMessage, API_MessageAttributeValue).
SQS_REFUSED: Final = re.compile("[^\\t\\n\\r\\u0020-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff]")
RAW_TOKENS: Final = (*ODD_NUMBERS, *ODD_STRINGS)
# RFC 3339 times at the edges: valid text, some beyond year 1 or 9999 once in UTC.
EDGE_TIMES: Final = (
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2026-02-29T00:00:00Z",
    "2024-02-29T24:00:00Z",
)


def _placeholder(index: int) -> str:
    return f"@@raw-number-{index}@@"


def with_raw_numbers(document: Any, numbers: Sequence[str]) -> str:
    """``document`` as JSON text, each ``_placeholder(i)`` string replaced by the raw ``numbers[i]``."""
    text = json.dumps(document, ensure_ascii=False)
    for index, number in enumerate(numbers):
        text = text.replace(json.dumps(_placeholder(index)), number)
    return text


# Where an item's values sit in an envelope: a log line may name these fields, never hold them.
ITEM_VALUE_FIELDS: Final = frozenset({"subject", "data", "data.new", "data.old", "data.keys"})


def json_values(*, item_values: bool = False) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (placeholders for raw numbers among the leaves).

    With ``item_values`` some leaves are canaries: the value stands where an item's would.
    """
    leaves = [
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.integers(0, len(RAW_TOKENS) - 1).map(_placeholder),
    ]
    if item_values:
        leaves.append(st.integers(0, 9).map(canary))
    scalars = st.one_of(*leaves)
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=12,
    )


def _text(document: Any) -> str:
    return with_raw_numbers(document, RAW_TOKENS)


@st.composite
def _mutated_envelope(draw: st.DrawFn, bases: Sequence[Mapping[str, Any]]) -> str:
    envelope = dict(draw(st.sampled_from(bases)))
    field = draw(st.sampled_from([*envelope, "dataref", "data.new", "data.keys"]))
    change = draw(st.sampled_from(["replace", "remove"]))
    value = draw(
        st.sampled_from(EDGE_TIMES)
        if field == "time" and draw(st.booleans())
        else json_values(item_values=field in ITEM_VALUE_FIELDS)
    )
    if field.startswith("data."):
        data = dict(envelope.get("data") or {})
        member = field.removeprefix("data.")
        if change == "remove":
            data.pop(member, None)
        else:
            data[member] = value
        envelope["data"] = data
    elif change == "remove":
        envelope.pop(field, None)
    else:
        envelope[field] = value
    return _text(envelope)


@st.composite
def _claim_check(
    draw: st.DrawFn, bases: Sequence[Mapping[str, Any]], buckets: Sequence[str], keys: Sequence[str]
) -> str:
    envelope = {k: v for k, v in draw(st.sampled_from(bases)).items() if k != "data"}
    bucket = draw(st.sampled_from(buckets))
    key = draw(st.sampled_from([*keys, *ODD_KEYS]))
    envelope["dataref"] = f"s3://{bucket}/{key}"
    return _text(envelope)


@st.composite
def _extended_pointer(draw: st.DrawFn, buckets: Sequence[str], keys: Sequence[str]) -> str:
    first = draw(st.one_of(st.just(EXTENDED_POINTER_CLASS), json_values()))
    second = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "s3BucketName": st.one_of(st.sampled_from(buckets), json_values()),
                    "s3Key": st.one_of(st.sampled_from([*keys, *ODD_KEYS]), json_values()),
                }
            ),
            json_values(),
        )
    )
    return _text([first, second])


def message_bodies(
    bases: Sequence[Mapping[str, Any]],
    *,
    buckets: Sequence[str],
    keys: Sequence[str],
) -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    """(SQS body, its string message attributes) of every hostile shape.

    ``bases`` are valid envelopes (as JSON objects) to start from; ``buckets`` and
    ``keys`` are where claim checks and pointers may point (the test decides which
    hold what). Attributes may carry the extended client's size marker.
    """
    published = st.one_of(
        st.text(max_size=40),
        json_values(item_values=True).map(_text),
        st.sampled_from(bases).map(_text),
        _mutated_envelope(bases),
        _claim_check(bases, buckets, keys),
        _extended_pointer(buckets, keys),
    )
    marker = st.sampled_from([{}, {"ExtendedPayloadSize": "300000"}, {"SQSLargePayloadSize": "x"}])

    @st.composite
    def delivered(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
        message = draw(published)
        attributes = draw(marker)
        if draw(st.booleans()):
            as_published = {
                n: {"DataType": "String", "StringValue": v} for n, v in attributes.items()
            }
            return as_sqs_delivers(sns_notification(message, as_published)), {}
        return as_sqs_delivers(message), attributes

    return delivered()
