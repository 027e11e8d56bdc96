"""The consumer benchmark prices DynamoDB requests by AWS's published rules (bench/capacity.py).

Rules and examples from "DynamoDB item sizes and formats"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
and "DynamoDB read and write operations"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from capacity import item_size, number_size, read_units, write_units


class TestItemSize:
    def test_a_string_counts_its_name_and_its_utf8_bytes(self):
        assert item_size({"pk": {"S": "héllo"}}) == len("pk") + len("héllo".encode())

    @pytest.mark.parametrize(
        ("number", "size"),
        [("7", 2), ("12", 2), ("123", 3), ("123.45", 4), ("0.00100", 2), ("-4500", 2)],
    )
    def test_a_number_is_one_byte_per_two_significant_digits_plus_one(self, number, size):
        assert number_size(number) == size

    def test_binary_counts_raw_bytes_booleans_and_nulls_one_byte(self):
        item = {"b": {"B": b"\x00\x01\x02"}, "t": {"BOOL": True}, "n": {"NULL": True}}
        assert item_size(item) == (1 + 3) + (1 + 1) + (1 + 1)

    def test_a_map_or_list_adds_three_bytes_and_one_per_element(self):
        item = {"m": {"M": {"a": {"S": "xy"}}}, "l": {"L": [{"S": "z"}, {"N": "1"}]}}
        assert item_size(item) == (1 + 3 + (1 + 2 + 1)) + (1 + 3 + (1 + 1) + (2 + 1))

    def test_no_item_has_no_size(self):
        assert item_size(None) == 0


class TestUnits:
    def test_reads_round_up_to_4_kb_and_an_eventually_consistent_read_costs_half(self):
        assert read_units(3500, consistent=True) == 1
        assert read_units(8 * 1024, consistent=True) == 2
        assert read_units(8 * 1024, consistent=False) == 1

    def test_reading_an_item_that_does_not_exist_still_costs_a_unit(self):
        assert read_units(0, consistent=True) == 1

    def test_writes_round_up_to_1_kb_with_a_minimum_of_one(self):
        assert write_units(0) == 1
        assert write_units(500) == 1
        assert write_units(1024) == 1
        assert write_units(1025) == 2
