"""Both command-line tools answer --help for every command (a new user's first step)."""

from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from datasite.cli.app import app as datasite_app
from researcher.cli import app as researcher_app


def command_paths(app: typer.Typer) -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    stack: list[tuple[list[str], click.Command]] = [([], root)]
    while stack:
        prefix, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*prefix, name])
            stack.append(([*prefix, name], sub))
    return paths


@pytest.mark.parametrize(
    "app",
    [pytest.param(datasite_app, id="datasite"), pytest.param(researcher_app, id="researcher")],
)
def test_every_command_has_help(app: typer.Typer) -> None:
    runner = CliRunner()
    for path in command_paths(app):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
