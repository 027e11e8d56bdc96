"""Fresh virtual environments outside the repository, filled by uv from its cache or PyPI.

What a user of a published artifact has: an empty venv, the wheel, and the versions
``uv.lock`` pins for what the wheel declares (given as constraints, so the install is
the tested set and comes from uv's cache when this machine already synced it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def uv() -> str:
    """uv from ``UV``, else ``PATH``, else the copy ``make setup`` put in ``.tools/``."""
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).is_file(), "uv is needed: run `make setup`"
    return found


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """Run ``argv`` (no shell) in ``cwd``; the completed process, output as text."""
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def locked_constraints(into: Path, *export_args: str) -> Path:
    """The lock's pins (``uv export`` with ``export_args``) as a constraints file."""
    result = run(
        [
            uv(),
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            *export_args,
        ],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    into.write_text(result.stdout, encoding="utf-8")
    return into


def fresh_venv_with(folder: Path, wheel: Path, constraints: Path) -> Path:
    """A new venv in ``folder`` holding ``wheel`` and its declared dependencies; its bin/."""
    venv = folder / "venv"
    created = run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=folder)
    assert created.returncode == 0, created.stderr
    installed = run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--constraint",
            str(constraints),
            str(wheel),
        ],
        cwd=folder,
    )
    assert installed.returncode == 0, installed.stderr
    return venv / "bin"


def installed_distributions(bin_dir: Path, cwd: Path) -> set[str]:
    """Normalised names of every distribution installed in the venv of ``bin_dir``."""
    listed = run([uv(), "pip", "freeze", "--python", str(bin_dir / "python")], cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return {
        line.split("==", 1)[0].split(" @ ", 1)[0].strip().lower().replace("_", "-")
        for line in listed.stdout.splitlines()
        if line.strip()
    }
