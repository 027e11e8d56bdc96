"""What a built Lambda artifact holds, and which of it its code can import.

An artifact is a folder: the project's own packages (``router``, ``schemas``,
``hubcommon``, ``consumers``) next to installed distributions (``<name>-<version>.dist-info`` with a
``RECORD`` of the files each put there). A distribution is *needed* when the
artifact's own code imports one of its top-level names (``ast``, every ``import`` at
module or function level; ``if TYPE_CHECKING:`` blocks never run) or when a needed
distribution requires it (``Requires-Dist`` of its metadata, markers evaluated for this
interpreter, no extras). Everything else is dead weight.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement


def normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    """One installed distribution of an artifact."""

    name: str
    top_level: frozenset[str]
    requires: frozenset[str]
    files: tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files if f.is_file())


@dataclass
class ImportReport:
    """The imports of an artifact's own code."""

    external: set[str] = field(default_factory=set)  # top-level names outside the project
    unresolved: set[str] = field(default_factory=set)  # project modules the artifact lacks


def distributions(artifact: Path) -> dict[str, Distribution]:
    """The artifact's distributions by normalised name."""
    found: dict[str, Distribution] = {}
    for info in sorted(artifact.glob("*.dist-info")):
        name = normalised(info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        paths = [
            line.rsplit(",", 2)[0]
            for line in (info / "RECORD").read_text(encoding="utf-8").splitlines()
            if line
        ]
        top = {
            p.split("/", 1)[0].removesuffix(".py")
            for p in paths
            if not p.startswith("..") and not p.split("/", 1)[0].endswith(".dist-info")
        }
        metadata = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        requires = set()
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                requires.add(normalised(requirement.name))
        found[name] = Distribution(
            name=name,
            top_level=frozenset(top - {"__pycache__"}),
            requires=frozenset(requires),
            files=tuple(artifact / p for p in paths),
        )
    return found


def own_packages(artifact: Path) -> set[str]:
    """The project's packages in the artifact: top-level packages no distribution installed."""
    owned = {name for dist in distributions(artifact).values() for name in dist.top_level}
    return {
        p.name for p in artifact.iterdir() if (p / "__init__.py").is_file() and p.name not in owned
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_modules(tree: ast.AST, package: str) -> tuple[set[str], set[str]]:
    """(modules a module imports, ``from a import b`` names that are a module or an attribute)."""
    modules: set[str] = set()
    members: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            modules.add(base)
            members |= {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
        pending.extend(ast.iter_child_nodes(node))
    return modules, members


def _exists(artifact: Path, module: str) -> bool:
    path = artifact.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(artifact: Path) -> ImportReport:
    """Every import of the artifact's own code (its project packages)."""
    ours = own_packages(artifact)
    report = ImportReport()
    for package in ours:
        for source in (artifact / package).rglob("*.py"):
            module_package = ".".join(source.relative_to(artifact).parts[:-1])
            tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
            modules, members = _imported_modules(tree, module_package)
            for name in modules | members:
                top = name.split(".", 1)[0]
                if top not in ours and top not in sys.stdlib_module_names | {"__future__"}:
                    report.external.add(top)
            # `from schemas import codec` names a module or an attribute: either is fine.
            report.unresolved |= {
                name
                for name in modules
                if name.split(".", 1)[0] in ours and not _exists(artifact, name)
            }
    return report


def needed_distributions(
    artifact: Path, dists: dict[str, Distribution], imported: set[str]
) -> set[str]:
    """The distributions the imported names come from, and everything they require."""
    owner = {name: dist.name for dist in dists.values() for name in dist.top_level}
    needed = {owner[name] for name in imported if name in owner}
    pending = list(needed)
    while pending:
        for required in dists[pending.pop()].requires:
            if required in dists and required not in needed:
                needed.add(required)
                pending.append(required)
    return needed


def zipped_size(artifact: Path) -> int:
    """Bytes of the artifact zipped with deflate, as ``sam package`` uploads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(artifact.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(artifact))
    return buffer.tell()


def unpacked_size(artifact: Path) -> int:
    return sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())
