"""``fanout local put``: write one item to the running local hub's table, as the application would.

The item is plain JSON. Numbers are read as ``Decimal`` and written with boto3's
``TypeSerializer``, so ``12.5`` is stored as the number 12.5, exactly: DynamoDB
numbers carry up to 38 significant digits, and the serializer refuses any number it
would have to round.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number
https://boto3.amazonaws.com/v1/documentation/api/latest/reference/customizations/dynamodb.html

A ``PutItem`` must carry every attribute of the table's primary key, with the type
the table declares for it; the key is read from ``DescribeTable`` so that each
missing one is named before the call.
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError

PROG: Final = "fanout local put"
TYPE_NAMES: Final = {"S": "a string", "N": "a number", "B": "binary"}


class PutRefusedError(Exception):
    """A usage error: one line, exit 2."""


def add_parser(verbs: Any) -> None:
    """Add ``local put`` to the ``fanout local`` verbs."""
    put = verbs.add_parser(
        "put",
        help="write one item (plain JSON) to the running hub's table",
        description="Write one item to the table of the running `fanout local up`. "
        'Example: fanout local put \'{"pk": "ORDER#100", "sk": "ORDER", "total": 12.5}\'',
    )
    put.add_argument(
        "item",
        nargs="?",
        metavar="ITEM_JSON",
        help="the item as a JSON object ('-': read it from stdin)",
    )
    put.add_argument(
        "--file", type=Path, metavar="FILE", help="read the item from FILE ('-': stdin)"
    )
    put.set_defaults(run=run_put)


def run_put(
    args: argparse.Namespace, *, stdin: TextIO | None = None, out: TextIO | None = None
) -> int:
    """Write the item; 0 when written, 1 when the table refused it, 2 on a usage error."""
    out = out or sys.stdout
    try:
        text = _item_text(args.item, args.file, stdin or sys.stdin)
        item = parse_item(text)
        state = running_hub()
        dynamodb = _client(state)
        table = table_of(state)
        key = key_of(dynamodb, table, item)
        dynamodb.put_item(TableName=table, Item=serialize(item))
    except PutRefusedError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    shown = " ".join(f"{name}={value}" for name, value in key.items())
    print(f"wrote to {table}: {shown}", file=out)
    return 0


def running_hub() -> dict[str, Any]:
    """The running hub's state file; ``PutRefusedError`` if none, or if its hub has gone."""
    from fanout.local.hub import hub_alive, load_state  # noqa: PLC0415 - heavy imports

    state = load_state()
    if state is None or not hub_alive(state):
        raise PutRefusedError("no `fanout local up` is running (start one in another terminal)")
    return state


def _item_text(item: str | None, file: Path | None, stdin: TextIO) -> str:
    if (item is None) == (file is None):
        raise PutRefusedError("give the item as ITEM_JSON or --file FILE (one of them)")
    if item is not None:
        return stdin.read() if item == "-" else item
    if file is None:  # both missing: refused above; this tells the type checker
        raise PutRefusedError("give the item as ITEM_JSON or --file FILE")
    if str(file) == "-":
        return stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PutRefusedError(f"cannot read {file}: {exc.strerror or exc}") from None


def parse_item(text: str) -> dict[str, Any]:
    """The item as a dict, numbers as ``Decimal`` (exact); ``PutRefusedError`` otherwise."""
    try:
        item = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)
    except ValueError as exc:
        raise PutRefusedError(f"the item is not valid JSON: {exc}") from None
    if not isinstance(item, dict):
        raise PutRefusedError(f"the item must be a JSON object, got {type(item).__name__}")
    return item


def _no_constant(name: str) -> Any:
    # DynamoDB numbers have no NaN or Infinity.
    raise ValueError(f"{name} is not a number DynamoDB stores")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item in DynamoDB's attribute-value form; ``PutRefusedError`` for an unstorable value."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415 - only when writing

    serializer = TypeSerializer()
    try:
        return {name: serializer.serialize(value) for name, value in item.items()}
    except (TypeError, ArithmeticError) as exc:
        # The serializer refuses a number it would round (more than 38 digits) and
        # anything DynamoDB has no type for.
        raise PutRefusedError(f"the item cannot be stored: {exc!r}") from None


def table_of(state: Mapping[str, Any]) -> str:
    """The source table the state file names."""
    table = state.get("table_name")
    if isinstance(table, str) and table:
        return table
    raise PutRefusedError("the running hub's state file names no table; restart `fanout local up`")


def key_of(dynamodb: Any, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's primary key, in the table's key order; ``PutRefusedError`` naming what is missing."""
    description = dynamodb.describe_table(TableName=table)["Table"]
    names = [k["AttributeName"] for k in description["KeySchema"]]
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    missing = [name for name in names if name not in item]
    if missing:
        raise PutRefusedError(
            f"the item lacks the key attribute(s) of {table}: {', '.join(missing)}"
            f" (its key is {', '.join(names)})"
        )
    for name in names:
        wanted = types.get(name)
        given = next(iter(serialize({name: item[name]})[name]))
        if wanted and given != wanted:
            raise PutRefusedError(
                f"key attribute {name} of {table} must be {TYPE_NAMES.get(wanted, wanted)}"
            )
    return {name: item[name] for name in names}


def _client(state: Mapping[str, Any]) -> Any:
    """A DynamoDB client for the running hub's endpoint, with the hub's own local credentials.

    The hub's operator identity (``fanout.local.access.OPERATOR_ACCESS_KEY``) reads the
    table but may not write it: the template's OperatorPolicy grants DescribeTable and
    Scan only, as an operator's role in an account would. Writing an item is the
    application's part, so this signs as the local hub's own tooling does (the demo's
    writer): no AWS credentials are needed, and none configured for real accounts are
    ever sent to the local endpoint.
    """
    from fanout.connection import Connection  # noqa: PLC0415 - only when writing
    from fanout.local.server import local_session  # noqa: PLC0415 - same

    region = str(state.get("region") or "us-east-1")
    connection = Connection(
        endpoint_url=str(state["endpoint_url"]), region=region, session=local_session(region)
    )
    return connection.client("dynamodb")
