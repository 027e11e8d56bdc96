"""Entity contracts for tests: JSON Schemas as ``make schemas`` exports them, and git repos holding them.

``schema_of`` renders a model with ``schemas.export.render`` (pydantic's
``model_json_schema(mode="validation")``), exactly as the committed files are written.
``ContractRepo`` is a throwaway git repository with the layout ``fanout schema check``
reads: contract modules in ``schemas/entities/`` and their exports in
``schemas/json/entities/<entity>.v<N>.schema.json``.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - git on a test's own repository
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fanout.connection import ENVIRONMENT_LOCK
from schemas.entities import EntityContract, dataschema_of
from schemas.export import render


def schema_of(model: type[BaseModel], schema_id: str = "urn:test") -> dict[str, Any]:
    """The JSON Schema document of ``model`` as the committed files hold it."""
    return dict(json.loads(render(model, schema_id)))


@dataclass
class ContractRepo:
    """A git repository with entity contracts, committed and tagged as a test needs."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> ContractRepo:
        """An empty repository with one commit (so HEAD exists)."""
        root.mkdir(parents=True, exist_ok=True)
        repo = cls(root)
        repo.git("init", "-q", "-b", "main")
        (root / "README.md").write_text("contracts\n", encoding="utf-8")
        repo.commit("start")
        return repo

    def git(self, *args: str) -> str:
        """Run git in the repository; its stdout."""
        done = subprocess.run(  # noqa: S603 - fixed git arguments  # nosec B603
            [  # noqa: S607 - git from PATH
                "git",
                "-C",
                str(self.root),
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def write(self, relative: str, text: str) -> None:
        """Write a file of the work tree."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def contract(self, module: str, source: str) -> EntityContract:
        """Write ``schemas/entities/<module>.py`` and export its versions, as ``make schemas`` does."""
        self.write(f"schemas/entities/{module}.py", source)
        contract = _load_contract(self.root / "schemas" / "entities" / f"{module}.py")
        folder = self.root / "schemas" / "json" / "entities"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{contract.entity}.v*.schema.json"):
            old.unlink()
        for model in contract.models:
            version = model.__version__
            (folder / f"{contract.entity}.v{version}.schema.json").write_text(
                render(model, dataschema_of(contract.entity, version)), encoding="utf-8"
            )
        return contract

    def commit(self, message: str, tag: str | None = None) -> None:
        """Commit everything; tag the commit when asked."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        if tag:
            self.git("tag", tag)


def _load_contract(path: Path) -> EntityContract:
    """The module's ``CONTRACT``, compiled from its text (no bytecode cache: it may be rewritten)."""
    module = types.ModuleType(f"_test_contract_{path.stem}")
    sys.modules[module.__name__] = module
    # Not while a local hub in this process has a function's own copy of `schemas` in
    # sys.modules (fanout.local.invoker swaps them in under this lock).
    with ENVIRONMENT_LOCK:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)  # noqa: S102  # nosec B102
    contract = module.CONTRACT
    assert isinstance(contract, EntityContract)
    return contract
