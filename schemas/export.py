"""Export the JSON Schema of every published envelope version and entity contract version.

Run ``make schemas`` (``python -m schemas.export``) after changing a model; a test
fails while the committed files and the models differ. Entity contracts
(``schemas.entities``) go to ``json/entities/<entity>.v<N>.schema.json``, one file per
version, each with ``$id`` = the ``dataschema`` of envelopes carrying that version: the
router validates items against the current version's file (``router/contracts.py``).
"""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.entities import contracts, dataschema_of
from schemas.v1 import DATASCHEMA, EnvelopeV1

SCHEMA_DIR = Path(__file__).parent / "json"
ENTITY_SCHEMA_DIR = SCHEMA_DIR / "entities"
ENTITY_SCHEMA_SUFFIX = ".schema.json"


def entity_schema_name(entity: str, version: int) -> str:
    """The file name, under ``ENTITY_SCHEMA_DIR``, of one entity contract version."""
    return f"{entity}.v{version}{ENTITY_SCHEMA_SUFFIX}"


def published() -> dict[str, tuple[type[BaseModel], str]]:
    """Every committed schema, by its path under ``SCHEMA_DIR``: (model, ``$id``)."""
    found: dict[str, tuple[type[BaseModel], str]] = {
        "envelope-v1.schema.json": (EnvelopeV1, DATASCHEMA),
    }
    for entity, contract in sorted(contracts().items()):
        for model in contract.models:
            name = f"{ENTITY_SCHEMA_DIR.name}/{entity_schema_name(entity, model.__version__)}"
            found[name] = (model, dataschema_of(entity, model.__version__))
    return found


PUBLISHED = published()


def render(model: type[BaseModel], schema_id: str) -> str:
    """The JSON Schema document of ``model`` as committed (stable key order)."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        **model.model_json_schema(mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every published schema next to the models; remove entity files no contract has."""
    ENTITY_SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for filename, (model, schema_id) in PUBLISHED.items():
        (SCHEMA_DIR / filename).write_text(render(model, schema_id), encoding="utf-8")
    for stale in ENTITY_SCHEMA_DIR.glob(f"*{ENTITY_SCHEMA_SUFFIX}"):
        if f"{ENTITY_SCHEMA_DIR.name}/{stale.name}" not in PUBLISHED:
            stale.unlink()


if __name__ == "__main__":
    main()
