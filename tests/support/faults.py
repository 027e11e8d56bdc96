"""Fault injection for boto3 clients through botocore's event hooks.

Works on any client (moto-backed or real endpoint): the call still goes out for
the entries that are not failed, so successes are real and failures are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


@dataclass
class PublishBatchFaults:
    """Fail chosen PublishBatch entries (by message body predicate) or whole calls.

    ``fail_entry(message_body, attempt_for_that_body) -> (code, sender_fault) | None``
    ``fail_call(call_number) -> error code | None`` raises a ClientError for the whole call.
    """

    fail_entry: Callable[[str, int], tuple[str, bool] | None] = lambda _b, _a: None
    fail_call: Callable[[int], str | None] = lambda _n: None
    calls: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    _dropped: list[dict[str, Any]] = field(default_factory=list)
    _kept: int = 0

    def install(self, client: Any) -> PublishBatchFaults:
        events = client.meta.events
        events.register("before-parameter-build.sns.PublishBatch", self._before)
        events.register("before-call.sns.PublishBatch", self._call)
        events.register("after-call.sns.PublishBatch", self._after)
        return self

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self._dropped = []
        if self.fail_call(self.calls):
            return
        kept = []
        for entry in params["PublishBatchRequestEntries"]:
            body = entry["Message"]
            attempt = self.attempts.get(body, 0)
            self.attempts[body] = attempt + 1
            verdict = self.fail_entry(body, attempt)
            if verdict is None:
                kept.append(entry)
            else:
                code, sender = verdict
                self._dropped.append(
                    {"Id": entry["Id"], "Code": code, "Message": "injected", "SenderFault": sender}
                )
        params["PublishBatchRequestEntries"] = kept
        self._kept = len(kept)

    def _call(self, **_: Any) -> Any:
        code = self.fail_call(self.calls)
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "PublishBatch")
        if self._kept == 0:
            # Every entry was failed: answer without a call SNS would refuse as empty.
            return _Ok(), {"Successful": [], "Failed": []}
        return None

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(self._dropped)


class _Ok:
    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012 - mimics botocore's response object
