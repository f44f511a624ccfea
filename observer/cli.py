"""The ``observer`` command line.

Each command lives in the module of the room that owns it and is registered here by dotted
path, so ``observer --help`` lists every command and a command's heavy imports (pandas via the
market calendar, uvicorn, duckdb) are paid only when that command runs.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMANDS", "cli", "main"]

# name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {}
COMMANDS["schema"] = "observer._cli_schema:schema_command"
COMMANDS["compact"] = "observer._cli_compact:compact_command"
COMMANDS["simulate"] = "observer.sim._cli:simulate"
COMMANDS["run"] = "observer._cli_run:run"
COMMANDS["replay"] = "observer.analyst._cli:replay_command"
COMMANDS["report"] = "observer.analyst._cli:report_command"
COMMANDS["verify"] = "observer.analyst._cli:verify_command"
COMMANDS["rederive"] = "observer.analyst._cli:rederive_command"


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kis-observer")
def cli() -> None:
    """kis-observer: a read-only KRX market-data recorder for the KIS Open API."""


def main() -> None:
    cli()
