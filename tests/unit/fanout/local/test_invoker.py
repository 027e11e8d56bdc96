"""Handlers run with their own environment, a real-shaped context, and their own modules."""

from __future__ import annotations

import io
import json
import os
import textwrap
import threading

import pytest

from fanout.local.invoker import InProcessInvoker
from fanout.local.model import FunctionSpec

HANDLER = textwrap.dedent(
    """
    import os
    COLD_STARTS = []
    COLD_STARTS.append(os.environ.get("CONSUMER_NAME"))

    def handler(event, context):
        if event.get("raise"):
            raise ValueError("bad event")
        return {
            "consumer": os.environ.get("CONSUMER_NAME"),
            "cold_starts": list(COLD_STARTS),
            "function_name": context.function_name,
            "remaining": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        }
    """
)


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "fakepkg_local_invoker"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "app.py").write_text(HANDLER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fakepkg_local_invoker.app.handler"


def spec(name: str, handler: str, consumer: str) -> FunctionSpec:
    return FunctionSpec(name, handler, {"CONSUMER_NAME": consumer}, timeout_seconds=30)


class TestInProcessInvoker:
    """An invocation looks like Lambda from inside the handler."""

    def test_context_and_environment_are_the_functions(self, package):
        invoker = InProcessInvoker({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
        result = invoker.invoke(spec("audit", package, "audit-log"), {})
        assert result.response["consumer"] == "audit-log"
        assert result.response["function_name"] == "audit"
        assert 29_000 < result.response["remaining"] <= 30_000
        assert result.response["request_id"] == result.request_id
        assert result.response["arn"].endswith(":function:audit")
        assert result.response["endpoint"] == "http://127.0.0.1:1"
        assert "CONSUMER_NAME" not in os.environ  # restored afterwards

    def test_each_function_has_its_own_copy_of_shared_modules(self, package):
        invoker = InProcessInvoker()
        first = invoker.invoke(spec("a", package, "one"), {})
        second = invoker.invoke(spec("b", package, "two"), {})
        again = invoker.invoke(spec("a", package, "one"), {})
        assert first.response["cold_starts"] == ["one"]
        assert second.response["cold_starts"] == ["two"]
        assert again.response["cold_starts"] == ["one"]  # warm: no second cold start

    def test_a_handler_error_is_a_failed_invocation(self, package):
        result = InProcessInvoker().invoke(spec("a", package, "one"), {"raise": True})
        assert result.failed
        assert (result.error_type, result.error_message) == ("ValueError", "bad event")

    def test_an_unhandled_error_is_in_the_functions_log(self, package):
        # As Lambda's Python runtime logs it: one JSON record at level ERROR.
        log = io.StringIO()
        result = InProcessInvoker(output=log).invoke(spec("a", package, "one"), {"raise": True})
        (line,) = log.getvalue().splitlines()
        record = json.loads(line)
        assert record["level"] == "ERROR"
        assert (record["errorType"], record["errorMessage"]) == ("ValueError", "bad event")
        assert record["requestId"] == result.request_id
        assert any("bad event" in frame for frame in record["stackTrace"])

    def test_running_past_the_timeout_is_a_failure(self, package, monkeypatch):
        quick = FunctionSpec("t", package, {}, timeout_seconds=0)
        result = InProcessInvoker().invoke(quick, {})
        assert result.failed
        assert result.error_type == "Sandbox.Timedout"


PRINTING_HANDLER = textwrap.dedent(
    """
    import threading
    STARTED = threading.Event()
    RELEASE = threading.Event()

    def handler(event, context):
        print("from the handler")
        STARTED.set()
        RELEASE.wait(10)
        return None
    """
)


class TestHandlerOutput:
    """A handler's prints go to the hub's log; what other threads print meanwhile is kept."""

    def test_only_the_invoking_thread_is_redirected(self, tmp_path, monkeypatch, capsys):
        root = tmp_path / "fakepkg_printing"
        root.mkdir()
        (root / "__init__.py").write_text("")
        (root / "app.py").write_text(PRINTING_HANDLER)
        monkeypatch.syspath_prepend(str(tmp_path))
        log = io.StringIO()
        invoker = InProcessInvoker(output=log)
        function = FunctionSpec("p", "fakepkg_printing.app.handler", {}, timeout_seconds=30)
        worker = threading.Thread(target=invoker.invoke, args=(function, {}))
        worker.start()
        module = _wait_for_module("fakepkg_printing.app")
        assert module.STARTED.wait(10)
        print("from the main thread while the handler runs")  # noqa: T201 - the output under test
        module.RELEASE.set()
        worker.join(10)
        assert "from the handler" in log.getvalue()
        assert "main thread" not in log.getvalue()
        out = capsys.readouterr().out
        assert "from the main thread while the handler runs" in out
        assert "from the handler" not in out


def _wait_for_module(name: str):
    import sys
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", None) == name and hasattr(module, "RELEASE"):
                return module
        time.sleep(0.01)
    raise AssertionError(f"{name} was never imported")
