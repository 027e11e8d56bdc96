"""Item data contracts on the router's side: which entities have one, and checking items.

An entity whose item has a contract (``schemas.entities``) has its versions exported as
JSON Schemas to ``schemas/json/entities/<entity>.v<N>.schema.json`` (``make schemas``);
the router's artifact ships those files (Makefile, ``build-RouterFunction``) and not
the models, since the router never imports pydantic (docs/benchmarks.md, section 3).
The router checks ``data.new``, the producer's write, against the current (highest)
version and sets the envelope's ``dataschema`` to it. ``data.old`` is history: an item
written before a version bump and updated, expired or deleted after it holds the version
it was written in, so it is not checked (a typed consumer reads it as that version,
``consumers.runtime.items``). ``CONTRACT_SCHEMAS`` (template parameter
``ContractSchemas``) names another folder of such files on the function's file system,
such as a layer's under ``/opt``, for contracts released apart from the router's code.

Validation is fastjsonschema's: the schema is compiled to Python once per container, on
the first item of that entity, so a container that never sees a contracted entity never
imports it, and an entity without a contract costs one dict lookup per record. It is
about 15 times cheaper per item than ``jsonschema`` and about a tenth of its import
(docs/benchmarks.md, section 7).

A violation is told by where (``new.lines[0].qty``) and by the JSON Schema keyword that
failed (``minimum``), with what the schema expects; never by the item's value, which
may be personal data (it goes to logs and to the router DLQ's error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, TypedDict, cast, get_args

import schemas

ContractMode = Literal["observe", "enforce"]
CONTRACT_MODES: Final[tuple[str, ...]] = get_args(ContractMode)

# schemas.entities' and schemas.export's names, written here so the router never
# imports them (pydantic); tests/unit/router/test_contracts.py checks they agree.
ENTITY_DATASCHEMA_PREFIX: Final = "urn:fanout-hub:schema:entity:"
ENTITY_SCHEMA_DIR: Final = Path(schemas.__file__).parent / "json" / "entities"
CONTRACT_SCHEMAS: Final = "CONTRACT_SCHEMAS"
"""The router's variable naming its folder of contract schemas; unset: ``ENTITY_SCHEMA_DIR``."""
SCHEMA_FILE: Final = re.compile(
    r"(?P<entity>[a-z0-9][a-z0-9_.-]*)\.v(?P<version>[1-9][0-9]*)\.schema\.json\Z"
)
"""A contract schema's file name: the entity as the router writes it (lower case), its version.

The one rule for the router's folder and for ``fanout schema check``'s git history
(``fanout.schema.sources``); ``schemas.export.entity_schema_name`` writes names it matches.
"""
CONTRACT_MODE_PATTERN: Final = (
    r"((observe|enforce)|[^,=\s]+=(observe|enforce))(,[^,=\s]+=(observe|enforce))*"
)
"""``CONTRACT_MODE``'s one grammar: an optional default mode first, then ``entity=mode`` pairs.

The template's ``ContractMode`` ``AllowedPattern`` is this text (CloudFormation matches it
against the whole value, Java regex syntax, which reads it as Python does:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-regexes.html), and
``contract_modes`` refuses whatever it does not match; tests/unit/router/test_contracts.py
keeps the two the same text.
"""

# What a violation may quote: a path is made of schema names and list positions, but
# an item's own attribute names reach it (additionalProperties), and they can be long.
_PATH_CHARS: Final = 200
_EXPECTED_CHARS: Final = 200

# schemas.codec.loads (numbers exact, as a consumer reads them) with one decoder made
# once: json.loads builds a new JSONDecoder on every call given parse_float, a few µs.
_read_json: Final = json.JSONDecoder(parse_float=Decimal).decode


def entity_dataschema(entity: str, version: int) -> str:
    """``schemas.entities.dataschema_of``: the ``dataschema`` of ``entity`` at ``version``."""
    return f"{ENTITY_DATASCHEMA_PREFIX}{entity}:{version}"


class Violation(TypedDict):
    """One way an item does not match its contract: where, which keyword, what it expects."""

    path: str
    kind: str
    expected: str


Validate = Callable[[Any], Any]


@dataclass(slots=True)
class ContractCheck:
    """One entity's current contract version and how strictly the router holds items to it."""

    entity: str
    version: int
    schema: Mapping[str, Any]
    mode: ContractMode
    _validate: Validate | None = field(default=None, repr=False)
    _by_field: dict[str, Validate] = field(default_factory=dict, repr=False)

    @property
    def dataschema(self) -> str:
        """The ``dataschema`` the router sets on this entity's envelopes."""
        return entity_dataschema(self.entity, self.version)

    def violations(self, body: str) -> list[Violation]:
        """How the envelope's ``data.new`` breaks the contract; empty when it doesn't.

        ``body`` is the envelope's text; its item is read as a consumer reads it
        (``schemas.codec``: numbers exact). Only ``data.new``, the producer's write, is
        checked: ``data.old`` is what the table held before, written in whatever version
        was current then. After a bump, holding it to the new version would refuse every
        update and delete (a TTL expiry, an erasure) of an item written before the bump.
        A removal (no ``data.new``) has nothing to check.
        """
        item = (_read_json(body).get("data") or {}).get("new")
        return [] if item is None else self._check("new", item)

    def _check(self, image: str, item: Any) -> list[Violation]:
        from fastjsonschema import JsonSchemaValueException  # noqa: PLC0415 - see the docstring

        try:
            self._validator()(item)
        except JsonSchemaValueException as first:
            # fastjsonschema stops at the first error; look again field by field (a bad
            # item is rare) so the letter names every field that is wrong.
            return self._each_field(image, item) or [_violation(image, first)]
        return []

    def _validator(self) -> Validate:
        if self._validate is None:
            self._validate = _compile(self.schema)
        return self._validate

    def _each_field(self, image: str, item: Any) -> list[Violation]:
        from fastjsonschema import JsonSchemaValueException  # noqa: PLC0415 - see the docstring

        if not isinstance(item, dict):
            return []
        found: list[Violation] = [
            {"path": f"{image}.{_safe(name)}", "kind": "required", "expected": "present"}
            for name in self.schema.get("required", ())
            if name not in item
        ]
        for name, subschema in (self.schema.get("properties") or {}).items():
            if name not in item:
                continue
            validate = self._by_field.get(name)
            if validate is None:
                # The field's schema with the document's definitions, so "$ref"s resolve.
                validate = _compile({"$defs": self.schema.get("$defs", {}), **subschema})
                self._by_field[name] = validate
            try:
                validate(item[name])
            except JsonSchemaValueException as error:
                found.append(_violation(f"{image}.{_safe(name)}", error))
        return found


def _compile(schema: Mapping[str, Any]) -> Validate:
    import fastjsonschema  # noqa: PLC0415 - only for an entity with a contract

    # use_default=False: a validator must not write the schema's defaults into the item.
    return cast("Validate", fastjsonschema.compile(dict(schema), use_default=False))


def _violation(where: str, error: Any) -> Violation:
    """A violation from fastjsonschema's error, without the value it carries (``error.value``)."""
    # error.name is "data" followed by the path inside the validated value.
    name = str(error.name)
    path = where + name[len("data") :] if name.startswith("data") else where
    rule = str(error.rule or "invalid")
    definition = error.rule_definition
    if rule == "required" and isinstance(error.value, dict) and isinstance(definition, list):
        missing = [n for n in definition if n not in error.value]
        if missing:
            path, definition = f"{path}.{_safe(str(missing[0]))}", "present"
    expected = definition if isinstance(definition, str) else json.dumps(definition, default=str)
    return {"path": _safe(path), "kind": _safe(rule), "expected": expected[:_EXPECTED_CHARS]}


def _safe(text: str) -> str:
    """Printable ASCII, shortened: a path or name as a log line may carry it."""
    text = text[:_PATH_CHARS]
    return text if text.isascii() and text.isprintable() else ascii(text)[1:-1]


def describe(violations: Iterable[Violation]) -> str:
    """One line for a dead letter's message: ``new.total: type (number); new.lines: required``."""
    return "; ".join(f"{v['path']}: {v['kind']} ({v['expected']})" for v in violations)


@dataclass(frozen=True, slots=True)
class ContractModes:
    """``CONTRACT_MODE``: a mode for every contracted entity, and any entity's own."""

    default: ContractMode = "observe"
    by_entity: Mapping[str, ContractMode] = field(default_factory=dict, hash=False)

    def of(self, entity: str) -> ContractMode:
        """The mode ``entity``'s items are held to."""
        return self.by_entity.get(entity, self.default)


def contract_modes(value: str) -> ContractModes:
    """Parse ``observe``, ``enforce``, ``order=enforce`` or ``observe,order=enforce,user=observe``.

    A bare mode, first, is the default for every contracted entity (``observe`` when none
    is given); ``entity=mode`` sets one entity's. Entity names compare lower-cased, as the
    router writes them. Raises ``ValueError`` for anything ``CONTRACT_MODE_PATTERN``
    refuses, and for an entity named twice.
    """
    if not _CONTRACT_MODE.fullmatch(value):
        raise ValueError(
            f"must be {' or '.join(CONTRACT_MODES)}, optionally per entity"
            " (a default first, then entity=mode pairs: observe,order=enforce)"
        )
    default: ContractMode = "observe"
    by_entity: dict[str, ContractMode] = {}
    for part in value.split(","):
        entity, equals, mode = part.rpartition("=")
        chosen = cast("ContractMode", mode)
        if not equals:
            default = chosen  # the pattern admits a bare mode first only
            continue
        name = entity.lower()
        if name in by_entity:
            raise ValueError(f"names entity {_safe(name)!r} twice")
        by_entity[name] = chosen
    return ContractModes(default, by_entity)


_CONTRACT_MODE: Final = re.compile(CONTRACT_MODE_PATTERN)


def shipped_schemas(folder: Path = ENTITY_SCHEMA_DIR) -> dict[str, tuple[int, Path]]:
    """Each contracted entity's current (highest) version and its schema file."""
    found: dict[str, tuple[int, Path]] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = SCHEMA_FILE.match(path.name)
        if match:
            entity, version = match.group("entity"), int(match.group("version"))
            if version > found.get(entity, (0, path))[0]:
                found[entity] = (version, path)
    return found


def borrowed(environ: Mapping[str, str]) -> Path | None:
    """The router's ``CONTRACT_SCHEMAS`` folder when this machine does not have it; else None.

    A deployed router's layer path (``/opt/...``) is on its file system, not an
    operator's: a tool then reads this checkout's exports instead (``Contracts.of_router``)
    and, being a tool, says so (``fanout.ops.backfill``).
    """
    configured = environ.get(CONTRACT_SCHEMAS)
    if not configured or Path(configured).is_dir():
        return None
    return Path(configured)


def schema_folder(configured: str | None) -> Path:
    """The folder of contract schemas: ``CONTRACT_SCHEMAS`` when set, else the shipped one."""
    return Path(configured) if configured else ENTITY_SCHEMA_DIR


class Contracts:
    """Every contracted entity's check, by entity name; the one place the router asks."""

    def __init__(self, checks: Iterable[ContractCheck] = ()) -> None:
        self._checks = {check.entity: check for check in checks}
        self.dataschemas: Mapping[str, str] = {
            entity: check.dataschema for entity, check in self._checks.items()
        }
        """Entity to the ``dataschema`` its envelopes carry (``router.normalise.EntityRules``)."""

    @classmethod
    def shipped(
        cls, modes: ContractModes | None = None, folder: Path = ENTITY_SCHEMA_DIR
    ) -> Contracts:
        """The contracts whose schemas this artifact ships, each with its configured mode."""
        modes = modes or ContractModes()
        return cls(
            ContractCheck(
                entity,
                version,
                json.loads(path.read_text(encoding="utf-8")),
                modes.of(entity),
            )
            for entity, (version, path) in shipped_schemas(folder).items()
        )

    @classmethod
    def of_router(cls, environ: Mapping[str, str]) -> Contracts:
        """The contracts of the router whose environment is ``environ``, for a tool.

        What ``fanout backfill``, ``fanout dlq`` and the local hub's ledger build
        envelopes with, so that they carry the ``dataschema`` the router sets. A folder
        the router names that is not on this machine (a layer's ``/opt`` path of a
        deployed router) is read from this checkout's exports, which ``make schemas``
        keeps the same as what the router ships. Modes are the router's when they parse,
        the default otherwise: a tool only needs the ``dataschema``.
        """
        folder = schema_folder(environ.get(CONTRACT_SCHEMAS))
        try:
            modes = contract_modes(environ.get("CONTRACT_MODE", ""))
        except ValueError:
            modes = ContractModes()
        return cls.shipped(modes, ENTITY_SCHEMA_DIR if borrowed(environ) else folder)

    def __bool__(self) -> bool:
        return bool(self._checks)

    def get(self, entity: str) -> ContractCheck | None:
        """The entity's check; None (one dict lookup) for an entity without a contract."""
        return self._checks.get(entity)
