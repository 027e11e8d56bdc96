"""Pack outbound messages into PublishBatch calls: pure, order-preserving."""

from collections.abc import Iterable, Sequence

from hubcommon.limits import SNS_PUBLISH_BATCH_MAX_ENTRIES
from router.normalise import Outbound


def pack_batches(
    messages: Iterable[Outbound],
    max_bytes: int,
    max_entries: int = SNS_PUBLISH_BATCH_MAX_ENTRIES,
    *,
    one_per_group: bool = False,
) -> list[Sequence[Outbound]]:
    """Greedy, in order: a batch closes at ``max_entries`` or when the next message would
    take the call past ``max_bytes`` (SNS limits a PublishBatch call's aggregate size).

    ``one_per_group`` (FIFO topics) also closes it before a second message of the same
    item's group: SNS reports each entry of a call on its own, so a later update of an
    item could be published while an earlier one of the same call failed, and overtake
    it. https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html

    Every message must itself be at most ``max_bytes`` (oversize ones are claim-checked
    before packing); ``ValueError`` otherwise.
    """
    batches: list[Sequence[Outbound]] = []
    current: list[Outbound] = []
    current_bytes = 0
    groups: set[str] = set()
    for message in messages:
        size = message.size
        if size > max_bytes:
            raise ValueError(f"message {message.envelope_id} is {size} bytes, over {max_bytes}")
        if current and (
            len(current) == max_entries
            or current_bytes + size > max_bytes
            or (one_per_group and message.group_id in groups)
        ):
            batches.append(current)
            current, current_bytes = [], 0
            groups.clear()
        current.append(message)
        current_bytes += size
        groups.add(message.group_id)
    if current:
        batches.append(current)
    return batches
