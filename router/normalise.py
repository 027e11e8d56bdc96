"""Stream record to envelope: pure and deterministic, no I/O.

``to_outbound`` turns one Lambda-format DynamoDB stream record into the exact
JSON text of its envelope (see ``schemas.v1``) plus the SNS message attributes
that filter policies match on. It is total: for any input it returns an
envelope that ``schemas`` parses, or raises ``PoisonRecordError`` with a reason.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, NoReturn

from hubcommon.limits import (
    DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS,
    DYNAMODB_TABLE_NAME_MAX_CHARS,
    DYNAMODB_TABLE_NAME_MIN_CHARS,
    DYNAMODB_TTL_IDENTITY_TYPE,
    DYNAMODB_TTL_PRINCIPAL,
)
from router.attributes import (
    CLOUDEVENTS_FORBIDDEN,
    changed_members,
    context_safe,
    encode_str,
    image_members,
    member_prefix,
    plain_string,
    sns_safe,
)
from router.errors import PoisonRecordError, path_step

if TYPE_CHECKING:
    from schemas.v1 import Operation

# schemas.v1's constants, written here so the router's runtime path never imports
# the envelope model (pydantic); tests/unit/router/test_normalise_fast_path.py
# checks they are the model's, and every body written is parsed by it in tests.
SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
DATASCHEMA: Final = "urn:fanout-hub:schema:envelope:1"
SCHEMA_VERSION: Final = "1"

# Envelope ids are UUIDv5 in this namespace over "<table ARN>/<eventID>".
ENVELOPE_ID_NAMESPACE: Final = uuid.UUID("5b0f1c2e-7a43-5d8e-9c1a-0f6e2d4b8a17")
_NAMESPACE_BYTES: Final = ENVELOPE_ID_NAMESPACE.bytes

_SPECVERSION: Final = '"' + SPECVERSION + '"'
_CONTENT_TYPE: Final = '"' + CONTENT_TYPE + '"'
_DATASCHEMA: Final = '"' + DATASCHEMA + '"'
_SCHEMA_VERSION: Final = '"' + SCHEMA_VERSION + '"'

_OPERATIONS: Final = {"INSERT": "created", "MODIFY": "updated", "REMOVE": "deleted"}
# The envelope's members in order; the constant ones are written once, here.
_HEAD: Final = '{"specversion":' + _SPECVERSION + ',"id":"'
_BEFORE_DATASCHEMA: Final = '","datacontenttype":' + _CONTENT_TYPE + ',"dataschema":'
_AFTER_DATASCHEMA: Final = ',"schemaversion":' + _SCHEMA_VERSION + ',"sequence":"'
_AFTER_TIME: Final = _BEFORE_DATASCHEMA + _DATASCHEMA + _AFTER_DATASCHEMA

MessageAttributes = dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class EntityRules:
    """How the entity name is found; configuration, not code."""

    entity_attribute: str | None = None
    partition_key: str | None = None
    dataschemas: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Entity to the ``dataschema`` of its item contract (``router.contracts``); others
    carry the envelope's own."""

    @classmethod
    def of_router(cls, environ: Mapping[str, str]) -> EntityRules:
        """The rules of the router whose environment is ``environ``, contracts included.

        For tools that build envelopes as the router does (backfill snapshots, the DLQ's
        "routes as", the local hub's ledger): one place, so that none forgets a setting.
        """
        from router.contracts import Contracts  # noqa: PLC0415 - tools only; the router has its own

        return cls(
            environ.get("ENTITY_ATTRIBUTE") or None,
            environ.get("PARTITION_KEY") or None,
            Contracts.of_router(environ).dataschemas,
        )


@dataclass(frozen=True, slots=True)
class Outbound:
    """One record, ready to publish: envelope text, attributes and its place in the shard."""

    sequence_number: str
    envelope_id: str
    type: str
    subject: str
    table: str
    body: str
    attributes: MessageAttributes
    group_id: str
    offloaded: bool = False
    size: int = field(init=False, compare=False)
    """Bytes SNS counts against its message limit: body plus every attribute.

    Measured once, here: encoding is also the check that the text is Unicode
    (``UnicodeEncodeError`` for a lone surrogate, which ``to_outbound`` makes poison).
    """

    def __post_init__(self) -> None:
        size = len(self.body.encode("utf-8")) + attributes_size(self.attributes)
        object.__setattr__(self, "size", size)

    def as_pointer(self, body: str) -> Outbound:
        """The same message carrying a claim-check pointer body instead of the envelope."""
        return replace(self, body=body, offloaded=True)


def attributes_size(attributes: MessageAttributes) -> int:
    """SNS counts each attribute's name, data type and value."""
    return sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in attributes.items()
    )


def _require(mapping: Mapping[str, Any], key: str, kind: type, where: str = "record") -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (isinstance(value, str | dict) and not value):
        raise PoisonRecordError(f"{where}.{key} is missing or not a {kind.__name__}")
    return value


def sequence_number_of(record: object) -> str | None:
    """The record's stream SequenceNumber, if it has a usable one (for checkpoints and DLQ)."""
    if isinstance(record, Mapping):
        dynamodb = record.get("dynamodb")
        if isinstance(dynamodb, Mapping):
            sequence = dynamodb.get("SequenceNumber")
            if isinstance(sequence, str) and sequence:
                return sequence
    return None


def padded_sequence(sequence_number: str) -> str:
    """The sequence number left-padded with zeros, so string order is numeric order."""
    if not sequence_number.isdigit() or not sequence_number.isascii():
        raise PoisonRecordError("dynamodb.SequenceNumber (string): not all digits")
    if len(sequence_number) > DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS:
        raise PoisonRecordError("SequenceNumber is longer than DynamoDB's 40 digits")
    return sequence_number.zfill(DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS)


# RFC 3339 writes a four-digit year (https://www.rfc-editor.org/rfc/rfc3339#section-5.6)
# and Python's datetime, which consumers parse ``time`` into, starts at year 1:
# 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, in epoch milliseconds.
_FIRST_MILLIS: Final = -62_135_596_800_000
_LAST_MILLIS: Final = 253_402_300_799_999


@functools.lru_cache(maxsize=256)  # a batch's records share a handful of timestamps
def rfc3339(epoch_seconds: float) -> str:
    """RFC 3339 UTC time, with milliseconds only when the stream gave them.

    Raises ``PoisonRecordError`` for a time outside years 1 to 9999 (and NaN).
    """
    # Compared before multiplying: infinity and 1e308 must not reach round(), NaN fails here.
    in_range = _FIRST_MILLIS / 1000 - 1 <= epoch_seconds <= _LAST_MILLIS / 1000 + 1
    total = round(epoch_seconds * 1000) if in_range else 0
    if not in_range or not _FIRST_MILLIS <= total <= _LAST_MILLIS:
        raise PoisonRecordError(
            "dynamodb.ApproximateCreationDateTime (number): not a time in years 0001 to 9999"
        )
    whole, millis = divmod(total, 1000)
    t = time.gmtime(whole)
    # Not strftime("%Y"): glibc writes year 999 as "999", which is not RFC 3339.
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    return f"{text}.{millis:03d}Z" if millis else text + "Z"


def envelope_id_of(table_arn: str, event_id: str) -> str:
    """UUIDv5 over "<table ARN>/<eventID>": re-publishing a record yields the same id."""
    h = hashlib.sha1(
        _NAMESPACE_BYTES + f"{table_arn}/{event_id}".encode(), usedforsecurity=False
    ).hexdigest()
    # What uuid.UUID(bytes=digest[:16], version=5) prints (RFC 4122 4.3), without the
    # object: the 13th digit becomes the version, the 17th gets the variant bits 10xx.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT_DIGIT: Final = {f"{d:x}": f"{d & 0x3 | 0x8:x}" for d in range(16)}


# A table ARN as ARNs are written (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html)
# with a table name as DynamoDB allows it (HowItWorks.NamingRulesDataTypes.html): the
# envelope's source must be a URI-reference (CloudEvents 1.0) and its table an SNS
# attribute value, so nothing else from the event goes into either.
_TABLE_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/"
    rf"([A-Za-z0-9_.-]{{{DYNAMODB_TABLE_NAME_MIN_CHARS},{DYNAMODB_TABLE_NAME_MAX_CHARS}}})\Z"
)


@functools.lru_cache(maxsize=64)  # one stream per router, in practice
def table_of(event_source_arn: str) -> tuple[str, str]:
    """(table ARN, table name) from a stream ARN ``…:table/NAME/stream/LABEL``."""
    table_arn = event_source_arn.split("/stream/", 1)[0]
    found = _TABLE_ARN.match(table_arn)
    if found is None:
        raise PoisonRecordError("eventSourceARN (string): not a DynamoDB table stream ARN")
    return table_arn, found.group(1)


def is_ttl_removal(record: Mapping[str, Any]) -> bool:
    """A REMOVE that DynamoDB's TTL process made, not a user."""
    identity = record.get("userIdentity")
    return (
        isinstance(identity, dict)
        and identity.get("principalId") == DYNAMODB_TTL_PRINCIPAL
        and identity.get("type") == DYNAMODB_TTL_IDENTITY_TYPE
    )


def entity_of(
    rules: EntityRules,
    keys: Mapping[str, Any],
    images: tuple[Mapping[str, Any] | None, ...],
    table: str,
) -> str:
    """The configured attribute, else the partition key's prefix before '#', else the table."""
    if rules.entity_attribute:
        for image in (*images, keys):
            value = plain_string(image.get(rules.entity_attribute)) if image else None
            if value and (entity := value.strip().lower()):
                return entity
    if rules.partition_key:
        candidates = [plain_string(keys.get(rules.partition_key))]
    elif len(keys) == 1:
        candidates = [plain_string(v) for v in keys.values()]
    else:
        # Stream records do not say which key is the partition key; without
        # PARTITION_KEY take the first key value that has a prefix.
        candidates = [plain_string(v) for v in keys.values()]
    for value in candidates:
        if value and "#" in value and (prefix := value.split("#", 1)[0].strip().lower()):
            return prefix
    return table.lower()


def _checked_entity(entity: str) -> str:
    """The entity, if it can be a CloudEvents String and an SNS attribute value; poison otherwise.

    Both the envelope's ``entity`` and ``type`` and their SNS attributes hold it. A
    CloudEvents String holds no control characters, noncharacters or lone surrogates,
    which also keeps it inside SNS's character set for attribute values
    (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html).
    """
    if CLOUDEVENTS_FORBIDDEN.search(entity):
        raise PoisonRecordError(
            "entity (string, from item data): holds a control character or noncharacter,"
            " which a CloudEvents attribute may not"
        )
    return entity


def _image(dynamodb: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    image = dynamodb.get(name)
    if image is None:
        return None
    if not isinstance(image, dict):
        raise PoisonRecordError(f"dynamodb.{name} must be an object")
    return image


def _unencodable(record: Mapping[str, Any]) -> str:
    """Where a record holds text UTF-8 cannot encode (a lone surrogate): the poison reason."""
    for name in ("eventID", "eventName", "eventSourceARN"):
        if not _encodes(record.get(name)):
            return f"{name} (string): holds a lone surrogate, which is not Unicode text"
    dynamodb = record.get("dynamodb")
    if isinstance(dynamodb, Mapping):
        for image in ("Keys", "NewImage", "OldImage"):
            found = _surrogate_in_image(dynamodb.get(image), f"dynamodb.{image}")
            if found:
                return found
    return "a value holds a lone surrogate, which is not Unicode text"


def _encodes(text: object) -> bool:
    if not isinstance(text, str):
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_in_image(image: object, where: str) -> str | None:
    """The first place in an image (or ``M`` value) holding a lone surrogate, as a reason."""
    if not isinstance(image, dict):
        return None
    for name, value in image.items():
        if not _encodes(name):
            return f"{where}: an attribute name holds a lone surrogate, which is not Unicode text"
        found = _surrogate_in_value(value, f"{where}.{path_step(name)}")
        if found:
            return found
    return None


def _surrogate_in_value(value: object, where: str) -> str | None:
    if not (isinstance(value, dict) and len(value) == 1):
        return None
    ((tag, raw),) = value.items()
    if tag == "M":
        return _surrogate_in_image(raw, where)
    if tag == "L" and isinstance(raw, list):
        for index, member in enumerate(raw):
            found = _surrogate_in_value(member, f"{where}[{index}]")
            if found:
                return found
        return None
    if not all(_encodes(m) for m in (raw if isinstance(raw, list) else [raw])):
        return f"{where}: {tag[:8]!a} value holds a lone surrogate, which is not Unicode text"
    return None


def to_outbound(
    record: Mapping[str, Any], rules: EntityRules, *, operation: Operation | None = None
) -> Outbound:
    """Normalise one stream record. Raises ``PoisonRecordError`` if it never can be.

    ``operation`` overrides the one the record's eventName gives (a backfill sends
    ``snapshot`` envelopes of items read by Scan).
    """
    if type(record) is not dict:
        if not isinstance(record, Mapping):
            raise PoisonRecordError(f"a stream record is an object, got {type(record).__name__}")
        record = dict(record)
    try:
        return _normalise(record, rules, operation)
    except RecursionError:
        # DynamoDB nests at most 32 levels; only a forged record gets this deep.
        raise PoisonRecordError("attribute values nest deeper than DynamoDB allows") from None
    except UnicodeEncodeError:
        # Lambda's JSON may carry "\ud800": Python reads it as a lone surrogate, which
        # no UTF-8 message (SNS, SQS, a consumer) can hold. Found here, not per string.
        raise PoisonRecordError(_unencodable(record)) from None


def _refuse(record: Mapping[str, Any]) -> NoReturn:
    """Raise the poison error naming the first problem with a record's shape, in field order.

    ``_normalise`` checks the shape in one expression and calls this only when it fails.
    """
    _require(record, "eventID", str)
    if _require(record, "eventName", str) not in _OPERATIONS:
        raise PoisonRecordError("eventName (string): not INSERT, MODIFY or REMOVE")
    table_of(_require(record, "eventSourceARN", str))
    dynamodb = _require(record, "dynamodb", dict)
    padded_sequence(_require(dynamodb, "SequenceNumber", str, "dynamodb"))
    created = dynamodb.get("ApproximateCreationDateTime")
    if type(created) is not int and type(created) is not float:
        raise PoisonRecordError(
            "dynamodb.ApproximateCreationDateTime is missing or not epoch seconds"
        )
    _require(dynamodb, "Keys", dict, "dynamodb")
    _image(dynamodb, "NewImage")
    _image(dynamodb, "OldImage")
    raise PoisonRecordError("record is not a DynamoDB stream record")  # not reached


def _normalise(record: dict[str, Any], rules: EntityRules, override: Operation | None) -> Outbound:
    """The one normaliser: the record's shape checked at once, then the envelope written.

    The envelope is written as text from cached pieces; no model is built, so
    nothing is validated twice (tests parse the output with the schema). Every
    value is checked as it is written, so a malformed one raises its own reason.
    """
    event_id = record.get("eventID")
    event_name = record.get("eventName")
    source = record.get("eventSourceARN")
    dynamodb = record.get("dynamodb")
    if not (
        type(event_id) is str
        and event_id
        and type(event_name) is str
        and event_name in _OPERATIONS
        and type(source) is str
        and source
        and type(dynamodb) is dict
    ):
        _refuse(record)
    table_arn, table = table_of(source)  # raises for a stream ARN that is not a table's
    sequence_number = dynamodb.get("SequenceNumber")
    created = dynamodb.get("ApproximateCreationDateTime")
    keys = dynamodb.get("Keys")
    new = dynamodb.get("NewImage")
    old = dynamodb.get("OldImage")
    if not (
        type(sequence_number) is str
        and sequence_number.isdigit()
        and sequence_number.isascii()
        and len(sequence_number) <= DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS
        and (type(created) is int or type(created) is float)
        and type(keys) is dict
        and keys
        and (new is None or type(new) is dict)
        and (old is None or type(old) is dict)
    ):
        _refuse(record)

    operation: str = override or _OPERATIONS[event_name]
    if override is None and event_name == "REMOVE" and is_ttl_removal(record):
        operation = "expired"
    entity = (
        None if rules.entity_attribute or rules.partition_key else _key_prefix(keys)
    ) or entity_of(rules, keys, (new, old), table)
    middle = _middle(table_arn, table, entity, operation, rules.dataschemas.get(entity))
    try:
        keys_text, subject = _key_texts(keys)
    except PoisonRecordError as exc:
        raise exc.within("Keys").within("dynamodb") from None
    data, changed_texts = _data_texts(event_name, new, old)
    envelope_id = envelope_id_of(table_arn, event_id)
    body = "".join(
        (
            _HEAD,
            envelope_id,
            middle.after_id,
            encode_str(subject),
            ',"time":"',
            rfc3339(created),
            middle.after_time,
            sequence_number.zfill(DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS),
            middle.after_sequence,
            keys_text,
            *data,
        )
    )
    attributes: MessageAttributes = {
        "type": {"DataType": "String", "StringValue": middle.type},
        "entity": {"DataType": "String", "StringValue": entity},
        "operation": {"DataType": "String", "StringValue": operation},
        "table": {"DataType": "String", "StringValue": table},
        "schemaversion": {"DataType": "String", "StringValue": SCHEMA_VERSION},
    }
    if changed_texts:
        # json.dumps(changed, ensure_ascii=False), written from the texts made above.
        attributes["changed"] = {
            "DataType": "String.Array",
            "StringValue": sns_safe("[" + ", ".join(changed_texts) + "]"),
        }
    return Outbound(
        sequence_number=sequence_number,
        envelope_id=envelope_id,
        type=middle.type,
        subject=subject,
        table=table,
        body=sns_safe(body),
        attributes=attributes,
        group_id=hashlib.sha256(f"{table_arn}\n{subject}".encode()).hexdigest(),
    )


def _key_prefix(keys: dict[str, Any]) -> str | None:
    """``entity_of`` with no rules, for the common shapes; None means ask ``entity_of``."""
    for value in keys.values():
        if type(value) is not dict:
            return None
        if len(value) == 1:
            ((tag, raw),) = value.items()
            if type(raw) is not str:
                return None
            if tag in {"S", "N"} and "#" in raw:
                prefix = raw.split("#", 1)[0].strip().lower()
                if prefix:
                    return prefix
    return None


def _key_texts(keys: dict[str, Any]) -> tuple[str, str]:
    """(the key as written in data.keys, the key with names sorted: the subject)."""
    members = image_members(keys)
    keys_text = "{" + ",".join(members.values()) + "}"
    names = list(members)
    if len(names) > 1 and names != sorted(names):
        return keys_text, context_safe(
            "{" + ",".join([members[name] for name in sorted(names)]) + "}"
        )
    return keys_text, context_safe(keys_text)


def _data_texts(
    event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> tuple[tuple[str, ...], list[str] | None]:
    """(the envelope's text from after data.keys to its end, the changed names' JSON texts)."""
    if new is None:
        new_text = ',"new":null'
        new_members = None
    else:
        try:
            new_members = image_members(new)
        except PoisonRecordError as exc:
            raise exc.within("NewImage").within("dynamodb") from None
        new_text = ',"new":{' + ",".join(new_members.values()) + "}"
    if old is None:
        return (new_text, ',"old":null,"changed":null}}'), None
    try:
        if event_name != "MODIFY" or new is None or new_members is None:
            old_text = ",".join(image_members(old).values())
            return (new_text, ',"old":{', old_text, '},"changed":null}}'), None
        old_members, changed = changed_members(new_members, new, old)
    except PoisonRecordError as exc:
        raise exc.within("OldImage").within("dynamodb") from None
    changed_texts = [member_prefix(name)[:-1] for name in changed]
    return (
        new_text,
        ',"old":{',
        ",".join(old_members),
        '},"changed":[',
        ",".join(changed_texts),
        "]}}",
    ), changed_texts


@dataclass(frozen=True, slots=True)
class _Middle:
    """The envelope texts one (table, entity, operation) always gives."""

    type: str
    # From the end of the id to the start of the subject's value.
    after_id: str
    # From the end of the sequence to the start of data.keys' value.
    after_sequence: str
    # From the end of the time to the start of the sequence's value (dataschema within).
    after_time: str = _AFTER_TIME


_MIDDLES: Final[dict[tuple[str, str, str, str | None], _Middle]] = {}
_MIDDLES_MAX: Final = 4096  # bounded: entities come from item data


def _middle(
    table_arn: str, table: str, entity: str, operation: str, dataschema: str | None = None
) -> _Middle:
    """The cached texts of an envelope's context attributes for one kind of event.

    ``dataschema``: the entity's item contract's, when it has one (else the envelope's).
    """
    found = _MIDDLES.get((table_arn, entity, operation, dataschema))
    if found is None:
        event_type = f"{_checked_entity(entity)}.{operation}"
        found = _Middle(
            type=event_type,
            after_time=_AFTER_TIME
            if dataschema is None
            else _BEFORE_DATASCHEMA + encode_str(dataschema) + _AFTER_DATASCHEMA,
            after_id='","source":'
            + encode_str(table_arn)
            + ',"type":'
            + encode_str(event_type)
            + ',"subject":',
            after_sequence='","table":'
            + encode_str(table)
            + ',"entity":'
            + encode_str(entity)
            + ',"operation":"'
            + operation
            + '","data":{"keys":',
        )
        if len(_MIDDLES) < _MIDDLES_MAX:
            _MIDDLES[(table_arn, entity, operation, dataschema)] = found
    return found


def pointer_body(body: str, dataref: str) -> str:
    """The claim-check pointer for an envelope: same context attributes, data replaced by dataref."""
    envelope = json.loads(body)
    envelope.pop("data", None)
    envelope["dataref"] = dataref
    # json.loads turned the body's escapes back into characters SNS refuses.
    return sns_safe(json.dumps(envelope, ensure_ascii=False))
