"""examples/other-team validates and builds from a fresh clone, with python3, make and sam alone.

The project is another team's: it shares nothing with this repository's build (no uv,
no lock file, no make target of the hub). ``sam build`` runs its layer's makefile,
which installs requirements.txt for the Lambda platform (arm64, Python 3.13) and
copies its package under python/, the folder Lambda puts on ``sys.path``:
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html
The kit is nested by its published URL; ``sam build`` leaves it as it is (the hub
published it already built).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.fresh_clone import clone_head, without_project_tooling

from consumers.runtime import __version__ as runtime_version
from fanout.deploy.template import load_template

SAM = Path(sys.executable).parent / "sam"


def sam(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``sam`` in ``project``, as a new user runs it (no uv, no .venv on PATH)."""
    env = without_project_tooling()
    assert shutil.which("uv", path=env["PATH"]) is None
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(SAM), *argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/other-team in a fresh clone of the last commit."""
    clone = clone_head(tmp_path_factory.mktemp("fresh") / "fanout-hub")
    return clone / "examples" / "other-team"


@pytest.fixture(scope="module")
def built(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("other-team-build")
    result = sam(project, "build", "--build-dir", str(build_dir))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return build_dir


def test_sam_validate_lint_passes(project: Path):
    result = sam(project, "validate", "--lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_the_code_layer_holds_the_package_and_its_requirements(built: Path):
    layer = built / "CodeLayer" / "python"
    assert (layer / "other_team" / "app.py").is_file()
    assert (layer / "humanize" / "__init__.py").is_file()
    # Nothing of the hub's: the runtime comes from the hub's layer, not from this build.
    assert not (layer / "consumers").exists()
    assert not (layer / "schemas").exists()


def test_the_kit_stays_nested_by_its_published_url(built: Path):
    resources = load_template(built / "template.yaml")["Resources"]
    location = resources["OrdersConsumer"]["Properties"]["Location"]
    assert location.startswith("https://")
    # The kit of the runtime version this repository publishes (fanout kit publish).
    assert location.endswith(f"/consumer-kit/{runtime_version}/template.yaml")


def test_the_project_names_nothing_of_this_repository(project: Path):
    # Only published artifacts: the kit URL, the hub's parameters, the runtime layer.
    template = (project / "template.yaml").read_text(encoding="utf-8")
    for local_path in ("../", "consumers/", "CodeUri"):
        assert local_path not in template
    parameters = load_template(project / "template.yaml")["Parameters"]
    assert {p["Type"] for p in parameters.values()} == {"AWS::SSM::Parameter::Value<String>"}
