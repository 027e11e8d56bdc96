"""DynamoDB attribute values (Lambda stream-event JSON) to plain JSON text, losslessly.

The text is written directly rather than through Python floats, so a number
keeps every digit DynamoDB gave: ``{"N": "0.1"}`` becomes ``0.1`` and a 38-digit
integer stays 38 digits. Binary stays base64 (as the Lambda event carries it),
sets become sorted arrays (strings by code point, numbers by value, binary by
bytes), ``NULL`` becomes ``null``, and maps and lists nest.

Every value DynamoDB could hold is written; anything else raises
``PoisonRecordError`` naming where the value is, its type and what is wrong,
never the value itself (errors are logged; values may be personal data).
"""

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring
from typing import Any, Final

from hubcommon.limits import (
    DYNAMODB_NUMBER_MAX_DIGITS,
    DYNAMODB_NUMBER_MAX_EXPONENT,
    DYNAMODB_NUMBER_MIN_EXPONENT,
    SQS_MESSAGE_CHARACTERS,
)
from router.errors import PoisonRecordError, path_step

_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_is_json_number: Final = _JSON_NUMBER.match
# The common number: plain JSON digits, no exponent. Up to 38 characters it has at
# most 38 digits and a magnitude far inside DynamoDB's range, so it is written as
# given without parsing; anything else is checked by ``number_text``.
_PLAIN_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")
_is_plain_number: Final = _PLAIN_NUMBER.match
_PLAIN_NUMBER_CHARS: Final = DYNAMODB_NUMBER_MAX_DIGITS
# No number DynamoDB holds is written in more characters than this (1E-130 in
# full is 132); a longer text is refused before Decimal parses it.
_NUMBER_TEXT_MAX_CHARS: Final = 1024

# Characters SNS refuses in a message even though JSON allows them raw.
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (Message constraints)
_SNS_FORBIDDEN: Final = {"\ufffe": "\\ufffe", "\uffff": "\\uffff"}

encode_str: Callable[[str], str] = encode_basestring
"""JSON text of a string, non-ASCII kept as UTF-8 (C-accelerated)."""

# What a JSON string must escape (besides which encode_str leaves text as is). No
# byte of a multi-byte UTF-8 sequence is below 0x80, so the check can run on bytes.
_MUST_ESCAPE: Final = bytes(range(0x20)) + b'"\\'
# From about this length, checking the UTF-8 bytes beats escaping char by char.
_LONG_STRING: Final = 512


def long_string_text(raw: str) -> str:
    """``encode_str(raw)``, faster for long text that needs no escaping (the common case)."""
    try:
        data = raw.encode()
    except UnicodeEncodeError:  # a lone surrogate: the encoder decides
        return encode_str(raw)
    if len(data.translate(None, _MUST_ESCAPE)) == len(data):
        return '"' + raw + '"'
    return encode_str(raw)


def _kind(raw: object) -> str:
    """The JSON type of a raw value, for error messages (never the value)."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "boolean"
    if isinstance(raw, int | float):
        return "number"
    if isinstance(raw, str):
        return "string"
    return "array" if isinstance(raw, list) else "object" if isinstance(raw, dict) else "value"


def number_text(raw: object, tag: str = "N") -> str:
    """The JSON text of a DynamoDB number, every digit kept.

    Raises ``PoisonRecordError`` for anything that is not a number DynamoDB can
    hold (38 digits, magnitude 1E-130 to under 1E+126): a consumer must be able
    to read every number the router publishes, and a huge exponent or a
    thousand-digit integer is work no parser should be handed.
    """
    if type(raw) is not str:
        raise PoisonRecordError(f"{tag} value is a JSON {_kind(raw)}, not a string")
    if len(raw) <= _PLAIN_NUMBER_CHARS and _is_plain_number(raw):
        return raw
    if len(raw) > _NUMBER_TEXT_MAX_CHARS:
        raise PoisonRecordError(f"{tag} value is longer than any number DynamoDB holds")
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise PoisonRecordError(f"{tag} value is not a number") from None
    if not value.is_finite():
        raise PoisonRecordError(f"{tag} value is not a finite number")
    if value:
        digits = "".join(map(str, value.as_tuple().digits)).strip("0")
        if len(digits) > DYNAMODB_NUMBER_MAX_DIGITS:
            raise PoisonRecordError(
                f"{tag} value has more than DynamoDB's {DYNAMODB_NUMBER_MAX_DIGITS} digits"
            )
        if not DYNAMODB_NUMBER_MIN_EXPONENT <= value.adjusted() <= DYNAMODB_NUMBER_MAX_EXPONENT:
            raise PoisonRecordError(f"{tag} value is outside DynamoDB's range 1E-130 to 1E+126")
    # Text that is already a JSON number stays as DynamoDB wrote it ("1E+3", "2.50").
    return raw if _is_json_number(raw) else str(value)


def _binary_bytes(raw: object, tag: str = "B") -> bytes:
    if type(raw) is not str:
        raise PoisonRecordError(f"{tag} value is a JSON {_kind(raw)}, not a base64 string")
    try:
        # A non-ASCII character raises ValueError, not binascii.Error.
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise PoisonRecordError(f"{tag} value is not valid base64") from None


def _string(raw: object, tag: str = "S") -> str:
    if type(raw) is not str:
        raise PoisonRecordError(f"{tag} value is a JSON {_kind(raw)}, not a string")
    return str(encode_str(raw))


def _list(raw: object, tag: str) -> list[Any]:
    if type(raw) is not list:
        raise PoisonRecordError(f"{tag} value is a JSON {_kind(raw)}, not an array")
    return raw


def _bool(raw: object) -> str:
    if not isinstance(raw, bool):
        raise PoisonRecordError(f"BOOL value is a JSON {_kind(raw)}, not true or false")
    return "true" if raw else "false"


def _null(raw: object) -> str:
    if raw is not True:
        raise PoisonRecordError(f"NULL value is a JSON {_kind(raw)}, not true")
    return "null"


def _map(raw: object) -> str:
    if type(raw) is not dict:
        raise PoisonRecordError(f"M value is a JSON {_kind(raw)}, not an object")
    return map_text(raw)


def _binary(raw: object) -> str:
    _binary_bytes(raw)
    return '"' + str(raw) + '"'


def _members(raw: object, tag: str, check: Callable[[object, str], object]) -> list[Any]:
    """A set's members, each checked, so that sorting them cannot fail; errors name the member."""
    members = _list(raw, tag)
    for index, member in enumerate(members):
        try:
            check(member, tag)
        except PoisonRecordError as exc:
            raise exc.within(f"[{index}]") from None
    return members


def _string_set(raw: object) -> str:
    members = _members(raw, "SS", _string)
    return "[" + ",".join([encode_str(s) for s in sorted(members)]) + "]"


def _number_set(raw: object) -> str:
    numbers = [number_text(n, "NS") for n in _members(raw, "NS", number_text)]
    return "[" + ",".join(sorted(numbers, key=Decimal)) + "]"


def _binary_set(raw: object) -> str:
    ordered = sorted(_members(raw, "BS", _binary_bytes), key=_binary_bytes)
    return "[" + ",".join(['"' + b + '"' for b in ordered]) + "]"


def _list_value(raw: object) -> str:
    texts = []
    for index, value in enumerate(_list(raw, "L")):
        try:
            texts.append(value_text(value))
        except PoisonRecordError as exc:
            raise exc.within(f"[{index}]") from None
    return "[" + ",".join(texts) + "]"


_TYPE_TAG_CHARS: Final = 4  # "BOOL" and "NULL", the longest type descriptors
# DynamoDB's type descriptors:
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
_ENCODERS: Final[dict[str, Callable[[object], str]]] = {
    "S": _string,
    "N": number_text,
    "BOOL": _bool,
    "NULL": _null,
    "M": _map,
    "L": _list_value,
    "B": _binary,
    "SS": _string_set,
    "NS": _number_set,
    "BS": _binary_set,
}


def value_text(value: object) -> str:
    """The JSON text of one attribute value such as ``{"S": "x"}``.

    Raises ``PoisonRecordError`` for an unknown type tag or a malformed value.
    """
    if type(value) is not dict:
        raise PoisonRecordError(f"attribute value is a JSON {_kind(value)}, not a one-key object")
    if len(value) != 1:
        raise PoisonRecordError(f"attribute value has {len(value)} type keys, not one")
    ((tag, raw),) = value.items()
    encoder = _ENCODERS.get(tag)
    if encoder is None:
        # A type-shaped key is named (it is the type); any other key may be data.
        shown = tag if len(tag) <= _TYPE_TAG_CHARS and tag.isascii() and tag.isupper() else "key"
        raise PoisonRecordError(f"unknown attribute type {shown}")
    return encoder(raw)


def _named_text(name: str, value: object) -> str:
    """``value_text(value)``, its error (if any) placed under the attribute's name."""
    try:
        return value_text(value)
    except PoisonRecordError as exc:
        raise exc.within(path_step(name)) from None


def attribute_texts(image: Mapping[str, object]) -> dict[str, str]:
    """Each top-level attribute's JSON text, in the image's order."""
    # The router's hot loop: strings and plain numbers (most values) are written
    # inline, everything else (and every malformed value) takes ``value_text``.
    texts: dict[str, str] = {}
    for name, value in image.items():
        if type(value) is dict and len(value) == 1:
            ((tag, raw),) = value.items()
            if type(raw) is str:
                if tag == "S":
                    texts[name] = (
                        encode_str(raw) if len(raw) < _LONG_STRING else long_string_text(raw)
                    )
                    continue
                if tag == "N" and len(raw) <= _PLAIN_NUMBER_CHARS and _is_plain_number(raw):
                    texts[name] = raw
                    continue
        texts[name] = _named_text(name, value)
    return texts


class _MemberPrefixes(dict[str, str]):
    """``"name":`` for each attribute name, encoded on first use.

    Attribute names repeat across records, so each is encoded once. Bounded, so
    a stream of ever-new names costs a re-encode, never unbounded memory.
    """

    limit: Final = 4096

    def __missing__(self, name: str) -> str:
        prefix = encode_str(name) + ":"
        if len(self) < self.limit:
            self[name] = prefix
        return prefix


_MEMBER_PREFIXES: Final = _MemberPrefixes()


def member_prefix(name: str) -> str:
    """``"name":``, the JSON text that starts an object member."""
    return _MEMBER_PREFIXES[name]


def _inline_text(value: dict[Any, Any]) -> str | None:
    """The text of a one-key ``S`` or plain ``N`` value, else None (``value_text`` decides)."""
    raw = value.get("S")
    if raw is not None:
        if type(raw) is str:
            return encode_str(raw) if len(raw) < _LONG_STRING else long_string_text(raw)
        return None
    raw = value.get("N")
    if type(raw) is str and len(raw) <= _PLAIN_NUMBER_CHARS and _is_plain_number(raw):
        return raw
    return None


def image_members(image: Mapping[str, object]) -> dict[str, str]:
    """Each top-level attribute as the JSON text of its object member, ``"name":value``.

    ``"{" + ",".join(members.values()) + "}"`` is ``map_text(image)``; two images'
    members for one name are equal exactly when their values' texts are. The
    router's hot loop: one pass, strings and plain numbers written inline, the
    name's encoding cached; every other value (and every malformed one) takes
    ``value_text``, so the errors are the same.
    """
    prefixes = _MEMBER_PREFIXES
    members: dict[str, str] = {}
    for name, value in image.items():
        if type(value) is dict and len(value) == 1:
            # Inline, not _inline_text(): a call per attribute is a fifth of the loop.
            raw = value.get("S")
            if raw is not None:
                if type(raw) is str:
                    members[name] = prefixes[name] + (
                        encode_str(raw) if len(raw) < _LONG_STRING else long_string_text(raw)
                    )
                    continue
            else:
                raw = value.get("N")
                if type(raw) is str and len(raw) <= _PLAIN_NUMBER_CHARS and _is_plain_number(raw):
                    members[name] = prefixes[name] + raw
                    continue
        members[name] = prefixes[name] + _named_text(name, value)
    return members


def changed_members(
    new_members: Mapping[str, str], new: Mapping[str, object], old: Mapping[str, object]
) -> tuple[list[str], list[str]]:
    """(the old image's members in its order, the sorted names whose text differs).

    ``new_members`` is ``image_members(new)``. A string the old image shares
    with the new one (most of an update) is not encoded twice. Raises
    ``PoisonRecordError`` for the first malformed value of ``old``.
    """
    prefixes = _MEMBER_PREFIXES
    members: list[str] = []
    changed: list[str] = []
    same_names = len(new_members) == len(old)
    for name, value in old.items():
        text: str | None = None
        if type(value) is dict and len(value) == 1:
            raw = value.get("S")
            if type(raw) is str and new.get(name) == value:
                # Both are one-key {"S": <equal strings>}: their texts are equal too.
                members.append(new_members[name])
                continue
            text = _inline_text(value)
        text = prefixes[name] + (text if text is not None else _named_text(name, value))
        members.append(text)
        found = new_members.get(name)
        if found != text:
            changed.append(name)
            if found is None:
                same_names = False
    if not same_names:
        changed.extend(name for name in new_members if name not in old)
    changed.sort()
    return members, changed


def join_object(texts: Mapping[str, str]) -> str:
    """A JSON object from already-encoded member texts."""
    return "{" + ",".join([member_prefix(name) + text for name, text in texts.items()]) + "}"


def map_text(image: Mapping[str, object]) -> str:
    """The JSON text of a whole item image or ``M`` value."""
    return join_object(attribute_texts(image))


_OUTSIDE_MESSAGE_CHARACTERS: Final = re.compile(f"[^{SQS_MESSAGE_CHARACTERS}]")


_LAST_BMP: Final = 0xFFFF


def _unicode_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > _LAST_BMP:  # JSON writes a character beyond the BMP as its UTF-16 pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def message_safe(text: str) -> str:
    """JSON text with every character SQS (and SNS) refuse written as a ``\\uXXXX`` escape.

    ``text`` must come from a JSON encoder: it escapes control characters, so what
    is left to escape (lone surrogates, U+FFFE, U+FFFF) sits inside strings, where
    the escape means the same character. The result is JSON-equivalent.
    """
    return _OUTSIDE_MESSAGE_CHARACTERS.sub(_unicode_escape, text)


# What a CloudEvents String may not hold: control characters, noncharacters and
# unpaired surrogates. https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md#type-system
_NONCHARACTERS: Final = "".join(
    chr(plane + 0xFFFE) + chr(plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)
)
CLOUDEVENTS_FORBIDDEN: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef" + _NONCHARACTERS + "]"
)
_has_forbidden: Final = CLOUDEVENTS_FORBIDDEN.search


def context_safe(text: str) -> str:
    """JSON text fit to be a CloudEvents context attribute's value (the subject).

    Escapes what a CloudEvents String may not hold; ``text`` must come from a JSON
    encoder (control characters are escaped already), so what is escaped here sits
    inside strings and the result is JSON-equivalent.
    """
    if _has_forbidden(text) is None:
        return text
    return CLOUDEVENTS_FORBIDDEN.sub(_unicode_escape, text)


def sns_safe(text: str) -> str:
    """Escape the two characters SNS rejects; JSON-equivalent text otherwise unchanged."""
    if "\ufffe" in text or "\uffff" in text:
        for char, escape in _SNS_FORBIDDEN.items():
            text = text.replace(char, escape)
    return text


def plain_string(value: object) -> str | None:
    """The Python string of an ``S`` (or ``N``) attribute value, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag in ("S", "N") and isinstance(raw, str):
            return raw
    return None
