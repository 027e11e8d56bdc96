"""Build the consumer runtime wheel: ``consumers/runtime``, ``schemas`` and ``hubcommon``, nothing else.

``make runtime-wheel`` runs ``python3 -m fanout.runtime_wheel --out-dir dist``. The
wheel's project (``packaging/runtime/pyproject.toml``: its name, its own dependencies,
its version read from ``consumers/runtime/__init__.py``) is built from a scratch folder
holding that file and a copy of the three packages, so no other part of this repository
(router, the example consumers, tooling, tests) can end up in it. Standard library only,
like ``fanout.build``, whose package copy (no caches, no non-package folders) it reuses.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess  # nosec B404 - runs uv with fixed argv, never a shell
import sys
import tempfile
from pathlib import Path
from typing import Final

from fanout.build import ROOT, copy_package, uv_executable

PROJECT: Final = ROOT / "packaging" / "runtime" / "pyproject.toml"
# `consumers.runtime` brings consumers/__init__.py with it, not the example consumers.
PACKAGES: Final = ("consumers.runtime", "schemas", "hubcommon")


def build_runtime_wheel(out_dir: Path, uv: str | None = None) -> Path:
    """Build the wheel into ``out_dir`` with ``uv`` (default: ``$UV``, else PATH); its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fanout-runtime-wheel-") as scratch:
        source = Path(scratch)
        shutil.copy2(PROJECT, source / "pyproject.toml")
        for package in PACKAGES:
            copy_package(package, source)
        before = set(out_dir.glob("*.whl"))
        subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
            [
                uv or uv_executable(),
                "build",
                "--wheel",
                "--quiet",
                "--out-dir",
                str(out_dir.resolve()),
                str(source),
            ],
            cwd=source,
            check=True,
        )
    built = sorted(set(out_dir.glob("fanout_consumer_runtime-*.whl")) - before) or sorted(
        out_dir.glob("fanout_consumer_runtime-*.whl"), key=lambda p: p.stat().st_mtime
    )
    if not built:
        raise FileNotFoundError(f"uv build wrote no runtime wheel into {out_dir}")
    return built[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanout.runtime_wheel", description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    print(f"built {build_runtime_wheel(args.out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
