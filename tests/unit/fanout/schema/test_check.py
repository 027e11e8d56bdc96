"""Which changes since a release are allowed: a new major version with its up steps, nothing else."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from fanout.schema.check import compare
from fanout.schema.compat import Mode, Rule
from fanout.schema.sources import Snapshot, Steps
from tests.support.contract_repos import schema_of


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserV1(_Item):
    fullname: str


class UserV1Polite(_Item):
    fullname: str
    firstname: str | None = None


class UserV2(_Item):
    firstname: str
    lastname: str


class UserV3(_Item):
    firstname: str


V1, V1_POLITE, V2, V3 = (schema_of(m) for m in (UserV1, UserV1Polite, UserV2, UserV3))


def _tag(**versions: dict) -> Snapshot:
    return Snapshot("v1.0.0", {"user": {int(k[1:]): v for k, v in versions.items()}})


def _tree(**versions: dict) -> Snapshot:
    return Snapshot("work tree", {"user": {int(k[1:]): v for k, v in versions.items()}})


class TestPublishedVersion:
    """A published version may only change compatibly, in place."""

    def test_a_field_removed_in_place_is_refused_and_named(self):
        """GIVEN v1 published WHEN v1 loses fullname THEN the check refuses it, naming the field."""
        report = compare(_tag(v1=V1), _tree(v1=schema_of(_Item)), {}, Mode.FULL)
        [change] = report.breaking
        assert (change.entity, change.old_version, change.finding.path, change.finding.rule) == (
            "user",
            1,
            "fullname",
            Rule.FIELD_REMOVED,
        )
        assert "v1 is published" in change.why
        assert "user v1: fullname: field removed" in change.line()

    def test_the_polite_producer_passes(self):
        """Adding the new field beside the old one keeps v1 compatible in every mode."""
        report = compare(_tag(v1=V1), _tree(v1=V1_POLITE), {}, Mode.FULL, transitive=True)
        assert report.changes == []

    def test_a_withdrawn_version_is_refused(self):
        report = compare(_tag(v1=V1, v2=V2), _tree(v2=V2), {}, Mode.FULL)
        assert [(c.old_version, c.allowed) for c in report.breaking] == [(1, False)]


class TestNewVersion:
    """A breaking change is allowed as a new version only with the up step from the old one."""

    def test_without_an_up_step_it_is_refused(self):
        report = compare(_tag(v1=V1), _tree(v1=V1, v2=V2), {}, Mode.FULL)
        assert report.breaking
        assert all("no up step from v1" in c.why for c in report.breaking)

    def test_with_the_up_step_it_is_allowed_and_a_missing_down_step_is_said(self):
        steps = {"user": Steps(up=frozenset({1}))}
        report = compare(_tag(v1=V1), _tree(v1=V1, v2=V2), steps, Mode.FULL)
        assert report.breaking == []
        assert {(c.finding.path, c.finding.rule) for c in report.allowed} >= {
            ("fullname", Rule.FIELD_REMOVED),
            ("firstname", Rule.REQUIRED_FIELD_ADDED),
        }
        assert all(c.down_step is False for c in report.allowed)
        assert all("consumers written for v1 break" in c.why for c in report.allowed)

    def test_with_both_steps_the_down_step_is_reported(self):
        steps = {"user": Steps(up=frozenset({1}), down=frozenset({1}))}
        report = compare(_tag(v1=V1), _tree(v1=V1, v2=V2), steps, Mode.FULL)
        assert report.allowed
        assert all(c.down_step for c in report.allowed)
        assert all("down step to v1 exists" in c.why for c in report.allowed)

    def test_a_compatible_new_version_needs_no_step(self):
        report = compare(_tag(v1=V1), _tree(v1=V1, v2=V1_POLITE), {}, Mode.FULL)
        assert report.changes == []


class TestTransitive:
    """Transitive compares a new version with every earlier one, not only the last."""

    def test_only_transitive_sees_the_break_with_an_older_version(self):
        """v2 -> v3 (lastname removed) has its up step; v1 -> v3 needs the chain from v1 too."""
        tag, tree = _tag(v1=V1, v2=V2), _tree(v1=V1, v2=V2, v3=V3)
        steps = {"user": Steps(up=frozenset({2}))}
        assert compare(tag, tree, steps, Mode.FORWARD).breaking == []
        transitive = compare(tag, tree, steps, Mode.FORWARD, transitive=True)
        assert {(c.old_version, c.new_version) for c in transitive.breaking} == {(1, 3)}
        assert {(c.old_version, c.new_version) for c in transitive.allowed} == {(2, 3)}


class TestNewContract:
    """An entity with nothing published at the ref has nothing to break."""

    def test_it_is_noted(self):
        report = compare(Snapshot("v1.0.0", {}), _tree(v1=V1), {}, Mode.FULL)
        assert report.changes == []
        assert report.notes == [
            "user: new contract (v1), nothing published at v1.0.0 to compare with"
        ]
