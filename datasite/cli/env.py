"""``datasite env``: the modules researcher code may import at this site (its code
environment). ``show`` reads it from the data dir or the running site's API; ``allow`` and
``disallow`` change the admin's list in the data dir (the running site reads it at each use).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from datasite import codeenv
from datasite.cli.support import URL_HELP, console, fail_on_error
from datasite.errors import ConfigError

env_app = typer.Typer(no_args_is_help=True)
DataDir = Annotated[Path, typer.Option(help="The site's data dir (as given to launch).")]
Names = Annotated[list[str], typer.Argument(help="Top-level module names, e.g. monai.")]


@env_app.command("show")
def show(
    data_dir: Annotated[Path | None, typer.Option(help="Read it from the data dir.")] = None,
    url: Annotated[str | None, typer.Option(help=f"Or ask the running site. {URL_HELP}")] = None,
    format: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """The modules (and versions) researcher code may import here."""
    with fail_on_error():
        modules, missing = _read(data_dir, url)
    if format == "json":
        console.print_json(json.dumps({"modules": modules, "not_installed": missing}))
        return
    table = Table("module", "version", title="code environment: what tasks may import")
    for name, version in sorted(modules.items()):
        table.add_row(name, version)
    console.print(table)
    if missing:
        console.print(f"[yellow]allowed but not installed here:[/] {', '.join(missing)}")


def _read(data_dir: Path | None, url: str | None) -> tuple[dict[str, str], list[str]]:
    if (data_dir is None) == (url is None):
        raise ConfigError("Give either --data-dir DIR or --url URL.")
    if data_dir is not None:
        published, missing = codeenv.environment("", data_dir)
        return published.modules, missing
    from datasite.siteclient import SiteAPI, user_credentials

    body = SiteAPI(str(url), user_credentials()).get("/env")
    return {str(k): str(v) for k, v in body["modules"].items()}, []


@env_app.command("allow")
def allow(names: Names, data_dir: DataDir) -> None:
    """Let researcher code import these modules (review still shows every import)."""
    with fail_on_error():
        now = codeenv.change(data_dir, add=list(names), remove=[])
    console.print(f"allowed: {', '.join(now)}")


@env_app.command("disallow")
def disallow(names: Names, data_dir: DataDir) -> None:
    """Stop allowing these modules: requests importing them can no longer be approved."""
    with fail_on_error():
        now = codeenv.change(data_dir, add=[], remove=list(names))
    console.print(f"allowed: {', '.join(now)}")
