"""Cold start: import time of each handler module, and the size of each built function.

Each figure is the median of ``--runs`` fresh interpreters running
``python -X importtime -c "import <module>"``; the number is the cumulative
import time ``-X importtime`` reports for the handler module itself (the
interpreter's own start-up is shown once, apart).

Three settings per handler:
- repo: this checkout, the project's virtualenv, byte-code cached;
- artifact, no .pyc: the ``sam build`` output alone (``-I -S -B``, no
  site-packages), compiling every module from source on every start, as on
  Lambda, whose /var/task is read-only and which ``sam build`` ships no .pyc to;
- artifact, .pyc: the same with byte-code cached outside the artifact
  (``-X pycache_prefix``), what precompiled byte-code in the package would give.

The build is ``sam build`` as tests/integration/test_template_build.py runs it
(local runtime and architecture), into a scratch folder; sizes are the unpacked
bytes (Lambda's limit: 250 MB) and the zip Lambda would receive (limit: 50 MB).

    uv run python bench/coldstart_bench.py [--runs 7] [--build-dir DIR] [--no-build]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import ROOT, header, median, table

from fanout.build import sam_build_locally

# Build path of each function (as in test_template_build.py) -> its handler module.
FUNCTIONS = {
    "RouterFunction": "router.app",
    "AuditLogConsumer/ConsumerFunction": "consumers.audit_log.app",
    "ProjectionConsumer/ConsumerFunction": "consumers.projection.app",
    "WebhookConsumer/ConsumerFunction": "consumers.webhook.app",
}
# What the template gives each function; fake values, nothing is called at import.
HANDLER_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
    "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-dlq",
    "PAYLOAD_BUCKET": "bench-payloads",
    "CONSUMER_NAME": "bench",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-consumer-dlq",
    "AUDIT_BUCKET": "bench-audit",
    "PROJECTION_TABLE": "bench-projection",
    "WEBHOOK_URLS": "https://example.com/hook",
    "WEBHOOK_SECRET": "bench-secret",
}


def import_ms(
    module: str, cwd: Path, *, isolated: bool, pycache: Path | None = None
) -> tuple[float, dict[str, float]]:
    """(handler module ms, its direct imports' ms) from one fresh ``-X importtime`` run."""
    argv = [sys.executable]
    if isolated:
        # -I: no user site, no PYTHON* variables, no cwd; -S: no site-packages.
        argv += ["-I", "-S"] + (["-B"] if pycache is None else [])
        code = f"import sys; sys.path.insert(0, {str(cwd)!r}); import {module}"
    else:
        code = f"import {module}"
    if pycache is not None:
        argv += ["-X", f"pycache_prefix={pycache}"]
    argv += ["-X", "importtime", "-c", code]
    env = {"PATH": os.environ.get("PATH", ""), **HANDLER_ENV}
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"import {module} failed in {cwd}:\n{result.stderr[-2000:]}")
    return parse_importtime(result.stderr, module)


def parse_importtime(stderr: str, module: str) -> tuple[float, dict[str, float]]:
    """(ms for ``module``, ms of each direct import inside it) from ``-X importtime`` output."""
    # Lines come out innermost first; a module's children precede it, one indent deeper.
    entries: list[tuple[int, str, float]] = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
            entries.append((depth, name.strip(), int(cumulative) / 1000))
    for index, (depth, name, ms) in enumerate(entries):
        if name == module:
            children: dict[str, float] = {}
            for child_depth, child, child_ms in reversed(entries[:index]):
                if child_depth <= depth:
                    break
                if child_depth == depth + 1:
                    children[child] = child_ms
            return ms, children
    return 0.0, {}


def sam_build(build_dir: Path) -> float:
    """``sam build`` of the whole template into ``build_dir``; returns seconds."""
    result, seconds = sam_build_locally(build_dir)
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def sizes(folder: Path) -> tuple[int, int]:
    """(unpacked bytes, deflated zip bytes) of a function folder."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    unpacked = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder))
        zipped = handle.tell()
    return unpacked, zipped


def run(runs: int = 7, build_dir: Path | None = None, *, build: bool = True) -> dict[str, float]:
    """Print the import-time and size tables; returns medians by setting/module."""
    header("Cold start: handler import time (median of fresh interpreters)")
    build_dir = build_dir or Path(tempfile.gettempdir()) / "fanout-bench-sam-build"
    if build:
        print(f"# sam build into {build_dir}: {sam_build(build_dir):.1f} s")
    built = all((build_dir / path).is_dir() for path in FUNCTIONS)
    if not built:
        print(f"# no build at {build_dir}: artifact rows skipped")
    rows: list[list[object]] = []
    results: dict[str, float] = {}
    router_samples: list[tuple[float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        for path, module in FUNCTIONS.items():
            settings: list[tuple[str, Path, bool, Path | None]] = [("repo", ROOT, False, None)]
            if built:
                settings += [
                    ("artifact, no .pyc (as on Lambda)", build_dir / path, True, None),
                    ("artifact, .pyc cached", build_dir / path, True, Path(pycache) / path),
                ]
            for name, cwd, isolated, cache in settings:
                if cache is not None:
                    import_ms(module, cwd, isolated=isolated, pycache=cache)  # fill the cache
                samples = [
                    import_ms(module, cwd, isolated=isolated, pycache=cache) for _ in range(runs)
                ]
                handler_ms = [h for h, _ in samples]
                if name == "repo" and module == "router.app":
                    router_samples = samples
                results[f"{name}:{module}"] = median(handler_ms)
                rows.append(
                    [
                        module,
                        name,
                        runs,
                        f"{median(handler_ms):.0f}",
                        f"{min(handler_ms):.0f}",
                        f"{max(handler_ms):.0f}",
                    ]
                )
    table(rows, ["handler module", "setting", "runs", "median ms", "min ms", "max ms"])
    print("# target: router < 300 ms")
    print_heaviest(router_samples)
    if built:
        print_sizes(build_dir)
    return results


def print_heaviest(samples: list[tuple[float, dict[str, float]]]) -> None:
    """The router's direct imports by median cumulative time (first import pays for shared ones)."""
    children: dict[str, list[float]] = {}
    for _, found in samples:
        for child, ms in found.items():
            children.setdefault(child, []).append(ms)
    heaviest = sorted(((median(v), k) for k, v in children.items()), reverse=True)[:8]
    print("# where router.app's import time goes (repo, median ms per direct import):")
    print("#   " + ", ".join(f"{name} {ms:.0f}" for ms, name in heaviest))


def print_sizes(build_dir: Path) -> None:
    """The size table of every built function."""
    header("Built function packages (sam build)")
    size_rows = []
    for path in FUNCTIONS:
        unpacked, zipped = sizes(build_dir / path)
        top = sorted(p.name for p in (build_dir / path).iterdir() if p.is_dir())
        size_rows.append(
            [
                path,
                f"{unpacked / 1e6:.1f}",
                f"{zipped / 1e6:.1f}",
                ", ".join(t for t in top if not t.endswith(".dist-info")),
            ]
        )
    table(size_rows, ["function", "unpacked MB", "zip MB", "top-level packages"])
    print("# Lambda limits: 250 MB unpacked, 50 MB zipped (direct upload)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path)
    parser.add_argument("--no-build", action="store_true", help="reuse --build-dir as it is")
    args = parser.parse_args()
    run(args.runs, args.build_dir, build=not args.no_build)


if __name__ == "__main__":
    main()
