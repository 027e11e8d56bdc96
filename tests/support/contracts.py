"""A test entity contract: ``user`` v1 (``fullname``) and v2 (``firstname`` / ``lastname``).

The classic breaking change: the producer replaces ``fullname`` with ``firstname`` and
``lastname``. ``up[1]`` splits the name for a consumer written for v2; ``down[1]`` joins
it for one written for v1. Kept out of ``schemas/entities`` (which ships).
"""

from __future__ import annotations

import json
from typing import Any, Final

from schemas.entities import EntityContract, EntityModel, Item, dataschema_of

ENTITY: Final = "user"


class UserV1(EntityModel):
    """A user as the first producer wrote it."""

    __entity__ = ENTITY
    __version__ = 1

    fullname: str
    email: str | None = None


class UserV2(EntityModel):
    """A user once the producer split the name."""

    __entity__ = ENTITY
    __version__ = 2

    firstname: str
    lastname: str
    email: str | None = None


def split_name(item: Item) -> Item:
    """v1 → v2: ``fullname`` becomes ``firstname`` and ``lastname`` (one name: no last name)."""
    if not isinstance(item.get("fullname"), str):
        return item  # nothing to split: the v2 model names what is missing
    rest = {k: v for k, v in item.items() if k != "fullname"}
    first, _, last = item["fullname"].partition(" ")
    return {**rest, "firstname": first, "lastname": last}


def join_name(item: Item) -> Item:
    """v2 → v1: ``firstname`` and ``lastname`` become ``fullname``."""
    first, last = item.get("firstname"), item.get("lastname")
    if not isinstance(first, str) or not isinstance(last, str):
        return item  # nothing to join: the v1 model names what is missing
    rest = {k: v for k, v in item.items() if k not in ("firstname", "lastname")}
    return {**rest, "fullname": f"{first} {last}".strip()}


CONTRACT: Final = EntityContract(ENTITY, (UserV1, UserV2), up={1: split_name}, down={1: join_name})


def with_dataschema(body: str, entity: str, version: int) -> str:
    """An envelope's text with ``dataschema`` naming ``entity``'s contract ``version``.

    What the router sets on an entity with a contract (``schemas.entities.dataschema_of``).
    """
    envelope: dict[str, Any] = json.loads(body)
    envelope["dataschema"] = dataschema_of(entity, version)
    return json.dumps(envelope)
