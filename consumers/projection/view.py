"""The read model: one DynamoDB item per source item, holding its latest image.

Item layout in PROJECTION_TABLE (partition key ``pk``):

- ``pk``: the envelope ``subject`` (the source item's key as canonical JSON);
- ``sequence``: the stream sequence of the change this item reflects;
- ``item``: the new image (a map; numbers exact, binary as base64 text);
- ``entity``, ``table``, ``type``, ``envelope_id``, ``changed_at``;
- for a deleted or expired source item, a *tombstone*: ``deleted`` = true, no
  ``item``, and ``expires_at`` so DynamoDB's TTL removes it later.

Every write is conditional on the stored ``sequence`` being older
(``consumers.runtime.state.apply_if_newer``), so an old change arriving late
(SNS/SQS standard do not keep order), a redelivery, or two deliveries racing
can never replace newer state, and cost one write each. Deletes keep a tombstone rather than
removing the item, because a removed item has no sequence to compare against
and a late update would bring it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from consumers.runtime.errors import PermanentError
from consumers.runtime.keys import RECORD_TTL_SECONDS
from consumers.runtime.settings import load_settings
from consumers.runtime.state import apply_if_newer
from hubcommon.limits import DYNAMODB_TABLE_NAME_MAX_CHARS, DYNAMODB_TABLE_NAME_MIN_CHARS
from hubcommon.settings import length, variable
from schemas import Envelope

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

REMOVALS: Final = frozenset({"deleted", "expired"})
TOMBSTONE_TTL_SECONDS: Final = RECORD_TTL_SECONDS

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True, slots=True)
class ProjectionSettings:
    """The projection's own environment."""

    table: str = variable(
        "PROJECTION_TABLE", length(DYNAMODB_TABLE_NAME_MIN_CHARS, DYNAMODB_TABLE_NAME_MAX_CHARS)
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProjectionSettings:
        """Validated settings; ``ConfigurationError`` names a bad variable."""
        return load_settings(cls, environ)


class MissingImageError(PermanentError):
    """A create/update without a new image: the stream view type must include NEW_IMAGE."""


@dataclass(frozen=True, slots=True)
class View:
    """What the read model holds for one source item."""

    subject: str
    sequence: str
    item: dict[str, Any] | None

    @property
    def deleted(self) -> bool:
        """True for a tombstone: the source item was deleted or expired."""
        return self.item is None


def to_attribute(value: Any) -> AttributeValueTypeDef:
    """A plain JSON value as a DynamoDB attribute value (numbers exact)."""
    attribute: AttributeValueTypeDef = _serializer.serialize(value)
    return attribute


def projection_item(envelope: Envelope, now: float) -> dict[str, AttributeValueTypeDef]:
    """The item the read model should hold after ``envelope``; pure."""
    if envelope.data is None:
        raise PermanentError("a pointer envelope reached the projection unresolved")
    item: dict[str, AttributeValueTypeDef] = {
        "pk": {"S": envelope.subject},
        "sequence": {"S": envelope.sequence},
        "entity": {"S": envelope.entity},
        "table": {"S": envelope.table},
        "type": {"S": envelope.type},
        "envelope_id": {"S": envelope.id},
        "changed_at": {"S": envelope.time.isoformat()},
    }
    if envelope.operation in REMOVALS:
        item["deleted"] = {"BOOL": True}
        item["expires_at"] = {"N": str(int(now) + TOMBSTONE_TTL_SECONDS)}
        return item
    if envelope.data.new is None:
        raise MissingImageError(
            f"{envelope.type} carries no new image; the table's StreamViewType must be "
            "NEW_IMAGE or NEW_AND_OLD_IMAGES for a projection"
        )
    item["item"] = to_attribute(envelope.data.new)
    return item


class Projection:
    """Applies changes to the read model, newest sequence wins."""

    def __init__(self, dynamodb: DynamoDBClient, settings: ProjectionSettings) -> None:
        self._dynamodb = dynamodb
        self._table = settings.table

    def apply(self, envelope: Envelope, now: float) -> bool:
        """Upsert the new image (or a tombstone); False if the stored state is already as new.

        One conditional PutItem (``apply_if_newer``): a redelivery or a late change
        fails the condition and writes nothing, so the projection needs no
        idempotency record and no read.
        """
        return apply_if_newer(self._dynamodb, self._table, envelope, projection_item(envelope, now))

    def get(self, subject: str) -> View | None:
        """The read model's view of one source item, or None if it never had a change."""
        response = self._dynamodb.get_item(
            TableName=self._table, Key={"pk": {"S": subject}}, ConsistentRead=True
        )
        stored = response.get("Item")
        if stored is None:
            return None
        image = stored.get("item")
        return View(
            subject=subject,
            sequence=str(_deserializer.deserialize(stored["sequence"])),
            item=_deserializer.deserialize(image) if image is not None else None,
        )
