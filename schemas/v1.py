"""Envelope version 1: a CloudEvents 1.0 event in structured JSON mode.

Published versions never change incompatibly; a new version gets its own
module and an upcaster from this one. The exported JSON Schema lives in
``schemas/json/envelope-v1.schema.json`` and a test keeps it equal to this model.

Claim check: when a whole envelope is larger than the topic's message limit,
the router stores it in the hub's payload bucket and publishes a *pointer
envelope*: every context attribute is kept, ``data`` is omitted and
``dataref`` holds ``s3://<bucket>/<key>`` of the stored full envelope
(CloudEvents' ``dataref`` extension, the spec's claim-check pattern).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypeAliasType

from hubcommon.limits import DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS, S3_BUCKET_NAME_PATTERN
from schemas.entities import DATASCHEMA_PREFIX

SCHEMA_VERSION: Literal["1"] = "1"
DATASCHEMA: Literal["urn:fanout-hub:schema:envelope:1"] = "urn:fanout-hub:schema:envelope:1"
SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE: Literal["application/json"] = "application/json"

# Plain JSON as the envelope carries it. Numbers keep every digit: parse a body
# with ``schemas.codec.loads`` (floats become ``Decimal``), never with a float parser.
Json = TypeAliasType(
    "Json",
    "dict[str, Json] | list[Json] | str | bool | int | Decimal | None",
)
Item = dict[str, Json]

Operation = Literal["created", "updated", "deleted", "expired", "snapshot"]

SEQUENCE_PATTERN = rf"^[0-9]{{{DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS}}}$"
DATAREF_PATTERN = rf"^s3://{S3_BUCKET_NAME_PATTERN}/.+$"
# This envelope's own schema, or an entity contract's (schemas.entities.dataschema_of):
# an envelope of a contracted entity names the item's contract and version.
DATASCHEMA_PATTERN = rf"^(?:{DATASCHEMA}|{DATASCHEMA_PREFIX}.+:[1-9][0-9]*)$"


class ChangeData(BaseModel):
    """The item change: its key, and the images the stream view type carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: Item = Field(description="The item's primary key attributes.")
    new: Item | None = Field(
        description="The item after the change; null for a removal or when the stream view type does not carry it."
    )
    old: Item | None = Field(
        description="The item before the change; null for an insert or when the stream view type does not carry it."
    )
    changed: list[str] | None = Field(
        default=None,
        description="For an update with both images: the sorted names of the top-level attributes that differ.",
    )


class EnvelopeV1(BaseModel):
    """A DynamoDB item change as a CloudEvents 1.0 event, envelope schema version 1."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="fanout-hub envelope v1")

    specversion: Literal["1.0"]
    id: str = Field(
        min_length=1, description="Deterministic: the same stream record always yields the same id."
    )
    source: str = Field(min_length=1, description="The table's ARN.")
    type: str = Field(min_length=1, description="'<entity>.<operation>', e.g. 'order.updated'.")
    subject: str = Field(
        min_length=1, description="The item's key as canonical JSON (sorted attribute names)."
    )
    time: AwareDatetime = Field(
        description="When DynamoDB made the change (ApproximateCreationDateTime)."
    )
    datacontenttype: Literal["application/json"]
    dataschema: str = Field(
        pattern=DATASCHEMA_PATTERN,
        description=(
            "The envelope's own schema, or, when the entity's item has a contract,"
            " that contract's: 'urn:fanout-hub:schema:entity:<entity>:<version>'."
        ),
    )
    schemaversion: Literal["1"]
    sequence: str = Field(
        pattern=SEQUENCE_PATTERN,
        description="The stream SequenceNumber, zero-padded to 40 digits so string order is stream order.",
    )
    table: str = Field(min_length=1, description="The table's name.")
    entity: str = Field(min_length=1, description="The entity the item is, lower case.")
    operation: Operation
    data: ChangeData | None = Field(default=None, description="Absent exactly when dataref is set.")
    dataref: str | None = Field(
        default=None,
        pattern=DATAREF_PATTERN,
        description="Claim check: s3://bucket/key of the full envelope, when it was too large to publish.",
    )

    @model_validator(mode="after")
    def _data_xor_dataref(self) -> EnvelopeV1:
        if (self.data is None) == (self.dataref is None):
            raise ValueError("an envelope carries exactly one of 'data' and 'dataref'")
        return self

    @property
    def is_pointer(self) -> bool:
        """True for a claim-check pointer whose data must be fetched from ``dataref``."""
        return self.dataref is not None

    @property
    def occurred_at(self) -> datetime:
        """The change time (alias of ``time``, which shadows the stdlib module name)."""
        return self.time
