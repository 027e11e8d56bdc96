"""DynamoDB attribute values (Lambda stream-event JSON) to plain JSON text, losslessly.

The text is written directly rather than through Python floats, so a number
keeps every digit DynamoDB gave: ``{"N": "0.1"}`` becomes ``0.1`` and a 38-digit
integer stays 38 digits. Binary stays base64 (as the Lambda event carries it),
sets become sorted arrays (strings by code point, numbers by value, binary by
bytes), ``NULL`` becomes ``null``, and maps and lists nest.
"""

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring
from typing import Any, Final

from router.errors import PoisonRecordError

_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_is_json_number: Final = _JSON_NUMBER.match

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


def number_text(raw: object) -> str:
    """The JSON text of a DynamoDB number, every digit kept."""
    if not isinstance(raw, str):
        raise PoisonRecordError(f"number must be a string, got {type(raw).__name__}")
    if _is_json_number(raw):
        return raw
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise PoisonRecordError(f"not a number: {raw[:40]!r}") from exc
    if not value.is_finite():
        raise PoisonRecordError(f"not a finite number: {raw[:40]!r}")
    return str(value)


def _binary_bytes(raw: object) -> bytes:
    if not isinstance(raw, str):
        raise PoisonRecordError(f"binary must be a base64 string, got {type(raw).__name__}")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise PoisonRecordError("binary is not valid base64") from exc


def _string(raw: object) -> str:
    if not isinstance(raw, str):
        raise PoisonRecordError(f"string must be a string, got {type(raw).__name__}")
    return str(encode_str(raw))


def _list(raw: object, kind: str) -> list[Any]:
    if not isinstance(raw, list):
        raise PoisonRecordError(f"{kind} must be a list, got {type(raw).__name__}")
    return raw


def _bool(raw: object) -> str:
    if not isinstance(raw, bool):
        raise PoisonRecordError("BOOL must be true or false")
    return "true" if raw else "false"


def _null(raw: object) -> str:
    if raw is not True:
        raise PoisonRecordError("NULL must be true")
    return "null"


def _map(raw: object) -> str:
    if not isinstance(raw, dict):
        raise PoisonRecordError("M must be an object")
    return map_text(raw)


def _binary(raw: object) -> str:
    _binary_bytes(raw)
    return '"' + str(raw) + '"'


def _string_set(raw: object) -> str:
    return "[" + ",".join(_string(s) for s in sorted(_list(raw, "SS"))) + "]"


def _number_set(raw: object) -> str:
    numbers = [number_text(n) for n in _list(raw, "NS")]
    return "[" + ",".join(sorted(numbers, key=Decimal)) + "]"


def _binary_set(raw: object) -> str:
    ordered = sorted(_list(raw, "BS"), key=_binary_bytes)
    return "[" + ",".join('"' + str(b) + '"' for b in ordered) + "]"


def _list_value(raw: object) -> str:
    return "[" + ",".join(value_text(v) for v in _list(raw, "L")) + "]"


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
    if not isinstance(value, dict) or len(value) != 1:
        raise PoisonRecordError(f"attribute value must be a one-key object, got {value!r:.80}")
    ((tag, raw),) = value.items()
    encoder = _ENCODERS.get(tag)
    if encoder is None:
        raise PoisonRecordError(f"unknown attribute type {tag!r:.40}")
    return encoder(raw)


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
                if tag == "N" and _is_json_number(raw):
                    texts[name] = raw
                    continue
        texts[name] = value_text(value)
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
    if type(raw) is str and _is_json_number(raw):
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
                if type(raw) is str and _is_json_number(raw):
                    members[name] = prefixes[name] + raw
                    continue
        members[name] = prefixes[name] + value_text(value)
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
        text = prefixes[name] + (text if text is not None else value_text(value))
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
