"""The envelope contract shared by the router and every consumer.

``Envelope`` is always the newest published version; ``parse_envelope`` reads
any supported version and upcasts it to the newest (``schemas.upcasting``).

The models (and so pydantic) load on first use, not on ``import schemas``: the
router only needs ``schemas.codec`` and ``hubcommon.limits`` on its hot path, and
pydantic's import is about 150 ms of every router cold start
(docs/benchmarks.md, section 3).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from schemas import codec

if TYPE_CHECKING:
    from schemas.upcasting import UPCASTERS, UpcastError, Upcasters
    from schemas.v1 import ChangeData, EnvelopeV1, Item, Json

    Envelope = EnvelopeV1

SUPPORTED_VERSIONS: tuple[str, ...] = ("1",)
LATEST_VERSION = "1"

# name -> "module" or "module:attribute", resolved once on first access (PEP 562)
_LAZY: dict[str, str] = {
    "UPCASTERS": "schemas.upcasting",
    "UpcastError": "schemas.upcasting",
    "Upcasters": "schemas.upcasting",
    "ChangeData": "schemas.v1",
    "EnvelopeV1": "schemas.v1",
    "Envelope": "schemas.v1:EnvelopeV1",
    "Item": "schemas.v1",
    "Json": "schemas.v1",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


class UnsupportedVersionError(ValueError):
    """The envelope names a schema version this code does not know."""


def parse_envelope(
    body: str | bytes | dict[str, Any], upcasters: Upcasters | None = None
) -> EnvelopeV1:
    """Upcast an envelope of any supported version, validate it and return it as the newest.

    ``upcasters`` defaults to the published registry, ``schemas.UPCASTERS``.
    Raises ``pydantic.ValidationError`` for a malformed envelope,
    ``UnsupportedVersionError`` for an unknown ``schemaversion`` and
    ``UpcastError`` when an upcaster misbehaves.
    """
    from schemas.upcasting import UPCASTERS  # noqa: PLC0415 - lazy, see the module docstring
    from schemas.v1 import EnvelopeV1  # noqa: PLC0415 - lazy, see the module docstring

    raw = codec.loads(body) if isinstance(body, str | bytes) else body
    if not isinstance(raw, dict):
        raise TypeError(f"an envelope is a JSON object, got {type(raw).__name__}")
    raw = (UPCASTERS if upcasters is None else upcasters).to_latest(raw)
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
