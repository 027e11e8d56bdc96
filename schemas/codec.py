"""Read envelope JSON without losing a digit.

DynamoDB numbers carry up to 38 significant digits; a float parser would round
them. ``loads`` turns every non-integer number into ``Decimal`` (integers are
already exact in Python).
"""

import json
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON with exact numbers: integers as ``int``, the rest as ``Decimal``."""
    return json.loads(text, parse_float=Decimal)
