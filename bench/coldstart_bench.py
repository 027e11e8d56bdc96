"""Cold start: import time of each handler module, and the size of each built function.

Each figure is the median of ``--runs`` fresh interpreters running
``python -X importtime -c "import <module>"``; the number is the cumulative
import time ``-X importtime`` reports for the handler module itself (the
interpreter's own start-up is shown once, apart).

Three settings per handler:
- repo: this checkout, the project's virtualenv, byte-code cached;
- artifact, compiled from source: the ``sam build`` output alone (``-I -S``,
  no site-packages), compiling every module on every start, as when the package
  ships no usable byte-code (Lambda's /var/task is read-only, so nothing compiled
  there is kept). The build's own ``__pycache__`` folders are ignored (an empty
  byte-code prefix);
- artifact, with .pyc (as shipped): the same with byte-code cached outside the
  artifact (``-X pycache_prefix``). That is what the deployed function gets:
  ``fanout/build.py`` ships unchecked-hash byte-code when the build's Python is
  the runtime's.

The build is ``sam build`` as tests/integration/test_template_build.py runs it
(local runtime and architecture), into a scratch folder; sizes are the unpacked
bytes (Lambda's limit: 250 MB) and the zip Lambda would receive (limit: 50 MB).

Import time alone flatters any code that defers work to its first invocation,
so the router is also measured end to end, the working tree beside
``--baseline-ref REF`` when there is one (its router/ and schemas/ from git, same
dependencies), in fresh interpreters alternating between the two: import, init (``build_router``:
settings, logging, X-Ray patching, clients) and the first and second
invocations of a 10-record batch against a moto server, with tracing on as
deployed (``LAMBDA_TASK_ROOT`` set, so the X-Ray SDK takes its Lambda path, and
a sampled ``_X_AMZN_TRACE_ID``). A second batch holding one oversize record
shows what the claim check's first use costs. Every package's own import time
(``-X importtime`` self times, summed) splits the cold start into the router's
code, its libraries and the AWS SDK floor, which a minimal boto3 (or botocore)
function that builds one SNS client also pays.

    uv run python bench/coldstart_bench.py [--runs 7] [--build-dir DIR] [--no-build]
        [--baseline-ref REF] [--variant NAME=DIR] [--router-only]

``REF`` is any git ref a reader can name: a release tag, ``main``, ``HEAD~5``. Left
out, the baseline is the latest release tag (``git describe --tags --abbrev=0``);
with no tag in the repository the working tree is measured alone. The output names
the ref with the commit it resolved to.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from common import ROOT, header, median, moto_server, records, table

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
    "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-AbCdEf",
}


def no_bytecode_flags(pycache: Path | None) -> list[str]:
    """Interpreter flags for an artifact run: byte-code only from ``pycache``, or none at all.

    ``-B`` alone only stops writing: ``__pycache__`` folders that the build left
    in the artifact (pip compiles what it installs) would still be read. A
    byte-code prefix makes the interpreter look only there, so an empty fresh
    one means every module is compiled from source, as when no usable .pyc ships.
    """
    if pycache is None:
        return ["-B", "-X", f"pycache_prefix={tempfile.mkdtemp(prefix='bench-no-pyc-')}"]
    return ["-X", f"pycache_prefix={pycache}"]


def import_ms(
    module: str, cwd: Path, *, isolated: bool, pycache: Path | None = None
) -> tuple[float, dict[str, float]]:
    """(handler module ms, its direct imports' ms) from one fresh ``-X importtime`` run."""
    argv = [sys.executable]
    if isolated:
        # -I: no user site, no PYTHON* variables, no cwd; -S: no site-packages.
        argv += ["-I", "-S", *no_bytecode_flags(pycache)]
        code = f"import sys; sys.path.insert(0, {str(cwd)!r}); import {module}"
    else:
        code = f"import {module}"
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


def run(
    runs: int = 7,
    build_dir: Path | None = None,
    *,
    build: bool = True,
    baseline_ref: str | None = None,
    extra: dict[str, Path] | None = None,
) -> dict[str, float]:
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
                    ("artifact, compiled from source", build_dir / path, True, None),
                    (
                        "artifact, with .pyc (as shipped)",
                        build_dir / path,
                        True,
                        Path(pycache) / path,
                    ),
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
    results |= router_cold_start(
        runs, build_dir, built=built, baseline_ref=baseline_ref, extra=extra
    )
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


# One cold start of the router, in a fresh interpreter: prints its phases (ms) as JSON.
COLD_START_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import router.app as app
t1 = time.perf_counter()
app.build_router()
t2 = time.perf_counter()

class Context:
    function_name = "bench"
    aws_request_id = "bench-request"
    def get_remaining_time_in_millis(self):
        return 60_000

phases = {"import": t1 - t0, "init": t2 - t1}
for name, path in zip(["first", "second"], sys.argv[1:3]):
    with open(path) as handle:
        event = json.load(handle)
    started = time.perf_counter()
    response = app.handler(event, Context())
    phases[name] = time.perf_counter() - started
    if response["batchItemFailures"]:
        raise SystemExit(f"batch failed: {response}")
print(json.dumps({k: round(v * 1000, 2) for k, v in phases.items()}))
"""
# What a minimal function that publishes to SNS pays before its first call: the floor.
FLOOR_SCRIPTS = {
    "floor: import boto3 + SNS client": ("import boto3; boto3.session.Session().client('sns')"),
    "floor: import botocore + SNS client": (
        "import botocore.session; botocore.session.get_session().create_client('sns')"
    ),
}
# Top-level packages grouped for the import split; anything else is the standard library.
PACKAGE_GROUPS = {
    "router + schemas + hubcommon (our code)": ("router", "schemas", "hubcommon"),
    "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil, jmespath, six)": (
        "boto3",
        "botocore",
        "s3transfer",
        "urllib3",
        "dateutil",
        "jmespath",
        "six",
    ),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    "structlog": ("structlog",),
    "X-Ray SDK (aws_xray_sdk, wrapt)": ("aws_xray_sdk", "wrapt"),
    "typing_extensions": ("typing_extensions",),
}


def git_out(*argv: str) -> str | None:
    """A git command's output (stripped), None when it fails (git is only read)."""
    done = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", *argv],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def latest_release_tag() -> str | None:
    """The newest tag reachable from HEAD (``git describe --tags --abbrev=0``), if any."""
    return git_out("describe", "--tags", "--abbrev=0")


def what_ref_is(ref: str) -> str:
    """``ref`` with the commit it resolves to: ``HEAD~5 = 2103501 (2026-11-30) One sam build...``."""
    commit = git_out("log", "-1", "--format=%h (%cs) %s", ref)
    if commit is None:
        raise SystemExit(f"--baseline-ref {ref}: git does not know this ref")
    return f"{ref} = {commit}"


def baseline_variant(ref: str | None) -> dict[str, Path]:
    """Print what the router is compared with; ``{ref: its code}``, or nothing without a ref."""
    if ref is None:
        header("Router cold start, end to end: the working tree alone (tracing on)")
        print("# no --baseline-ref and no release tag: nothing to compare with")
        return {}
    header(f"Router cold start, end to end: working tree vs {ref} (tracing on)")
    print(f"# baseline: {what_ref_is(ref)}")
    return {ref: ref_tree(ref)}


def ref_tree(ref: str) -> Path:
    """``router/`` and ``schemas/`` as committed at ``ref``, in a scratch folder (git is only read)."""
    archive = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", "archive", "--format=tar", ref, "router", "schemas"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def with_code_from(artifact: Path, code: Path) -> Path:
    """A copy of a built function (links to its libraries) whose router/ and schemas/ come from ``code``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-artifact-"))
    for entry in artifact.iterdir():
        if entry.name not in ("router", "schemas"):
            (folder / entry.name).symlink_to(entry)
    for name in ("router", "schemas"):
        (folder / name).symlink_to(code / name)
    return folder


def write_events(folder: Path) -> dict[str, Path]:
    """The batches the cold start is invoked with, as JSON files."""
    batches = {
        "typical": records(10, 1024),
        "typical-again": records(10, 1024, start=10),
        # One ~300 KB record: over the topic's 256 KiB, so it goes to the claim check.
        "oversize": records(9, 1024, start=20) + records(1, 150 * 1024, start=29),
    }
    paths = {}
    for name, batch in batches.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps({"Records": batch}))
    return paths


def child_env(endpoint: str, task_root: Path, hub: dict[str, str]) -> dict[str, str]:
    """The function's environment as deployed: tracing on, inside a (pretend) Lambda."""
    env = {"PATH": os.environ.get("PATH", ""), **HANDLER_ENV, **hub}
    env.pop("AWS_XRAY_SDK_ENABLED")
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        LAMBDA_TASK_ROOT=str(task_root),
        _X_AMZN_TRACE_ID="Root=1-6747a000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        # Segments go to a UDP port nobody reads, as they would to an absent daemon.
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:9",
    )
    return env


def run_child(
    code: str,
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    *,
    isolated: bool,
    pycache: Path | None,
    importtime: bool = False,
) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter running ``code`` in a function folder (or the repo)."""
    argv = [sys.executable]
    if isolated:
        argv += ["-I", "-S", *no_bytecode_flags(pycache)]
        code = f"import sys; sys.path.insert(0, {str(cwd)!r}); sys.argv[1:] = {args!r}\n" + code
        args = []
    if importtime:
        argv += ["-X", "importtime"]
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [*argv, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start in {cwd} failed:\n{result.stderr[-3000:]}")
    return result


def import_split(stderr: str) -> dict[str, float]:
    """Self import time (ms) per package group, from one ``-X importtime`` log."""
    split: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        group = next((g for g, tops in PACKAGE_GROUPS.items() if top in tops), "standard library")
        split[group] = split.get(group, 0.0) + int(self_us) / 1000
    return split


def make_hub(endpoint: str) -> dict[str, str]:
    """The topic, router DLQ and payload bucket on the moto server; the router's env for them."""
    import boto3  # noqa: PLC0415 - the benchmark's own client, not the measured code

    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": HANDLER_ENV["AWS_REGION"],
        "aws_access_key_id": HANDLER_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": HANDLER_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    sns, sqs, s3 = (boto3.client(name, **options) for name in ("sns", "sqs", "s3"))
    s3.create_bucket(Bucket=HANDLER_ENV["PAYLOAD_BUCKET"])
    return {
        "TOPIC_ARN": sns.create_topic(Name="bench-coldstart")["TopicArn"],
        "ROUTER_DLQ_URL": sqs.create_queue(QueueName="bench-coldstart-dlq")["QueueUrl"],
    }


def fresh_copy(code: Path, into: Path) -> Path:
    """``code``'s router/ and schemas/ copied without byte-code, so nothing is precompiled."""
    for name in ("router", "schemas"):
        shutil.copytree(code / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def router_cold_start(
    runs: int,
    build_dir: Path,
    *,
    built: bool,
    baseline_ref: str | None,
    extra: dict[str, Path] | None = None,
) -> dict[str, float]:
    """Import + init + first invocation of the router, working tree vs ``baseline_ref`` (if any).

    ``extra`` adds variants: name -> a folder holding its own router/ and schemas/.
    """
    variants = {"now": ROOT, **baseline_variant(baseline_ref), **(extra or {})}
    scratch = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    events = write_events(scratch)
    # setting -> variant -> (folder, isolated, byte-code cache)
    settings: dict[str, dict[str, tuple[Path, bool, Path | None]]] = {
        "repo": {
            name: (fresh_copy(code, Path(tempfile.mkdtemp(prefix="bench-repo-"))), False, None)
            for name, code in variants.items()
        }
    }
    if built:
        artifact = build_dir / "RouterFunction"
        folders = {
            name: with_code_from(artifact, fresh_copy(code, Path(tempfile.mkdtemp())))
            for name, code in variants.items()
        }
        settings["artifact, compiled from source"] = {
            name: (folder, True, None) for name, folder in folders.items()
        }
        settings["artifact, with .pyc (as shipped)"] = {
            name: (folder, True, scratch / "pycache" / name) for name, folder in folders.items()
        }
    rows: list[list[object]] = []
    results: dict[str, float] = {}
    with moto_server() as server:
        hub = make_hub(server.url)
        typical = [str(events["typical"]), str(events["typical-again"])]
        for setting, by_variant in settings.items():
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in by_variant}
            floors: dict[str, list[float]] = {name: [] for name in FLOOR_SCRIPTS}
            for folder, _, cache in by_variant.values():
                if cache is not None:  # fill the byte-code cache first
                    env = child_env(server.url, folder, hub)
                    run_child(COLD_START_SCRIPT, typical, folder, env, isolated=True, pycache=cache)
            for _ in range(runs):  # alternate, so a burst of load hits both
                for name, (folder, isolated, cache) in by_variant.items():
                    env = child_env(server.url, folder, hub)
                    done = run_child(
                        COLD_START_SCRIPT, typical, folder, env, isolated=isolated, pycache=cache
                    )
                    samples[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                folder, isolated, cache = by_variant["now"]
                for floor, code in FLOOR_SCRIPTS.items():
                    timed = (
                        "import time; _t = time.perf_counter()\n"
                        + code
                        + "\nprint(round((time.perf_counter() - _t) * 1000, 2))"
                    )
                    env = child_env(server.url, folder, hub)
                    done = run_child(timed, [], folder, env, isolated=isolated, pycache=cache)
                    floors[floor].append(float(done.stdout.strip().splitlines()[-1]))
            for name, phases in samples.items():
                total = [p["import"] + p["init"] + p["first"] for p in phases]
                results[f"{setting}:{name}"] = median(total)
                rows.append(
                    [
                        setting,
                        name,
                        runs,
                        *(
                            f"{median([p[k] for p in phases]):.0f}"
                            for k in ("import", "init", "first")
                        ),
                        f"{median(total):.0f}",
                        f"{min(total):.0f}",
                        f"{median([p['second'] for p in phases]):.0f}",
                    ]
                )
            for floor, values in floors.items():
                rows.append(
                    [
                        setting,
                        floor,
                        runs,
                        "",
                        "",
                        "",
                        f"{median(values):.0f}",
                        f"{min(values):.0f}",
                        "",
                    ]
                )
        table(
            rows,
            [
                "setting",
                "router",
                "runs",
                "import ms",
                "init ms",
                "1st invocation ms",
                "import+init+1st ms (median)",
                "min ms",
                "2nd invocation ms",
            ],
        )
        print("# target: router < 300 ms; the floor rows are the AWS SDK alone (no router code)")
        setting = "artifact, with .pyc (as shipped)" if built else "repo"
        print_oversize(settings[setting], events, server.url, hub, max(3, runs // 2))
        print_split(settings[setting], typical, server.url, hub, max(3, runs // 2), setting)
    return results


def print_oversize(
    by_variant: dict[str, tuple[Path, bool, Path | None]],
    events: dict[str, Path],
    endpoint: str,
    hub: dict[str, str],
    runs: int,
) -> None:
    """First invocation when the batch holds an oversize record: the lazy S3 client is built then."""
    rows: list[list[object]] = []
    args = [str(events["oversize"]), str(events["typical-again"])]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in by_variant}
    for _ in range(runs):
        for name, (folder, isolated, cache) in by_variant.items():
            env = child_env(endpoint, folder, hub)
            done = run_child(COLD_START_SCRIPT, args, folder, env, isolated=isolated, pycache=cache)
            samples[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for name, phases in samples.items():
        total = [p["import"] + p["init"] + p["first"] for p in phases]
        rows.append(
            [name, runs, f"{median([p['first'] for p in phases]):.0f}", f"{median(total):.0f}"]
        )
    print("\n# first batch with one oversize (claim-checked) record")
    table(rows, ["router", "runs", "1st invocation ms", "import+init+1st ms (median)"])


def print_split(
    by_variant: dict[str, tuple[Path, bool, Path | None]],
    args: list[str],
    endpoint: str,
    hub: dict[str, str],
    runs: int,
    setting: str,
) -> None:
    """Where the cold start's import time goes, by package (median of ``-X importtime`` runs)."""
    splits: dict[str, list[dict[str, float]]] = {name: [] for name in by_variant}
    for _ in range(runs):
        for name, (folder, isolated, cache) in by_variant.items():
            env = child_env(endpoint, folder, hub)
            done = run_child(
                COLD_START_SCRIPT,
                args,
                folder,
                env,
                isolated=isolated,
                pycache=cache,
                importtime=True,
            )
            splits[name].append(import_split(done.stderr))
    groups = [*PACKAGE_GROUPS, "standard library"]
    rows: list[list[object]] = []
    for group in [*groups, "total"]:
        row: list[object] = [group]
        for name in by_variant:
            if group == "total":
                row.append(f"{median([sum(s.values()) for s in splits[name]]):.0f}")
            else:
                row.append(f"{median([s.get(group, 0.0) for s in splits[name]]):.0f}")
        rows.append(row)
    print(
        f"\n# modules imported during import + init + 1st invocation, {setting}: self ms by package"
    )
    table(rows, ["package", *(f"{name} ms" for name in by_variant)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path)
    parser.add_argument("--no-build", action="store_true", help="reuse --build-dir as it is")
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="git ref the router is compared with (a tag, main, HEAD~5...); "
        "default: the latest release tag, if there is one",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure the router/ and schemas/ in DIR (e.g. a proposed change), as NAME",
    )
    parser.add_argument(
        "--router-only", action="store_true", help="skip the per-handler import table"
    )
    args = parser.parse_args()
    args.baseline_ref = args.baseline_ref or latest_release_tag()
    if args.baseline_ref:
        what_ref_is(args.baseline_ref)  # an unknown ref stops the run before any build
    extra = {name: Path(folder) for name, _, folder in (v.partition("=") for v in args.variant)}
    if args.router_only:
        build_dir = args.build_dir or Path(tempfile.gettempdir()) / "fanout-bench-sam-build"
        if not args.no_build:
            print(f"# sam build into {build_dir}: {sam_build(build_dir):.1f} s")
        built = (build_dir / "RouterFunction").is_dir()
        router_cold_start(
            args.runs, build_dir, built=built, baseline_ref=args.baseline_ref, extra=extra
        )
        return
    run(
        args.runs,
        args.build_dir,
        build=not args.no_build,
        baseline_ref=args.baseline_ref,
        extra=extra,
    )


if __name__ == "__main__":
    main()
