"""The envelope contract shared by the router and every consumer.

``Envelope`` is always the newest published version; ``parse_envelope`` reads
any supported version and upcasts it to the newest (``schemas.upcasting``).
"""

from typing import Any

from schemas import codec
from schemas.upcasting import UPCASTERS, UpcastError, Upcasters
from schemas.v1 import SCHEMA_VERSION, ChangeData, EnvelopeV1, Item, Json

Envelope = EnvelopeV1
SUPPORTED_VERSIONS: tuple[str, ...] = ("1",)
LATEST_VERSION = SCHEMA_VERSION


class UnsupportedVersionError(ValueError):
    """The envelope names a schema version this code does not know."""


def parse_envelope(
    body: str | bytes | dict[str, Any], upcasters: Upcasters = UPCASTERS
) -> Envelope:
    """Upcast an envelope of any supported version, validate it and return it as the newest.

    Raises ``pydantic.ValidationError`` for a malformed envelope,
    ``UnsupportedVersionError`` for an unknown ``schemaversion`` and
    ``UpcastError`` when an upcaster misbehaves.
    """
    raw = codec.loads(body) if isinstance(body, str | bytes) else body
    if not isinstance(raw, dict):
        raise TypeError(f"an envelope is a JSON object, got {type(raw).__name__}")
    raw = upcasters.to_latest(raw)
    version = raw.get("schemaversion")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"schemaversion {version!r} is not supported (supported: {', '.join(SUPPORTED_VERSIONS)})"
        )
    return EnvelopeV1.model_validate(raw)


__all__ = [
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "UPCASTERS",
    "ChangeData",
    "Envelope",
    "EnvelopeV1",
    "Item",
    "Json",
    "UnsupportedVersionError",
    "UpcastError",
    "Upcasters",
    "codec",
    "parse_envelope",
]
