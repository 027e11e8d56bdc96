"""A consumer written for user v1 and one written for v2, on the same items.

Each prints one JSON line per change it handled (the test reads the function's output):
which consumer, the envelope, the version the producer wrote, and the new and old images
as the consumer's model holds them. Test data only: a real consumer never prints item values.
"""

from __future__ import annotations

import json

from consumers.runtime import Change, Mode, consumer
from typed_users.contracts import UserV1, UserV2

MARK = "typed-users"


def show(consumer_version: int, change: Change[UserV1] | Change[UserV2]) -> None:
    line = {
        MARK: consumer_version,
        "envelope": change.envelope.id,
        "published": change.published_version,
        "new": change.new.model_dump(mode="json") if change.new is not None else None,
        "old": change.old.model_dump(mode="json") if change.old is not None else None,
    }
    print(json.dumps(line, sort_keys=True))  # noqa: T201 - the test reads it


@consumer(mode=Mode.NATURALLY_IDEMPOTENT, model=UserV1)
def v1_handler(change: Change[UserV1]) -> None:
    show(1, change)


@consumer(mode=Mode.NATURALLY_IDEMPOTENT, model=UserV2)
def v2_handler(change: Change[UserV2]) -> None:
    show(2, change)
