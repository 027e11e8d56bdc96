"""The cost model's arithmetic: chunks, batching, free lines, claim checks, totals."""

from __future__ import annotations

import io
from argparse import Namespace

import pytest

from fanout import cost
from fanout.cli import build_parser
from fanout.cost import Load


def line(items: list[cost.LineItem], component_part: str) -> cost.LineItem:
    (found,) = [i for i in items if component_part in i.component]
    return found


class TestChunks:
    """Each started 64 KB of payload is one billed request."""

    @pytest.mark.parametrize(
        ("kb", "expected"), [(0.5, 1), (64, 1), (64.01, 2), (128, 2), (256, 4), (300, 5)]
    )
    def test_64_kb_chunks(self, kb, expected):
        assert cost.chunks(kb) == expected


class TestInvocations:
    """Full batches when traffic is heavy; one invocation per window when it is thin."""

    def test_heavy_traffic_fills_batches(self):
        # GIVEN 100 records a second, far above one batch per 1 s window
        records = 100 * cost.SECONDS_PER_MONTH
        # THEN every invocation carries a full batch of 10
        assert cost.invocations(records, 10, 1.0) == pytest.approx(records / 10)

    def test_thin_traffic_is_one_invocation_per_window(self):
        # GIVEN 5 records a second with batches of 100 and a 1 s window
        records = 5 * cost.SECONDS_PER_MONTH
        assert cost.invocations(records, 100, 1.0) == pytest.approx(cost.SECONDS_PER_MONTH)

    def test_rare_events_are_one_invocation_each(self):
        assert cost.invocations(1000, 100, 1.0) == 1000

    def test_no_events_no_invocations(self):
        assert cost.invocations(0, 100, 1.0) == 0


class TestHub:
    """The hub's bill for a known load, line by line."""

    # 100 events a second: router batches of 100 fill, and 10 envelopes per PublishBatch.
    LOAD = Load(events_per_day=100 * 86_400, consumers=3, item_kb=1)

    def test_router_invocations_and_requests(self):
        items = cost.hub(self.LOAD)
        events = self.LOAD.events_per_month
        router = line(items, "router Lambda requests")
        assert router.quantity == pytest.approx(events / 100)
        assert router.usd == pytest.approx(events / 100 * 0.20 / 1e6)

    def test_router_compute_is_gb_seconds_at_the_arm_rate(self):
        items = cost.hub(self.LOAD)
        calls = self.LOAD.events_per_month / 100
        # 20 ms base + 100 records x 2 ms = 220 ms at 512 MB
        gb_s = calls * 0.220 * 0.5
        compute = line(items, "router Lambda compute")
        assert compute.quantity == pytest.approx(gb_s)
        assert compute.usd == pytest.approx(gb_s * 0.0000133334)

    def test_sns_bills_one_request_per_batch_of_ten_3_kb_envelopes(self):
        # 10 x 3 KB = 30 KB: one 64 KB chunk per PublishBatch, 0.1 requests per event
        items = cost.hub(self.LOAD)
        sns = line(items, "SNS PublishBatch")
        assert sns.quantity == pytest.approx(self.LOAD.events_per_month / 10)
        assert sns.usd == pytest.approx(self.LOAD.events_per_month / 10 * 0.50 / 1e6)

    def test_big_envelopes_bill_every_64_kb_chunk(self):
        # 2 x 40 KB + 1 KB = 81 KB envelopes: 3 per batch (256 KB limit), 243 KB = 4 chunks
        load = Load(events_per_day=100 * 86_400, consumers=1, item_kb=40)
        sns = line(cost.hub(load), "SNS PublishBatch")
        assert sns.quantity == pytest.approx(load.events_per_month / 3 * 4)

    def test_free_lines_are_zero(self):
        items = cost.hub(self.LOAD)
        assert line(items, "Streams reads (Lambda trigger)").usd == 0
        assert line(items, "SNS -> SQS deliveries").usd == 0
        assert line(items, "SNS -> SQS deliveries").quantity == pytest.approx(
            3 * self.LOAD.events_per_month
        )

    def test_sqs_requests_count_send_receive_and_delete(self):
        items = cost.hub(self.LOAD)
        events = self.LOAD.events_per_month
        # per consumer: one send per message, one receive + one delete per batch of 10
        expected = 3 * (events + 2 * events / 10)
        assert line(items, "SQS requests").quantity == pytest.approx(expected)

    def test_total_is_the_sum_of_the_lines(self):
        items = cost.hub(self.LOAD)
        assert cost.total(items) == pytest.approx(sum(i.usd for i in items))

    def test_no_claim_check_below_256_kb(self):
        assert not [i for i in cost.hub(self.LOAD) if "S3" in i.component]


class TestClaimCheck:
    """Envelopes over 256 KB go to S3; a ~1 KB pointer is published."""

    LOAD = Load(events_per_day=86_400, consumers=2, item_kb=200)

    def test_each_event_is_put_once_and_read_by_each_consumer(self):
        items = cost.hub(self.LOAD)
        events = self.LOAD.events_per_month
        assert line(items, "S3 claim-check PUTs").quantity == pytest.approx(events)
        assert line(items, "S3 claim-check GETs").quantity == pytest.approx(2 * events)

    def test_the_pointer_is_what_sns_carries(self):
        assert self.LOAD.offloaded
        assert self.LOAD.message_kb == 1.0


class TestPipes:
    """The alternative bills every event on the Pipe and on the bus."""

    def test_pipes_and_bus_per_event_and_chunk(self):
        load = Load(events_per_day=86_400, consumers=3, item_kb=40)  # 81 KB: 2 chunks
        items = cost.pipes(load)
        events = load.events_per_month
        assert line(items, "Pipes requests").usd == pytest.approx(2 * events * 0.40 / 1e6)
        assert line(items, "bus custom events").usd == pytest.approx(2 * events * 1.00 / 1e6)
        assert line(items, "rule -> SQS").usd == 0

    def test_pipe_pays_for_stream_polling(self):
        polls = line(cost.pipes(Load(events_per_day=0, consumers=1, item_kb=1)), "Pipe polling")
        assert polls.quantity == 4 * 730 * 3600
        assert polls.usd == pytest.approx(polls.quantity * 0.02 / 100_000)

    def test_consumer_side_is_the_same_in_both_designs(self):
        load = Load(events_per_day=1_000_000, consumers=4, item_kb=2)
        consumer_lines = cost.consumer_side(load)
        for design in (cost.hub(load), cost.pipes(load)):
            assert design[-len(consumer_lines) :] == consumer_lines


class TestCommand:
    """`fanout cost` prints both bills; refuses regions it has no prices for."""

    def test_prints_both_totals(self):
        args = build_parser().parse_args(
            ["cost", "--events-per-day", "1000000", "--consumers", "3", "--item-kb", "1"]
        )
        out = io.StringIO()
        assert args.run(args, out) == 0
        text = out.getvalue()
        assert "fanout-hub (router Lambda + SNS)" in text
        assert "EventBridge Pipes + event bus" in text
        assert text.count("total") == 2

    def test_unknown_region_is_refused(self):
        args = Namespace(
            region="eu-west-1",
            events_per_day=1.0,
            consumers=1,
            item_kb=1.0,
        )
        assert cost.run_cost(args, io.StringIO()) == 2
