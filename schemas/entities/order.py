"""The ``order`` entity's item contract: what ``data.new`` / ``data.old`` hold for an order.

Fields are typed as the router writes them (``router/attributes.py``): a DynamoDB number
is a JSON number (``Decimal`` when a consumer parses it with ``schemas.codec``), a set
is a sorted array, binary stays base64 text. The item's key attributes are part of it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.entities import EntityContract, EntityModel

OrderStatus = Literal["placed", "paid", "shipped", "delivered", "cancelled"]


class OrderLine(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(extra="allow")

    sku: str = Field(min_length=1, description="The product's stock-keeping unit.")
    qty: int = Field(ge=1, description="How many of it.")


class OrderV1(EntityModel):
    """An order, contract version 1."""

    model_config = ConfigDict(title="order v1")

    __entity__: ClassVar[str] = "order"
    __version__: ClassVar[int] = 1

    pk: str = Field(pattern=r"^ORDER#", description="Partition key: 'ORDER#<id>'.")
    sk: str = Field(description="Sort key.")
    status: OrderStatus = Field(description="Where the order is in its life.")
    total: Decimal = Field(description="The order's total, every digit DynamoDB holds.")
    lines: list[OrderLine] = Field(description="What was ordered.")
    tags: list[str] | None = Field(
        default=None, description="A DynamoDB string set: a sorted array of strings."
    )
    receipt: str | None = Field(
        default=None, description="A DynamoDB binary value, base64 as the stream carries it."
    )
    carrier: str | None = Field(default=None, description="Who ships it, once shipped.")


CONTRACT = EntityContract(entity="order", models=(OrderV1,))
