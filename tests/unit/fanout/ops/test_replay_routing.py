"""How replays split records into router invocations and read the router's answer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from support.builders import a_stream_record

from fanout.ops.replay.router import (
    INVOKE_PAYLOAD_BUDGET,
    ROUTE_BATCH,
    RouterAnswer,
    chunks,
    route_records,
)


def records(count: int, size: int = 0) -> list[dict[str, Any]]:
    return [
        a_stream_record(
            keys={"pk": f"ORDER#{n}", "sk": "META"},
            new={"pk": f"ORDER#{n}", "sk": "META", "blob": "x" * size},
            sequence=str(1000 + n),
        )
        for n in range(count)
    ]


class ScriptedRouter:
    """Answers each invocation from a script; records what it was sent."""

    def __init__(self, *answers: RouterAnswer) -> None:
        self.answers = list(answers)
        self.sent: list[list[str]] = []

    def route(self, batch: Sequence[Mapping[str, Any]]) -> RouterAnswer:
        self.sent.append([r["dynamodb"]["SequenceNumber"] for r in batch])
        return self.answers.pop(0) if self.answers else RouterAnswer("r")


class TestChunks:
    """At most the mapping's batch size, and under Lambda's 6 MB request payload."""

    def test_at_most_the_batch_size(self):
        sizes = [len(c) for c in chunks(records(ROUTE_BATCH * 2 + 1))]
        assert sizes == [ROUTE_BATCH, ROUTE_BATCH, 1]

    def test_large_records_split_under_the_payload_budget(self):
        big = records(40, size=350_000)  # ~14 MB in all, under 400 KB each like an item

        split = list(chunks(big))

        assert len(split) == 3
        for chunk in split:
            assert len(json.dumps({"Records": chunk}).encode()) <= INVOKE_PAYLOAD_BUDGET
        assert [r for c in split for r in c] == big


class TestRouteRecords:
    """The router's batchItemFailures name where publishing stopped."""

    def test_everything_routed(self):
        router = ScriptedRouter()
        assert route_records(router, records(150)).routed == 150
        assert [len(s) for s in router.sent] == [100, 50]

    def test_stops_at_the_first_unpublished_record(self):
        router = ScriptedRouter(RouterAnswer("r", failures=["1030"]))

        result = route_records(router, records(150))

        assert (result.routed, result.failed_at) == (30, 30)
        assert result.reason == "not published from 1030"
        assert len(router.sent) == 1  # the second chunk is not sent after a failure

    def test_a_function_error_routes_nothing_of_the_chunk(self):
        router = ScriptedRouter(RouterAnswer("r"), RouterAnswer("r", error="Boom: no topic"))

        result = route_records(router, records(150))

        assert (result.routed, result.failed_at) == (100, 100)
        assert result.reason == "the router failed: Boom: no topic"
