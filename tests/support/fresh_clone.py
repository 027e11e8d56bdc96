"""A fresh clone of this repository's last commit, and an environment without uv or .venv.

What a new user has after ``git clone``: no ``.tools/``, no ``.venv/``, no uv on ``PATH``,
only ``python3``, ``make`` and the SAM CLI. The clone holds the last commit (``HEAD``), so
uncommitted changes are not in it; uv's and pip's download caches are shared with this
machine, which keeps the bootstrap quick without hiding a missing step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables that point a build at this checkout's tooling instead of the clone's own.
_TOOLING_VARIABLES = ("UV", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME")


def clone_head(into: Path, source: Path = ROOT) -> Path:
    """``git clone`` of ``source`` checked out at its ``HEAD`` commit (detached); returns ``into``."""
    head = _git(source, "rev-parse", "HEAD").strip()
    _git(into.parent, "clone", "--quiet", "--no-checkout", str(source), str(into))
    _git(into, "checkout", "--quiet", "--detach", head)
    return into


def without_project_tooling(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` minus uv, this checkout's virtual environment and its variables."""
    venv_bin = ROOT / ".venv" / "bin"
    kept = [
        folder
        for folder in environ.get("PATH", "").split(os.pathsep)
        if folder
        and Path(folder).resolve() != venv_bin.resolve()
        and shutil.which("uv", path=folder) is None
    ]
    env = {k: v for k, v in environ.items() if k not in _TOOLING_VARIABLES}
    env["PATH"] = os.pathsep.join(kept)
    return env


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git, "git is needed to clone the repository"
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [git, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=120
    ).stdout
