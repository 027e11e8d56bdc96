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
