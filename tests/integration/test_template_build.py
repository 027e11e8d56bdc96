"""``sam build`` makes a self-contained artifact per function, without Docker or dev tooling.

One build per session (``built`` fixture), for the local Python (``Runtime`` and
``Architecture`` overridden, and the wheel platform with them), so each
artifact's handler can be imported here in a clean interpreter whose ``sys.path``
holds only that artifact and the standard library.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fanout.build import sam_build_locally
from fanout.stack import load_template

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ("moto", "pytest", "fanout", "tests", "_pytest", "rich", "samtranslator", "cfnlint")
# Every function of the stack, by its build path, and the handler it must import.
EXPECTED = {
    "RouterFunction": "router.app.handler",
    "AuditLogConsumer/ConsumerFunction": "consumers.audit_log.app.handler",
    "ProjectionConsumer/ConsumerFunction": "consumers.projection.app.handler",
    "WebhookConsumer/ConsumerFunction": "consumers.webhook.app.handler",
}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Build once per session, shared by pytest-xdist workers: (build dir, build seconds)."""
    # Every worker sees the same parent of its basetemp; the first to take the lock
    # builds, the others wait and reuse it (pytest-xdist's documented pattern).
    shared = tmp_path_factory.getbasetemp().parent
    build_dir, timing = shared / "sam-build", shared / "sam-build.seconds"
    with (shared / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not timing.exists():
            seconds = _sam_build(build_dir)
            timing.write_text(f"{seconds:.3f}", encoding="utf-8")
    return build_dir, float(timing.read_text(encoding="utf-8"))


def _sam_build(build_dir: Path) -> float:
    result, seconds = sam_build_locally(build_dir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"sam build took {seconds:.1f}s")  # noqa: T201 - shown with -s / in the CI log
    return seconds


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


class TestBuild:
    """The build covers every function and stays quick enough for every test run."""

    def test_every_function_is_built(self, built):
        build_dir, _ = built
        functions = _functions_in(build_dir / "template.yaml")
        assert {k: v["Handler"] for k, v in functions.items()} == EXPECTED
        for path in EXPECTED:
            assert (build_dir / path).is_dir(), path

    def test_build_time_is_bounded(self, built):
        _, seconds = built
        assert seconds < 180


class TestArtifacts:
    """Each artifact imports its handler from itself alone and ships no dev tooling."""

    @pytest.mark.parametrize(("path", "handler"), EXPECTED.items())
    def test_handler_imports_from_the_artifact_alone(self, built, path, handler):
        build_dir, _ = built
        artifact = build_dir / path
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

    @pytest.mark.parametrize("path", EXPECTED)
    def test_artifact_carries_no_dev_tooling(self, built, path):
        build_dir, _ = built
        top_level = {p.name for p in (build_dir / path).iterdir()}
        assert top_level & {*TOOLING, "moto", "boto3_stubs", "mypy", "ruff", "hypothesis"} == set()
        ours = [build_dir / path / package for package in ("router", "schemas", "consumers")]
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
