"""The ``observer`` command line. Each command lives in its own module and registers here."""

from __future__ import annotations

import click

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kis-observer")
def cli() -> None:
    """kis-observer: a read-only KRX market-data recorder for the KIS Open API."""


def main() -> None:
    cli()
