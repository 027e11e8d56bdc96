"""The cost model's arithmetic: chunks, batching, free lines, claim checks, consumer modes, totals.

Figures a user relies on are computed here by hand from the cited prices
(fanout/cost.py names each page): DynamoDB on-demand $0.625 per million write
request units and $0.125 per million read request units, $0.25 per GB-month;
S3 Standard $0.005 per 1,000 PUTs, $0.0004 per 1,000 GETs, $0.023 per GB-month.
"""

from __future__ import annotations

import importlib
import io
import json
import math

import pytest

from consumers.runtime import Mode
from fanout import cost
from fanout.cli import build_parser
from fanout.cost import Consumer, Load
from tests.support.doc_commands import subcommands

MONTH_DAYS = 730 / 24
WRU_USD = 0.625 / 1e6
RRU_USD = 0.125 / 1e6
GIB = 1024**3


def line(items: list[cost.LineItem], component_part: str, consumer: str = "") -> cost.LineItem:
    (found,) = [i for i in items if component_part in i.component and i.consumer == consumer]
    return found


def lines_of(items: list[cost.LineItem], consumer: str) -> list[cost.LineItem]:
    return [i for i in items if i.consumer == consumer]


def generic(n: int, mode: Mode = Mode.STATE) -> tuple[Consumer, ...]:
    return tuple(Consumer(f"c{i}", mode) for i in range(1, n + 1))


def run(*flags: str) -> tuple[int, str]:
    args = build_parser().parse_args(["cost", *flags])
    out = io.StringIO()
    return args.run(args, out), out.getvalue()


class TestChunks:
    """Each started 64 KB of payload is one billed request."""

    @pytest.mark.parametrize(
        ("kb", "expected"), [(0.5, 1), (64, 1), (64.01, 2), (128, 2), (256, 4), (300, 5)]
    )
    def test_64_kb_chunks(self, kb, expected):
        assert cost.chunks(kb) == expected


class TestWriteUnits:
    """One DynamoDB write request unit per started 1 KB of the item written."""

    @pytest.mark.parametrize(
        ("kb", "expected"), [(0.1, 1), (0.3, 1), (1.0, 1), (1.3, 2), (2.0, 2), (7.5, 8)]
    )
    def test_rounded_up_per_request(self, kb, expected):
        assert cost.write_units(kb) == expected


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
    LOAD = Load(events_per_day=100 * 86_400, item_kb=1, consumers=generic(3))

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
        load = Load(events_per_day=100 * 86_400, item_kb=40, consumers=generic(1))
        sns = line(cost.hub(load), "SNS PublishBatch")
        assert sns.quantity == pytest.approx(load.events_per_month / 3 * 4)

    def test_free_lines_are_zero(self):
        items = cost.hub(self.LOAD)
        assert line(items, "Streams reads (Lambda trigger)").usd == 0
        assert line(items, "SNS -> SQS deliveries").usd == 0
        assert line(items, "SNS -> SQS deliveries").quantity == pytest.approx(
            3 * self.LOAD.events_per_month
        )

    def test_deliveries_follow_each_consumers_match_fraction(self):
        load = Load(
            events_per_day=86_400,
            item_kb=1,
            consumers=(Consumer("a", Mode.STATE, 1.0), Consumer("b", Mode.STATE, 0.25)),
        )
        deliveries = line(cost.hub(load), "SNS -> SQS deliveries")
        assert deliveries.quantity == pytest.approx(1.25 * load.events_per_month)

    def test_sqs_requests_count_send_receive_and_delete_per_consumer(self):
        items = cost.hub(self.LOAD)
        events = self.LOAD.events_per_month
        # per consumer: one send per message, one receive + one delete per batch of 10
        for name in ("c1", "c2", "c3"):
            assert line(items, "SQS requests", name).quantity == pytest.approx(
                events + 2 * events / 10
            )

    def test_total_is_the_sum_of_the_lines(self):
        items = cost.hub(self.LOAD)
        assert cost.total(items) == pytest.approx(sum(i.usd for i in items))

    def test_no_claim_check_below_256_kb(self):
        assert not [i for i in cost.hub(self.LOAD) if "claim-check" in i.component]


class TestClaimCheck:
    """Envelopes over 256 KB go to S3; a ~1 KB pointer is published."""

    LOAD = Load(events_per_day=86_400, item_kb=200, consumers=generic(2))

    def test_each_event_is_put_once_and_read_by_each_consumer(self):
        items = cost.hub(self.LOAD)
        events = self.LOAD.events_per_month
        assert line(items, "S3 claim-check PUTs").quantity == pytest.approx(events)
        for name in ("c1", "c2"):
            gets = line(items, "S3 claim-check GETs", name)
            assert gets.quantity == pytest.approx(events)
            assert gets.usd == pytest.approx(events * 0.0004 / 1000)

    def test_the_pointer_is_what_sns_carries(self):
        assert self.LOAD.offloaded
        assert self.LOAD.message_kb == 1.0


class TestStateConsumer:
    """One conditional PutItem per message: the new image plus ~0.3 KB of columns, no reads."""

    # 1M events a day, 1 KB items: 1 KB + 0.3 KB = 1.3 KB, rounded up to 2 write units.
    LOAD = Load(events_per_day=1_000_000, item_kb=1, consumers=(Consumer("view", Mode.STATE),))

    def test_one_put_of_a_1_kb_item_is_2_write_units(self):
        need = cost.per_message(self.LOAD.consumers[0], self.LOAD)
        assert (need.dynamodb_requests, need.write_units, need.read_units) == (1, 2, 0)

    def test_1m_events_a_day_cost_38_02_usd_a_month_in_writes(self):
        items = cost.consumer_side(self.LOAD)
        writes = line(items, "DynamoDB write request units", "view")
        messages = 1_000_000 * MONTH_DAYS  # 30,416,667
        assert writes.quantity == pytest.approx(2 * messages)
        assert writes.usd == pytest.approx(2 * messages * WRU_USD)
        assert round(writes.usd, 2) == 38.02

    def test_no_reads(self):
        reads = line(cost.consumer_side(self.LOAD), "DynamoDB read request units", "view")
        assert (reads.quantity, reads.usd) == (0, 0)

    def test_items_up_to_0_7_kb_fit_one_write_unit(self):
        load = Load(events_per_day=1_000_000, item_kb=0.7, consumers=self.LOAD.consumers)
        writes = line(cost.consumer_side(load), "DynamoDB write request units", "view")
        assert writes.quantity == pytest.approx(1_000_000 * MONTH_DAYS)

    def test_storage_is_one_item_per_key_not_per_change(self):
        stored = line(cost.consumer_side(self.LOAD), "DynamoDB storage (state table)", "view")
        # 1M items of 1.3 KB, plus DynamoDB's 100 bytes of overhead per item
        gb = 1_000_000 * (1.3 * 1024 + 100) / GIB
        assert stored.quantity == pytest.approx(gb)
        assert stored.usd == pytest.approx(gb * 0.25)
        doubled = Load(events_per_day=2_000_000, item_kb=1, consumers=self.LOAD.consumers)
        assert line(cost.consumer_side(doubled), "storage", "view").quantity == stored.quantity

    def test_match_fraction_scales_the_writes(self):
        load = Load(
            events_per_day=1_000_000, item_kb=1, consumers=(Consumer("view", Mode.STATE, 0.2),)
        )
        writes = line(cost.consumer_side(load), "DynamoDB write request units", "view")
        assert writes.quantity == pytest.approx(0.2 * 2 * 1_000_000 * MONTH_DAYS)

    def test_lambda_time_includes_one_dynamodb_round_trip_per_message(self):
        # GIVEN 100 events a second: full batches of 10 messages
        load = Load(events_per_day=100 * 86_400, item_kb=1, consumers=self.LOAD.consumers)
        calls = load.events_per_month / 10
        # 20 ms per invocation + 10 x (2 ms own work + 5 ms PutItem) = 90 ms at 256 MB
        gb_s = calls * 0.090 * 0.25
        compute = line(cost.consumer_side(load), "consumer Lambda compute", "view")
        assert compute.quantity == pytest.approx(gb_s)
        slower = Load(
            events_per_day=100 * 86_400,
            item_kb=1,
            consumers=self.LOAD.consumers,
            dynamodb_ms_per_request=15,
        )
        # 10 ms more per message: 100 ms more per invocation
        assert line(cost.consumer_side(slower), "Lambda compute", "view").quantity == (
            pytest.approx(gb_s + calls * 0.100 * 0.25)
        )


class TestSideEffectConsumer:
    """A claim and a completion per message and endpoint; records kept 15 days by TTL."""

    @staticmethod
    def load(endpoints: int) -> Load:
        return Load(
            events_per_day=1_000_000,
            item_kb=1,
            consumers=(Consumer("pay", Mode.SIDE_EFFECT, effects=endpoints),),
        )

    def test_two_writes_of_one_unit_per_endpoint_and_no_reads(self):
        need = cost.per_message(Consumer("pay", Mode.SIDE_EFFECT), self.load(1))
        assert (need.dynamodb_requests, need.write_units, need.read_units) == (2, 2, 0)

    def test_one_endpoint_at_1m_events_a_day(self):
        writes = line(cost.consumer_side(self.load(1)), "DynamoDB write request units", "pay")
        assert writes.quantity == pytest.approx(2 * 1_000_000 * MONTH_DAYS)
        assert round(writes.usd, 2) == 38.02

    def test_three_endpoints_cost_three_times_the_writes_of_one(self):
        one = line(cost.consumer_side(self.load(1)), "DynamoDB write request units", "pay")
        three = line(cost.consumer_side(self.load(3)), "DynamoDB write request units", "pay")
        assert three.quantity == pytest.approx(3 * one.quantity)
        assert three.usd == pytest.approx(3 * one.usd)

    def test_records_are_stored_until_their_ttl(self):
        stored = line(cost.consumer_side(self.load(3)), "idempotency records", "pay")
        records = 1_000_000 * 3 * 15
        gb = records * (0.3 * 1024 + 100) / GIB
        assert stored.quantity == pytest.approx(gb)
        assert stored.usd == pytest.approx(gb * 0.25)


class TestNaturallyIdempotentConsumer:
    """No DynamoDB at all; the audit log's one S3 object per event, kept in S3 Standard."""

    LOAD = Load(
        events_per_day=1_000_000,
        item_kb=1,
        consumers=(Consumer("audit", Mode.NATURALLY_IDEMPOTENT, s3_puts=1),),
    )

    def test_a_consumer_that_writes_nothing_costs_no_request(self):
        # examples/other-team logs each event: naturally idempotent, nothing written.
        load = Load(
            events_per_day=1_000_000,
            item_kb=1,
            consumers=(Consumer("log", Mode.NATURALLY_IDEMPOTENT),),
        )
        mine = lines_of(cost.consumer_side(load), "log")
        assert not [i for i in mine if "DynamoDB" in i.component or "S3" in i.component]

    def test_has_no_dynamodb_line(self):
        mine = lines_of(cost.consumer_side(self.LOAD), "audit")
        assert mine
        assert not [i for i in mine if "DynamoDB" in i.component]
        assert cost.per_message(self.LOAD.consumers[0], self.LOAD).dynamodb_requests == 0

    def test_one_put_per_event(self):
        puts = line(cost.consumer_side(self.LOAD), "S3 PUTs", "audit")
        messages = 1_000_000 * MONTH_DAYS
        assert puts.quantity == pytest.approx(messages)
        assert puts.usd == pytest.approx(messages * 0.005 / 1000)
        assert round(puts.usd, 2) == 152.08

    def test_storage_is_the_envelopes_kept(self):
        kept = line(cost.consumer_side(self.LOAD), "S3 storage", "audit")
        # 30 days x 1M envelopes of 3 KB (two 1 KB images + 1 KB of context)
        gb = 30 * 1_000_000 * 3 * 1024 / GIB
        assert kept.quantity == pytest.approx(gb)
        assert kept.usd == pytest.approx(gb * 0.023)


class TestBothDesigns:
    """The middle differs; the consumers, and so their lines, are the same on both bills."""

    LOAD = Load(events_per_day=1_000_000, item_kb=2)

    def test_identical_consumer_lines(self):
        consumer_lines = cost.consumer_side(self.LOAD)
        hub_lines = [i for i in cost.hub(self.LOAD) if i.consumer]
        pipes_lines = [i for i in cost.pipes(self.LOAD) if i.consumer]
        assert hub_lines == pipes_lines == consumer_lines

    def test_totals_differ_by_the_middle_only(self):
        hub, pipes = cost.hub(self.LOAD), cost.pipes(self.LOAD)
        assert cost.total(pipes) - cost.total(hub) == pytest.approx(
            cost.total(cost.middle(pipes)) - cost.total(cost.middle(hub))
        )

    def test_pipes_and_bus_per_event_and_chunk(self):
        load = Load(events_per_day=86_400, item_kb=40, consumers=generic(3))  # 81 KB: 2 chunks
        items = cost.pipes(load)
        events = load.events_per_month
        assert line(items, "Pipes requests").usd == pytest.approx(2 * events * 0.40 / 1e6)
        assert line(items, "bus custom events").usd == pytest.approx(2 * events * 1.00 / 1e6)
        assert line(items, "rule -> SQS").usd == 0

    def test_pipe_pays_for_stream_polling(self):
        polls = line(cost.pipes(Load(events_per_day=0, item_kb=1)), "Pipe polling")
        assert polls.quantity == 4 * 730 * 3600
        assert polls.usd == pytest.approx(polls.quantity * 0.02 / 100_000)


class TestDefaultConsumers:
    """With no consumer flags, the three in-repo consumers as deployed."""

    LOAD = Load(events_per_day=1_000_000, item_kb=1)

    def test_the_in_repo_three_in_their_modes(self):
        assert [(c.name, c.mode, c.effects) for c in self.LOAD.consumers] == [
            ("projection", Mode.STATE, 1),
            ("webhook", Mode.SIDE_EFFECT, 1),
            ("audit-log", Mode.NATURALLY_IDEMPOTENT, 1),
        ]

    def test_subtotals_and_modes_add_up_to_the_consumer_side(self):
        items = cost.consumer_side(self.LOAD)
        names = [c.name for c in self.LOAD.consumers]
        assert sum(cost.subtotal(items, n) for n in names) == pytest.approx(cost.total(items))
        modes = cost.by_mode(self.LOAD)
        assert [m.mode for m in modes] == ["state", "side_effect", "naturally_idempotent"]
        assert sum(m.usd for m in modes) == pytest.approx(cost.total(items))
        assert [m.write_units for m in modes] == pytest.approx(
            [2 * 1e6 * MONTH_DAYS, 2 * 1e6 * MONTH_DAYS, 0]
        )
        assert modes[2].s3_requests == pytest.approx(1e6 * MONTH_DAYS)


class TestCommand:
    """`fanout cost` prints both bills, the consumers one by one, by mode, or JSON."""

    def test_prints_both_bills_each_consumer_and_the_modes(self):
        code, text = run("--events-per-day", "1000000", "--item-kb", "1")
        assert code == 0
        assert "fanout-hub (router Lambda + SNS)" in text
        assert "EventBridge Pipes + event bus" in text
        assert "projection: state, match 1; per message 2 WRU, 0 RRU, 0 S3 requests" in text
        assert "webhook: side_effect, 1 effect claimed" in text
        assert "audit-log: naturally_idempotent" in text
        assert text.count("subtotal") == 3
        assert "By mode" in text

    def test_every_flag_says_what_it_sets(self):
        parser = subcommands(build_parser())["cost"]
        flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
        assert len(flags) > 15
        assert [a.option_strings for a in flags if not a.help] == []

    def test_consumers_described_on_the_command_line(self):
        args = build_parser().parse_args(
            [
                "cost",
                "--events-per-day",
                "1000",
                "--item-kb",
                "1",
                "--consumer",
                "search:state:0.2",
                "--consumer",
                "billing:side_effect:effects=3",
                "--consumer",
                "archive:naturally_idempotent:0.5:s3_puts=1",
            ]
        )
        assert cost.load_from(args).consumers == (
            Consumer("search", Mode.STATE, 0.2),
            Consumer("billing", Mode.SIDE_EFFECT, 1.0, effects=3),
            Consumer("archive", Mode.NATURALLY_IDEMPOTENT, 0.5, s3_puts=1),
        )

    def test_n_generic_consumers_in_one_mode(self):
        args = build_parser().parse_args(
            [
                "cost",
                "--events-per-day",
                "1000",
                "--item-kb",
                "1",
                "--consumers",
                "2",
                "--consumer-mode",
                "side_effect",
                "--match-fraction",
                "0.5",
            ]
        )
        assert cost.load_from(args).consumers == (
            Consumer("consumer-1", Mode.SIDE_EFFECT, 0.5),
            Consumer("consumer-2", Mode.SIDE_EFFECT, 0.5),
        )

    def test_json_bill(self):
        code, text = run("--events-per-day", "1000000", "--item-kb", "1", "--json")
        assert code == 0
        bill = json.loads(text)
        assert bill["region"] == "us-east-1"
        assert bill["load"]["events_per_day"] == 1_000_000
        assert bill["load"]["envelope_kb"] == 3
        hub, pipes = bill["designs"]["hub"], bill["designs"]["pipes"]
        mine = [[i for i in d["lines"] if i["consumer"]] for d in (hub, pipes)]
        assert mine[0] == mine[1]
        for design in (hub, pipes):
            assert design["total_usd"] == pytest.approx(
                design["middle_usd"] + design["consumer_side_usd"]
            )
            assert design["total_usd"] == pytest.approx(sum(i["usd"] for i in design["lines"]))
        consumers = {c["name"]: c for c in bill["consumers"]}
        assert list(consumers) == ["projection", "webhook", "audit-log"]
        assert consumers["projection"]["per_message"]["write_units"] == 2
        assert consumers["webhook"]["effects"] == 1
        assert consumers["audit-log"]["per_message"]["s3_puts"] == 1
        assert sum(c["usd"] for c in consumers.values()) == pytest.approx(hub["consumer_side_usd"])
        assert [m["mode"] for m in bill["by_mode"]] == [m.value for m in Mode]
        (writes,) = [i for i in consumers["projection"]["lines"] if i["unit"] == "WRU"]
        assert math.isclose(writes["usd"], 2 * 1e6 * MONTH_DAYS * WRU_USD)

    @pytest.mark.parametrize(
        ("flags", "says"),
        [
            (["--consumer", "billing"], "expected NAME:MODE"),
            (["--consumer", "billing:exactly_once"], "mode must be one of"),
            (["--consumer", "search:state:1.5"], "between 0 and 1"),
            (["--consumer", "search:state:-0.1"], "between 0 and 1"),
            (["--consumer", "pay:side_effect:1:effects=0"], "1 effect or more"),
            (
                ["--consumer", "search:state:1:effects=2"],
                "only side_effect consumers claim effects",
            ),
            (["--consumer", "a:state", "--consumer", "a:state"], "unique"),
            (["--consumers", "0"], "--consumers must be 1 or more"),
            (["--consumers", "2", "--consumer", "a:state"], "not both"),
            (["--match-fraction", "2"], "--match-fraction must be between 0 and 1"),
            (["--dynamodb-ms-per-request", "-5"], "--dynamodb-ms-per-request must be"),
            (["--table-items", "-1"], "--table-items must be"),
            (["--region", "eu-west-1"], "only us-east-1 prices"),
        ],
    )
    def test_bad_input_is_one_line_and_exit_2(self, flags, says, capsys):
        code, text = run("--events-per-day", "1000", "--item-kb", "1", *flags)
        err = capsys.readouterr().err
        assert code == 2
        assert text == ""
        assert err.count("\n") == 1
        assert says in err

    @pytest.mark.parametrize("flags", [["--events-per-day", "-1"], ["--item-kb", "0"]])
    def test_negative_load_is_refused(self, flags, capsys):
        base = {"--events-per-day": "1000", "--item-kb": "1"}
        base[flags[0]] = flags[1]
        code, _ = run(*[w for pair in base.items() for w in pair])
        assert code == 2
        assert capsys.readouterr().err.startswith(f"fanout cost: {flags[0]} must")


class TestInRepoConsumers:
    """The bill's in-repo consumers are priced in the modes their handlers declare."""

    @pytest.mark.parametrize("consumer", cost.IN_REPO_CONSUMERS, ids=lambda c: c.name)
    def test_each_mode_is_its_handlers(self, consumer):
        package = consumer.name.replace("-", "_")
        handler = importlib.import_module(f"consumers.{package}.app").handler

        assert consumer.mode.value == handler.mode.value
        # One claimed effect is the runtime's claim of the event, or the webhook's one endpoint.
        assert consumer.mode is not Mode.SIDE_EFFECT or consumer.effects == 1

    def test_consumer_mode_needs_consumers(self):
        args = build_parser().parse_args(
            ["cost", "--events-per-day", "1", "--item-kb", "1", "--consumer-mode", "state"]
        )
        with pytest.raises(cost.CostInputError, match="--consumer-mode is the mode of --consumers"):
            cost.load_from(args)
