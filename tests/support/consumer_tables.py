"""The consumer's DynamoDB tables as the hub template declares them, for moto tests.

``IdempotencyTable`` and ``ProjectionTable`` in ``template.yaml`` are both keyed by a
string ``pk`` alone, on-demand: the runtime's markers and the projection's read model
rely on that key and nothing else.
"""

from __future__ import annotations

from typing import Any


def create_pk_table(dynamodb: Any, name: str) -> None:
    """Create ``name`` keyed by the string ``pk`` alone, billed per request (the template's shape)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
