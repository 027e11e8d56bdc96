"""The consumer runtime wheel (``make runtime-wheel``) holds the runtime and nothing else.

It is what a team outside this repository installs: ``consumers/runtime``,
``schemas`` and ``hubcommon``, with its own dependencies (``packaging/runtime/pyproject.toml``, the same
list the consumer functions ship) and the version ``consumers/runtime/__init__.py``
states. The test builds it, installs it into a fresh venv in a temporary folder with
only its declared dependencies, and imports the public entry point from there.
"""

from __future__ import annotations

import json
import re
import tomllib
import zipfile
from pathlib import PurePosixPath

import pytest
from support.venvs import (
    ROOT,
    fresh_venv_with,
    installed_distributions,
    locked_constraints,
    run,
    uv,
)

from consumers.runtime import __version__ as runtime_version
from fanout.runtime_wheel import build_runtime_wheel


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_runtime_wheel(tmp_path_factory.mktemp("runtime-wheel"), uv())


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The bin/ of a fresh venv with the wheel and the lock's pins of its dependencies."""
    folder = tmp_path_factory.mktemp("runtime-venv")
    constraints = locked_constraints(folder / "constraints.txt", "--only-group", "consumer")
    return fresh_venv_with(folder, wheel, constraints), folder


class TestRuntimeWheel:
    """A versioned wheel of the runtime alone, installable by any Python project."""

    def test_it_holds_the_runtime_and_what_it_imports_only(self, wheel):
        names = zipfile.ZipFile(wheel).namelist()
        packages = {
            PurePosixPath(n).parts[0]
            for n in names
            if not n.split("/", 1)[0].endswith(".dist-info")
        }
        assert packages == {"consumers", "schemas", "hubcommon"}
        consumers = {PurePosixPath(n).parts[1] for n in names if n.startswith("consumers/")}
        assert consumers == {"__init__.py", "runtime"}
        assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
        assert "consumers/runtime/core.py" in names
        assert "schemas/v1.py" in names
        assert "hubcommon/limits.py" in names

    def test_its_version_is_the_runtime_version(self, wheel):
        assert wheel.name == f"fanout_consumer_runtime-{runtime_version}-py3-none-any.whl"

    def test_it_declares_what_the_consumer_functions_ship(self):
        # One list in two files: the wheel's dependencies and the functions' group.
        runtime = tomllib.loads((ROOT / "packaging/runtime/pyproject.toml").read_text("utf-8"))
        hub = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
        assert runtime["project"]["dependencies"] == hub["dependency-groups"]["consumer"]

    def test_the_entry_point_imports_with_only_its_dependencies(self, installed):
        # GIVEN a fresh venv holding the wheel and what it declares, nothing else
        bin_dir, folder = installed
        declared = _names(
            tomllib.loads((ROOT / "packaging/runtime/pyproject.toml").read_text("utf-8"))[
                "project"
            ]["dependencies"]
        )
        present = installed_distributions(bin_dir, folder)
        assert declared <= present
        assert {"fanout-hub", "moto", "pyyaml", "rich", "aws-sam-translator"} & present == set()
        # WHEN the runtime's public entry point is imported outside the repository
        probe = (
            "import importlib.util, json\n"
            "from consumers.runtime import Envelope, PermanentError, __version__, consumer\n"
            "@consumer()\n"
            "def handler(event: Envelope) -> None: ...\n"
            "print(json.dumps({'version': __version__, 'callable': callable(handler),"
            " 'absent': [m for m in ('router', 'fanout', 'consumers.projection',"
            " 'consumers.webhook', 'consumers.audit_log', 'tests')"
            " if importlib.util.find_spec(m) is None]}))\n"
        )
        env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_XRAY_SDK_ENABLED": "false"}
        result = run([str(bin_dir / "python"), "-I", "-c", probe], cwd=folder, env=env)
        # THEN it works, and nothing else of the repository is there
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert report["version"] == runtime_version
        assert report["callable"]
        assert report["absent"] == [
            "router",
            "fanout",
            "consumers.projection",
            "consumers.webhook",
            "consumers.audit_log",
            "tests",
        ]
