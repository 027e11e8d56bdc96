"""``sam build`` of a fresh clone makes a self-contained artifact per function.

One build per session (``built`` fixture), of a ``git clone`` of the last commit in a
temporary folder, with neither uv nor this checkout's ``.venv`` on ``PATH``: only
``python3``, ``make`` and the SAM CLI, as a new user has them (the build targets
bootstrap uv themselves). The build is for the local Python (``Runtime`` and
``Architecture`` overridden, and the wheel platform with them), so each artifact's
handler can be imported here in a clean interpreter whose ``sys.path`` holds only that
artifact and the standard library. Its duration is reported by ``bench/build_bench.py``.

Each artifact ships only what its own code imports (``tests/support/artifacts.py``):
the router neither boto3 nor pydantic, so its package is a quarter smaller. A consumer
function is checked as Lambda runs it: the kit's package (a README) plus its two layers
merged under one folder, the hub's runtime first and the consumers' code over it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.artifacts import (
    distributions,
    imports_of,
    needed_distributions,
    unpacked_size,
    zipped_size,
)
from support.fresh_clone import clone_head, without_project_tooling
from support.lambda_opt import merge_layers

from fanout.build import sam_build_locally
from fanout.deploy.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ("moto", "pytest", "fanout", "tests", "_pytest", "rich", "samtranslator", "cfnlint")
# Every function of the stack, by its build path, and the handler it must import.
EXPECTED = {
    "RouterFunction": "router.app.handler",
    "AuditLogConsumer/ConsumerFunction": "consumers.audit_log.app.handler",
    "ProjectionConsumer/ConsumerFunction": "consumers.projection.app.handler",
    "WebhookConsumer/ConsumerFunction": "consumers.webhook.app.handler",
}
# The layers a consumer function attaches, in the kit's order (Layers: runtime, code).
CONSUMER_LAYERS = ("ConsumerRuntimeLayer", "ConsumersCodeLayer")
CONSUMERS = "consumer functions"
"""The view of every consumer function: its layers' python/ folders merged, as under /opt."""
# What each view or artifact must import from itself alone.
HANDLERS = [
    ("RouterFunction", "router.app.handler"),
    *[(CONSUMERS, h) for p, h in EXPECTED.items() if p != "RouterFunction"],
    ("ConsumerRuntimeLayer", "consumers.runtime.consumer"),
]
# Artifacts that ship dependencies, checked for dead weight and dev tooling.
ARTIFACTS = ("RouterFunction", CONSUMERS, "ConsumerRuntimeLayer")
# Project modules an artifact's code names but the artifact leaves out, on purpose.
# The router ships schemas/ without the envelope models: only parse_envelope (which
# the router never calls; it writes envelopes as text, router/normalise.py) imports them.
LEFT_OUT = {"RouterFunction": {"schemas.upcasting", "schemas.v1"}}
# The project's own top-level packages an artifact may hold.
PROJECT_PACKAGES = ("router", "schemas", "hubcommon", "consumers")


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id):
    """Build a fresh clone once per session, shared by pytest-xdist workers: the build dir."""
    # Under xdist every worker's basetemp has the session's folder as parent; the first
    # worker to take the lock builds, the others wait and reuse it (pytest-xdist's
    # documented pattern). Without xdist the parent outlives the session: use basetemp.
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    build_dir, done = shared / "sam-build", shared / "sam-build.done"
    with (shared / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _sam_build_fresh_clone(shared / "fresh-clone", build_dir)
            done.touch()
    return build_dir


@pytest.fixture(scope="session")
def artifact_of(built, tmp_path_factory):
    """Folder of each artifact as Lambda puts it on sys.path (layers: their python/)."""
    # Lambda extracts each layer over /opt in the function's order: the later one wins.
    opt = merge_layers((built / layer for layer in CONSUMER_LAYERS), tmp_path_factory.mktemp("opt"))
    merged = opt / "python"
    return {
        "RouterFunction": built / "RouterFunction",
        "ConsumerRuntimeLayer": built / "ConsumerRuntimeLayer" / "python",
        CONSUMERS: merged,
    }


def _sam_build_fresh_clone(clone: Path, build_dir: Path) -> None:
    shutil.rmtree(clone, ignore_errors=True)
    clone_head(clone)
    assert not (clone / ".tools").exists()
    assert not (clone / ".venv").exists()
    env = without_project_tooling()
    assert shutil.which("uv", path=env["PATH"]) is None
    result, seconds = sam_build_locally(build_dir, source=clone, environ=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # The build targets bootstrapped their own uv and needed no project environment.
    assert (clone / ".tools" / "bin" / "uv").is_file()
    assert not (clone / ".venv").exists()
    print(f"sam build of a fresh clone took {seconds:.1f}s")  # noqa: T201 - shown with -s


def _functions_in(template: Path, prefix: str = "") -> dict[str, dict]:
    data = load_template(template)
    found: dict[str, dict] = {}
    for logical_id, resource in data["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            found[prefix + logical_id] = resource["Properties"]
        elif resource["Type"] == "AWS::Serverless::Application":
            child = template.parent / resource["Properties"]["Location"]
            nested = _functions_in(child, f"{prefix}{logical_id}/")
            handler = resource["Properties"]["Parameters"]["Handler"]
            found.update({k: {**v, "Handler": handler} for k, v in nested.items()})
    return found


def _normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _dev_distributions() -> set[str]:
    """The names in pyproject's dev dependency group (what a Lambda package must not hold)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {
        _normalised(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0])
        for requirement in pyproject["dependency-groups"]["dev"]
    }


def type_stubs_in(top_level: set[str]) -> set[str]:
    """The folders of the boto3 type stubs (a dev dependency) among an artifact's top level.

    boto3-stubs installs ``boto3-stubs``, ``botocore-stubs`` and ``mypy_boto3_<service>``
    folders; a runtime package may ship its own ``<name>-stubs``, as wrapt does.
    """
    return {n for n in top_level if n.startswith(("boto3-stubs", "botocore-stubs", "mypy_boto3_"))}


def _distributions(artifact: Path) -> tuple[set[str], set[str]]:
    """(normalised names of the installed distributions, top-level names their RECORDs list)."""
    names: set[str] = set()
    owned: set[str] = set()
    for info in artifact.glob("*.dist-info"):
        names.add(_normalised(info.name.removesuffix(".dist-info").rsplit("-", 1)[0]))
        record = (info / "RECORD").read_text(encoding="utf-8")
        owned |= {line.split(",", 1)[0].split("/", 1)[0] for line in record.splitlines() if line}
    return names, owned


class TestBuild:
    """A fresh clone builds every function of the stack with python3, make and sam alone."""

    def test_every_function_is_built(self, built):
        functions = _functions_in(built / "template.yaml")
        assert {k: v["Handler"] for k, v in functions.items()} == EXPECTED
        for path in [*EXPECTED, *CONSUMER_LAYERS]:
            assert (built / path).is_dir(), path

    def test_a_kit_function_package_is_its_readme_alone(self, built):
        # The kit's function runs its code from the layers; its own package holds no code.
        for path in EXPECTED:
            if path != "RouterFunction":
                assert [p.name for p in (built / path).iterdir()] == ["README.txt"]

    def test_the_consumers_layer_holds_their_code_alone(self, built):
        layer = built / "ConsumersCodeLayer" / "python"
        assert [p.name for p in layer.iterdir()] == ["consumers"]
        assert {p.name for p in (layer / "consumers").iterdir()} == {
            "__init__.py",
            "__pycache__",
            "audit_log",
            "projection",
            "webhook",
        }


class TestArtifacts:
    """Each artifact imports its handler from itself alone and ships no dev tooling."""

    @pytest.mark.parametrize(("path", "handler"), HANDLERS)
    def test_handler_imports_from_the_artifact_alone(self, artifact_of, path, handler):
        artifact = artifact_of[path]
        module, _, function = handler.rpartition(".")
        probe = (
            "import importlib, json, sys\n"
            f"sys.path[:] = [{str(artifact)!r}] + [p for p in sys.path if 'site-packages' not in p]\n"
            f"handler = getattr(importlib.import_module({module!r}), {function!r})\n"
            "print(json.dumps({'callable': callable(handler), 'path': sys.path,"
            " 'modules': sorted({m.split('.')[0] for m in sys.modules})}))\n"
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_XRAY_SDK_ENABLED": "false",
        }
        # -I: no user site, no PYTHON* variables, no cwd; -S: no site-packages; -B: no .pyc written.
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-I", "-S", "-B", "-c", probe],
            cwd=artifact,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert report["callable"]
        assert [p for p in report["path"] if "site-packages" in p or p == str(ROOT)] == []
        assert set(report["modules"]) & set(TOOLING) == set()

    @pytest.mark.parametrize("path", ARTIFACTS)
    def test_artifact_carries_no_dev_tooling(self, artifact_of, path):
        top_level = {p.name for p in artifact_of[path].iterdir()}
        assert top_level & {*TOOLING, "mypy", "ruff", "hypothesis"} == set()
        assert type_stubs_in(top_level) == set()
        shipped, owned = _distributions(artifact_of[path])
        assert "botocore" in shipped, "the artifact holds none of the pinned runtime dependencies"
        assert set(shipped) & _dev_distributions() == set()
        # Everything else at the top comes from one of those distributions or is ours.
        loose = top_level - owned - {*PROJECT_PACKAGES, "__pycache__"}
        assert {n for n in loose if not n.endswith(".dist-info")} == set()
        ours = [artifact_of[path] / package for package in PROJECT_PACKAGES]
        shipped = [
            f for folder in ours if folder.is_dir() for f in folder.rglob("*") if f.is_file()
        ]
        assert shipped, "the artifact holds none of the project's packages"
        assert [f for f in shipped if f.name.startswith("test_") or f.suffix == ".yaml"] == []
        # Bytecode is shipped on purpose (Lambda cannot write it to /var/task), but only
        # freshly compiled for a source in the artifact: no stale cache from a dev tree.
        pycs = [f for f in shipped if "__pycache__" in f.parts]
        assert pycs, "the build ships no bytecode for the target's Python"
        orphans = [
            f for f in pycs if not (f.parent.parent / (f.name.split(".")[0] + ".py")).is_file()
        ]
        assert orphans == []
        assert all(
            f".cpython-{sys.version_info.major}{sys.version_info.minor}" in f.name for f in pycs
        )


class TestShipsWhatItImports:
    """An artifact holds no distribution that nothing in it imports, and lacks none it needs."""

    @pytest.mark.parametrize("path", ARTIFACTS)
    def test_every_distribution_is_imported(self, artifact_of, path):
        artifact = artifact_of[path]
        dists = distributions(artifact)
        imports = imports_of(artifact)
        needed = needed_distributions(artifact, dists, imports.external)
        top_level = sorted(p.name for p in artifact.iterdir() if not p.name.endswith(".dist-info"))
        print(  # noqa: T201 - the size table, shown with -s
            f"\n{path}: {unpacked_size(artifact):,} B unpacked, {zipped_size(artifact):,} B zipped;"
            f" top level: {' '.join(top_level)}\n"
            + "\n".join(f"  {d.name:<20} {d.size:>12,} B" for d in dists.values())
        )
        assert set(dists) - needed == set(), "shipped, but nothing in the artifact imports it"
        provided = {name for dist in dists.values() for name in dist.top_level}
        assert imports.external - provided == set(), "imported, but not in the artifact"
        assert imports.unresolved == LEFT_OUT.get(path, set())

    def test_the_layer_holds_the_runtime_alone(self, built):
        layer = built / "ConsumerRuntimeLayer" / "python"
        assert {p.name for p in (layer / "consumers").iterdir()} == {
            "__init__.py",
            "__pycache__",
            "runtime",
        }
        assert not (layer / "router").exists()

    def test_the_router_ships_the_exported_entity_contracts(self, built):
        # It checks items against them (router/contracts.py), without the models.
        shipped = built / "RouterFunction" / "schemas" / "json" / "entities"
        committed = ROOT / "schemas" / "json" / "entities"
        assert {p.name: p.read_bytes() for p in shipped.iterdir()} == {
            p.name: p.read_bytes() for p in committed.iterdir()
        }
        assert not (built / "RouterFunction" / "schemas" / "entities").exists()

    def test_the_router_ships_neither_boto3_nor_pydantic(self, built):
        assert {"boto3", "s3transfer", "pydantic", "pydantic-core"} & set(
            distributions(built / "RouterFunction")
        ) == set()


class TestStubsCheck:
    """The dev-tooling check above finds the folders boto3-stubs really installs (it can fail)."""

    def test_the_stub_folders_boto3_stubs_installs_are_found(self):
        # GIVEN a top level holding what `boto3-stubs[s3]` installs, and wrapt's own stubs
        top_level = {"boto3-stubs", "botocore-stubs", "mypy_boto3_s3", "wrapt", "wrapt-stubs"}
        # WHEN it is checked THEN every boto3 stub folder is named, and nothing else
        assert type_stubs_in(top_level) == {"boto3-stubs", "botocore-stubs", "mypy_boto3_s3"}

    def test_the_dev_environment_holds_those_folders(self):
        # The names checked are the ones this checkout's dev environment really installs.
        site_packages = next(Path(p) for p in sys.path if p.endswith("site-packages"))
        installed = {p.name for p in site_packages.iterdir()}
        assert {"boto3-stubs", "botocore-stubs"} <= type_stubs_in(installed)
        assert any(n.startswith("mypy_boto3_") for n in type_stubs_in(installed))


class TestImportCheck:
    """The check above finds a distribution nothing imports (it can fail)."""

    @staticmethod
    def _dist(artifact: Path, name: str, files: list[str], requires: list[str]) -> None:
        info = artifact / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        for file in files:
            (artifact / file).parent.mkdir(parents=True, exist_ok=True)
            (artifact / file).write_text("", encoding="utf-8")
        (info / "RECORD").write_text(
            "".join(f"{f},,\n" for f in [*files, f"{info.name}/METADATA"]), encoding="utf-8"
        )
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires),
            encoding="utf-8",
        )

    def test_an_unimported_distribution_is_found(self, tmp_path):
        # GIVEN an artifact whose code imports alpha (which requires beta), lazily imports
        # delta, and a gamma nothing imports, and a TYPE_CHECKING-only import of epsilon
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "__init__.py").write_text(
            "from typing import TYPE_CHECKING\nimport alpha\nfrom .missing import thing\n"
            "if TYPE_CHECKING:\n    import epsilon\n"
            "def later():\n    from delta.sub import thing\n",
            encoding="utf-8",
        )
        self._dist(tmp_path, "alpha", ["alpha/__init__.py"], ["beta>=1", "zeta; extra == 'x'"])
        self._dist(tmp_path, "beta", ["beta.py"], [])
        self._dist(tmp_path, "gamma", ["gamma/__init__.py"], [])
        self._dist(tmp_path, "delta", ["delta/__init__.py"], [])
        self._dist(tmp_path, "epsilon", ["epsilon/__init__.py"], [])
        self._dist(tmp_path, "zeta", ["zeta/__init__.py"], [])
        # WHEN its imports are computed
        dists = distributions(tmp_path)
        imports = imports_of(tmp_path)
        needed = needed_distributions(tmp_path, dists, imports.external)
        # THEN gamma, epsilon (type checking only) and zeta (an extra's) are dead weight
        assert imports.external == {"alpha", "delta"}
        assert imports.unresolved == {"app.missing"}
        assert set(dists) - needed == {"gamma", "epsilon", "zeta"}
