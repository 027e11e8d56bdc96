"""Lambda artifact builder for ``sam build`` (BuildMethod: makefile).

``make build-<LogicalId>`` runs
``python3 -m fanout.build --group GROUP --into $ARTIFACTS_DIR PACKAGE_OR_MODULE...``:
it copies only the named Python packages (sub-folders without ``__init__.py``, caches and
anything else that is not part of a package are left behind) or single modules
(``hubcommon.logs``: the package's ``__init__.py`` and that module), and installs the
locked closure of one dependency group of ``pyproject.toml`` (the function's own list)
for the Lambda runtime and architecture. The artifact therefore imports its handler with
nothing else on ``sys.path``, carries no dev tooling and no package its code does not
import.

This module imports the standard library only, so a fresh clone builds with any
``python3`` and ``uv`` (``$UV``, else on ``PATH``; the Makefile bootstraps it), without
the project's virtual environment.

The target runtime defaults to the ``Runtime``/``Architecture`` parameter defaults of
``template.yaml``; ``LAMBDA_RUNTIME`` and ``LAMBDA_ARCHITECTURE`` override them and must
match any ``--parameter-overrides`` given to ``sam build``/``sam deploy``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import py_compile
import re
import shutil
import subprocess  # nosec B404 - runs uv and pip with fixed argv, never a shell
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent

# uv's names for the manylinux platforms Lambda runs on (glibc 2.26+ on Amazon Linux 2023
# is newer than manylinux2014's 2.17, so these wheels load there).
# https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-native-libraries
_PLATFORMS: Final = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
_RUNTIME: Final = re.compile(r"python(3\.\d+)\Z")
_SKIP: Final = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


@dataclass(frozen=True, slots=True)
class Target:
    """The Lambda runtime an artifact is built for."""

    runtime: str
    architecture: str

    @property
    def python_version(self) -> str:
        match = _RUNTIME.match(self.runtime)
        if not match:
            raise ValueError(f"not a Lambda Python runtime: {self.runtime!r}")
        return match.group(1)

    @property
    def platform(self) -> str:
        try:
            return _PLATFORMS[self.architecture]
        except KeyError:
            raise ValueError(f"not a Lambda architecture: {self.architecture!r}") from None


def template_default(name: str, template: Path = ROOT / "template.yaml") -> str:
    """The ``Default`` of a top-level template parameter (read as text, no YAML tags needed)."""
    text = template.read_text(encoding="utf-8")
    block = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n)+)", text, re.MULTILINE)
    default = block and re.search(r"^    Default: *(\S+)", block.group(1), re.MULTILINE)
    if not default:
        raise LookupError(f"template.yaml has no Default for parameter {name}")
    return default.group(1).strip("\"'")


def target_from_env() -> Target:
    """LAMBDA_RUNTIME / LAMBDA_ARCHITECTURE, else the template's parameter defaults."""
    return Target(
        runtime=os.environ.get("LAMBDA_RUNTIME") or template_default("Runtime"),
        architecture=os.environ.get("LAMBDA_ARCHITECTURE") or template_default("Architecture"),
    )


def copy_package(package: str, into: Path, exclude: frozenset[str] = frozenset()) -> None:
    """Copy one package and its sub-packages (folders with ``__init__.py``) into ``into``.

    ``package.module`` copies that module (or sub-package) and the ``__init__.py`` files
    on its way only: a function ships the parts of a shared package it imports.
    Sub-packages named in ``exclude`` (dotted, ``consumers.runtime``) are left out.
    """
    parent, _, module = package.rpartition(".")
    if parent:
        copy_module(parent, module, into)
        return
    source = ROOT / package
    if not (source / "__init__.py").is_file():
        raise FileNotFoundError(f"{package}/ is not a Python package")

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(_SKIP(folder, names))
        dotted = ".".join(Path(folder).relative_to(ROOT).parts)
        return skipped | {
            name
            for name in names
            if (Path(folder) / name).is_dir()
            and (
                not (Path(folder) / name / "__init__.py").exists() or f"{dotted}.{name}" in exclude
            )
        }

    shutil.copytree(source, into / package, ignore=ignore, dirs_exist_ok=True)


def copy_module(parent: str, module: str, into: Path) -> None:
    """Copy ``parent.module`` and the ``__init__.py`` of ``parent`` (and of its parents)."""
    folder = Path(*parent.split("."))
    for depth in range(1, len(folder.parts) + 1):
        init = Path(*folder.parts[:depth]) / "__init__.py"
        if not (ROOT / init).is_file():
            raise FileNotFoundError(f"{init.parent}/ is not a Python package")
        (into / init.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / init, into / init)
    if (ROOT / folder / module / "__init__.py").is_file():
        copy_package(f"{folder / module}", into)
    elif (ROOT / folder / f"{module}.py").is_file():
        shutil.copy2(ROOT / folder / f"{module}.py", into / folder / f"{module}.py")
    else:
        raise FileNotFoundError(f"{parent}.{module} is not a module")


def uv_executable() -> str:
    """The uv to run: ``$UV``, else the one on ``PATH`` (``FileNotFoundError`` if none)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise FileNotFoundError(
            "uv is needed to install the pinned dependencies: set UV, or build through the "
            "Makefile (make build-RouterFunction bootstraps it into .tools/)"
        )
    return uv


def install_dependencies(into: Path, target: Target, group: str) -> None:
    """Install one dependency group's locked closure as wheels for ``target``."""
    uv = uv_executable()
    exported = subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
        [
            uv,
            "export",
            "--frozen",
            "--only-group",
            group,
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(exported, encoding="utf-8")
        subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--target",
                str(into),
                "--requirements",
                str(requirements),
                # The export pins the whole closure, so nothing is resolved here.
                "--no-deps",
                "--only-binary",
                ":all:",
                "--python-version",
                target.python_version,
                "--python-platform",
                target.platform,
            ],
            cwd=ROOT,
            check=True,
        )
    # uv's lock file and console scripts are of no use inside a Lambda package.
    (into / ".lock").unlink(missing_ok=True)
    shutil.rmtree(into / "bin", ignore_errors=True)


def precompile(into: Path, target: Target) -> bool:
    """Ship bytecode when this interpreter is the target's Python; True when it did.

    Lambda's /var/task is read-only, so without shipped .pyc files every cold start
    compiles every module it imports. Bytecode is only valid for the same Python
    minor version, so an artifact built by another version ships sources only.
    """
    if target.python_version != f"{sys.version_info.major}.{sys.version_info.minor}":
        return False
    # Unchecked-hash pycs are used as they are: an artifact never changes after the
    # build, and the mtimes that zipping and unzipping give the sources cannot matter.
    return compileall.compile_dir(
        into, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def build(
    packages: list[str],
    into: Path,
    target: Target,
    group: str | None,
    exclude: frozenset[str] = frozenset(),
) -> None:
    """Write a Lambda artifact: the packages plus the pinned dependencies of ``group``.

    ``group`` None ships the packages alone (a code layer whose dependencies another
    layer carries).
    """
    into.mkdir(parents=True, exist_ok=True)
    for package in packages:
        copy_package(package, into, exclude)
    if group is not None:
        install_dependencies(into, target, group)
    precompile(into, target)


# The Lambda runtime and architecture of this interpreter and machine: a build for them
# can be imported and measured here (tests, benchmarks), and carries usable bytecode.
LOCAL_RUNTIME: Final = f"python{sys.version_info.major}.{sys.version_info.minor}"
LOCAL_ARCHITECTURE: Final = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def sam_build_locally(
    build_dir: Path, *, source: Path = ROOT, environ: Mapping[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``sam build`` of ``source``/template.yaml for this machine's Python (no Docker).

    Returns (result, seconds). ``environ`` replaces this process's environment for sam
    and make (the build target variables are added to it).
    """
    env = {
        **(os.environ if environ is None else environ),
        "LAMBDA_RUNTIME": LOCAL_RUNTIME,
        "LAMBDA_ARCHITECTURE": LOCAL_ARCHITECTURE,
    }
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
        [
            str(Path(sys.executable).parent / "sam"),
            "build",
            "--template",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            "--build-in-source",  # no copy of the repository (and its .venv) to a scratch dir
            "--parameter-overrides",
            f"Runtime={LOCAL_RUNTIME} Architecture={LOCAL_ARCHITECTURE}",
        ],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanout.build", description=__doc__)
    parser.add_argument(
        "packages",
        nargs="+",
        help="packages or modules to ship, e.g. consumers schemas, or router hubcommon.logs",
    )
    parser.add_argument(
        "--group",
        help="the pyproject.toml dependency group whose locked closure the function ships"
        " (none: the packages alone)",
    )
    parser.add_argument(
        "--into", type=Path, required=True, help="the artifact folder ($ARTIFACTS_DIR)"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        help="a sub-package to leave out, e.g. consumers.runtime (repeatable)",
    )
    args = parser.parse_args(argv)
    target = target_from_env()
    build(args.packages, args.into, target, args.group, frozenset(args.exclude))
    print(
        f"built {' '.join(args.packages)} for {target.runtime}/{target.architecture} into {args.into}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
