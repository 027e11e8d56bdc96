"""Which changes of the entity contracts since a ref break their consumers, and which are allowed.

A published version is never changed incompatibly: a breaking change to ``<entity>.vN``
in place is refused. A breaking change is allowed only as a new major version (a new
model, ``vN+1``) whose contract provides the ``up`` steps from the version it breaks, so
that a consumer written for the new version can still read the old items. Without the
``down`` steps, consumers written for the old version break when the producer moves on:
the report says so, as a warning.

With ``transitive``, a new version is compared with every earlier version, not just the
one before it (Confluent's ``*_TRANSITIVE``), and needs the up steps from each.
https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fanout.schema.compat import Direction, Finding, Mode, Rule, breaking_changes
from fanout.schema.sources import Snapshot, Steps


@dataclass(frozen=True)
class Change:
    """One breaking finding between two versions of one entity, and whether it is allowed."""

    entity: str
    old_version: int
    new_version: int
    finding: Finding
    allowed: bool
    why: str
    down_step: bool | None = None
    """For a new version: whether the down steps back to ``old_version`` exist."""

    def line(self) -> str:
        """One line: entity, versions, field path, rule, direction, and the verdict."""
        versions = (
            f"v{self.old_version}"
            if self.old_version == self.new_version
            else f"v{self.old_version} -> v{self.new_version}"
        )
        return (
            f"{self.entity} {versions}: {self.finding.path or '(item)'}: {self.finding.rule}"
            f" [{self.finding.direction}] ({self.finding.detail}); {self.why}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The change as ``--json`` prints it."""
        return {
            "entity": self.entity,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "path": self.finding.path,
            "rule": str(self.finding.rule),
            "direction": str(self.finding.direction),
            "detail": self.finding.detail,
            "allowed": self.allowed,
            "why": self.why,
            "down_step": self.down_step,
        }


@dataclass
class Report:
    """Every change found, allowed or not, and the notes worth a line."""

    against: str
    mode: Mode
    transitive: bool
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """Contract models whose export is missing or out of date: what was compared is not the model."""

    @property
    def fails(self) -> bool:
        """A breaking change not allowed, or an export that does not say what its model says."""
        return bool(self.breaking or self.stale)

    @property
    def breaking(self) -> list[Change]:
        """The changes that are not allowed: the check fails on any."""
        return [c for c in self.changes if not c.allowed]

    @property
    def allowed(self) -> list[Change]:
        """Breaking changes made the allowed way (a new version with its up steps)."""
        return [c for c in self.changes if c.allowed]

    def entities(self, *, breaking_only: bool) -> list[str]:
        """The entities with changes, in order."""
        chosen = self.breaking if breaking_only else self.changes
        return sorted({c.entity for c in chosen})


def compare(
    old: Snapshot,
    new: Snapshot,
    steps: Mapping[str, Steps],
    mode: Mode,
    *,
    transitive: bool = False,
) -> Report:
    """Every breaking change from ``old`` (a ref) to ``new`` (the work tree), judged."""
    report = Report(against=old.label, mode=mode, transitive=transitive)
    for entity in sorted({*old.schemas, *new.schemas}):
        published = old.schemas.get(entity, {})
        current = new.schemas.get(entity, {})
        if not published:
            report.notes.append(
                f"{entity}: new contract (v{', v'.join(map(str, sorted(current)))}),"
                f" nothing published at {old.label} to compare with"
            )
            continue
        _published_versions(report, entity, published, current)
        _new_versions(report, entity, published, current, steps.get(entity, Steps()))
    return report


def _published_versions(
    report: Report,
    entity: str,
    published: Mapping[int, Mapping[str, Any]],
    current: Mapping[int, Mapping[str, Any]],
) -> None:
    """A published version changed in place, or withdrawn, breaks its consumers."""
    for version in sorted(published):
        if version not in current:
            report.changes.append(
                Change(
                    entity,
                    version,
                    version,
                    Finding(
                        Direction.FORWARD,
                        Rule.SCHEMA_CHANGED,
                        "",
                        f"version {version} is no longer exported",
                    ),
                    allowed=False,
                    why=f"consumers written for v{version} can no longer be served it",
                )
            )
            continue
        for finding in breaking_changes(published[version], current[version], report.mode):
            report.changes.append(
                Change(
                    entity,
                    version,
                    version,
                    finding,
                    allowed=False,
                    why=f"v{version} is published: make the change in v{max(current) + 1}"
                    f" with an up step from v{max(current)}",
                )
            )


def _new_versions(
    report: Report,
    entity: str,
    published: Mapping[int, Mapping[str, Any]],
    current: Mapping[int, Mapping[str, Any]],
    steps: Steps,
) -> None:
    """Each version added since the ref, against the one before it (or all, transitive)."""
    latest_published = max(published)
    for version in sorted(v for v in current if v > latest_published):
        earlier = sorted(v for v in current if v < version)
        bases = earlier if report.transitive else earlier[-1:]
        for base in bases:
            findings = breaking_changes(current[base], current[version], report.mode)
            if not findings:
                continue
            missing_up = steps.up_chain(base, version)
            down = not steps.down_chain(base, version)
            if missing_up:
                why = (
                    f"v{version} is a new version but the contract has no up step from"
                    f" v{', v'.join(map(str, missing_up))}"
                )
            else:
                why = f"allowed: v{version} with the up step from v{base}"
                why += (
                    f"; down step to v{base} exists"
                    if down
                    else f"; no down step to v{base}: consumers written for v{base} break"
                    f" when the producer moves to v{version}"
                )
            for finding in findings:
                report.changes.append(
                    Change(
                        entity,
                        base,
                        version,
                        finding,
                        allowed=not missing_up,
                        why=why,
                        down_step=down,
                    )
                )
