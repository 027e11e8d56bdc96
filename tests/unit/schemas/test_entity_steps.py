"""An entity contract's steps between versions: found in order, or the missing one named."""

from __future__ import annotations

import pytest
from support.contracts import CONTRACT, join_name, split_name

from schemas.entities import ContractError

ADA_V1 = {"pk": "USER#1", "fullname": "Ada Lovelace"}
ADA_V2 = {"pk": "USER#1", "firstname": "Ada", "lastname": "Lovelace"}


def test_the_steps_up_and_down_are_the_contracts_in_order():
    assert CONTRACT.steps(1, 2) == (split_name,)
    assert CONTRACT.steps(2, 1) == (join_name,)
    assert CONTRACT.steps(2, 2) == ()


def test_convert_applies_the_steps():
    assert CONTRACT.convert(ADA_V1, 1, 2) == ADA_V2
    assert CONTRACT.convert(ADA_V2, 2, 1) == ADA_V1
    assert CONTRACT.convert(ADA_V2, 2, 2) is ADA_V2


@pytest.mark.parametrize(
    ("start", "end", "missing"),
    [
        (3, 1, "no downcaster from version 3 to 2"),
        (2, 3, "no upcaster from version 2 to 3"),
    ],
)
def test_a_missing_step_is_named(start, end, missing):
    with pytest.raises(ContractError, match=f"entity 'user': {missing}$"):
        CONTRACT.steps(start, end)
