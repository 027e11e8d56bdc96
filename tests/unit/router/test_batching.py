"""PublishBatch packing honours both the entry count and the aggregate size limit."""

from __future__ import annotations

import pytest
from support.builders import a_stream_record

from router.batching import pack_batches
from router.normalise import EntityRules, to_outbound


def messages(n, filler=0):
    return [
        to_outbound(
            a_stream_record(new={"pk": f"A#{i}", "sk": "s", "pad": "x" * filler}), EntityRules()
        )
        for i in range(n)
    ]


def test_small_messages_fill_batches_of_ten_in_order():
    msgs = messages(25)
    batches = pack_batches(msgs, max_bytes=262_144)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [m for b in batches for m in b] == msgs


def test_size_closes_a_batch_before_ten_entries():
    msgs = messages(10, filler=60_000)
    batches = pack_batches(msgs, max_bytes=262_144)
    assert all(sum(m.size for m in b) <= 262_144 for b in batches)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [m for b in batches for m in b] == msgs


def test_a_message_over_the_limit_is_refused():
    with pytest.raises(ValueError, match="over"):
        pack_batches(messages(1, filler=5_000), max_bytes=2_000)


def test_nothing_in_nothing_out():
    assert pack_batches([], max_bytes=262_144) == []


def test_fifo_packing_puts_one_update_per_item_in_a_call():
    # GIVEN three updates of item A interleaved with updates of other items
    keys = ["A", "B", "A", "C", "A", "D"]
    msgs = [
        to_outbound(a_stream_record(keys={"pk": f"ORDER#{k}", "sk": "s"}), EntityRules())
        for k in keys
    ]
    # WHEN they are packed for a FIFO topic
    batches = pack_batches(msgs, max_bytes=262_144, one_per_group=True)
    # THEN no call holds two updates of one item, and the order is unchanged
    assert [[m.subject for m in b] for b in batches] == [
        [msgs[0].subject, msgs[1].subject],
        [msgs[2].subject, msgs[3].subject],
        [msgs[4].subject, msgs[5].subject],
    ]
    assert all(len({m.group_id for m in b}) == len(b) for b in batches)
    assert [m for b in batches for m in b] == msgs
    # and a standard topic packs them all in one call
    assert [len(b) for b in pack_batches(msgs, max_bytes=262_144)] == [6]
