"""Fakes for the emulator's rule tests: a shard the test feeds, a handler that records."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from support.waiting import DEFAULT_TIMEOUT, eventually

STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"


def stream_record(sequence: int, *, age_seconds: float = 0, name: str = "INSERT") -> dict[str, Any]:
    """A raw GetRecords record (boto3 shape) with a given sequence number."""
    return {
        "eventID": f"e{sequence}",
        "eventName": name,
        "dynamodb": {
            "ApproximateCreationDateTime": time.time() - age_seconds,
            "Keys": {"pk": {"S": f"ORDER#{sequence}"}},
            "NewImage": {"pk": {"S": f"ORDER#{sequence}"}},
            "SequenceNumber": str(100 + sequence),
            "SizeBytes": 20,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def seq(sequence: int) -> str:
    """The SequenceNumber text of ``stream_record(sequence)``."""
    return str(100 + sequence)


class FakeShard:
    """A ShardReader fed by the test: ``add`` makes records visible to the next fetch."""

    shard_id = "shardId-00000001700000000000-0000test"

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.close_when_empty = False
        # Set once a fetch has returned records: the reader holds them from then on.
        self.read = threading.Event()

    def add(self, *records: dict[str, Any]) -> None:
        with self._lock:
            self._pending.extend(records)

    def fetch(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self._pending = self._pending, []
        if out:
            self.read.set()
        return out

    @property
    def closed(self) -> bool:
        with self._lock:
            return self.close_when_empty and not self._pending


class RecordingHandler:
    """A fake handler: records each batch it sees and answers through ``behaviour``."""

    def __init__(self, behaviour: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.contexts: list[Any] = []
        self._behaviour = behaviour
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        records = event["Records"]
        with self._lock:
            self.batches.append(
                [r["dynamodb"]["SequenceNumber"] if "dynamodb" in r else r["body"] for r in records]
            )
            self.contexts.append(context)
        return self._behaviour(records) if self._behaviour else None

    @property
    def delivered(self) -> list[str]:
        return [identifier for batch in self.batches for identifier in batch]


def wait_until(
    condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> None:
    """Poll ``condition`` until true or fail after ``timeout`` seconds."""
    eventually(condition, timeout, what)
