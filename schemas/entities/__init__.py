"""Item data contracts: the versioned shape of one entity's item (``data.new`` / ``data.old``).

The envelope has its own contract (``schemas.v1``); the item inside it is whatever the
table holds unless its entity has a contract here. A contract is:

- one ``EntityModel`` subclass per *major* version of the item (``UserV1``, ``UserV2``),
  each with its JSON Schema exported to ``schemas/json/entities/`` by ``make schemas``;
- the steps between neighbouring versions: ``up[N]`` turns an item of version N into
  version N+1's shape, ``down[N]`` turns version N+1 back into version N's. ``up`` lets a
  consumer written for the new version read an old item (a backfill, a replay, a record
  published before the producer deployed); ``down`` keeps a consumer written for the old
  version working after the producer moves on.

A compatible change (a new optional field) keeps the version. A breaking change (a field
removed, a type changed, a field made required, an enum value removed) needs the next major
version and both steps; ``fanout schema check`` refuses it otherwise.

Every contract lives in a module of this package that defines ``CONTRACT``; ``contracts()``
finds them. The router reads only the exported JSON Schemas (it ships without pydantic).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

DATASCHEMA_PREFIX = "urn:fanout-hub:schema:entity:"
"""An envelope whose item has a contract carries ``dataschema`` = prefix + ``<entity>:<version>``."""

Item = dict[str, Any]
Step = Callable[[Item], Item]


def dataschema_of(entity: str, version: int) -> str:
    """The ``dataschema`` of an envelope whose item is ``entity`` at contract ``version``."""
    return f"{DATASCHEMA_PREFIX}{entity}:{version}"


def parse_dataschema(dataschema: str | None) -> tuple[str, int] | None:
    """``(entity, version)`` of an entity contract's ``dataschema``; None for anything else."""
    if not dataschema or not dataschema.startswith(DATASCHEMA_PREFIX):
        return None
    entity, _, version = dataschema[len(DATASCHEMA_PREFIX) :].rpartition(":")
    if not entity or not version.isdigit():
        return None
    return entity, int(version)


class EntityModel(BaseModel):
    """Base of an entity contract's model: one subclass per (entity, major version).

    Fields the model does not name are kept, not refused: a polite producer adds fields
    beside the old ones, and a consumer written before them must keep working.
    """

    model_config = ConfigDict(extra="allow")

    __entity__: ClassVar[str]
    __version__: ClassVar[int]
    __contract__: ClassVar[EntityContract]


class ContractError(ValueError):
    """A contract is inconsistent, or an item cannot be brought to the version asked for."""


@dataclass(frozen=True)
class EntityContract:
    """Every published version of one entity's item and the steps between them."""

    entity: str
    models: tuple[type[EntityModel], ...]
    """Oldest first; the last is the version the producer writes now."""
    up: Mapping[int, Step] = field(default_factory=dict)
    """``up[N]``: an item of version N in version N+1's shape."""
    down: Mapping[int, Step] = field(default_factory=dict)
    """``down[N]``: an item of version N+1 in version N's shape."""

    def __post_init__(self) -> None:
        if not self.models:
            raise ContractError(f"contract {self.entity!r} has no model")
        for model in self.models:
            if model.__entity__ != self.entity:
                raise ContractError(
                    f"{model.__name__} is for entity {model.__entity__!r}, not {self.entity!r}"
                )
        versions = [model.__version__ for model in self.models]
        if versions != sorted(set(versions)):
            raise ContractError(
                f"contract {self.entity!r}: versions must rise, oldest first: {versions}"
            )
        for model in self.models:
            model.__contract__ = self

    @property
    def current(self) -> type[EntityModel]:
        """The model of the version the producer writes now."""
        return self.models[-1]

    @property
    def version(self) -> int:
        """The version the producer writes now."""
        return self.current.__version__

    @property
    def dataschema(self) -> str:
        """The ``dataschema`` the router sets on this entity's envelopes."""
        return dataschema_of(self.entity, self.version)

    def model_for(self, version: int) -> type[EntityModel]:
        """The model of ``version``; ``ContractError`` when it was never published."""
        for model in self.models:
            if model.__version__ == version:
                return model
        raise ContractError(f"entity {self.entity!r} has no contract version {version}")

    def steps(self, from_version: int, to_version: int) -> tuple[Step, ...]:
        """The steps, in order, from ``from_version``'s shape to ``to_version``'s.

        ``ContractError`` names the first missing step. A consumer resolves this once per
        published version and applies it to every item of that version.
        """
        found: list[Step] = []
        version = from_version
        while version < to_version:
            step = self.up.get(version)
            if step is None:
                raise ContractError(
                    f"entity {self.entity!r}: no upcaster from version {version} to {version + 1}"
                )
            found.append(step)
            version += 1
        while version > to_version:
            step = self.down.get(version - 1)
            if step is None:
                raise ContractError(
                    f"entity {self.entity!r}: no downcaster from version {version} to {version - 1}"
                )
            found.append(step)
            version -= 1
        return tuple(found)

    def convert(self, item: Item, from_version: int, to_version: int) -> Item:
        """``item`` (of ``from_version``) in ``to_version``'s shape, one step at a time."""
        for step in self.steps(from_version, to_version):
            item = step(item)
        return item


def contracts() -> dict[str, EntityContract]:
    """Every entity contract in this package, by entity name."""
    found: dict[str, EntityContract] = {}
    for module_info in pkgutil.iter_modules(__path__, f"{__name__}."):
        module = importlib.import_module(module_info.name)
        contract = getattr(module, "CONTRACT", None)
        if isinstance(contract, EntityContract):
            if contract.entity in found:
                raise ContractError(f"two contracts for entity {contract.entity!r}")
            found[contract.entity] = contract
    return found
