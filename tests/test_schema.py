"""``observer schema``: checked-in JSON Schemas match the code; drift is reported."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from archive import json_schemas, write_schemas
from observer.cli import cli

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def test_checked_in_schemas_match_the_code() -> None:
    """`observer schema --check` passes on the repository's schemas/."""
    result = CliRunner().invoke(cli, ["schema", "--check", "--dir", str(SCHEMAS)])
    expected = (0, "")
    assert expected == (
        result.exit_code,
        result.output.replace(f"schemas in {SCHEMAS} match the code\n", ""),
    )


def test_check_names_a_drifted_file(tmp_path: Path) -> None:
    """A hand-edited schema makes --check exit non-zero naming that file."""
    write_schemas(tmp_path)
    path = tmp_path / "ledger_entry.schema.json"
    path.write_bytes(path.read_bytes().replace(b'"minimum": 0', b'"minimum": 1', 1))
    result = CliRunner().invoke(cli, ["schema", "--check", "--dir", str(tmp_path)])
    expected = (1, True, False)
    assert expected == (
        result.exit_code,
        str(path) in result.output,
        "raw_event.schema.json" in result.output,
    )


def test_check_names_a_missing_file(tmp_path: Path) -> None:
    """A schema file that is missing counts as drift."""
    write_schemas(tmp_path)
    (tmp_path / "raw_event.schema.json").unlink()
    result = CliRunner().invoke(cli, ["schema", "--check", "--dir", str(tmp_path)])
    expected = (1, True)
    assert expected == (result.exit_code, "raw_event.schema.json" in result.output)


def test_schema_writes_every_record_type(tmp_path: Path) -> None:
    """`observer schema` writes one file per record type, identical to the generator's output."""
    result = CliRunner().invoke(cli, ["schema", "--dir", str(tmp_path)])
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert (0, json_schemas()) == (result.exit_code, written)


def test_schemas_are_valid_json_schema_documents() -> None:
    """Each generated schema names the 2020-12 draft and its record type."""
    import json

    docs = {name: json.loads(content) for name, content in json_schemas().items()}
    expected = {name: ("https://json-schema.org/draft/2020-12/schema", name) for name in docs}
    assert expected == {name: (d["$schema"], d["$id"]) for name, d in docs.items()}
