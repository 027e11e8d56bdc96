"""Both deployed functions write the same JSON log line, the one operations tooling reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
import structlog
from structlog.testing import capture_logs

from hubcommon.logs import configure_logging


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test configures logging itself; the next test starts from structlog's defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


class TestLogLine:
    """One JSON object per line on stdout, with level, UTC time and the bound context."""

    def test_a_line_carries_event_level_utc_time_and_context(self, capsys):
        # GIVEN logging configured as a function's cold start does
        configure_logging("INFO")

        # WHEN a bound logger writes a fact with non-ASCII text and a non-JSON value
        log = structlog.get_logger("t").bind(consumer="orders", table="Orders")
        log.info("batch_routed", published=97, note="zoë", total=Decimal("0.1"))

        # THEN stdout holds one JSON line with every field, text unescaped
        out = capsys.readouterr().out
        assert "zoë" in out
        [line] = lines(out)
        assert line["event"] == "batch_routed"
        assert line["level"] == "info"
        assert line["consumer"] == "orders"
        assert line["table"] == "Orders"
        assert line["published"] == 97
        assert line["total"] == "0.1"
        stamp = datetime.fromisoformat(str(line["timestamp"]))
        assert stamp.utcoffset() is not None
        assert stamp.utcoffset().total_seconds() == 0

    def test_an_exception_is_structured_data(self, capsys):
        configure_logging("INFO")

        try:
            int("boom")
        except ValueError:
            structlog.get_logger("t").exception("dead_letter_failed")

        [line] = lines(capsys.readouterr().out)
        [raised] = line["exception"]  # type: ignore[misc]
        assert raised["exc_type"] == "ValueError"
        assert "boom" in raised["exc_value"]
        assert raised["frames"]

    def test_lines_below_the_level_are_not_written(self, capsys):
        configure_logging("WARNING")

        log = structlog.get_logger("t")
        log.info("event_consumed")
        log.warning("event_failed")

        assert [line["event"] for line in lines(capsys.readouterr().out)] == ["event_failed"]


class TestLambdaLevels:
    """Lambda filters JSON logs by ``level``; an unknown name counts as INFO and is dropped at WARN.

    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    """

    LAMBDA_LEVELS = frozenset({"trace", "debug", "info", "warn", "error", "fatal"})

    def test_every_level_is_written_as_a_lambda_level(self, capsys):
        # GIVEN logging at DEBUG
        configure_logging("DEBUG")

        # WHEN a line is written at each level
        log = structlog.get_logger("t")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")

        # THEN each line's level is the Lambda level it means
        written = {line["event"]: line["level"] for line in lines(capsys.readouterr().out)}
        assert written == {"d": "debug", "i": "info", "w": "warn", "e": "error", "c": "fatal"}
        assert set(written.values()) <= self.LAMBDA_LEVELS

    def test_a_capture_still_sees_structlogs_level(self):
        configure_logging("INFO")

        with capture_logs() as logs:
            structlog.get_logger("t").warning("event_failed")

        assert [entry["log_level"] for entry in logs] == ["warning"]


class TestReconfiguring:
    """A function configures once at cold start; a rebuild or a test's capture keeps working."""

    def test_the_same_level_again_keeps_a_capture_in_place(self):
        configure_logging("INFO")

        with capture_logs() as logs:
            configure_logging("INFO")
            structlog.get_logger("t").info("batch_consumed")

        assert [entry["event"] for entry in logs] == ["batch_consumed"]

    def test_another_level_takes_effect(self, capsys):
        configure_logging("WARNING")
        configure_logging("DEBUG")

        structlog.get_logger("t").debug("event_consumed")

        assert [line["event"] for line in lines(capsys.readouterr().out)] == ["event_consumed"]
