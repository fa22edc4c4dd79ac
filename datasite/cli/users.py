"""``datasite users``: add and list the people who use a site."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.table import Table

from datasite import users
from datasite.cli.support import URL_HELP, console, fail_on_error
from datasite.config import admin_credentials, check_password
from datasite.errors import ConfigError
from fedcommon.formats import Format, FormatOpt
from fedcommon.roles import Role

users_app = typer.Typer(no_args_is_help=True)


def _new_password(password_env: str | None) -> str:
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise ConfigError(f"--password-env {password_env}: that variable is not set.")
    else:
        password = typer.prompt(
            "Password for the new user", hide_input=True, confirmation_prompt=True
        )
    check_password(password, what="new user's password")
    return password


@users_app.command("add")
def add(
    url: Annotated[str, typer.Option(help=URL_HELP)],
    email: Annotated[str, typer.Option(help="The person's email (their login).")],
    name: Annotated[str, typer.Option(help="The person's full name.")],
    role: Annotated[Role, typer.Option(help="researcher or compliance.")],
    password_env: Annotated[
        str | None, typer.Option(help="Read the new password from this environment variable.")
    ] = None,
) -> None:
    """Add a researcher or a compliance officer (admins only)."""
    with fail_on_error():
        users.check_role(role)
        password = _new_password(password_env)
        users.add_person(url, admin_credentials(), email, name, password, role)
    console.print(f"Added {role.value} {email} to {url}.")


@users_app.command("list")
def list_(
    url: Annotated[str, typer.Option(help=URL_HELP)],
    format: FormatOpt = Format.TABLE,
) -> None:
    """List the site's users and their roles."""
    with fail_on_error():
        people = users.list_people(url, admin_credentials())
    if format is Format.JSON:
        typer.echo(json.dumps(people, indent=2))
        return
    table = Table("email", "name", "role", title=f"Users of {url}")
    for user in people:
        table.add_row(user["email"], user["name"], user["role"])
    console.print(table)
