"""``fanout`` installed as a tool works outside the repository.

``uv tool install .`` (or ``pipx install .``) installs the project's wheel with its
declared dependencies and nothing from the dev group. The test does the same in a fresh
venv in a temporary folder: ``uv build --wheel``, then ``uv pip install`` of that wheel
(versions as ``uv.lock`` pins them), and runs the installed ``fanout`` from there.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from support.venvs import ROOT, fresh_venv_with, locked_constraints, run, uv

from consumers.runtime import __version__ as runtime_version


@pytest.fixture(scope="module")
def installed_tool(tmp_path_factory):
    """The bin/ folder of a fresh venv holding the project wheel and its dependencies."""
    folder = tmp_path_factory.mktemp("fanout-tool")
    built = run([uv(), "build", "--wheel", "--quiet", "--out-dir", str(folder), str(ROOT)], ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = folder.glob("fanout_hub-*.whl")
    # Only what the wheel declares: the lock's pins for the project dependencies, no dev group.
    constraints = locked_constraints(folder / "constraints.txt", "--no-dev")
    return fresh_venv_with(folder, wheel, constraints), folder


class TestInstalledTool:
    """The installed CLI runs with its own dependency set, outside the repository."""

    def test_help_lists_the_commands(self, installed_tool):
        # GIVEN fanout installed from the wheel; WHEN `fanout --help` runs in another folder
        bin_dir, folder = installed_tool
        result = run([str(bin_dir / "fanout"), "--help"], cwd=folder)
        # THEN it prints the commands, no traceback
        assert result.returncode == 0, result.stderr
        assert {"local", "tail", "status", "env-vars"} <= set(
            re.findall(r"^    ([a-z-]+)", result.stdout, re.MULTILINE)
        )

    def test_version_names_the_tool_and_the_consumer_runtime(self, installed_tool):
        bin_dir, folder = installed_tool
        result = run([str(bin_dir / "fanout"), "--version"], cwd=folder)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            f"fanout {metadata.version('fanout-hub')} (consumer runtime {runtime_version})"
        )

    def test_it_runs_on_the_installed_code_not_the_checkout(self, installed_tool):
        bin_dir, folder = installed_tool
        probe = "import fanout, consumers; print(fanout.__file__); print(consumers.__file__)"
        result = run([str(bin_dir / "python"), "-I", "-c", probe], cwd=folder)
        assert result.returncode == 0, result.stderr
        assert all(str(ROOT) not in line for line in result.stdout.splitlines())
        assert str(folder) in result.stdout
