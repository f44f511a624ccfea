"""JSON Schema of every archived record type, generated from the msgspec types.

``schemas/<name>.schema.json`` is checked in; ``observer schema`` rewrites the files and
``observer schema --check`` reports those that drifted from the code. The files are
deterministic (sorted keys, 2-space indent, trailing newline) so a drift is a real change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec

from pipeline import ENCODER, LedgerEntry, ObservationSnapshot, RawEvent

from ._manifest import SegmentManifest

__all__ = ["SCHEMA_TYPES", "check_schemas", "json_schemas", "write_schemas"]

SCHEMA_TYPES: Final[dict[str, Any]] = {
    "observation_snapshot": ObservationSnapshot,
    "raw_event": RawEvent,
    "ledger_entry": LedgerEntry,
    "segment_manifest": SegmentManifest,
}

_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, bytes]:
    """File name → content of every schema file, generated from the types."""
    out = {}
    for name, kind in SCHEMA_TYPES.items():
        schema = msgspec.json.schema(kind)
        document = {"$schema": _DRAFT, "$id": f"{name}.schema.json", "title": name, **schema}
        text = msgspec.json.format(ENCODER.encode(document), indent=2)
        out[f"{name}.schema.json"] = text + b"\n"
    return out


def write_schemas(directory: Path | str) -> list[str]:
    """Write every schema file into ``directory``; return the names that changed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, content in json_schemas().items():
        path = directory / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
            changed.append(name)
    return changed


def check_schemas(directory: Path | str) -> list[str]:
    """Names of schema files in ``directory`` that are missing, differ, or are not ours."""
    directory = Path(directory)
    expected = json_schemas()
    drifted = [
        name
        for name, content in expected.items()
        if not (directory / name).exists() or (directory / name).read_bytes() != content
    ]
    extra = sorted(p.name for p in directory.glob("*.schema.json") if p.name not in expected)
    return drifted + extra
