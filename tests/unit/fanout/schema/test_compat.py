"""Compatibility rules over the JSON Schemas pydantic exports, one class per rule.

Modes as Confluent defines them: backward = readers of the new version read old data,
forward = readers of the old version read new data, full = both.
https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fanout.schema.compat import Direction, Finding, Mode, Rule, breaking_changes
from tests.support.contract_repos import schema_of


class _Item(BaseModel):
    """An entity item: unnamed fields are kept, as ``EntityModel`` keeps them."""

    model_config = ConfigDict(extra="allow")


def _rules(old: type[BaseModel], new: type[BaseModel], mode: Mode) -> set[tuple[str, Rule]]:
    return {(f.path, f.rule) for f in breaking_changes(schema_of(old), schema_of(new), mode)}


class TestUnchanged:
    """A schema compared with itself is compatible in every mode."""

    def test_no_finding(self):
        class User(_Item):
            name: str
            age: int | None = None

        for mode in Mode:
            assert breaking_changes(schema_of(User), schema_of(User), mode) == []


class TestFieldRemoved:
    """A field the producer stops writing breaks old readers (forward), not new ones."""

    def test_a_required_field_removed_breaks_forward_only(self):
        class Old(_Item):
            fullname: str
            email: str

        class New(_Item):
            email: str

        assert _rules(Old, New, Mode.FORWARD) == {("fullname", Rule.FIELD_REMOVED)}
        assert _rules(Old, New, Mode.BACKWARD) == set()
        assert _rules(Old, New, Mode.FULL) == {("fullname", Rule.FIELD_REMOVED)}

    def test_an_optional_field_removed_breaks_forward_too(self):
        """Stricter than Confluent: consumers read item fields by name (the fullname failure)."""

        class Old(_Item):
            nickname: str | None = None

        class New(_Item):
            pass

        assert _rules(Old, New, Mode.FORWARD) == {("nickname", Rule.FIELD_REMOVED)}
        assert _rules(Old, New, Mode.BACKWARD) == set()

    def test_a_nested_field_removed_is_named_by_its_path(self):
        class AddressOld(BaseModel):
            city: str
            zip: str

        class AddressNew(BaseModel):
            city: str

        class Old(_Item):
            address: AddressOld

        class New(_Item):
            address: AddressNew

        assert _rules(Old, New, Mode.FORWARD) == {("address.zip", Rule.FIELD_REMOVED)}


class TestOptionalNestedModel:
    """A change inside an optional nested model is named by its path, not as a type change."""

    def test_a_field_removed_inside_an_optional_model(self):
        class AddressOld(BaseModel):
            city: str
            zip: str

        class AddressNew(BaseModel):
            city: str

        class Old(_Item):
            address: AddressOld | None = None

        class New(_Item):
            address: AddressNew | None = None

        assert _rules(Old, New, Mode.FULL) == {("address.zip", Rule.FIELD_REMOVED)}


class TestTypeChanged:
    """A type narrowed breaks new readers of old data; one widened breaks old readers."""

    def test_number_to_integer_is_narrowed(self):
        class Old(_Item):
            total: float

        class New(_Item):
            total: int

        assert _rules(Old, New, Mode.BACKWARD) == {("total", Rule.TYPE_NARROWED)}
        assert _rules(Old, New, Mode.FORWARD) == set()

    def test_integer_to_number_is_widened(self):
        class Old(_Item):
            total: int

        class New(_Item):
            total: float

        assert _rules(Old, New, Mode.FORWARD) == {("total", Rule.TYPE_WIDENED)}
        assert _rules(Old, New, Mode.BACKWARD) == set()

    def test_string_to_integer_is_changed_both_ways(self):
        class Old(_Item):
            zip: str

        class New(_Item):
            zip: int

        assert _rules(Old, New, Mode.FULL) == {("zip", Rule.TYPE_CHANGED)}
        directions = {
            f.direction for f in breaking_changes(schema_of(Old), schema_of(New), Mode.FULL)
        }
        assert directions == {Direction.BACKWARD, Direction.FORWARD}

    def test_optional_made_non_null_is_narrowed(self):
        class Old(_Item):
            note: str | None

        class New(_Item):
            note: str

        findings = breaking_changes(schema_of(Old), schema_of(New), Mode.BACKWARD)
        assert findings == [
            Finding(Direction.BACKWARD, Rule.TYPE_NARROWED, "note", "null | string -> string")
        ]

    def test_array_items_are_compared(self):
        class Old(_Item):
            tags: list[str]

        class New(_Item):
            tags: list[int]

        assert _rules(Old, New, Mode.BACKWARD) == {("tags[]", Rule.TYPE_CHANGED)}

    def test_map_values_are_compared(self):
        class Old(_Item):
            counts: dict[str, float]

        class New(_Item):
            counts: dict[str, int]

        assert _rules(Old, New, Mode.BACKWARD) == {("counts{}", Rule.TYPE_NARROWED)}


class TestConstraints:
    """A constraint the reader adds or tightens refuses values the writer admitted."""

    def test_a_new_max_length_breaks_backward(self):
        class Old(_Item):
            name: str

        class New(_Item):
            name: str = Field(max_length=20)

        assert _rules(Old, New, Mode.BACKWARD) == {("name", Rule.CONSTRAINT_TIGHTENED)}
        assert _rules(Old, New, Mode.FORWARD) == set()

    def test_a_max_length_dropped_breaks_forward(self):
        class Old(_Item):
            name: str = Field(max_length=20)

        class New(_Item):
            name: str

        assert _rules(Old, New, Mode.FORWARD) == {("name", Rule.CONSTRAINT_LOOSENED)}

    def test_a_lower_maximum_and_a_higher_minimum_are_tightened(self):
        class Old(_Item):
            qty: int = Field(ge=0, le=100)

        class New(_Item):
            qty: int = Field(ge=1, le=50)

        findings = breaking_changes(schema_of(Old), schema_of(New), Mode.BACKWARD)
        assert {f.detail for f in findings} == {"maximum 100 -> 50", "minimum 0 -> 1"}

    def test_a_pattern_or_format_added_is_tightened(self):
        class Old(_Item):
            code: str

        class New(_Item):
            code: str = Field(pattern="^[A-Z]{3}$")

        assert _rules(Old, New, Mode.BACKWARD) == {("code", Rule.CONSTRAINT_TIGHTENED)}


class TestFieldNowRequired:
    """A field made required breaks new readers of old items that lack it."""

    def test_optional_to_required(self):
        class Old(_Item):
            email: str | None = None

        class New(_Item):
            email: str | None

        assert _rules(Old, New, Mode.BACKWARD) == {("email", Rule.FIELD_NOW_REQUIRED)}
        assert _rules(Old, New, Mode.FORWARD) == set()

    def test_required_to_optional_breaks_forward(self):
        class Old(_Item):
            email: str

        class New(_Item):
            email: str = ""

        assert _rules(Old, New, Mode.FORWARD) == {("email", Rule.FIELD_NOW_OPTIONAL)}


class TestFieldAdded:
    """An optional field added is compatible; a required one breaks new readers of old items."""

    def test_an_optional_field_added_is_compatible_in_full(self):
        class Old(_Item):
            name: str

        class New(_Item):
            name: str
            firstname: str | None = None

        assert _rules(Old, New, Mode.FULL) == set()

    def test_a_required_field_added_breaks_backward(self):
        class Old(_Item):
            name: str

        class New(_Item):
            name: str
            firstname: str

        assert _rules(Old, New, Mode.BACKWARD) == {("firstname", Rule.REQUIRED_FIELD_ADDED)}
        assert _rules(Old, New, Mode.FORWARD) == set()


class _StatusOld(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class _StatusNew(StrEnum):
    OPEN = "open"
    PAID = "paid"


class TestEnum:
    """An enum value removed breaks new readers of old items; one added breaks old readers."""

    def test_an_enum_value_removed(self):
        class Old(_Item):
            status: _StatusOld

        class New(_Item):
            status: _StatusNew

        findings = breaking_changes(schema_of(Old), schema_of(New), Mode.BACKWARD)
        assert [(f.path, f.rule, f.detail) for f in findings] == [
            ("status", Rule.ENUM_VALUE_REMOVED, '"void"')
        ]
        assert _rules(Old, New, Mode.FORWARD) == set()

    def test_an_enum_value_added_breaks_forward(self):
        class Old(_Item):
            status: _StatusNew

        class New(_Item):
            status: _StatusOld

        assert _rules(Old, New, Mode.FORWARD) == {("status", Rule.ENUM_VALUE_ADDED)}
        assert _rules(Old, New, Mode.BACKWARD) == set()

    def test_literals_are_enums(self):
        class Old(_Item):
            kind: Literal["a", "b"]

        class New(_Item):
            kind: Literal["a"]

        assert _rules(Old, New, Mode.BACKWARD) == {("kind", Rule.ENUM_VALUE_REMOVED)}


class TestClosedModels:
    """A reader that forbids unnamed fields refuses what it does not name."""

    def test_forbidding_extra_fields_breaks_backward(self):
        class Old(_Item):
            name: str

        class New(BaseModel):
            model_config = ConfigDict(extra="forbid")
            name: str

        assert _rules(Old, New, Mode.BACKWARD) == {("", Rule.EXTRA_FIELDS_REFUSED)}


class TestRecursiveModels:
    """A model that refers to itself is compared once per pair of definitions."""

    def test_a_change_inside_a_recursive_model_is_found(self):
        class NodeOld(BaseModel):
            label: str
            children: list[NodeOld] = []

        class NodeNew(BaseModel):
            label: int
            children: list[NodeNew] = []

        class Old(_Item):
            root: NodeOld

        class New(_Item):
            root: NodeNew

        assert ("root.label", Rule.TYPE_CHANGED) in _rules(Old, New, Mode.BACKWARD)
