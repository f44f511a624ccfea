"""``observer schema``: write or check the JSON Schema files under ``schemas/``."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["schema_command"]


def default_schema_dir() -> Path:
    """``schemas/`` beside the installed packages (the repository root in a checkout)."""
    import archive

    return Path(archive.__file__).resolve().parent.parent / "schemas"


@click.command("schema")
@click.option(
    "--check",
    is_flag=True,
    help="Do not write; exit non-zero if a checked-in schema differs from the code.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schema directory (default: schemas/ of this checkout).",
)
def schema_command(check: bool, directory: Path | None) -> None:
    """Generate the JSON Schema of every archived record type into schemas/."""
    from archive import check_schemas, write_schemas

    directory = directory or default_schema_dir()
    if check:
        drifted = check_schemas(directory)
        if drifted:
            names = ", ".join(str(directory / name) for name in drifted)
            raise click.ClickException(
                f"schemas drifted from the code: {names}; run `observer schema` to regenerate"
            )
        click.echo(f"schemas in {directory} match the code")
        return
    changed = write_schemas(directory)
    click.echo(f"wrote {len(changed)} changed schema file(s) to {directory}")
