"""How long ``sam build`` takes: from a fresh clone (uv bootstrapped) and in this checkout.

The fresh clone is what a new user and CI do first (``git clone``, then ``sam build``
with only python3, make and the SAM CLI); the in-place build is a developer's repeat
build (uv and its cache already there). Both build for this machine's Python.

    uv run python bench/build_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import header, table
from support.fresh_clone import clone_head, without_project_tooling

from fanout.build import sam_build_locally


def fresh_clone_build(scratch: Path) -> float:
    """Seconds for ``sam build`` of a new clone of HEAD, with no uv or .venv on PATH."""
    clone = clone_head(scratch / "clone")
    result, seconds = sam_build_locally(
        scratch / "build", source=clone, environ=without_project_tooling()
    )
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def in_place_build(scratch: Path) -> float:
    """Seconds for ``sam build`` of this checkout (its uv and caches already present)."""
    result, seconds = sam_build_locally(scratch / "build")
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def run(runs: int = 3) -> None:
    """Print a Markdown table of both builds' wall times (median and range of ``runs``)."""
    header("sam build wall time")
    rows: list[tuple[str, list[float]]] = []
    for name, build in (("fresh clone", fresh_clone_build), ("this checkout", in_place_build)):
        times = []
        for _ in range(runs):
            scratch = Path(tempfile.mkdtemp(prefix="fanout-build-bench-"))
            try:
                times.append(build(scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        rows.append((name, times))
    table(
        [
            (name, f"{statistics.median(t):.1f}", f"{min(t):.1f}", f"{max(t):.1f}", len(t))
            for name, t in rows
        ],
        ["sam build", "median s", "min s", "max s", "runs"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    run(parser.parse_args().runs)


if __name__ == "__main__":
    main()
