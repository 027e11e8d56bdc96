"""Compatibility of two versions of an item's JSON Schema, as Confluent's modes define it.

- **backward**: readers of the new version read data written with the old one;
- **forward**: readers of the old version read data written with the new one;
- **full**: both. (Transitive checks, against every earlier version, are the caller's loop.)
https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html

A reader accepts a writer when every value the writer's schema admits, the reader's admits
too. That is decided here over the subset of JSON Schema that pydantic's
``model_json_schema(mode="validation")`` emits for an entity model: ``$defs``/``$ref``,
``anyOf`` (``Optional[X]`` is ``anyOf [X, null]``), ``type``, ``enum``/``const``,
``properties``/``required``, ``items``, ``additionalProperties``, and the value constraints
pydantic's ``Field`` writes (``maxLength``, ``pattern``, ``format``, ``minimum``...). A
constraint the reader adds or tightens is a breaking change (a value the writer admitted
may now fail); the check does not try to prove that two different patterns admit the same
strings, so any change of ``pattern`` or ``format`` counts as one. Keywords outside that
subset (``allOf``, ``oneOf``, ``if``/``then``, ``not``) are compared as a whole: any
difference is a breaking change, so the check errs on the side of refusing.

Why not a library: jsoncompat describes itself as alpha software that misses some
incompatible changes and reports false positives, and answers yes or no per role, not
the field and rule a producer must fix; jsonschema-diff renders differences without
compatibility semantics; jsonschema-changelog is young (0.2). The subset above is small
enough to decide exactly, each rule with its own test.

One deliberate difference from Confluent: under FORWARD, Confluent allows deleting an
*optional* field. An item's consumers read its fields by name, and the table keeps no
schema of its own, so a field the producer stops writing turns a value into ``null`` for
every consumer that read it (the ``fullname`` failure): here a removed field breaks
forward compatibility whether it was optional or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

Schema = Mapping[str, Any]


class Mode(StrEnum):
    """The compatibility a change must keep (Confluent's names)."""

    BACKWARD = "backward"
    FORWARD = "forward"
    FULL = "full"

    @property
    def directions(self) -> tuple[Direction, ...]:
        """The reader/writer pairs this mode checks."""
        if self is Mode.BACKWARD:
            return (Direction.BACKWARD,)
        if self is Mode.FORWARD:
            return (Direction.FORWARD,)
        return (Direction.BACKWARD, Direction.FORWARD)


class Direction(StrEnum):
    """Who reads whose data: ``backward`` new readers of old data, ``forward`` the other way."""

    BACKWARD = "backward"
    FORWARD = "forward"


class Rule(StrEnum):
    """What changed from the old version to the new one, named as the change, not the check."""

    FIELD_REMOVED = "field removed"
    REQUIRED_FIELD_ADDED = "required field added"
    FIELD_NOW_REQUIRED = "field now required"
    FIELD_NOW_OPTIONAL = "field now optional"
    TYPE_NARROWED = "type narrowed"
    TYPE_WIDENED = "type widened"
    TYPE_CHANGED = "type changed"
    ENUM_VALUE_REMOVED = "enum value removed"
    ENUM_VALUE_ADDED = "enum value added"
    CONSTRAINT_TIGHTENED = "constraint tightened"
    CONSTRAINT_LOOSENED = "constraint loosened"
    EXTRA_FIELDS_REFUSED = "extra fields refused"
    EXTRA_FIELDS_ADMITTED = "extra fields admitted"
    SCHEMA_CHANGED = "schema changed"


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a reader refuses data a writer may produce."""

    direction: Direction
    rule: Rule
    path: str
    """The field, dotted; ``[]`` for an array's items, ``{}`` for a map's values."""
    detail: str

    def describe(self) -> str:
        """``path: rule (detail)`` for one line of output."""
        return f"{self.path or '(item)'}: {self.rule} ({self.detail})"


_NUMBER_BOUNDS_UP: Final = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
"""A reader's upper bound breaks the writer's data when it is lower (or new)."""
_NUMBER_BOUNDS_DOWN: Final = (
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
)
"""A reader's lower bound breaks the writer's data when it is higher (or new)."""
_EXACT: Final = ("pattern", "format", "multipleOf")
"""Constraints compared for equality: a new or different one may refuse the writer's values."""
_OPAQUE: Final = ("allOf", "oneOf", "not", "if", "then", "else", "prefixItems", "patternProperties")
"""Outside the subset pydantic emits for an entity: compared as a whole."""
_ANNOTATIONS: Final = frozenset({"title", "description", "default", "examples", "deprecated"})


def breaking_changes(old: Schema, new: Schema, mode: Mode) -> list[Finding]:
    """Every reason the change ``old`` → ``new`` breaks ``mode``; empty when compatible."""
    findings: list[Finding] = []
    for direction in mode.directions:
        reader, writer = (new, old) if direction is Direction.BACKWARD else (old, new)
        findings.extend(_Comparison(direction, reader, writer).accepts(reader, writer, "", set()))
    return _unique(findings)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple[Direction, Rule, str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.direction, finding.rule, finding.path, finding.detail), finding)
    return list(seen.values())


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Comparison:
    """Does ``reader`` admit everything ``writer`` admits? Each document resolves its own refs."""

    def __init__(self, direction: Direction, reader_root: Schema, writer_root: Schema) -> None:
        self.direction = direction
        self.reader_root = reader_root
        self.writer_root = writer_root

    # ------------------------------------------------------------------ helpers
    def _finding(self, backward: Rule, forward: Rule, path: str, detail: str) -> Finding:
        rule = backward if self.direction is Direction.BACKWARD else forward
        return Finding(self.direction, rule, path, detail)

    @staticmethod
    def _resolve(root: Schema, schema: Schema) -> tuple[Schema, str | None]:
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema, None
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported, not {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        # Siblings of $ref (pydantic puts a field's default or description there) apply too.
        merged = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged, ref

    def _old_new(self, reader: Any, writer: Any) -> tuple[Any, Any]:
        """(old, new) from (reader, writer), for messages in the change's own terms."""
        return (writer, reader) if self.direction is Direction.BACKWARD else (reader, writer)

    # ------------------------------------------------------------------ the check
    def accepts(
        self, reader: Schema, writer: Schema, path: str, seen: set[tuple[str, str]]
    ) -> list[Finding]:
        """Findings for values ``writer`` admits that ``reader`` refuses (none: compatible)."""
        reader, reader_ref = self._resolve(self.reader_root, reader)
        writer, writer_ref = self._resolve(self.writer_root, writer)
        if reader_ref and writer_ref:
            if (reader_ref, writer_ref) in seen:
                return []  # a recursive model: this pair is being compared further up
            seen = {*seen, (reader_ref, writer_ref)}
        if not reader:
            return []
        reader_types = self._union_types(self.reader_root, reader)
        writer_types = self._union_types(self.writer_root, writer)
        if reader_types is not None and (
            writer_types is None or any(not _covered(t, reader_types) for t in writer_types)
        ):
            return [self._type_finding(reader_types, writer_types, path)]
        if "anyOf" in writer:
            return [
                f
                for branch in writer["anyOf"]
                for f in self.accepts(reader, {**_without(writer, "anyOf"), **branch}, path, seen)
            ]
        if "anyOf" in reader:
            return self._any_of(reader, writer, path, seen)
        return self._plain(reader, writer, path, seen)

    def _plain(
        self, reader: Schema, writer: Schema, path: str, seen: set[tuple[str, str]]
    ) -> list[Finding]:
        """``accepts`` for two schemas without ``$ref`` or ``anyOf`` at the top."""
        opaque = [k for k in _OPAQUE if _key(reader.get(k)) != _key(writer.get(k))]
        if opaque:
            return [
                Finding(self.direction, Rule.SCHEMA_CHANGED, path, f"{', '.join(opaque)} differ")
            ]
        findings = self._types(reader, writer, path)
        if findings:
            return findings
        findings = self._enum(reader, writer, path)
        findings.extend(self._constraints(reader, writer, path))
        if "object" in (_types(reader) or ()) or "properties" in reader:
            findings.extend(self._object(reader, writer, path, seen))
        if "items" in reader and isinstance(reader["items"], Mapping):
            findings.extend(
                self.accepts(reader["items"], writer.get("items") or {}, f"{path}[]", seen)
            )
        return findings

    def _any_of(
        self, reader: Schema, writer: Schema, path: str, seen: set[tuple[str, str]]
    ) -> list[Finding]:
        branches = [{**_without(reader, "anyOf"), **b} for b in reader["anyOf"]]
        attempts = [self.accepts(b, writer, path, seen) for b in branches]
        if any(not found for found in attempts):
            return []
        writer_types = _types(self._resolve(self.writer_root, writer)[0])
        # Report against the branch of the writer's own type: its findings name the field.
        for branch, found in zip(branches, attempts, strict=True):
            branch_types = _types(self._resolve(self.reader_root, branch)[0])
            if writer_types and branch_types and set(writer_types) & set(branch_types):
                return found
        reader_types = sorted(
            {t for b in branches for t in (_types(self._resolve(self.reader_root, b)[0]) or ())}
        )
        return [self._type_finding(reader_types, writer_types, path)]

    def _union_types(self, root: Schema, schema: Schema) -> tuple[str, ...] | None:
        """The types a schema admits, through ``$ref`` and ``anyOf``; None for any."""
        schema, _ = self._resolve(root, schema)
        if "anyOf" not in schema:
            return _types(schema)
        found: set[str] = set()
        for branch in schema["anyOf"]:
            types = self._union_types(root, branch)
            if types is None:
                return None
            found.update(types)
        return tuple(sorted(found))

    def _types(self, reader: Schema, writer: Schema, path: str) -> list[Finding]:
        reader_types, writer_types = _types(reader), _types(writer)
        if reader_types is None:
            return []
        if writer_types is None or any(not _covered(t, reader_types) for t in writer_types):
            return [self._type_finding(reader_types, writer_types, path)]
        return []

    def _type_finding(
        self, reader_types: Any, writer_types: tuple[str, ...] | None, path: str
    ) -> Finding:
        old, new = self._old_new(reader_types, writer_types)
        old_text = " | ".join(old) if old else "any"
        new_text = " | ".join(new) if new else "any"
        detail = f"{old_text} -> {new_text}"
        if new is not None and (old is None or all(_covered(t, old) for t in new)):
            rule = Rule.TYPE_NARROWED
        elif new is None or (old is not None and all(_covered(t, new) for t in old)):
            rule = Rule.TYPE_WIDENED
        else:
            rule = Rule.TYPE_CHANGED
        return Finding(self.direction, rule, path, detail)

    def _enum(self, reader: Schema, writer: Schema, path: str) -> list[Finding]:
        allowed = _enum(reader)
        if allowed is None:
            return []
        produced = _enum(writer)
        if produced is None:
            return [
                self._finding(
                    Rule.CONSTRAINT_TIGHTENED,
                    Rule.CONSTRAINT_LOOSENED,
                    path,
                    "a fixed set of values where any was allowed",
                )
            ]
        missing = [value for value in produced if _key(value) not in {_key(a) for a in allowed}]
        if not missing:
            return []
        values = ", ".join(_key(v) for v in missing)
        return [self._finding(Rule.ENUM_VALUE_REMOVED, Rule.ENUM_VALUE_ADDED, path, values)]

    def _constraints(self, reader: Schema, writer: Schema, path: str) -> list[Finding]:
        findings = []
        for keyword, tighter in [
            *((k, _lower) for k in _NUMBER_BOUNDS_UP),
            *((k, _higher) for k in _NUMBER_BOUNDS_DOWN),
            *((k, _differs) for k in _EXACT),
        ]:
            if keyword in reader and tighter(reader[keyword], writer.get(keyword)):
                old, new = self._old_new(reader.get(keyword), writer.get(keyword))
                findings.append(
                    self._finding(
                        Rule.CONSTRAINT_TIGHTENED,
                        Rule.CONSTRAINT_LOOSENED,
                        path,
                        f"{keyword} {_key(old) if old is not None else 'none'}"
                        f" -> {_key(new) if new is not None else 'none'}",
                    )
                )
        return findings

    def _object(
        self, reader: Schema, writer: Schema, path: str, seen: set[tuple[str, str]]
    ) -> list[Finding]:
        findings: list[Finding] = []
        reader_props: Mapping[str, Any] = reader.get("properties") or {}
        writer_props: Mapping[str, Any] = writer.get("properties") or {}
        reader_required = set(reader.get("required") or ())
        writer_required = set(writer.get("required") or ())
        for name, schema in reader_props.items():
            field_path = _join(path, name)
            if name not in writer_props:
                if name in reader_required:
                    findings.append(
                        self._finding(
                            Rule.REQUIRED_FIELD_ADDED,
                            Rule.FIELD_REMOVED,
                            field_path,
                            "old items lack it"
                            if self.direction is Direction.BACKWARD
                            else "readers of the old version require it; new items lack it",
                        )
                    )
                elif self.direction is Direction.FORWARD:
                    # Stricter than Confluent on purpose: see the module docstring.
                    findings.append(
                        Finding(
                            self.direction,
                            Rule.FIELD_REMOVED,
                            field_path,
                            "readers of the old version read it; new items lack it",
                        )
                    )
                else:
                    # An optional field added: old items may still hold a value of that name
                    # (items are open), checked only as far as the old schema says.
                    extra = writer.get("additionalProperties")
                    if isinstance(extra, Mapping) and extra:
                        findings.extend(self.accepts(schema, extra, field_path, seen))
                continue
            if name in reader_required and name not in writer_required:
                findings.append(
                    self._finding(
                        Rule.FIELD_NOW_REQUIRED,
                        Rule.FIELD_NOW_OPTIONAL,
                        field_path,
                        "old items may lack it"
                        if self.direction is Direction.BACKWARD
                        else "readers of the old version require it; new items may lack it",
                    )
                )
            findings.extend(self.accepts(schema, writer_props[name], field_path, seen))
        findings.extend(self._extra(reader, writer, reader_props, writer_props, path, seen))
        return findings

    def _extra(
        self,
        reader: Schema,
        writer: Schema,
        reader_props: Mapping[str, Any],
        writer_props: Mapping[str, Any],
        path: str,
        seen: set[tuple[str, str]],
    ) -> list[Finding]:
        extra = reader.get("additionalProperties", True)
        if extra is True:
            return []
        findings: list[Finding] = []
        if extra is False:
            findings.extend(
                self._finding(
                    Rule.EXTRA_FIELDS_REFUSED,
                    Rule.FIELD_REMOVED,
                    _join(path, name),
                    "the reader refuses fields it does not name",
                )
                for name in writer_props
                if name not in reader_props
            )
            if writer.get("additionalProperties", True) is not False:
                findings.append(
                    self._finding(
                        Rule.EXTRA_FIELDS_REFUSED,
                        Rule.EXTRA_FIELDS_ADMITTED,
                        path,
                        "unnamed fields were allowed",
                    )
                )
            return findings
        # A map's values (dict[str, X]): the writer's values and extra fields must fit X.
        writer_extra = writer.get("additionalProperties", True)
        values = writer_extra if isinstance(writer_extra, Mapping) else {}
        findings.extend(self.accepts(extra, values, f"{path}{{}}", seen))
        for name, schema in writer_props.items():
            if name not in reader_props:
                findings.extend(self.accepts(extra, schema, _join(path, name), seen))
        return findings


def _without(schema: Schema, key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key and k not in _ANNOTATIONS}


def _types(schema: Schema) -> tuple[str, ...] | None:
    """The JSON types a schema admits; None for any."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(declared)
    values = _enum(schema)
    if values is not None:
        return tuple(sorted({_json_type(v) for v in values}))
    if "properties" in schema or "additionalProperties" in schema:
        return ("object",)
    if "items" in schema:
        return ("array",)
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _covered(json_type: str, types: Iterable[str]) -> bool:
    """JSON Schema's ``number`` admits every ``integer``; every other type only itself."""
    allowed = set(types)
    return json_type in allowed or (json_type == "integer" and "number" in allowed)


def _enum(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def _lower(reader: Any, writer: Any) -> bool:
    return writer is None or (isinstance(reader, int | float) and reader < writer)


def _higher(reader: Any, writer: Any) -> bool:
    return writer is None or (isinstance(reader, int | float) and reader > writer)


def _differs(reader: Any, writer: Any) -> bool:
    return _key(reader) != _key(writer)
