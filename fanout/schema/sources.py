"""The entity contracts to compare: the exported JSON Schemas at a git ref and in the work tree.

``make schemas`` exports each contract version to
``schemas/json/entities/<entity>.v<N>.schema.json``; those files are what the router reads
and what a release publishes, so they are what is compared. The steps between versions
(``up``/``down``) exist only in the contract modules, ``schemas/entities/*.py``, read from
the work tree.
"""

from __future__ import annotations

import importlib
import json
import subprocess  # nosec B404 - git, with fixed arguments
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from router.contracts import SCHEMA_FILE

if TYPE_CHECKING:
    from schemas.entities import EntityContract

ENTITY_SCHEMA_DIR: Final = "schemas/json/entities"
CONTRACT_DIR: Final = "schemas/entities"


class SourceError(RuntimeError):
    """The repository or ref cannot be read (the message says why); a usage error."""


Versions = dict[int, dict[str, Any]]
"""One entity's exported schemas by version."""


@dataclass(frozen=True)
class Steps:
    """The steps a contract module provides: ``up`` from N to N+1, ``down`` from N+1 to N."""

    up: frozenset[int] = frozenset()
    down: frozenset[int] = frozenset()

    def up_chain(self, from_version: int, to_version: int) -> list[int]:
        """The versions in ``[from, to)`` whose up step is missing (empty: the chain exists)."""
        return [v for v in range(from_version, to_version) if v not in self.up]

    def down_chain(self, from_version: int, to_version: int) -> list[int]:
        """The versions in ``[from, to)`` whose down step is missing (empty: the chain exists)."""
        return [v for v in range(from_version, to_version) if v not in self.down]


@dataclass(frozen=True)
class Snapshot:
    """Every entity's exported schemas at one point (a ref, or the work tree)."""

    label: str
    schemas: Mapping[str, Versions] = field(default_factory=dict)


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed git arguments  # nosec B603 B607
            ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SourceError("git is not installed") from exc
    if done.returncode != 0:
        raise SourceError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def repository_root(path: Path) -> Path:
    """The top of the git work tree holding ``path``; ``SourceError`` outside one."""
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except SourceError as exc:
        raise SourceError(f"{path} is not in a git repository ({exc})") from exc


def latest_tag(root: Path) -> str | None:
    """The latest release tag to compare with: reachable from HEAD, and not HEAD's own tag.

    A release pipeline runs on the tagged commit with a clean work tree: compared with
    that very tag (``git describe --tags --abbrev=0`` alone), it would always pass. So
    HEAD's own tags are left out (``--exclude``, which also finds an earlier tag through
    a merge's other parent, and none in a repository of one commit). With uncommitted
    changes to the contracts, the work tree is not the tagged release but a change to it,
    and HEAD's tag is the release to compare with.
    https://git-scm.com/docs/git-describe (``--exclude <pattern>``: a glob(7) pattern)
    """
    try:
        excluded: list[str] = []
        if not _contracts_changed(root):
            for tag in _git(root, "tag", "--points-at", "HEAD").split():
                # A pattern, but a tag name cannot hold ?, * or [, so it matches only itself:
                # https://git-scm.com/docs/git-check-ref-format
                excluded += ["--exclude", tag]
        return _git(root, "describe", "--tags", "--abbrev=0", *excluded, "HEAD").strip() or None
    except SourceError:
        return None


def _contracts_changed(root: Path) -> bool:
    """Whether the work tree's contracts or exports differ from HEAD's (untracked files too)."""
    status = _git(
        root,
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--",
        CONTRACT_DIR,
        ENTITY_SCHEMA_DIR,
    )
    return bool(status.strip())


def commit_of(root: Path, ref: str) -> str:
    """The commit ``ref`` names; ``SourceError`` for an unknown ref."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except SourceError as exc:
        raise SourceError(f"unknown git ref {ref!r}") from exc


def _add(found: dict[str, Versions], name: str, text: str, where: str) -> None:
    match = SCHEMA_FILE.match(name)  # the router's rule: both read the same files
    if match is None:
        return
    try:
        schema = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError, or text that is not UTF-8
        raise SourceError(f"the exported schema {where} is not JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise SourceError(f"the exported schema {where} is not a JSON object")
    found.setdefault(match["entity"], {})[int(match["version"])] = schema


def at_ref(root: Path, ref: str) -> Snapshot:
    """The exported entity schemas committed at ``ref`` (none when the folder did not exist)."""
    commit = commit_of(root, ref)
    found: dict[str, Versions] = {}
    names = (
        _git(root, "ls-tree", "--name-only", f"{commit}:{ENTITY_SCHEMA_DIR}/")
        if _has_dir(root, commit)
        else ""
    )
    for name in names.split():
        where = f"{ENTITY_SCHEMA_DIR}/{name} at {ref}"
        _add(found, name, _git(root, "show", f"{commit}:{ENTITY_SCHEMA_DIR}/{name}"), where)
    return Snapshot(label=ref, schemas=found)


def _has_dir(root: Path, commit: str) -> bool:
    try:
        _git(root, "cat-file", "-e", f"{commit}:{ENTITY_SCHEMA_DIR}")
    except SourceError:
        return False
    return True


def in_work_tree(root: Path) -> Snapshot:
    """The exported entity schemas in the work tree, committed or not."""
    found: dict[str, Versions] = {}
    folder = root / ENTITY_SCHEMA_DIR
    for path in sorted(folder.glob("*.schema.json")) if folder.is_dir() else ():
        _add(found, path.name, path.read_text(encoding="utf-8"), str(path))
    return Snapshot(label="work tree", schemas=found)


def contracts_in_work_tree(root: Path) -> dict[str, EntityContract]:
    """Each entity's contract (``CONTRACT``) from the modules in ``schemas/entities/``.

    The modules of this checkout are imported as the package ``schemas.entities``; those
    of another checkout (a CI workspace, a test's repository) are loaded from their files,
    importing the shared base API from this one.
    """
    from schemas.entities import EntityContract  # noqa: PLC0415 - pydantic only for this command

    folder = (root / CONTRACT_DIR).resolve()
    found: dict[str, EntityContract] = {}
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
        if path.name.startswith("_"):
            continue
        contract = getattr(_load(path), "CONTRACT", None)
        if isinstance(contract, EntityContract):
            found[contract.entity] = contract
    return found


def steps_of(contracts: Mapping[str, EntityContract]) -> dict[str, Steps]:
    """The up and down steps each contract provides."""
    return {
        entity: Steps(up=frozenset(c.up), down=frozenset(c.down)) for entity, c in contracts.items()
    }


def stale_exports(contracts: Mapping[str, EntityContract], tree: Snapshot) -> list[str]:
    """A line for each model whose export is missing or differs from the model: run ``make schemas``.

    The check compares the exported files (what the router reads); an export older than
    its model would hide the model's change from it.
    """
    from schemas.entities import dataschema_of  # noqa: PLC0415 - same
    from schemas.export import render  # noqa: PLC0415 - pydantic only for this command

    lines = []
    for entity, contract in sorted(contracts.items()):
        for model in contract.models:
            version = model.__version__
            exported = tree.schemas.get(entity, {}).get(version)
            expected = json.loads(render(model, dataschema_of(entity, version)))
            if exported is None:
                lines.append(
                    f"{entity} v{version}: {model.__name__} has no export in"
                    f" {ENTITY_SCHEMA_DIR}: run make schemas"
                )
            elif exported != expected:
                lines.append(
                    f"{entity} v{version}: the export differs from {model.__name__}"
                    " (checked as exported): run make schemas"
                )
    return lines


def _load(path: Path) -> Any:
    """The contract module at ``path``; ``SourceError`` naming it when it does not load.

    Any failure of the module (a syntax error, a failed import, a model pydantic refuses)
    is reported as the module's, in one line, whichever way it is loaded.
    """
    import schemas.entities as package  # noqa: PLC0415 - see steps_in_work_tree
    from fanout.connection import ENVIRONMENT_LOCK  # noqa: PLC0415 - only to load a module

    # A local hub running in this process swaps its functions' copies of the project's
    # packages into sys.modules while they run (fanout.local.invoker, under this lock):
    # the module must import the base API this process checks its CONTRACT against.
    with ENVIRONMENT_LOCK:
        return _load_unlocked(path, package)


def _load_unlocked(path: Path, package: Any) -> Any:
    try:
        if Path(package.__file__ or "").resolve().parent == path.parent:
            return importlib.import_module(f"schemas.entities.{path.stem}")
        # Compiled from the text each time, not through the import system: a contract edited
        # and checked again within a second must not be read from a stale bytecode cache.
        name = f"_fanout_contract_{path.stem}"
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module  # pydantic resolves the models' annotations through it
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - the repository's own contract module  # nosec B102
    except Exception as exc:  # whatever the module raises is the module's failure
        raise SourceError(f"contract module {path} does not load: {exc}") from exc
    return module
