"""Pack outbound messages into PublishBatch calls: pure, order-preserving."""

from collections.abc import Iterable, Sequence

from router.normalise import Outbound
from schemas.limits import SNS_PUBLISH_BATCH_MAX_ENTRIES


def pack_batches(
    messages: Iterable[Outbound],
    max_bytes: int,
    max_entries: int = SNS_PUBLISH_BATCH_MAX_ENTRIES,
) -> list[Sequence[Outbound]]:
    """Greedy, in order: a batch closes at ``max_entries`` or when the next message would
    take the call past ``max_bytes`` (SNS limits a PublishBatch call's aggregate size).

    Every message must itself be at most ``max_bytes`` (oversize ones are claim-checked
    before packing); ``ValueError`` otherwise.
    """
    batches: list[Sequence[Outbound]] = []
    current: list[Outbound] = []
    current_bytes = 0
    for message in messages:
        size = message.size
        if size > max_bytes:
            raise ValueError(f"message {message.envelope_id} is {size} bytes, over {max_bytes}")
        if current and (len(current) == max_entries or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        batches.append(current)
    return batches
