"""Upcasters: bring an envelope of any older version up to the newest, step by step.

``schemas.parse_envelope`` runs the registry before validation, so every reader
(router tooling, consumers, tests) upcasts the same way and sees
``schemas.Envelope`` (the newest). A step turns the raw JSON object of version
N into version N+1. Today only version 1 is published and the registry is
empty; when version 2 ships, its upcaster slots in as::

    @UPCASTERS.register("1", "2")
    def v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, "schemaversion": "2", ...}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.v1 import SCHEMA_VERSION

RawEnvelope = dict[str, Any]
Upcaster = Callable[[RawEnvelope], RawEnvelope]


class UpcastError(ValueError):
    """The registered upcasters cannot bring this envelope to a newer version."""


class Upcasters:
    """A chain of one-step upcasters keyed by the version they read."""

    def __init__(self, latest: str = SCHEMA_VERSION) -> None:
        self._latest = latest
        self._steps: dict[str, tuple[str, Upcaster]] = {}

    def register(self, from_version: str, to_version: str) -> Callable[[Upcaster], Upcaster]:
        """Decorator: ``fn`` turns a raw ``from_version`` envelope into a ``to_version`` one."""
        if from_version == to_version:
            raise ValueError("an upcaster must change the version")

        def add(fn: Upcaster) -> Upcaster:
            if from_version in self._steps:
                raise ValueError(f"an upcaster from version {from_version!r} is already registered")
            self._steps[from_version] = (to_version, fn)
            return fn

        return add

    def to_latest(self, raw: RawEnvelope) -> RawEnvelope:
        """Apply registered steps until the envelope is the newest version or no step applies.

        An unknown version is left as it is: ``parse_envelope`` refuses it.
        Raises ``UpcastError`` when the steps loop or one yields the wrong version.
        """
        seen: set[str] = set()
        while (version := raw.get("schemaversion")) != self._latest and version in self._steps:
            if version in seen:
                raise UpcastError(f"upcasters loop at version {version!r}")
            seen.add(version)
            target, step = self._steps[version]
            raw = step(raw)
            if raw.get("schemaversion") != target:
                raise UpcastError(
                    f"upcaster {version}->{target} produced version {raw.get('schemaversion')!r}"
                )
        return raw


# The registry every reader uses unless it is handed another one.
UPCASTERS = Upcasters()
