"""A strict reading of a structured-mode JSON CloudEvent, as the 1.0 spec writes its rules.

The CloudEvents Python SDK is not a dependency (its 1.x ``from_json`` checks only that
the required attributes are present), so the rules the envelope must meet are
written out here, each from the spec:
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md and
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md.
``strict_cloudevent`` raises ``ValueError`` naming the first rule broken.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Final

# "Attribute names MUST consist of lower-case letters ('a' to 'z') or digits ('0' to
# '9') from the ASCII character set" (spec, Attribute Naming Convention).
_NAME: Final = re.compile(r"[a-z0-9]+\Z")
# String: no control characters (U+0000-U+001F, U+007F-U+009F), no noncharacters,
# no unpaired surrogates (spec, Type System).
_NONCHARACTERS = "".join(chr(p + 0xFFFE) + chr(p + 0xFFFF) for p in range(0, 0x110000, 0x10000))
_BAD_STRING: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef" + _NONCHARACTERS + "]"
)
# RFC 3986 URI-reference: only these characters, '%' only as a percent-encoding.
_URI_CHARS: Final = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*\Z")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# RFC 3339 date-time (spec, Type System: Timestamp).
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z"
)
# RFC 2046 media type, as in a Content-Type header.
_MEDIA_TYPE: Final = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=\S+)*\Z")
_REQUIRED: Final = ("id", "source", "specversion", "type")


def not_a_cloudevents_string(text: str) -> bool:
    """Whether ``text`` holds a character a CloudEvents String may not."""
    return _BAD_STRING.search(text) is not None


class InvalidCloudEventError(ValueError):
    """The text breaks a rule of the CloudEvents 1.0 spec or its JSON format."""


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidCloudEventError(f"{name} is not a String")
    if _BAD_STRING.search(value):
        raise InvalidCloudEventError(f"{name} holds a character a CloudEvents String may not")
    return value


def _non_empty(name: str, value: Any) -> None:
    if not _string(name, value):
        raise InvalidCloudEventError(f"{name} is empty")


def _specversion(name: str, value: Any) -> None:
    if value != "1.0":
        raise InvalidCloudEventError(f"{name} is not 1.0")


def _uri_reference(name: str, value: Any) -> None:
    if not _URI_CHARS.match(_string(name, value)):
        raise InvalidCloudEventError(f"{name} is not a URI-reference")


def _source(name: str, value: Any) -> None:
    _non_empty(name, value)
    _uri_reference(name, value)


def _absolute_uri(name: str, value: Any) -> None:
    _uri_reference(name, value)
    if not _SCHEME.match(value):
        raise InvalidCloudEventError(f"{name} is not an absolute URI")


def _timestamp(name: str, value: Any) -> None:
    found = _RFC3339.match(_string(name, value))
    if not found:
        raise InvalidCloudEventError(f"{name} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in found.groups()[:6])
    try:
        datetime(max(year, 1), month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError:
        raise InvalidCloudEventError(f"{name} is not a date and time") from None


def _media_type(name: str, value: Any) -> None:
    if not _MEDIA_TYPE.match(_string(name, value)):
        raise InvalidCloudEventError(f"{name} is not an RFC 2046 media type")


def _extension(name: str, value: Any) -> None:
    if isinstance(value, str):
        _string(name, value)
    elif not (isinstance(value, bool | int) or value is None):
        raise InvalidCloudEventError(f"extension {name} is not a String, Boolean or Integer")


_CHECKS: Final = {
    "specversion": _specversion,
    "id": _non_empty,
    "source": _source,
    "type": _non_empty,
    "subject": _non_empty,
    "time": _timestamp,
    "datacontenttype": _media_type,
    "dataschema": _absolute_uri,
}


def strict_cloudevent(text: str) -> dict[str, Any]:
    """The event as a dict, if ``text`` is a valid CloudEvents 1.0 JSON event.

    Raises ``InvalidCloudEventError`` naming the first rule broken.
    """
    event = json.loads(text)
    if not isinstance(event, dict):
        raise InvalidCloudEventError("a JSON CloudEvent is an object")
    for name in _REQUIRED:
        if name not in event:
            raise InvalidCloudEventError(f"required attribute {name} is missing")
    for name, value in event.items():
        if name == "data":
            continue
        if not _NAME.match(name):
            raise InvalidCloudEventError(
                f"attribute name {name!a} is not lower-case ASCII letters and digits"
            )
        _CHECKS.get(name, _extension)(name, value)
    return event
