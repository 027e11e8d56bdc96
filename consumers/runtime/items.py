"""Typed items: an envelope's item images as the entity model a consumer was written for.

``@consumer(model=UserV1)`` gives the function a ``Change[UserV1]`` instead of the
envelope: ``change.new`` / ``change.old`` are ``UserV1`` (or None), ``change.envelope``
is the envelope itself. The item's published version is the envelope's ``dataschema``
(``schemas.entities.parse_dataschema``); an envelope without an entity ``dataschema``
(the router knows no contract for that entity) is read as the model's own version.
The contract's ``up`` / ``down`` steps bring each image to the model's version
(``EntityContract.steps``, resolved once per published version), then the model
validates it.

``data.old`` is history: the item as the table held it, written in whatever version was
current then. After a bump, an update or a removal (a TTL expiry, an erasure) of an item
written before it carries the new ``dataschema`` and an ``old`` of the earlier version.
So when ``old`` does not fit once converted from the envelope's version, each earlier
version the contract knows is tried, newest first: the image is validated against that
version's model, then converted from it to the consumer's. Only when none fits is it
refused.

A consumer deployed before a bump has a contract that does not know the new version
(or no step to it): the image is then validated as written against the consumer's own
model, and handed over when it fits (a compatible change, which ``fanout schema check``
lets through without a bump of the consumer); ``item_version_unknown`` is logged once
per container and version, with the versions only. Deploy the new contract to the
consumers before the producer writes it (docs/changing-an-item-shape.md).

Whatever goes wrong here goes wrong on every delivery of the message, so it is an
``InvalidItemError`` (a ``PermanentError``): another entity, a step that raises, an
image the model refuses (with no step to its version, or through them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import structlog
from pydantic import ValidationError

from consumers.runtime.errors import InvalidItemError
from consumers.runtime.reading import validation_kinds, validation_problems
from schemas.entities import ContractError, EntityContract, EntityModel, Step, parse_dataschema

if TYPE_CHECKING:
    from schemas import Envelope, Item

M = TypeVar("M", bound=EntityModel)
# A change is read-only: a Change[UserV2] is a Change[EntityModel] too.
M_co = TypeVar("M_co", bound=EntityModel, covariant=True)

# An entity name from a message, quoted in an error only this long.
_MAX_NAME_CHARS: Final = 64

_log = structlog.get_logger("consumers.runtime")


@dataclass(frozen=True, slots=True)
class Change(Generic[M_co]):
    """One item change, its images in the shape of the model the consumer was written for."""

    envelope: Envelope
    """The envelope as published (its ``data`` holds the images as the producer wrote them)."""
    new: M_co | None
    """The item after the change, as the model; None for a removal (or no new image)."""
    old: M_co | None
    """The item before the change, as the model, read from the version it was written in; None for an insert (or no old image)."""
    published_version: int
    """The contract version the producer wrote the item in."""


TypedHandle = Callable[[Change[M]], bool | None]
"""A typed consumer's function: one ``Change`` in; None, or False when it applied nothing."""


class ItemReader(Generic[M]):
    """Reads an envelope's item images as ``model``, converting them between contract versions."""

    def __init__(self, model: type[M]) -> None:
        contract = getattr(model, "__contract__", None)
        if not (isinstance(model, type) and issubclass(model, EntityModel)) or not isinstance(
            contract, EntityContract
        ):
            raise TypeError(
                f"consumer(model={getattr(model, '__name__', model)!r}): a model is an "
                "EntityModel listed in an EntityContract (schemas.entities)"
            )
        self.model = model
        self._contract = contract
        self._entity = model.__entity__
        self._version = model.__version__
        # Per published version, the steps to the model's: a contract is fixed once
        # imported, so the path found for the first item of a version serves every other.
        self._paths: dict[int, tuple[Step, ...] | ContractError] = {}

    def read(self, envelope: Envelope) -> Change[M]:
        """The envelope's change with its images as the model; ``InvalidItemError`` otherwise."""
        version = self._published_version(envelope)
        data = envelope.data
        return Change(
            envelope=envelope,
            new=self._image("data.new", data.new if data else None, version),
            old=self._history("data.old", data.old if data else None, version),
            published_version=version,
        )

    def _published_version(self, envelope: Envelope) -> int:
        if envelope.entity != self._entity:
            raise InvalidItemError(
                f"entity: {envelope.entity[:_MAX_NAME_CHARS]!r} is not {self._entity!r},"
                f" the entity of {self.model.__name__}"
            )
        try:
            published = parse_dataschema(envelope.dataschema)
        except ValueError:  # more digits than int() reads: no contract has such a version
            raise InvalidItemError("dataschema: the version is not a number") from None
        if published is None:
            return self._version  # no contract at the router: the item is read as it is
        entity, version = published
        if entity != self._entity:
            raise InvalidItemError(
                f"dataschema: names entity {entity[:_MAX_NAME_CHARS]!r}, not {self._entity!r},"
                f" the entity of {self.model.__name__}"
            )
        return version

    def _path(self, version: int) -> tuple[Step, ...] | ContractError:
        """The steps from ``version`` to the model's, or why the contract has none."""
        path = self._paths.get(version)
        if path is None:
            try:
                path = self._contract.steps(version, self._version)
            except ContractError as error:
                path = error
            self._paths[version] = path
        return path

    def _image(self, where: str, image: Item | None, version: int) -> M | None:
        """``image`` of ``version`` as the model: through the steps, or as written when there are none."""
        if image is None:
            return None
        path = self._path(version)
        if isinstance(path, ContractError):
            return self._as_written(where, image, version, path)
        return self._validate(where, self._convert(where, image, version, path))

    def _history(self, where: str, image: Item | None, version: int) -> M | None:
        """``data.old`` as the model: of the envelope's version, or else of an earlier one."""
        if image is None:
            return None
        try:
            return self._image(where, image, version)
        except InvalidItemError as first:
            for earlier in reversed(self._contract.models):
                found = self._as_earlier(where, image, earlier, version)
                if found is not None:
                    return found
            raise first from None

    def _as_earlier(
        self, where: str, image: Item, earlier: type[EntityModel], version: int
    ) -> M | None:
        """``image`` read as ``earlier``'s (a version before ``version``); None when it is not one."""
        was = earlier.__version__
        if was >= version:
            return None
        path = self._path(was)
        if isinstance(path, ContractError):
            return None
        try:
            earlier.model_validate(dict(image))
            return self._validate(where, self._convert(where, image, was, path))
        except Exception:  # noqa: BLE001 - not of that version either: try the next one
            return None

    def _as_written(self, where: str, image: Item, version: int, missing: ContractError) -> M:
        """An image of a version the contract has no steps from, if it fits the model as it is."""
        what = (
            f"{missing}: {self.model.__name__} (version {self._version}) cannot read an item"
            f" of version {version}, and {where} does not fit it as written"
        )
        model = self._validate(where, dict(image), what)
        told = (self._entity, version, self._version)
        if told not in _TOLD_UNKNOWN:
            _TOLD_UNKNOWN.add(told)
            # Versions only: the item's values stay out of the log.
            _log.warning(
                "item_version_unknown",
                entity=self._entity,
                published_version=version,
                model_version=self._version,
                known_versions=[m.__version__ for m in self._contract.models],
            )
        return model

    def _convert(self, where: str, image: Item, version: int, steps: tuple[Step, ...]) -> Item:
        item = dict(image)  # a step that edits its argument in place leaves the envelope whole
        try:
            for step in steps:
                item = step(item)
        except Exception as error:  # noqa: BLE001 - a pure step fails on every delivery
            # Its text may quote a value of the item: only its type is said.
            raise InvalidItemError(
                f"{where}: {type(error).__name__} in the {self._entity!r} steps"
                f" from version {version} to {self._version}"
            ) from None
        return item

    def _validate(self, where: str, item: Item, what: str | None = None) -> M:
        what = what or (
            f"{where} does not fit {self.model.__name__} ({self._entity} v{self._version})"
        )
        try:
            return self.model.model_validate(item)
        except ValidationError as error:
            raise InvalidItemError(
                f"{what}: {validation_problems(error, where, under=where)}",
                loggable=f"{what}: {validation_kinds(error, under=where)}",
            ) from None
        except Exception as error:  # noqa: BLE001 - a model's validator failing outside pydantic's errors
            # Pure too: it fails on every delivery. Its text may quote a value.
            raise InvalidItemError(f"{what}: {type(error).__name__} in its validation") from None


_TOLD_UNKNOWN: set[tuple[str, int, int]] = set()
"""(entity, published version, model version) already logged as ``item_version_unknown``."""


class TypedHandler(Generic[M]):
    """A typed consumer's function with its model's reader: binds each envelope to a call."""

    def __init__(self, function: TypedHandle[M], items: ItemReader[M]) -> None:
        self.function = function
        self.items = items

    def bind(self, envelope: Envelope) -> Callable[[], bool | None]:
        """The function's call for this envelope; raises ``InvalidItemError`` before any work."""
        return partial(self.function, self.items.read(envelope))

    def __call__(self, envelope: Envelope) -> bool | None:
        """Read and handle one envelope (the runtime calls ``bind`` first, then the call)."""
        return self.bind(envelope)()
