"""The README's "Analysts" examples run, verbatim, against an archive of a simulated run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from observer.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def analyst_blocks(language: str) -> list[str]:
    """Fenced ``language`` blocks of the README between "## Analysts" and the next "## "."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Analysts\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_examples() -> None:
    """The section shows commands and Python (so the tests below test something)."""
    expected = (True, True)
    assert expected == (len(analyst_blocks("sh")) >= 1, len(analyst_blocks("python")) >= 3)


@pytest.mark.parametrize("index", range(len(analyst_blocks("python"))))
def test_python_example_runs(
    index: int, simulated_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Python block runs in a directory holding ./observer-archive."""
    monkeypatch.chdir(simulated_root.parent)
    code = analyst_blocks("python")[index]
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)
    assert "__builtins__" in namespace


def shell_commands() -> list[str]:
    return [
        line.strip()
        for block in analyst_blocks("sh")
        for line in block.splitlines()
        if line.strip().startswith("observer ")
    ]


@pytest.mark.parametrize("command", shell_commands())
def test_shell_example_exits_zero(
    command: str, simulated_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``observer …`` line of the section succeeds on a simulated run's archive."""
    (tmp_path / "observer-archive").symlink_to(simulated_root)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, shlex.split(command)[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
