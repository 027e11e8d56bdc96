"""DLQ messages decoded for people (consumer and router dead letters), and filtering them."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from fanout.ops.dlq.queues import Kind
from fanout.ops.output import iso
from router.errors import PoisonRecordError
from router.normalise import EntityRules, to_outbound

ERROR_TYPE: Final = "fanout-error-type"
ERROR_TEXT: Final = "fanout-error"
ORIGIN: Final = "fanout-origin"


@dataclass(frozen=True, slots=True)
class DeadMessage:
    """One DLQ message, decoded for people."""

    message_id: str
    kind: Kind
    type: str | None
    envelope_id: str | None
    subject: str | None
    receive_count: int | None
    error_type: str | None
    error: str | None
    first_seen: str | None
    """When the message was first sent to a queue (SentTimestamp; a redrive keeps it)."""
    dead_lettered_at: str | None
    sequence_number: str | None = None
    consumer: str | None = None
    claim_check: str | None = None

    def as_row(self) -> dict[str, Any]:
        """A plain dict (for tables and JSON)."""
        return asdict(self)


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name) or {}
    text = value.get("StringValue")
    return str(text) if text is not None else None


def _sent_at(message: Mapping[str, Any]) -> str | None:
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    return iso(int(sent) / 1000) if sent else None


def _receives(message: Mapping[str, Any]) -> int | None:
    count = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
    return int(count) if count else None


def envelope_of(body: str) -> dict[str, Any] | None:
    """The envelope in a queue body (raw delivery, or an SNS notification wrapping it)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("Type") == "Notification":
        try:
            document = json.loads(str(document.get("Message", "")))
        except ValueError:
            return None
    return document if isinstance(document, dict) and "type" in document else None


def decode_consumer_message(message: Mapping[str, Any]) -> DeadMessage:
    """A consumer DLQ message: its envelope, and the error the runtime recorded (if any)."""
    envelope = envelope_of(str(message.get("Body", ""))) or {}
    origin: dict[str, Any] = {}
    if text := _attribute(message, ORIGIN):
        try:
            origin = dict(json.loads(text))
        except (ValueError, TypeError):
            origin = {}
    error_type, error = _attribute(message, ERROR_TYPE), _attribute(message, ERROR_TEXT)
    receives = origin.get("receiveCount")
    if error_type is None and error is None:
        # Moved by the queue's redrive policy: the receive count is the evidence.
        error_type = "maxReceiveCount"
        error = "the queue's redrive policy moved it after repeated failed receives"
    return DeadMessage(
        message_id=str(message["MessageId"]),
        kind="consumer",
        type=envelope.get("type"),
        envelope_id=envelope.get("id"),
        subject=envelope.get("subject"),
        receive_count=int(receives) if receives is not None else _receives(message),
        error_type=error_type,
        error=error,
        first_seen=_sent_at(message),
        dead_lettered_at=origin.get("deadLetteredAt"),
        sequence_number=envelope.get("sequence"),
        consumer=origin.get("consumer"),
        claim_check=envelope.get("dataref"),
    )


def decode_router_message(
    message: Mapping[str, Any], rules: EntityRules | None = None
) -> DeadMessage:
    """A router DLQ message: the dead letter's error, and what the record would route as now."""
    try:
        letter = json.loads(str(message.get("Body", "")))
    except ValueError:
        letter = {}
    if not isinstance(letter, dict):
        letter = {}
    error = letter.get("error") or {}
    record = letter.get("record")
    kind_of_record = event_type = envelope_id = subject = None
    if isinstance(record, dict):
        kind_of_record = str(record.get("eventName") or "?")
        try:
            outbound = to_outbound(record, rules or EntityRules())
        except PoisonRecordError:
            keys = (record.get("dynamodb") or {}).get("Keys")
            subject = json.dumps(keys, sort_keys=True) if keys is not None else None
        else:
            event_type, envelope_id, subject = (
                outbound.type,
                outbound.envelope_id,
                outbound.subject,
            )
    return DeadMessage(
        message_id=str(message["MessageId"]),
        kind="router",
        type=event_type or (f"({kind_of_record} record)" if kind_of_record else None),
        envelope_id=envelope_id,
        subject=subject,
        receive_count=_receives(message),
        error_type=f"{letter.get('reason', '?')}: {error.get('kind', '?')}",
        error=error.get("message"),
        first_seen=_sent_at(message),
        dead_lettered_at=letter.get("failed_at"),
        sequence_number=letter.get("sequence_number"),
        claim_check=letter.get("record_ref"),
    )


def decode(message: Mapping[str, Any], kind: Kind, rules: EntityRules | None = None) -> DeadMessage:
    """Decode by the kind of DLQ the message sits in."""
    if kind == "router":
        return decode_router_message(message, rules)
    decoded = decode_consumer_message(message)
    return decoded if kind == "consumer" else _as_kind(decoded, kind)


def _as_kind(decoded: DeadMessage, kind: Kind) -> DeadMessage:
    values = decoded.as_row()
    values["kind"] = kind
    return DeadMessage(**values)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """``--type`` (a glob such as ``order.*``) and ``--error`` (text, case-insensitive)."""

    type_pattern: str | None = None
    error_text: str | None = None

    @property
    def active(self) -> bool:
        """True when anything is filtered."""
        return bool(self.type_pattern or self.error_text)

    def matches(self, message: DeadMessage) -> bool:
        """True when the message passes every given filter."""
        if self.type_pattern and not fnmatch.fnmatchcase(message.type or "", self.type_pattern):
            return False
        if self.error_text:
            text = f"{message.error_type or ''}: {message.error or ''}".lower()
            if self.error_text.lower() not in text:
                return False
        return True
