"""Invoke a function's real handler in this process, as Lambda would run it.

Each function behaves like its own container: its handler module (and every
module of the handler's top-level package, and of the packages its layers hold)
is imported once for that function, with the function's environment variables
set, and kept apart from other functions' copies. So two consumers sharing
``consumers.runtime`` each get their own cold start and their own module-level
caches (clients holding their own role's credentials), as in Lambda.

``os.environ`` and ``sys.modules`` are process-wide, so invocations run one at a
time (a lock); polling and everything else stays concurrent.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol, TextIO

from fanout.connection import ENVIRONMENT_LOCK
from fanout.local.context import LocalContext
from fanout.local.model import FunctionSpec

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Invocation:
    """The outcome of one invocation, as the event source mapping sees it."""

    request_id: str
    response: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_seconds: float = 0.0
    stack: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when the function raised, timed out or returned something unserialisable."""
        return self.error_type is not None


def reported_failures(response: Any) -> tuple[list[str] | None, str]:
    """The itemIdentifiers a partial batch response names.

    ``([], "")`` is complete success (empty or null list, null response);
    ``(None, reason)`` fails the whole batch (not a list, an empty, null or
    non-string identifier); otherwise the identifiers, for the caller to check
    against its batch.
    https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting
    """
    if response is None:
        return [], ""
    failures = response.get("batchItemFailures") if isinstance(response, dict) else "not an object"
    if failures is None or failures == []:
        return [], ""
    if not isinstance(failures, list):
        return None, "batchItemFailures is not a list"
    identifiers: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or not identifier:
            return None, f"invalid itemIdentifier {identifier!r}"
        identifiers.append(identifier)
    return identifiers, ""


class Invoker(Protocol):
    """Runs a function on an event and reports what happened (never raises for handler errors)."""

    def invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation: ...


def lambda_environment(function: FunctionSpec, region: str) -> dict[str, str]:
    """The reserved variables Lambda sets for every function.

    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    """
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "_HANDLER": function.handler,
    }


@contextlib.contextmanager
def on_import_path(folders: Sequence[str]) -> Iterator[None]:
    """Put ``folders`` first on ``sys.path`` for the block (a function's layers), then take them off."""
    added = [folder for folder in folders if folder not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them exactly."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _package_modules(packages: str | Iterable[str]) -> dict[str, ModuleType]:
    wanted = {packages} if isinstance(packages, str) else set(packages)
    return {name: module for name, module in sys.modules.items() if name.split(".", 1)[0] in wanted}


NEVER_A_LAYER_PACKAGE: Final = frozenset({"fanout", "tests"})
"""The local hub's own code: never deployed (a function never imports it), never swapped out."""


@functools.cache
def layer_packages(folder: str) -> frozenset[str]:
    """The top-level packages in a layer's folder (those a function gets its own copy of)."""
    path = Path(folder)
    if not path.is_dir():
        return frozenset()
    return frozenset(
        child.name
        for child in path.iterdir()
        if (child / "__init__.py").is_file() and child.name not in NEVER_A_LAYER_PACKAGE
    )


@dataclass
class _Container:
    """One function's private copy of its code package."""

    package: tuple[str, ...]
    handler: Handler
    modules: dict[str, ModuleType]


class InProcessInvoker:
    """Imports handlers by their handler string and calls them with a Lambda context."""

    def __init__(
        self,
        base_environment: Mapping[str, str] | None = None,
        region: str = "",
        output: TextIO | None = None,
        identities: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``identities``: per function name, its execution role's credential variables."""
        self._base = dict(base_environment or {})
        self._identities = {name: dict(env) for name, env in (identities or {}).items()}
        # Where handlers' stdout/stderr (their JSON logs) go; None leaves them on the terminal.
        self._output = output
        self._region = region or self._base.get("AWS_REGION") or "us-east-1"
        self._containers: dict[str, _Container] = {}
        # os.environ is process-wide: anything resolving credentials from it waits too.
        self._lock = ENVIRONMENT_LOCK

    def add_identities(self, identities: Mapping[str, Mapping[str, str]]) -> None:
        """Run these functions (by name) with these credential variables from now on."""
        self._identities.update({name: dict(env) for name, env in identities.items()})

    def recycle(self, function_name: str) -> None:
        """Drop the function's container: its next invocation is a cold start on the code now on disk.

        What Lambda does after a deployment: an updated function runs in new execution
        environments ("When you update a function, Lambda provisions an instance of the
        function and its supporting resources",
        https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html),
        so what the code reads at cold start (the router's contracts) is read again.
        """
        with self._lock:
            self._containers.pop(function_name, None)

    def environment_of(self, function: FunctionSpec) -> dict[str, str]:
        """What ``os.environ`` adds while the function runs: hub settings, Lambda's, the template's.

        Lambda puts the execution role's credentials in the environment too
        (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
        so the handler's SDK signs as its role.
        """
        return {
            **self._base,
            **self._identities.get(function.name, {}),
            **lambda_environment(function, self._region),
            **{k: str(v) for k, v in function.environment.items()},
        }

    def invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation:
        """Call the handler on a JSON copy of ``event``; errors become a failed Invocation."""
        payload = json.loads(json.dumps(event))
        with (
            self._lock,
            patched_environ(self.environment_of(function)),
            on_import_path(function.layers),
            self._redirected(),
        ):
            # The clock starts once this invocation runs, not while it waits its turn:
            # Lambda runs concurrent invocations side by side, this hub one at a time.
            context = LocalContext.for_function(function)
            try:
                container = self._container(function)
                with self._swapped_in(container):
                    response = container.handler(payload, context)
                # Lambda serialises the response; something JSON can't encode is an error.
                response = json.loads(json.dumps(response)) if response is not None else None
            except Exception as exc:  # noqa: BLE001 - any handler error is the invocation's outcome
                failed = Invocation(
                    request_id=context.aws_request_id,
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                    duration_seconds=context.elapsed_seconds,
                    stack=traceback.format_exception(exc)[-6:],
                )
                log_unhandled(failed)
                return failed
        elapsed = context.elapsed_seconds
        if elapsed > function.timeout_seconds:
            # A thread can't be killed; the side effects happened, but Lambda would
            # report the invocation as timed out and the event source retries it.
            return Invocation(
                request_id=context.aws_request_id,
                error_type="Sandbox.Timedout",
                error_message=f"Task timed out after {function.timeout_seconds:.2f} seconds",
                duration_seconds=elapsed,
            )
        return Invocation(context.aws_request_id, response, duration_seconds=elapsed)

    @contextlib.contextmanager
    def _redirected(self) -> Iterator[None]:
        if self._output is None:
            yield
            return
        # Only the invoking thread's output goes to the function's log: a global
        # redirect_stdout would also swallow what the CLI or a test prints meanwhile.
        with _routed("stdout", self._output), _routed("stderr", self._output):
            yield

    def _container(self, function: FunctionSpec) -> _Container:
        container = self._containers.get(function.name)
        if container is not None:
            return container
        module_name, _, attribute = function.handler.rpartition(".")
        if not module_name:
            raise ValueError(f"handler {function.handler!r} is not 'module.function'")
        package = tuple(
            sorted(
                {module_name.split(".", 1)[0]}.union(*(layer_packages(f) for f in function.layers))
            )
        )
        outside = _package_modules(package)
        for name in outside:
            del sys.modules[name]
        try:
            module = importlib.import_module(module_name)
            handler = getattr(module, attribute)
            container = _Container(package, handler, _package_modules(package))
        finally:
            for name in _package_modules(package):
                del sys.modules[name]
            sys.modules.update(outside)
        self._containers[function.name] = container
        return container

    @contextlib.contextmanager
    def _swapped_in(self, container: _Container) -> Iterator[None]:
        """Put the function's modules in ``sys.modules`` so lazy imports find its copies."""
        outside = _package_modules(container.package)
        for name in outside:
            del sys.modules[name]
        sys.modules.update(container.modules)
        try:
            yield
        finally:
            container.modules = _package_modules(container.package)
            for name in container.modules:
                del sys.modules[name]
            sys.modules.update(outside)


def log_unhandled(invocation: Invocation) -> None:
    """Write the error to the function's log, as Lambda's Python runtime does for an unhandled one.

    Its runtime interface client logs ``errorMessage``, ``errorType``, ``requestId`` and
    ``stackTrace`` at level ERROR (JSON log format) before reporting the invocation error:
    ``log_error`` in awslambdaric/bootstrap.py,
    https://github.com/aws/aws-lambda-python-runtime-interface-client (release 4.0.4 names
    the level field ``level``); https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
    """
    record = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "level": "ERROR",
        "errorMessage": invocation.error_message or "",
        "errorType": invocation.error_type or "",
        "requestId": invocation.request_id,
        "stackTrace": list(invocation.stack),
    }
    print(json.dumps(record), file=sys.stderr, flush=True)


class CallableInvoker:
    """Invokes plain Python callables by function name (tests, tools)."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    def invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation:
        """Call the callable registered for ``function.name`` with a real-shaped context."""
        context = LocalContext.for_function(function)
        try:
            response = self._handlers[function.name](json.loads(json.dumps(event)), context)
            response = json.loads(json.dumps(response)) if response is not None else None
        except Exception as exc:  # noqa: BLE001 - any handler error is the invocation's outcome
            return Invocation(
                context.aws_request_id,
                error_type=type(exc).__name__,
                error_message=str(exc),
                duration_seconds=context.elapsed_seconds,
            )
        return Invocation(
            context.aws_request_id, response, duration_seconds=context.elapsed_seconds
        )


class _ThreadRouted(io.TextIOBase):
    """A stand-in for sys.stdout/stderr: one thread's writes go to ``target``, others' to ``original``."""

    def __init__(self, original: TextIO, target: TextIO, thread: threading.Thread) -> None:
        self._original = original
        self._target = target
        self._thread = thread

    def _stream(self) -> TextIO:
        return self._target if threading.current_thread() is self._thread else self._original

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()


@contextlib.contextmanager
def _routed(name: str, target: TextIO) -> Iterator[None]:
    original: TextIO = getattr(sys, name)
    proxy = _ThreadRouted(original, target, threading.current_thread())
    setattr(sys, name, proxy)
    try:
        yield
    finally:
        # Put the original back unless someone (pytest's capture) replaced it meanwhile.
        if getattr(sys, name) is proxy:
            setattr(sys, name, original)
