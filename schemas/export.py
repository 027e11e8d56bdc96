"""Export the JSON Schema of every published envelope version.

Run ``python -m schemas.export`` after changing a model; a test fails while the
committed files and the models differ.
"""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.v1 import DATASCHEMA, EnvelopeV1

SCHEMA_DIR = Path(__file__).parent / "json"

PUBLISHED: dict[str, tuple[type[BaseModel], str]] = {
    "envelope-v1.schema.json": (EnvelopeV1, DATASCHEMA),
}


def render(model: type[BaseModel], schema_id: str) -> str:
    """The JSON Schema document of ``model`` as committed (stable key order)."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        **model.model_json_schema(mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every published schema next to the models."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for filename, (model, schema_id) in PUBLISHED.items():
        (SCHEMA_DIR / filename).write_text(render(model, schema_id), encoding="utf-8")


if __name__ == "__main__":
    main()
