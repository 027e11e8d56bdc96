"""Conditional writes on the local hub's moto server are atomic, as DynamoDB's are.

"Individual write operations such as UpdateItem are atomic and always operate on the
most recent version of the item, regardless of concurrency":
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_ImplementingVersionControl.html
The consumers' idempotency claims and ``apply_if_newer`` rely on it: of two deliveries
of one change, exactly one may write.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.dynamodb.models import table as moto_table
from support.consumer_tables import create_pk_table

from fanout.connection import Connection

# Long enough for a second request to reach the same point when nothing holds it back.
RACE_WINDOW_SECONDS = 1.0


@pytest.fixture
def widened_race(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The first conditional write pauses between reading the item and storing it.

    It waits for a second write to reach its condition as well, or for the window
    to pass. Without serialised writes both would pass the condition on the same
    (absent) item; with them, the second only starts once the first has stored it.
    """
    original = moto_table.get_filter_expression
    first_in = threading.Event()
    second_in = threading.Event()
    lock = threading.Lock()

    def paused(*args: Any, **kwargs: Any) -> Any:
        with lock:
            first = not first_in.is_set()
            (first_in if first else second_in).set()
        if first:
            second_in.wait(RACE_WINDOW_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(moto_table, "get_filter_expression", paused)
    return second_in


def test_two_conditional_puts_of_one_new_item_write_it_once(
    clients: Connection, unique: str, widened_race: threading.Event
) -> None:
    dynamodb = clients.client("dynamodb")
    table = f"claims-{unique}"
    create_pk_table(dynamodb, table)  # the idempotency table's shape
    outcomes: list[str] = []

    def claim(writer: str) -> None:
        try:
            dynamodb.put_item(
                TableName=table,
                Item={"pk": {"S": "ORDER#1"}, "writer": {"S": writer}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            outcomes.append("written")
        except dynamodb.exceptions.ConditionalCheckFailedException:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["refused", "written"]
